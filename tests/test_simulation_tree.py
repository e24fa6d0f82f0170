"""The simulator with a tree: nodes, legs and phases, base load per conductor, figures per constraint.

The figures per node and conductor are recomputed here from the run's trace
with code of the test's own, so the simulator's bookkeeping is checked
against an independent account of the same power.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from custom_components.panel_capacity.engine import ROOT, Conductor
from custom_components.panel_capacity.simulation import (
    Prepared,
    ScenarioError,
    load_scenario,
    parse_scenario,
    run_scenario,
    simulate,
)
from custom_components.panel_capacity.simulation.scenario import parse_time
from custom_components.panel_capacity.simulation.simulator import EnginePolicy, Policy, RunResult

from .test_simulation import EXAMPLES, minutes, scenario_data, write_csv

START = "2030-01-01T00:00:00"
L1, L2, L3 = Conductor.L1, Conductor.L2, Conductor.L3


def split_phase_house(tmp_path: Path, kitchen: list[float], **changes: Any) -> dict[str, Any]:
    """A 100 A split-phase service (9600 W a leg, 19200 W in all) with the kitchen on L1.

    The recording's total is the kitchen plus 400 W; the 400 W is split over both legs.
    """
    rows = minutes(START, [(watts + 400, watts) for watts in kitchen])
    write_csv(tmp_path / "house.csv", rows, header="timestamp,power_w,kitchen")
    data = scenario_data(
        "house.csv",
        panel={"rating_a": 100, "voltage_v": 240, "supply": "split_phase", "metering": "conductors"},
        base_load={"csv": "house.csv", "split": [{"column": "kitchen", "unit": "W", "conductors": ["l1"]}]},
    )
    heater = {"kind": "switch", "power_w": 1500, "demand_w": 1500, "thermostat_wh": 0}
    data["loads"] += [
        {"name": "l1_heater", **heater, "conductors": ["l1"]},
        {"name": "l2_heater", **heater, "conductors": ["l2"]},
    ]
    data.update(changes)
    return data


def prepare(tmp_path: Path, data: dict[str, Any]) -> Prepared:
    return Prepared(parse_scenario(data, tmp_path))


# ------------------------------------------------------ independent account


def recount(
    result: RunResult,
    prepared: Prepared,
    places: dict[str, dict[tuple[str, Any], float]],
    base: dict[tuple[str, Any], list[float]],
    limits: dict[tuple[str, Any], float],
) -> dict[tuple[str, Any], float]:
    """Seconds over each limit, from the trace: every load's draw at each change, the base at each row.

    ``places`` gives, per load, its share on each (node, conductor) key;
    ``base`` the base load on each key per row. Both are the test's own.
    """
    trace = result.trace
    assert trace is not None
    moments = sorted(
        {*trace.times, trace.end, *(at for changes in trace.loads.values() for at, _ in changes)}
    )
    over = dict.fromkeys(limits, 0.0)
    for start, stop in itertools.pairwise(moments):
        if stop > trace.end:
            break
        row = bisect.bisect_right(trace.times, start) - 1
        flows = {key: base[key][row] for key in limits}
        for name, changes in trace.loads.items():
            at = [moment for moment, _ in changes]
            draw = changes[bisect.bisect_right(at, start) - 1][1]
            for key, share in places[name].items():
                flows[key] += draw * share
        for key, limit in limits.items():
            if flows[key] > limit:
                over[key] += stop - start
    return over


def figures(result: RunResult) -> dict[tuple[str, Any], float]:
    """The simulator's own seconds over each limit, keyed like the recount."""
    return {
        (node, None if part == "total" else Conductor(part)): flow.seconds_over_limit
        for node, part, flow in result.metrics.constraints
    }


