"""Simulate a scenario: the capacity engine against the uncontrolled, static and oracle baselines.

Writes OUT/metrics.json and OUT/plot.png (base load, each controlled load, the
controlled total and the limit over time: the paper's Figure 5 for any scenario).

Usage: python scripts/simulate.py SCENARIO.json [--out DIR] [--no-plot] [--quiet]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
import sys
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from custom_components.panel_capacity.simulation import (
    Report,
    ScenarioError,
    load_scenario,
    run_scenario,
)
from custom_components.panel_capacity.simulation.simulator import Trace


class Progress:
    """A progress bar on standard error for long runs (tqdm), quiet for short ones."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bars: dict[str, Any] = {}

    def __call__(self, stage: str, fraction: float) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm  # noqa: PLC0415 - only when a bar is shown

        bar = self.bars.get(stage)
        if bar is None:
            bar = self.bars[stage] = tqdm(
                total=1000, desc=f"{stage:>12}", unit="‰", leave=False, file=sys.stderr
            )
        bar.update(int(fraction * 1000) - bar.n)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


MAX_POINTS = 12_000  # drawn per series; longer runs are shown as averages of whole rows


def plot(trace: Trace, metrics: dict[str, Any], origin_label: str, path: Path) -> None:
    import matplotlib as mpl  # noqa: PLC0415

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    times, base_w, loads_w, total_w = trace.binned(MAX_POINTS)
    bin_min = round((times[1] - times[0]) / 60) if len(times) > 1 else 1
    hours = [moment / 3600 for moment in times]
    days = hours[-1] / 24 if hours else 0
    scale, unit = (1 / 24, "days") if days > 3 else (1, "hours")
    x = [hour * scale for hour in hours]
    figure, axis = plt.subplots(figsize=(13, 5.5), dpi=110)
    axis.fill_between(
        x, 0, [w / 1000 for w in base_w], step="post", color="#cbd5e1", label="base load (not managed)"
    )
    bottom = list(base_w)
    colours = ["#f59e0b", "#3b82f6", "#10b981", "#a855f7", "#ef4444"]
    for index, (name, values) in enumerate(loads_w.items()):
        top = [low + value for low, value in zip(bottom, values, strict=True)]
        axis.fill_between(
            x,
            [w / 1000 for w in bottom],
            [w / 1000 for w in top],
            step="post",
            color=colours[index % len(colours)],
            alpha=0.75,
            label=name,
        )
        bottom = top
    axis.step(
        x,
        [w / 1000 for w in total_w],
        where="post",
        color="#0f172a",
        linewidth=0.6 if len(times) == len(trace.times) else 0.25,
        label="controlled total",
    )
    limit = metrics["setup"]["limit_w"] / 1000
    axis.axhline(limit, color="#dc2626", linewidth=1.4, linestyle="--", label=f"limit {limit:g} kW")
    controller = metrics["controller"]
    axis.set_title(
        f"{metrics['scenario']}\n"
        f"over the limit {controller['seconds_over_limit']:.0f} s (uncontrolled: "
        f"{metrics['baselines']['uncontrolled']['seconds_over_limit']:.0f} s), "
        f"sensor every {metrics['setup']['sensor_period_s']:g} s, "
        f"actuator delay {metrics['setup']['actuator_delay_s']:g} s",
        fontsize=10,
    )
    axis.set_xlabel(f"{unit} from {origin_label} ({max(1, bin_min)}-minute averages)")
    axis.set_ylabel("kW")
    axis.set_xlim(0, x[-1] if x else 1)
    axis.set_ylim(0, max(limit * 1.35, max((w / 1000 for w in total_w), default=0) * 1.05))
    axis.legend(loc="upper right", fontsize=8, ncols=3)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def plot_tree(trace: Trace, report: Report, metrics: dict[str, Any], label: str, path: Path) -> None:
    """Per node, its most loaded leg or phase against the limit: tree controller and total only."""
    import matplotlib as mpl  # noqa: PLC0415

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    runs = [("tree controller", report.constraints, "#2563eb")]
    if report.aggregate_constraints:
        runs.append(("total only", report.aggregate_constraints, "#f59e0b"))
    nodes = list(dict.fromkeys(node for node, *_ in report.constraints))
    figure, axes = plt.subplots(len(nodes), 1, figsize=(13, 3.2 * len(nodes)), dpi=110, squeeze=False)
    x: list[float] = []
    unit = "hours"
    for axis, node in zip(axes[:, 0], nodes, strict=True):
        line = 0.0
        for name, rows, colour in runs:
            mine = [(part, limit, flows) for n, part, limit, flows in rows if n == node]
            legs = [item for item in mine if item[0] != "total"] or mine
            per = "A" if legs[0][0] != "total" else "kW"
            divide = legs[0][1].volts if per == "A" else 1000.0
            # The most loaded of the node's legs or phases at each row.
            highest = [max(values) / divide for values in zip(*(flows for *_, flows in legs), strict=True)]
            starts, (binned,) = trace.bin_rows([highest], MAX_POINTS)
            hours = [moment / 3600 for moment in starts]
            scale, unit = (1 / 24, "days") if hours and hours[-1] > 72 else (1, "hours")
            x = [hour * scale for hour in hours]
            over = sum(
                metrics["controller" if name == "tree controller" else "aggregate_controller"]["nodes"][node][
                    part
                ]["seconds_over_limit"]
                for part, *_ in legs
            )
            axis.step(
                x,
                binned,
                where="post",
                color=colour,
                linewidth=0.5,
                alpha=0.85,
                label=f"{name}: {over:,.0f} s over",
            )
            line = legs[0][1].limit_w / divide
        axis.axhline(line, color="#dc2626", linewidth=1.2, linestyle="--", label=f"limit {line:g} {per}")
        axis.set_ylabel(per)
        axis.set_title(f"{node}: its most loaded leg or phase", fontsize=9)
        axis.set_xlim(0, x[-1] if x else 1)
        axis.grid(alpha=0.3)
        axis.legend(loc="upper right", fontsize=8, ncols=3)
    axes[-1, 0].set_xlabel(
        f"{unit} from {label} (averages over {MAX_POINTS} bins: short excursions are smoothed)"
    )
    figure.suptitle(metrics["scenario"], fontsize=10)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


