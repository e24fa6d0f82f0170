r"""Plan a new load from a recording: the NEC 220.87 check, and what management would do.

Usage:
  python scripts/plan.py RECORDING.csv --rating-a 100 --voltage 240 --new-kw 7.7
  python scripts/plan.py uci:household --start 2007-01-01 --end 2008-01-01 --rating-a 30 --voltage 230 \\
      --supply single_phase --new-a 16 --daily-kwh 20

The recording is a plain timestamp,power_w CSV or the UCI household file's
format (as for scenarios); "uci:household" reads the full UCI file.
"""

from __future__ import annotations

import argparse
from datetime import time
import json
from pathlib import Path
import sys

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from custom_components.panel_capacity.engine import PanelConfig, Supply
from custom_components.panel_capacity.simulation.dataset import load_series
from custom_components.panel_capacity.simulation.plan import (
    NewLoad,
    demand_blocks,
    nec_220_87,
    peak_demand,
    simulate_new_load,
)
from custom_components.panel_capacity.simulation.scenario import (
    DATASET_UCI,
    BaseLoadSpec,
    ScenarioError,
    parse_time,
    uci_file,
)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("recording")
    parser.add_argument("--time-column")
    parser.add_argument("--power-column")
    parser.add_argument("--unit", choices=["W", "kW"])
    parser.add_argument("--start", help="first time to use, e.g. 2007-01-01")
    parser.add_argument("--end", help="first time not to use")
    parser.add_argument("--rating-a", type=float, required=True, help="main breaker rating, A per phase")
    parser.add_argument("--voltage", type=float, required=True)
    parser.add_argument("--supply", choices=[item.value for item in Supply], default=Supply.SPLIT_PHASE.value)
    parser.add_argument(
        "--factor", type=float, default=0.8, help="continuous factor (limit = rating x factor)"
    )
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--new-kw", type=float, help="the new load's power")
    size.add_argument("--new-a", type=float, help="or its current (an EV charger's setting)")
    parser.add_argument(
        "--phases", type=int, choices=[1, 3], default=1, help="phases of a current on three-phase"
    )
    parser.add_argument(
        "--daily-kwh", type=float, help="energy it wants every day (default: 4 hours at full power)"
    )
    parser.add_argument("--arrive", default="18:00", help="when it starts wanting power each day")
    parser.add_argument("--depart", default="07:00", help="by when it must be done")
    parser.add_argument("--sensor-period", type=float, default=10.0)
    parser.add_argument("--shaving", action="store_true", help="the recording was made while loads were shed")
    parser.add_argument("--json", type=Path, help="also write the answer to this file")
    return parser.parse_args()


def main() -> int:
    args = arguments()
    try:
        if args.recording == DATASET_UCI:
            csv, defaults = uci_file(), ("date_time", "Global_active_power", "kW")
        else:
            csv, defaults = Path(args.recording), ("timestamp", "power_w", "W")
        if not csv.exists():
            raise ScenarioError(f"{csv} does not exist")
        spec = BaseLoadSpec(
            csv=csv,
            time_column=args.time_column or defaults[0],
            power_column=args.power_column or defaults[1],
            unit=args.unit or defaults[2],
            start=parse_time(args.start, "--start") if args.start else None,
            end=parse_time(args.end, "--end") if args.end else None,
        )
        series = load_series(spec, {})
        panel = PanelConfig(
            rating_a=args.rating_a,
            voltage_v=args.voltage,
            supply=Supply(args.supply),
            continuous_factor=args.factor,
        )
        if args.new_kw is not None:
            power = args.new_kw * 1000
        else:
            power = args.new_a * (
                panel.voltage_v * args.phases if panel.supply is Supply.THREE_PHASE else panel.voltage_v
            )
        if not 0 < power <= panel.rating_w:
            raise ScenarioError(f"the new load ({power:.0f} W) must be above 0 and within the rating")
        new = NewLoad(
            power_w=power,
            daily_energy_wh=(args.daily_kwh * 1000) if args.daily_kwh is not None else power * 4,
            arrive=time.fromisoformat(args.arrive),
            depart=time.fromisoformat(args.depart),
        )
    except (ScenarioError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    answer = {
        "new_load_w": round(power, 1),
        "nec_220_87": nec_220_87(
            peak_demand(demand_blocks(series)), panel.rating_w, power, shaving=args.shaving
        ),
        "management": simulate_new_load(
            series, panel, panel.continuous_limit_w, new, sensor_period_s=args.sensor_period
        ),
    }
    if args.json:
        args.json.write_text(json.dumps(answer, indent=2) + "\n", encoding="utf-8")
    nec, managed = answer["nec_220_87"], answer["management"]
    daily = new.daily_energy_wh / 1000
    print(f"New load: {power:.0f} W, {daily:.1f} kWh a day from {args.arrive} to {args.depart}")
    print(f"NEC 220.87: {'yes' if nec['applies'] else 'no'}: {nec['explanation']}")
    print(
        f"Managed under {panel.continuous_limit_w:.0f} W over {managed['days']:.0f} days: turned down on "
        f"{managed['days_managed']} days ({managed['share_of_days_managed']:.0%}), "
        f"{managed['energy_delayed_kwh']:.1f} kWh delayed, "
        f"{managed['unmet_kwh']:.1f} kWh not delivered in time"
    )
    if managed["worst_day"]:
        worst = managed["worst_day"]
        print(
            f"Worst day: {worst['date']}, {worst['energy_delayed_kwh']:.1f} kWh delayed, "
            f"{worst['hours_turned_down']:.1f} h turned down"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