def test_leg_over_while_total_under_is_shed_on_that_leg_only(tmp_path: Path) -> None:
    # Minutes 2 to 4: 8 kW of kitchen on L1. With the car at 7680 W and both heaters on, L1 carries
    # 8000 + 200 + 3840 + 1500 = 13540 W (over 9600) while the total (18880 W) is under 19200.
    kitchen = [0.0, 0.0, 8000.0, 8000.0, 8000.0, 0.0, 0.0, 0.0]
    prepared = prepare(tmp_path, split_phase_house(tmp_path, kitchen))
    tree = simulate(prepared, EnginePolicy(prepared.scenario), trace=True)
    total_only = simulate(prepared, EnginePolicy(prepared.scenario, aggregate=True), trace=True)
    uncontrolled = simulate(prepared, Policy(), trace=True)

    places = {
        "ev": {(ROOT, None): 1.0, (ROOT, L1): 0.5, (ROOT, L2): 0.5},
        "l1_heater": {(ROOT, None): 1.0, (ROOT, L1): 1.0},
        "l2_heater": {(ROOT, None): 1.0, (ROOT, L2): 1.0},
    }
    rows = len(kitchen)
    base = {
        (ROOT, None): [watts + 400 for watts in kitchen],
        (ROOT, L1): [watts + 200 for watts in kitchen],
        (ROOT, L2): [200.0] * rows,
    }
    limits = {(ROOT, None): 19200.0, (ROOT, L1): 9600.0, (ROOT, L2): 9600.0}
    for result in (tree, total_only, uncontrolled):
        assert figures(result) == pytest.approx(recount(result, prepared, places, base, limits), abs=1e-6)

    # Nothing but the leg is ever over; the one-number controller leaves it over for 3 minutes.
    assert figures(uncontrolled) == pytest.approx({(ROOT, None): 0, (ROOT, L1): 180, (ROOT, L2): 0})
    assert figures(total_only) == pytest.approx(figures(uncontrolled))
    assert total_only.metrics.actions_total == 0
    # The tree controller acts at the first sample after the kitchen comes on (0.5 s in).
    assert figures(tree)[ROOT, L1] == pytest.approx(0.5)
    assert tree.metrics.constraints[1][2].longest_preventable_excursion_s == pytest.approx(0.5)
    # The heater on L2 does not help L1: it is never touched. The L1 heater goes first, then the car.
    assert tree.trace is not None
    assert all(watts == 1500 for at, watts in tree.trace.loads["l2_heater"] if at > 0)
    assert tree.metrics.loads["l2_heater"].actions == 0
    assert tree.metrics.loads["l1_heater"].actions >= 1
    assert min(watts for at, watts in tree.trace.loads["ev"] if 120 <= at < 300) < 7680


def test_a_subpanel_over_while_the_service_has_room(tmp_path: Path) -> None:
    """A 30 A garage feeder (24 A = 5760 W allowed) holding the car and a heater; the service is idle."""
    data = split_phase_house(tmp_path, [0.0] * 10)
    data["nodes"] = [{"id": "garage", "rating_a": 30, "metering": "conductors"}]
    data["loads"][0]["node"] = "garage"
    data["loads"][1]["node"] = "garage"
    prepared = prepare(tmp_path, data)
    tree = simulate(prepared, EnginePolicy(prepared.scenario), trace=True)
    total_only = simulate(prepared, EnginePolicy(prepared.scenario, aggregate=True), trace=True)
    garage = {"ev": {("garage", None): 1.0, ("garage", L1): 0.5, ("garage", L2): 0.5}}
    garage["l1_heater"] = {("garage", None): 1.0, ("garage", L1): 1.0}
    garage["l2_heater"] = {}
    zero = [0.0] * 10
    base = {("garage", None): zero, ("garage", L1): zero, ("garage", L2): zero}
    limits = {("garage", None): 5760.0, ("garage", L1): 2880.0, ("garage", L2): 2880.0}
    for result in (tree, total_only):
        counted = recount(result, prepared, garage, base, limits)
        mine = {key: value for key, value in figures(result).items() if key[0] == "garage"}
        assert mine == pytest.approx(counted, abs=1e-6)
    # Car 7680 + heater 1500 in a garage allowed 5760: the one-number controller never sees it.
    assert figures(total_only)["garage", None] == pytest.approx(600)
    assert figures(tree)["garage", None] == pytest.approx(0.5)
    assert figures(tree)["garage", L1] == pytest.approx(0.5)
    # Inside the garage the car is turned down and the heater outside it is left alone.
    assert tree.metrics.loads["l2_heater"].actions == 0
    assert tree.metrics.constraints[0][2].seconds_over_limit == 0  # the service had room all along


def test_estimated_and_total_only_subpanels(tmp_path: Path) -> None:
    """Without a meter the garage is estimated from its loads; with only a total its legs are not measured."""
    for metering, l1_over in (("none", 0.5), ("total", 600.0)):
        data = split_phase_house(tmp_path, [0.0] * 10)
        # A 120 V heater and the car on a 50 A garage feeder (9.6 kW allowed, 4.8 kW a leg): L1 carries
        # 1500 + half the car; the total has room for 7680 + 1500 but L1 does not.
        data["nodes"] = [{"id": "garage", "rating_a": 50, "metering": metering}]
        data["loads"][0]["node"] = "garage"
        data["loads"][1]["node"] = "garage"
        prepared = prepare(tmp_path, data)
        result = simulate(prepared, EnginePolicy(prepared.scenario))
        assert figures(result)["garage", None] == 0
        assert figures(result)["garage", L1] == pytest.approx(l1_over)