COLUMNS = (
    ("over limit s", "seconds_over_limit", 13, ".1f"),
    ("over Wh", "energy_over_limit_wh", 10, ".1f"),
    ("longest s", "longest_over_limit_s", 10, ".1f"),
    ("preventable s", "seconds_over_limit_preventable", 14, ".1f"),
    ("longest prev s", "longest_preventable_excursion_s", 15, ".1f"),
    ("max W", "max_site_w", 9, ".0f"),
    ("actions", "actions_total", 9, "d"),
)


TREE_COLUMNS = (
    ("limit W", "limit_w", 9, ".0f"),
    ("max W", "max_w", 9, ".0f"),
    ("over limit s", "seconds_over_limit", 13, ".1f"),
    ("preventable s", "seconds_over_limit_preventable", 14, ".1f"),
    ("longest prev s", "longest_preventable_excursion_s", 15, ".1f"),
    ("over rating s", "seconds_over_rating", 14, ".1f"),
)


def tree_summary(metrics: dict[str, Any]) -> list[str]:
    """Each node and conductor, for the runs that report the tree."""
    runs = [("controller", metrics["controller"])]
    if "aggregate_controller" in metrics:
        runs.append(("total only", metrics["aggregate_controller"]))
    runs.append(("uncontrolled", metrics["baselines"]["uncontrolled"]))
    lines = [f"{'':14}{'':16}" + "".join(f"{title:>{width}}" for title, _, width, _ in TREE_COLUMNS)]
    for name, figures in runs:
        for node, parts in figures["nodes"].items():
            for part, flow in parts.items():
                lines.append(
                    f"{name:14}{node + ' ' + part:16}"
                    + "".join(f"{flow[key]:{width}{form}}" for _, key, width, form in TREE_COLUMNS)
                )
    return lines


