"""The soak: the real engine over an evening of the UCI house with faults and restarts, invariants at every step.

The run is short (6 hours, from the evening the EV arrives) with faults more
frequent than in the week's soak, so every kind is injected and shows. The
invariant checks are shown to fail on an engine made to break them.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from custom_components.panel_capacity.engine import (
    ROOT,
    Action,
    ActionKind,
    ActionReason,
    CapacityEngine,
    Conductor,
    LimitSnapshot,
    LoadReason,
    LoadState,
    SiteReading,
    Status,
    StepInput,
    StepResult,
)
from custom_components.panel_capacity.simulation import ScenarioError
from custom_components.panel_capacity.simulation.soak import (
    GRACE_S,
    FaultKind,
    Invariants,
    Soak,
    SoakPlan,
    load_plan,
    parse_plan,
    prepare,
    run_soak,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EVENING = "2007-01-06T17:00:00"
CHARGING = "2007-01-06T18:30:00"  # the EV plugged in (a scenario needs its sessions in the window)


def dense_plan() -> SoakPlan:
    plan = load_plan(EXAMPLES / "soak.json")
    rates = {kind: rate * 6 for kind, rate in plan.rates_per_h.items()}
    rates[FaultKind.FIGHT] = 1.0
    return dataclasses.replace(plan, rates_per_h=rates, restarts_per_h=1.0)


@pytest.fixture(scope="module")
def reports() -> list[dict[str, Any]]:
    plan = dense_plan()
    return [run_soak(plan, days=0.25, seed=seed, start=EVENING) for seed in (1, 2)]


def test_no_invariant_is_violated(reports: list[dict[str, Any]]) -> None:
    for report in reports:
        assert report["violations"] == {"count": 0, "by_invariant": {}, "first": []}
        assert report["steps"] > 9000  # 6 hours: a meter every few seconds and the 5 s tick
        # The garage's EV and the freezer (never shed) were served; the freezer never commanded.
        assert report["loads"]["freezer"]["never_shed"]
        assert report["loads"]["freezer"]["actions"] == 0
        assert report["loads"]["ev"]["actions"] > 20
        assert report["loads"]["ev"]["delivered_kwh"] > 20


def test_every_fault_kind_was_injected_and_shown(reports: list[dict[str, Any]]) -> None:
    for kind in FaultKind:
        injected = sum(report["faults"][kind.value]["injected"] for report in reports)
        shown = sum(report["faults"][kind.value]["with_effect"] for report in reports)
        assert injected > 0, kind
        assert shown > 0, kind
    for report in reports:
        for counts in report["faults"].values():
            assert counts["with_effect"] <= counts["injected"] <= counts["scheduled"]


def test_restarts_keep_what_was_held(reports: list[dict[str, Any]]) -> None:
    restarts = [report["restarts"] for report in reports]
    assert sum(item["count"] for item in restarts) >= 4
    assert sum(item["after_a_gap"] for item in restarts) >= 1
    assert all(item["holds_kept"] == item["count"] for item in restarts)


def test_time_over_limit_is_on_the_true_flow_of_every_constraint(reports: list[dict[str, Any]]) -> None:
    for report in reports:
        constraints = report["constraints"]
        assert set(constraints) == {"main", "garage"}
        assert set(constraints["garage"]) == {"total", "l1", "l2"}
        for parts in constraints.values():
            for figures in parts.values():
                assert figures["seconds_over_limit_during_faults"] <= figures["seconds_over_limit"] + 1e-6
                assert figures["longest_over_limit_s"] <= figures["seconds_over_limit"] + 1e-6
        assert constraints["garage"]["total"]["limit_w"] == 11520


def test_the_same_seed_gives_the_same_soak() -> None:
    plan = dense_plan()
    first = run_soak(plan, days=0.02, seed=7, start=CHARGING)
    again = run_soak(plan, days=0.02, seed=7, start=CHARGING)
    for report in (first, again):
        report.pop("wall_s")
    assert first == again


# ------------------------------------------------------------ the checks can fail


class BrokenEngine(CapacityEngine):
    """An engine made to break every invariant: a limit raised, the freezer touched, a step that raises."""

    steps = 0

    def step(self, inp: StepInput) -> StepResult:
        BrokenEngine.steps += 1
        if BrokenEngine.steps == 50:
            raise RuntimeError("a bug in a step")
        result = super().step(inp)
        if BrokenEngine.steps == 60:
            touch = Action(load_id="freezer", kind=ActionKind.TURN_OFF, reason=ActionReason.OVER_LIMIT)
            return dataclasses.replace(result, actions=(*result.actions, touch))
        return result

    def status(self) -> Status:
        status = super().status()
        if BrokenEngine.steps < 70:
            return status
        garage = status.nodes["garage"]
        leg = garage.conductors[Conductor.L1]
        raised = dataclasses.replace(leg.limit, effective_w=leg.limit.effective_w * 2)
        nodes = dict(status.nodes)
        conductors = dict(garage.conductors)
        conductors[Conductor.L1] = dataclasses.replace(leg, limit=raised)
        nodes["garage"] = dataclasses.replace(garage, conductors=conductors)
        return dataclasses.replace(status, nodes=nodes)


def test_the_checks_catch_an_engine_that_breaks_them() -> None:
    plan = dense_plan()
    prepared = prepare(plan, days=0.01, start=CHARGING)
    scenario = prepared.scenario
    soak: Soak | None = None

    def broken(memory: dict[str, Any] | None) -> CapacityEngine:
        assert soak is not None
        return BrokenEngine(scenario.panel, scenario.settings, soak.configs, nodes=soak.nodes, memory=memory)

    BrokenEngine.steps = 0
    soak = Soak(plan, prepared, seed=1, engine_factory=broken)
    report = soak.run()
    found = report["violations"]["by_invariant"]
    assert found["step_raised"] == 1
    assert found["never_shed_touched"] == 1
    assert found["limit_above_rating"] == report["steps"] - 69  # at every step from the 70th
    assert report["steps"] > 100  # the loop went on after the step that raised
    details = {item["invariant"]: item["detail"] for item in report["violations"]["first"]}
    assert details["step_raised"] == "RuntimeError: a bug in a step"
    assert details["never_shed_touched"] == "turn_off freezer"
    assert details["limit_above_rating"] == "garage.l1: limit 11520.0 W above 5760.0 W"


def invariants_of(prepared_plan: tuple[SoakPlan, Any]) -> tuple[Invariants, CapacityEngine]:
    plan, prepared = prepared_plan
    soak = Soak(plan, prepared, seed=1)
    scenario = prepared.scenario
    engine = CapacityEngine(scenario.panel, scenario.settings, soak.configs, nodes=soak.nodes)
    return soak.invariants, engine


@pytest.fixture(scope="module")
def prepared_plan() -> tuple[SoakPlan, Any]:
    plan = dense_plan()
    return plan, prepare(plan, days=0.01, start=CHARGING)


def with_load(status: Status, load_id: str, **changes: Any) -> Status:
    loads = dict(status.loads)
    loads[load_id] = dataclasses.replace(loads[load_id], **changes)
    return dataclasses.replace(status, loads=loads)


def test_a_load_off_past_its_maximum_without_a_true_reason_is_a_violation(
    prepared_plan: tuple[SoakPlan, Any],
) -> None:
    invariants, engine = invariants_of(prepared_plan)
    status = engine.status()
    maximum = invariants.max_off_s["water_heater"]
    # Shown as switched off by hand, though nobody did: no reason at all.
    off = with_load(status, "water_heater", state=LoadState.OFF, reason=LoadReason.OFF_BY_USER)
    for now in (maximum - 1, maximum + 10, maximum + 10 + GRACE_S):
        invariants.status(now, off, {"water_heater": 0.0})
    assert invariants.counts == {}  # within the grace a reason may lag
    invariants.status(maximum + 11 + GRACE_S, off, {"water_heater": 0.0})
    assert invariants.counts == {"off_past_max": 1}
    assert "shown off (off_by_user), not held" in invariants.details[0].detail
    invariants.status(maximum + 12 + GRACE_S, off, {"water_heater": 0.0})
    assert invariants.counts == {"off_past_max": 1}  # once per spell


def test_waiting_for_headroom_must_be_true(prepared_plan: tuple[SoakPlan, Any]) -> None:
    invariants, engine = invariants_of(prepared_plan)
    # The engine at its first step: a quiet house, 3 kW on the service.
    engine.step(
        StepInput(
            now=0.0,
            site=SiteReading(3000.0, 0.0, {Conductor.L1: 1500.0, Conductor.L2: 1500.0}),
            loads={},
            nodes={},
        )
    )
    status = engine.status()
    waiting = with_load(status, "water_heater", state=LoadState.SHED, reason=LoadReason.WAITING_FOR_HEADROOM)
    # 3 kW on a 19.2 kW service: the 4.5 kW water heater fits; "waiting for headroom" is untrue.
    late = invariants.max_off_s["water_heater"] + GRACE_S + 10
    invariants.status(late - GRACE_S - 5, waiting, {"water_heater": 0.0})
    invariants.status(late, waiting, {"water_heater": 0.0})
    assert invariants.counts == {"off_past_max": 1}
    assert "held (waiting_for_headroom) though that does not hold" in invariants.details[0].detail
    # With the service near its limit it is true.
    full = dataclasses.replace(
        waiting,
        nodes={
            **waiting.nodes,
            ROOT: dataclasses.replace(
                waiting.nodes[ROOT],
                total=dataclasses.replace(waiting.nodes[ROOT].total, projected_w=17000.0),
            ),
        },
    )
    fresh, _ = invariants_of(prepared_plan)
    fresh.status(late - GRACE_S - 5, full, {"water_heater": 0.0})
    fresh.status(late, full, {"water_heater": 0.0})
    assert fresh.counts == {}


def test_limits_from_the_configuration_not_from_the_engine(prepared_plan: tuple[SoakPlan, Any]) -> None:
    invariants, engine = invariants_of(prepared_plan)
    assert invariants.bounds == {
        (ROOT, None): 19200.0,
        (ROOT, Conductor.L1): 9600.0,
        (ROOT, Conductor.L2): 9600.0,
        ("garage", None): 11520.0,
        ("garage", Conductor.L1): 5760.0,
        ("garage", Conductor.L2): 5760.0,
    }
    status = engine.status()
    root = status.nodes[ROOT]
    nan = LimitSnapshot(effective_w=float("nan"), binding="panel", terms={})
    broken = dataclasses.replace(
        status,
        nodes={
            "garage": status.nodes["garage"],
            ROOT: dataclasses.replace(root, total=dataclasses.replace(root.total, limit=nan)),
        },
    )
    invariants.status(1.0, broken, {})
    assert invariants.counts == {"limit_above_rating": 1}
    missing = dataclasses.replace(status, nodes={ROOT: root})
    invariants.status(2.0, missing, {})
    assert invariants.counts["constraint_missing"] == 3  # the garage's total and both legs


# ------------------------------------------------------------- the soak file


def test_soak_file_errors_name_the_field(tmp_path: Path) -> None:
    (tmp_path / "house.json").write_text(json.dumps({"panel": {}}), encoding="utf-8")
    cases = [
        ([], "a soak file is a JSON object"),
        ({"scenario": 3}, "scenario: expected the name of a scenario file"),
        ({"scenario": "house.json", "colour": 1}, "soak: unknown key(s) colour"),
        ({"scenario": "house.json", "faults_per_hour": {"gremlins": 1}}, "unknown fault kind 'gremlins'"),
        ({"scenario": "house.json", "faults_per_hour": {"nan": -1}}, "faults_per_hour.nan"),
        ({"scenario": "house.json", "never_shed": "freezer"}, "never_shed: expected a list"),
        ({"scenario": "missing.json"}, "cannot read"),
    ]
    for data, message in cases:
        with pytest.raises(ScenarioError, match=message.replace("(", r"\(").replace(")", r"\)")):
            parse_plan(data, tmp_path)
    plan = parse_plan({"scenario": str(EXAMPLES / "us-split-phase.json"), "never_shed": ["kettle"]}, tmp_path)
    with pytest.raises(ScenarioError, match="never_shed: no load named 'kettle'"):
        prepare(plan, days=0.01)
    flat = parse_plan({"scenario": str(EXAMPLES / "figure5.json")}, tmp_path)
    with pytest.raises(ScenarioError, match="a scenario with a tree"):
        prepare(flat, days=0.01)