def test_three_phase_charger_with_cooking_on_one_phase(tmp_path: Path) -> None:
    """The issue's European house: 3 x 25 A, 20 A a phase; the charger at 16 A and 10 A of oven on L1."""
    oven = 2300.0
    rows = minutes(START, [(oven, oven)] * 6)
    write_csv(tmp_path / "house.csv", rows, header="timestamp,power_w,oven")
    data = {
        "panel": {"rating_a": 25, "voltage_v": 230, "supply": "three_phase", "metering": "conductors"},
        "base_load": {"csv": "house.csv", "split": [{"column": "oven", "unit": "W", "conductors": ["l1"]}]},
        "sensor_period_s": 1,
        "sensor_phase_s": 0.5,
        "loads": [
            {
                "name": "ev",
                "kind": "modulated",
                "min_w": 4140,
                "max_w": 11040,
                "step_w": 690,
                "sessions": [{"arrive": START, "depart": "2030-01-01T01:00:00", "energy_kwh": 20}],
            }
        ],
    }
    prepared = prepare(tmp_path, data)
    uncontrolled = simulate(prepared, Policy())
    total_only = simulate(prepared, EnginePolicy(prepared.scenario, aggregate=True))
    tree = simulate(prepared, EnginePolicy(prepared.scenario))
    # L1 = 2300 + 3680 = 5980 W (26 A, over the 25 A fuse itself) while the total, 13340 W, is under 13800.
    for result in (uncontrolled, total_only):
        assert figures(result) == pytest.approx(
            {(ROOT, None): 0, (ROOT, L1): 360, (ROOT, L2): 0, (ROOT, L3): 0}
        )
        assert result.metrics.constraints[1][2].seconds_over_rating == pytest.approx(360)
    assert figures(tree)[ROOT, L1] == pytest.approx(0.5)
    # Turned down to what L1 allows: (4600 - 100 - 2300) x 3 = 6600, 6210 on its 690 W grid.
    assert tree.metrics.loads["ev"].delivered_wh == pytest.approx(6210 * 359.5 / 3600 + 11040 * 0.5 / 3600)


# ----------------------------------------------------------- base load split


def test_base_parts_are_scaled_to_the_recorded_total(tmp_path: Path) -> None:
    # The kitchen says 3000 W while the house recorded 1000 W in all: the parts are scaled down to 1000.
    data = split_phase_house(tmp_path, [0.0, 0.0])
    rows = minutes(START, [(1000.0, 3000.0), (5000.0, 1000.0)])
    write_csv(tmp_path / "house.csv", rows, header="timestamp,power_w,kitchen")
    data["loads"] = data["loads"][1:2]
    prepared = prepare(tmp_path, data)
    assert prepared.base_flows(0) == pytest.approx([1000.0, 1000.0, 0.0])
    assert prepared.base_flows(1) == pytest.approx([5000.0, 1000.0 + 2000.0, 2000.0])


def test_steady_demand_of_a_switched_load(tmp_path: Path) -> None:
    data = split_phase_house(tmp_path, [0.0] * 60)
    data["loads"] = [
        {"name": "freezer", "kind": "switch", "power_w": 150, "demand_w": 60, "conductors": ["l1"]}
    ]
    result = simulate(prepare(tmp_path, data), Policy())
    load = result.metrics.loads["freezer"]
    assert load.requested_wh == pytest.approx(60)
    # Its thermostat cycles: it runs 40 % of the time at 150 W (less what waits at the end).
    assert load.delivered_wh + load.unmet_wh == pytest.approx(60)
    assert 50 <= load.delivered_wh <= 60


# ------------------------------------------------------------- metrics.json