def summary(metrics: dict[str, Any]) -> str:
    rows = [("controller", metrics["controller"])]
    if "aggregate_controller" in metrics:
        rows.append(("total only", metrics["aggregate_controller"]))
    rows.extend(metrics["baselines"].items())
    lines = [
        f"{metrics['scenario']}",
        (
            f"{metrics['rows']} rows, {metrics['simulated_s'] / 86400:.2f} days, "
            f"{metrics['steps']} meter samples, "
            f"{metrics['engine_calls']} engine steps, {metrics['wall_s']:.3f} s "
            f"({metrics['steps_per_s']:,} samples/s, {metrics['rows_per_s']:,} rows/s)"
        ),
        f"{'':14}" + "".join(f"{title:>{width}}" for title, _, width, _ in COLUMNS),
    ]
    for name, figures in rows:
        lines.append(
            f"{name:14}" + "".join(f"{figures[key]:{width}{form}}" for _, key, width, form in COLUMNS)
        )
    for load, service in metrics["service"].items():
        figures = metrics["controller"]["loads"][load]
        oracle = metrics["baselines"]["oracle"]["loads"][load]
        lines.append(
            f"  {load}: delivered {figures['delivered_kwh']:.2f} of {figures['requested_kwh']:.2f} kWh "
            f"(oracle {oracle['delivered_kwh']:.2f}, ratio {service['delivered_vs_oracle']}), "
            f"{figures['actions_per_day']:.2f} actions/day, "
            f"longest off while wanted {figures['max_off_s']:.0f} s"
        )
    if "nodes" in metrics["controller"]:
        lines.extend(tree_summary(metrics))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenario", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: out/<scenario name>)")
    parser.add_argument("--no-plot", action="store_true", help="skip plot.png")
    parser.add_argument("--quiet", action="store_true", help="no progress bar, no summary")
    parser.add_argument("--sensor-period", type=float, help="override the scenario's sensor_period_s")
    parser.add_argument(
        "--actuator-delay", type=float, help="override the scenario's actuator_delay_s (all loads)"
    )
    args = parser.parse_args()
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.sensor_period is not None:
        if args.sensor_period <= 0:
            print("error: --sensor-period must be positive", file=sys.stderr)
            return 2
        scenario = dataclasses.replace(scenario, sensor_period_s=args.sensor_period, sensor_phase_s=None)
    if args.actuator_delay is not None:
        if args.actuator_delay < 0:
            print("error: --actuator-delay cannot be negative", file=sys.stderr)
            return 2
        loads = tuple(dataclasses.replace(load, actuator_delay_s=None) for load in scenario.loads)
        scenario = dataclasses.replace(scenario, actuator_delay_s=args.actuator_delay, loads=loads)
    out = args.out or Path("out") / args.scenario.stem
    out.mkdir(parents=True, exist_ok=True)
    progress = Progress(enabled=not args.quiet and sys.stderr.isatty())
    try:
        report = run_scenario(scenario, trace=not args.no_plot, progress=progress)
    except ScenarioError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        progress.close()
    (out / "metrics.json").write_text(json.dumps(report.metrics, indent=2) + "\n", encoding="utf-8")
    if not args.no_plot and report.trace is not None:
        from datetime import UTC, datetime  # noqa: PLC0415

        start = scenario.base.start
        label = datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%d %H:%M") if start else "the start"
        plot(report.trace, report.metrics, label, out / "plot.png")
        if report.constraints:
            plot_tree(report.trace, report, report.metrics, label, out / "legs.png")
    if not args.quiet:
        print(summary(report.metrics))
        print(f"wrote {out / 'metrics.json'}" + ("" if args.no_plot else f" and {out / 'plot.png'}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
