"""Planning a new load from recorded history: the NEC 220.87 check, and what management would do.

NEC 220.87 lets an existing service take a new load when 125 % of the highest
demand measured over a year (or the highest 15-minute average over at least
30 days) plus the new load stays within the rating. Its exception: data
recorded while any peak-load shaving was in use cannot justify it. On top of
that check, the history is run through the simulator with the new load
managed, to show how often the controller would act and how much energy would
have to wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any

from ..engine import ControlSettings, PanelConfig
from .dataset import Series
from .scenario import KIND_MODULATED, BaseLoadSpec, LoadSpec, Scenario, Session
from .simulator import HOUR_S, EnginePolicy, Policy, Prepared, simulate

DEMAND_BLOCK_S = 900.0
NEC_FACTOR = 1.25
MIN_DAYS = 30  # NEC 220.87: the highest 15-minute average over at least 30 days
YEAR_DAYS = 365
NEW_LOAD = "new_load"
SHORTFALL_W = 1e-6  # less than this short of unmanaged is not "turned down"


@dataclass(frozen=True, slots=True, kw_only=True)
class NewLoad:
    """The load to plan for: managed like an EV charger, wanting energy every day in a window."""

    power_w: float
    daily_energy_wh: float
    arrive: time = time(18, 0)
    depart: time = time(7, 0)
    min_w: float = 0.0
    step_w: float = 0.0


def demand_blocks(series: Series) -> list[tuple[float, float]]:
    """Average import over clock-aligned 15-minute blocks (start, W), from a recording.

    Only blocks the recording covers at least halfway count.
    """
    bounds = [*series.times[1:], series.end]
    blocks: dict[float, list[float]] = {}
    for start, stop, power in zip(series.times, bounds, series.total_w, strict=True):
        moment = start
        while moment < stop:
            block = moment - moment % DEMAND_BLOCK_S
            until = min(stop, block + DEMAND_BLOCK_S)
            energy, seconds = blocks.setdefault(block, [0.0, 0.0])
            blocks[block] = [energy + max(0.0, power) * (until - moment), seconds + until - moment]
            moment = until
    return [
        (block, energy / seconds)
        for block, (energy, seconds) in sorted(blocks.items())
        if seconds >= DEMAND_BLOCK_S / 2
    ]


@dataclass(frozen=True, slots=True)
class PeakDemand:
    """The highest 15-minute demand in a history, and how much history there is."""

    peak_w: float | None
    at: float | None  # start of the block (epoch seconds)
    days: float


def peak_demand(blocks: list[tuple[float, float]]) -> PeakDemand:
    """The highest of 15-minute demand blocks (start, W)."""
    if not blocks:
        return PeakDemand(None, None, 0.0)
    start, peak = max(blocks, key=lambda block: block[1])
    return PeakDemand(peak, start, len(blocks) * DEMAND_BLOCK_S / 86400.0)


def nec_220_87(demand: PeakDemand, rating_w: float, new_load_w: float, *, shaving: bool) -> dict[str, Any]:
    """The NEC 220.87 check: 1.25 x the highest 15-minute demand + the new load within the rating."""
    days = demand.days
    if demand.peak_w is None or demand.at is None:
        return {
            "days_of_data": 0.0,
            "highest_15min_demand_w": None,
            "fits": None,
            "shaving_in_history": shaving,
            "applies": False,
            "explanation": "no recorded demand yet",
        }
    peak = demand.peak_w
    required = NEC_FACTOR * peak + new_load_w
    fits = required <= rating_w
    enough = days >= MIN_DAYS
    sum_text = f"1.25 x {peak:.0f} W + {new_load_w:.0f} W = {required:.0f} W"
    if shaving:
        explanation = (
            "the history was recorded while loads were being shed (peak-load shaving): "
            "NEC 220.87's exception does not let it justify the new load"
        )
    elif not enough:
        explanation = f"{days:.1f} days of data: NEC 220.87 needs at least {MIN_DAYS} days (a year is better)"
    elif fits:
        explanation = f"{sum_text} fits the {rating_w:.0f} W rating"
    else:
        explanation = f"{sum_text} is more than the {rating_w:.0f} W rating"
    return {
        "days_of_data": round(days, 2),
        "full_year": days >= YEAR_DAYS,
        "highest_15min_demand_w": round(peak, 1),
        "highest_15min_demand_at": datetime.fromtimestamp(demand.at, UTC).isoformat(),
        "required_w": round(required, 1),
        "rating_w": round(rating_w, 1),
        "headroom_w": round(rating_w - required, 1),
        "fits": fits,
        "shaving_in_history": shaving,
        "applies": fits and enough and not shaving,
        "explanation": explanation,
    }


def _sessions(series: Series, new: NewLoad, zone: tzinfo) -> tuple[Session, ...]:
    first = datetime.fromtimestamp(series.times[0], zone).date() - timedelta(days=1)
    last = datetime.fromtimestamp(series.end, zone).date()
    sessions = []
    day = first
    while day <= last:
        arrive = datetime.combine(day, new.arrive, zone)
        depart = datetime.combine(day, new.depart, zone)
        if depart <= arrive:
            depart += timedelta(days=1)
        # Whole sessions only: one cut by either end of the history would be asked for energy
        # in less time than the car would have had.
        if arrive.timestamp() >= series.times[0] and depart.timestamp() <= series.end:
            sessions.append(Session(arrive.timestamp(), depart.timestamp(), new.daily_energy_wh, None))
        day += timedelta(days=1)
    return tuple(sessions)


def simulate_new_load(
    series: Series,
    panel: PanelConfig,
    limit_w: float,
    new: NewLoad,
    *,
    settings: ControlSettings | None = None,
    sensor_period_s: float = 10.0,
    zone: tzinfo = UTC,
) -> dict[str, Any]:
    """Run the history with the new load managed (and, to compare, unmanaged)."""
    load = LoadSpec(
        name=NEW_LOAD,
        kind=KIND_MODULATED,
        priority=1,
        min_w=new.min_w,
        max_w=new.power_w,
        step_w=new.step_w,
        sessions=_sessions(series, new, zone),
    )
    scenario = Scenario(
        name="plan",
        panel=panel,
        limit_w=limit_w,
        base=BaseLoadSpec(csv=Path("history")),
        loads=(load,),
        sensor_period_s=sensor_period_s,
        actuator_delay_s=5.0,
        settings=settings or ControlSettings(),
    )
    prepared = Prepared(scenario, series)
    managed = simulate(prepared, EnginePolicy(scenario), trace=True)
    unmanaged = simulate(prepared, Policy(), trace=True)
    if managed.trace is None or unmanaged.trace is None:  # pragma: no cover - asked for above
        raise RuntimeError("no trace")
    with_control, _ = managed.trace.row_averages()
    without, _ = unmanaged.trace.row_averages()
    days: dict[str, dict[str, float]] = {}
    for index, start in enumerate(prepared.times):
        seconds = prepared.durations[index]
        date = datetime.fromtimestamp(prepared.origin + start, zone).date().isoformat()
        day = days.setdefault(date, {"delayed_wh": 0.0, "reduced_s": 0.0})
        shortfall = without[NEW_LOAD][index] - with_control[NEW_LOAD][index]
        if shortfall > SHORTFALL_W:
            day["delayed_wh"] += shortfall * seconds / HOUR_S
            day["reduced_s"] += seconds
    figures = managed.metrics.loads[NEW_LOAD]
    worst = max(days.items(), key=lambda item: item[1]["delayed_wh"]) if days else None
    acted = sum(1 for day in days.values() if day["delayed_wh"] > 0)
    return {
        "days": round(prepared.days, 2),
        "sensor_period_s": sensor_period_s,
        "requested_kwh": round(figures.requested_wh / 1000, 3),
        "delivered_kwh": round(figures.delivered_wh / 1000, 3),
        "unmet_kwh": round(figures.unmet_wh / 1000, 3),
        "energy_delayed_kwh": round(sum(day["delayed_wh"] for day in days.values()) / 1000, 3),
        "days_managed": acted,
        "share_of_days_managed": round(acted / len(days), 4) if days else 0.0,
        "actions": figures.actions,
        "actions_per_day": round(figures.actions / prepared.days, 3) if prepared.days else 0.0,
        "seconds_over_limit": round(managed.metrics.seconds_over_limit, 1),
        "seconds_over_limit_unmanaged": round(unmanaged.metrics.seconds_over_limit, 1),
        "worst_day": None
        if worst is None or worst[1]["delayed_wh"] <= 0
        else {
            "date": worst[0],
            "energy_delayed_kwh": round(worst[1]["delayed_wh"] / 1000, 3),
            "hours_turned_down": round(worst[1]["reduced_s"] / 3600, 2),
        },
    }
