"""Run a scenario: the controller and the three baselines, and the figures that compare them.

A scenario with a tree also runs the controller that sees only the site's
total (unless it says ``"compare_aggregate": false``), and every run but the
oracle's reports each node and conductor of the tree. The oracle and the
static baseline plan for the site's total alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import time
from typing import TYPE_CHECKING, Any

from .baselines import oracle, static_settings
from .simulator import (
    EnginePolicy,
    FixedPolicy,
    Policy,
    Prepared,
    RunResult,
    Trace,
    constraint_rows,
    simulate,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from .scenario import Scenario
    from .wiring import Limit


@dataclass(slots=True)
class Report:
    """metrics.json's content, and the controller run's trace for the plot."""

    metrics: dict[str, Any]
    trace: Trace | None
    # With a tree and a trace: each constraint, its limit and its flow per row (the controller's run).
    constraints: list[tuple[str, str, Limit, list[float]]] = field(default_factory=list)
    aggregate_constraints: list[tuple[str, str, Limit, list[float]]] = field(
        default_factory=list
    )  # total only


def run_scenario(
    scenario: Scenario,
    *,
    trace: bool = True,
    progress: Callable[[str, float], None] | None = None,
) -> Report:
    """Simulate the controller, then the baselines; gather the figures."""
    loading = time.perf_counter()
    prepared = Prepared(scenario)
    load_s = time.perf_counter() - loading
    days = prepared.days

    def stage(name: str) -> Callable[[float], None] | None:
        return None if progress is None else (lambda fraction: progress(name, fraction))

    controller = simulate(prepared, EnginePolicy(scenario), trace=trace, progress=stage("controller"))
    wiring = scenario.wiring
    aggregate = (
        simulate(prepared, EnginePolicy(scenario, aggregate=True), trace=trace, progress=stage("aggregate"))
        if wiring is not None and wiring.compare_aggregate
        else None
    )
    uncontrolled = simulate(prepared, Policy(), progress=stage("uncontrolled"))
    settings = static_settings(prepared)
    static = simulate(prepared, FixedPolicy(settings), progress=stage("static"))
    started = time.perf_counter()
    best = oracle(prepared)
    oracle_s = time.perf_counter() - started

    def figures(result: RunResult) -> dict[str, Any]:
        return result.metrics.as_dict(days)

    service = {}
    for name, load in controller.metrics.loads.items():
        reference = best.loads[name].delivered_wh
        service[name] = {
            "delivered_vs_oracle": round(load.delivered_wh / reference, 5) if reference > 0 else None,
            "deferred_unserved_kwh": round(load.unmet_wh / 1000, 4),
        }
    metrics: dict[str, Any] = {
        "scenario": scenario.name,
        "steps": controller.steps,
        "simulated_s": round(prepared.end, 3),
        "wall_s": round(controller.wall_s, 4),
        "rows": len(prepared.times),
        "engine_calls": controller.engine_calls,
        "steps_per_s": round(controller.steps / controller.wall_s) if controller.wall_s > 0 else None,
        "rows_per_s": round(len(prepared.times) / controller.wall_s) if controller.wall_s > 0 else None,
        "timing_s": {
            "read_data": round(load_s, 4),
            "controller": round(controller.wall_s, 4),
            "uncontrolled": round(uncontrolled.wall_s, 4),
            "static": round(static.wall_s, 4),
            "oracle": round(oracle_s, 4),
        },
        "setup": {
            "limit_w": scenario.limit_w,
            "rating_w": scenario.panel.rating_w,
            "sensor_period_s": scenario.sensor_period_s,
            "actuator_delay_s": scenario.actuator_delay_s,
            "days": round(days, 3),
            "data_rows_held": prepared.series.held_rows,
        },
        "controller": figures(controller),
        "baselines": {
            "uncontrolled": figures(uncontrolled),
            "static": figures(static) | {"settings": settings},
            "oracle": best.as_dict(days),
        },
        "service": service,
    }
    if aggregate is not None:
        # The same engine told only the site's total: what a one-number controller does to the tree.
        metrics["aggregate_controller"] = figures(aggregate)
        metrics["timing_s"]["aggregate"] = round(aggregate.wall_s, 4)
    rows = constraint_rows(prepared, controller.trace) if controller.trace is not None else []
    compared = (
        constraint_rows(prepared, aggregate.trace)
        if aggregate is not None and aggregate.trace is not None
        else []
    )
    return Report(metrics=metrics, trace=controller.trace, constraints=rows, aggregate_constraints=compared)