def test_metrics_report_every_node_and_conductor(tmp_path: Path) -> None:
    data = split_phase_house(tmp_path, [0.0, 8000.0, 0.0])
    data["nodes"] = [
        {"id": "garage", "name": "Garage", "rating_a": 60, "cap_a": 40, "metering": "conductors"}
    ]
    data["loads"][0]["node"] = "garage"
    metrics = run_scenario(parse_scenario(data, tmp_path), trace=False).metrics
    nodes = metrics["controller"]["nodes"]
    assert list(nodes) == ["main", "garage"]
    assert list(nodes["main"]) == ["total", "l1", "l2"]
    assert nodes["garage"]["l1"]["limit_w"] == 40 * 120  # the cap lowers the 48 A allowed
    assert nodes["garage"]["total"]["rating_w"] == 60 * 240
    for key in ("seconds_over_limit", "seconds_over_limit_preventable", "longest_preventable_excursion_s"):
        assert key in nodes["main"]["l1"]
    assert "nodes" in metrics["aggregate_controller"]
    assert "nodes" in metrics["baselines"]["uncontrolled"]
    assert "nodes" not in metrics["baselines"]["oracle"]  # the oracle plans for the total alone
    data["compare_aggregate"] = False
    assert "aggregate_controller" not in run_scenario(parse_scenario(data, tmp_path), trace=False).metrics


def test_a_scenario_without_a_tree_reports_as_before() -> None:
    metrics = run_scenario(load_scenario(EXAMPLES / "tight-5000.json"), trace=False).metrics
    assert "aggregate_controller" not in metrics
    for run in (metrics["controller"], *metrics["baselines"].values()):
        assert "nodes" not in run
    assert list(metrics["controller"]) == [
        "max_site_w",
        "seconds_over_limit",
        "energy_over_limit_wh",
        "longest_over_limit_s",
        "seconds_over_rating",
        "seconds_over_limit_preventable",
        "longest_preventable_excursion_s",
        "actions_total",
        "loads",
    ]


@pytest.mark.parametrize("example", ["us-split-phase.json", "eu-three-phase.json"])
def test_tree_examples_keep_every_conductor_safer_than_one_number(example: str) -> None:
    """A day of each example: the tree controller's preventable excursions last a sample and a delay at most."""
    scenario = load_scenario(EXAMPLES / example)
    end = parse_time("2007-01-07T00:00:00", "t")
    scenario = dataclasses.replace(scenario, base=dataclasses.replace(scenario.base, end=end))
    metrics = run_scenario(scenario, trace=False).metrics
    allowed = scenario.sensor_period_s + scenario.actuator_delay_s + 1e-6
    tree = metrics["controller"]["nodes"]
    total_only = metrics["aggregate_controller"]["nodes"]
    for node, parts in tree.items():
        for part, flow in parts.items():
            assert flow["longest_preventable_excursion_s"] <= allowed, (node, part)
            assert (
                flow["seconds_over_limit_preventable"]
                <= total_only[node][part]["seconds_over_limit_preventable"]
            )
    assert any(
        flow["longest_preventable_excursion_s"] > 10 * allowed
        for parts in total_only.values()
        for flow in parts.values()
    )
    for load in metrics["controller"]["loads"].values():
        assert load["delivered_kwh"] + load["unmet_kwh"] == pytest.approx(load["requested_kwh"], abs=1e-3)


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"nodes": {}}, "nodes: expected a list"),
        ({"nodes": [{"rating_a": 60}]}, r"nodes\[0\].id: expected a name"),
        ({"nodes": [{"id": "main", "rating_a": 60}]}, "is taken"),
        ({"nodes": [{"id": "g", "rating_a": 60, "parent": "x"}]}, "no node 'x'"),
        (
            {
                "nodes": [
                    {"id": "a", "rating_a": 60, "parent": "b"},
                    {"id": "b", "rating_a": 60, "parent": "a"},
                ]
            },
            "form a loop",
        ),
        ({"nodes": [{"id": "g"}]}, "'rating_a' is required"),
        ({"nodes": [{"id": "g", "rating_a": 5000}]}, r"rating_a: 5000 is out of range \(from 1 to 2000\)"),
        ({"nodes": [{"id": "g", "rating_a": 60, "cap_a": 70}]}, r"cap_a: 70 is out of range"),
        ({"nodes": [{"id": "g", "rating_a": 60, "continuous_factor": 0.3}]}, "continuous_factor"),
        ({"nodes": [{"id": "g", "rating_a": 60, "conductors": ["l3"]}]}, "must be distinct ones of l1, l2"),
        ({"nodes": [{"id": "g", "rating_a": 60, "metering": "ct"}]}, "metering: expected one of"),
        (
            {
                "nodes": [{"id": "g", "rating_a": 60, "conductors": ["l1"]}],
                "loads": [
                    {
                        "name": "x",
                        "kind": "switch",
                        "power_w": 100,
                        "demand_w": 10,
                        "node": "g",
                        "conductors": ["l2"],
                    }
                ],
            },
            r"loads\[0\] \(x\).conductors",
        ),
        (
            {"loads": [{"name": "x", "kind": "switch", "power_w": 100, "demand_w": 10, "node": "shed"}]},
            r"loads\[0\] \(x\).node: no node 'shed'",
        ),
        ({"loads": [{"name": "x", "kind": "switch", "power_w": 100, "demand_w": 200}]}, "demand_w"),
        ({"loads": [{"name": "x", "kind": "switch", "power_w": 100}]}, "demand_column"),
        ({"panel": {"rating_a": 100, "voltage_v": 240, "metering": "ct"}}, "panel.metering"),
        ({"panel": {"rating_a": 5000, "voltage_v": 240}}, "panel.rating_a"),
        ({"panel": {"rating_a": 25, "voltage_v": 400, "supply": "three_phase"}}, "line-to-neutral"),
        ({"compare_aggregate": "yes"}, "compare_aggregate: expected true or false"),
    ],
)
def test_tree_errors_name_the_field(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    data = split_phase_house(tmp_path, [0.0, 0.0])
    data.update(change)
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(data, tmp_path)


@pytest.mark.parametrize(
    ("split", "message"),
    [
        ({}, "base_load.split: expected a list"),
        ([1], r"split\[0\]: expected an object"),
        ([{}], r"split\[0\].column: expected a column"),
        ([{"column": "kitchen"}, {"column": "kitchen"}], "placed twice"),
        ([{"column": "kitchen", "unit": "A"}], "unit: expected one of"),
        ([{"column": "kitchen", "node": "attic"}], "node: no node 'attic'"),
        ([{"column": "kitchen", "conductors": "l1"}], "expected a list of l1, l2"),
    ],
)
def test_split_errors_name_the_field(tmp_path: Path, split: Any, message: str) -> None:
    data = split_phase_house(tmp_path, [0.0, 0.0])
    data["base_load"]["split"] = split
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(data, tmp_path)


def test_a_controlled_demand_is_not_also_base_load(tmp_path: Path) -> None:
    data = split_phase_house(tmp_path, [0.0, 0.0])
    data["loads"] = [
        {"name": "x", "kind": "switch", "power_w": 100, "demand_column": "kitchen", "demand_unit": "W"}
    ]
    with pytest.raises(ScenarioError, match="is a controlled load's demand"):
        parse_scenario(data, tmp_path)


def test_the_command_line_prints_the_tree(tmp_path: Path) -> None:
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    data = split_phase_house(tmp_path, [0.0, 8000.0, 0.0])
    (tmp_path / "house.json").write_text(json.dumps(data), encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES.parent / "scripts" / "simulate.py"),
            str(tmp_path / "house.json"),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "total only" in done.stdout
    assert "main l1" in done.stdout
    assert (tmp_path / "out" / "plot.png").stat().st_size > 0
    assert (tmp_path / "out" / "legs.png").stat().st_size > 0  # each node's most loaded leg
    written = json.loads((tmp_path / "out" / "metrics.json").read_text(encoding="utf-8"))
    assert written["controller"]["nodes"]["main"]["l1"]["seconds_over_limit"] == pytest.approx(0.5)


def test_each_constraint_per_row_for_the_plot(tmp_path: Path) -> None:
    """The rows drawn for each leg: the base's parts and the loads' average power, placed."""
    kitchen = [0.0, 0.0, 8000.0, 0.0]
    data = split_phase_house(tmp_path, kitchen)
    report = run_scenario(parse_scenario(data, tmp_path), trace=True)
    rows = {(node, part): (limit, flows) for node, part, limit, flows in report.constraints}
    assert list(rows) == [("main", "total"), ("main", "l1"), ("main", "l2")]
    limit, l1 = rows["main", "l1"]
    assert (limit.limit_w, limit.volts) == (9600, 120)
    # Minute 0: the car at 7680 and both heaters (1500 each) from the start; 200 W of house a leg.
    assert l1[0] == pytest.approx(200 + 3840 + 1500)
    assert rows["main", "l2"][1][0] == pytest.approx(200 + 3840 + 1500)
    # The total is the two legs, row by row, in both runs compared.
    for run in (report.constraints, report.aggregate_constraints):
        flows = {(node, part): values for node, part, _, values in run}
        for total, one, two in zip(
            flows["main", "total"], flows["main", "l1"], flows["main", "l2"], strict=True
        ):
            assert total == pytest.approx(one + two)
    # The tree controller held L1 in minute 2; the total-only one did not.
    aggregate = {(node, part): values for node, part, _, values in report.aggregate_constraints}
    assert aggregate["main", "l1"][2] == pytest.approx(8000 + 200 + 3840 + 1500)
    assert l1[2] < 9600
