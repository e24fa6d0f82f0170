"""A subpanel whose own sensor fails keeps, in its estimate, the unmanaged load that sensor last showed.

The garage: a 40 A subpanel on both legs (32 A a leg: 3840 W; 7680 W in all) with an EV charger
(modulated, up to 32 A) and a 3 kW space heater that Panel Capacity does not manage. Its sensor sees
both; when it fails, the engine knows only the charger, and must not take the heater for gone.
"""

from __future__ import annotations

from hypothesis import assume, given, strategies as st
import pytest

from custom_components.panel_capacity.engine import (
    ROOT,
    ActionReason,
    CapacityEngine,
    Conductor,
    ControlSettings,
    FlowSource,
    LoadConfig,
    LoadInput,
    LoadKind,
    NodeConfig,
    NodeReading,
    PanelConfig,
    ReadingFault,
    SiteReading,
    StepInput,
    Supply,
    UnmanagedBasis,
)

from .test_engine_tree_properties import PROFILE, trees
from .tree_plant import CONDUCTORS, NONE, TOTAL, TreePlant

L1, L2 = Conductor.L1, Conductor.L2
SETTINGS = ControlSettings(
    margin_w=100, hysteresis_w=150, restore_holdoff_s=30, response_s=10, staleness_s=60
)
HOLD_S = 600  # ten staleness times, at least ten minutes (engine/unmanaged.py)
US = PanelConfig(rating_a=100, voltage_v=240, supply=Supply.SPLIT_PHASE, name="Main")
GARAGE = NodeConfig(node_id="garage", name="Garage", rating_a=40)  # 7680 W in all, 3840 W a leg
GARAGE_LIMIT = 7680
EV = LoadConfig(load_id="ev", kind=LoadKind.MODULATED, min_w=1440, max_w=7680, step_w=240, node_id="garage")
HEATER_3KW = {("garage", L1): 1500.0, ("garage", L2): 1500.0}  # a 240 V heater, half on each leg


def garage_plant(metered: str = TOTAL, base: dict | None = None) -> TreePlant:
    engine = CapacityEngine(US, SETTINGS, [EV], nodes=[GARAGE])
    return TreePlant(
        engine, base=dict(HEATER_3KW if base is None else base), metered={ROOT: TOTAL, "garage": metered}
    )


def run_checked(plant: TreePlant, seconds: float, limit: float = GARAGE_LIMIT) -> None:
    """Step for ``seconds``; the garage's true flow never goes over ``limit`` after any step."""
    for _ in range(int(seconds)):
        plant.step()
        assert plant.flow("garage") <= limit, (plant.now, plant.setting)


@pytest.mark.parametrize(
    ("metered", "level"),
    [
        (TOTAL, 4560),  # 7580 W of shed target less the heater, on the EV's 240 W grid
        (CONDUCTORS, 4320),  # each leg's 3740 W less its 1500 W of heater, twice
    ],
)
def test_a_failed_subpanel_sensor_does_not_let_the_ev_into_an_overload(metered: str, level: float) -> None:
    plant = garage_plant(metered)
    plant.step()  # 7680 W of EV and the heater's 3000 W: the EV is turned down at once
    run_checked(plant, 120)
    assert plant.setting["ev"] == level
    last_good = plant.now
    plant.broken["garage"] = None  # the garage's sensor reads NaN from now on
    # Before the fix the garage was its EV alone (4560 W, room for 3000 W more): raised into 10,680 W.
    run_checked(plant, HOLD_S + 300)
    assert plant.setting["ev"] == level
    garage = plant.engine.status().nodes["garage"]
    total = garage.total
    assert total.source is FlowSource.ESTIMATED
    sensors = (total,) if metered == TOTAL else tuple(garage.conductors.values())
    assert {c.fault for c in sensors} == {ReadingFault.NO_NUMBER}  # its total's sensor, or its legs'
    assert total.flow_w == pytest.approx(level + 3000)
    assert total.unmanaged_w == pytest.approx(3000)
    assert total.unmanaged_since == last_good
    assert total.unmanaged_basis is UnmanagedBasis.DAY_PEAK  # failed for longer than the hold time
    for leg in (L1, L2):  # measured per leg: each leg's own; by its total alone: shared equally
        assert garage.conductors[leg].unmanaged_w == pytest.approx(1500)
        assert garage.conductors[leg].flow_w == pytest.approx(level / 2 + 1500)
    # The sensor comes back: measured again, nothing remembered in the flow.
    del plant.broken["garage"]
    plant.step()
    total = plant.engine.status().nodes["garage"].total
    assert (total.source, total.unmanaged_w, total.unmanaged_basis) == (FlowSource.MEASURED, None, None)


def test_one_failed_leg_sensor_keeps_that_leg_s_unmanaged_load_and_the_total() -> None:
    # A 120 V 1800 W heater on L1: L1 carries it and half the EV; L2 only half the EV.
    plant = garage_plant(CONDUCTORS, base={("garage", L1): 1800.0})
    run_checked(plant, 120)
    level = plant.setting["ev"]
    assert level == 2 * (3740 - 1800) // 240 * 240  # L1 binds: 3740 W of shed target less the heater
    plant.broken["garage"] = L1
    run_checked(plant, 300, limit=GARAGE_LIMIT)
    for _ in range(300):
        plant.step()
        assert plant.flow("garage", L1) <= 3840
    assert plant.setting["ev"] == level
    garage = plant.engine.status().nodes["garage"]
    assert garage.conductors[L1].source is FlowSource.ESTIMATED
    assert garage.conductors[L1].unmanaged_w == pytest.approx(1800)
    assert garage.conductors[L2].source is FlowSource.MEASURED
    # Without a total sensor the legs made the total: it is still known, estimated in part.
    assert garage.total.source is FlowSource.ESTIMATED
    assert garage.total.flow_w == pytest.approx(level + 1800)
    assert garage.total.unmanaged_w == pytest.approx(1800)


def test_after_the_hold_time_the_largest_unmanaged_load_of_the_day_is_kept() -> None:
    plant = garage_plant()
    run_checked(plant, 120)  # the heater on: the EV at 4560 W
    plant.base = {}  # the heater is switched off; the EV comes back up to the garage's shed target
    run_checked(plant, HOLD_S + 200)
    assert plant.setting["ev"] == 7440
    plant.broken["garage"] = None
    run_checked(plant, HOLD_S - 10)  # shortly after the fault: the last minutes' largest (0 W) holds
    total = plant.engine.status().nodes["garage"].total
    assert (total.unmanaged_w, total.unmanaged_basis) == (0, UnmanagedBasis.RECENT_PEAK)
    assert plant.setting["ev"] == 7440
    run_checked(plant, 30)
    # Nothing seen for longer: the heater may well be on again. The EV makes room for it, on each
    # leg too (estimated, the 3000 W its total sensor showed shared equally: 3740 W less 1500 W, twice).
    total = plant.engine.status().nodes["garage"].total
    assert (total.unmanaged_w, total.unmanaged_basis) == (3000, UnmanagedBasis.DAY_PEAK)
    assert plant.setting["ev"] == 4320
    assert any(
        action.reason is ActionReason.OVER_LIMIT and action.node_id == "garage"
        for _, action in plant.actions[-5:]
    )
    plant.base = dict(HEATER_3KW)  # and so it is: the garage stays under its limit
    run_checked(plant, 120)


def test_a_heater_cycling_off_just_before_the_fault_is_not_taken_as_gone() -> None:
    plant = garage_plant()
    run_checked(plant, 120)
    plant.base = {}  # its thermostat is satisfied for a moment...
    plant.step()
    plant.broken["garage"] = None  # ...as the sensor fails
    plant.base = dict(HEATER_3KW)  # and back on
    run_checked(plant, 300)
    total = plant.engine.status().nodes["garage"].total
    assert (total.unmanaged_w, total.unmanaged_basis) == (3000, UnmanagedBasis.RECENT_PEAK)


def test_a_command_not_shown_yet_is_not_taken_for_unmanaged_load() -> None:
    # The EV is told 4560 W; the meter still shows 7680 W of it for a few seconds.
    engine = CapacityEngine(US, SETTINGS, [EV], nodes=[GARAGE])

    def step(now: float, garage: float | None, level: float) -> None:
        nodes = {} if garage is None else {"garage": NodeReading(garage)}
        loads = {"ev": LoadInput(is_on=True, level_w=level)}
        engine.step(StepInput(now=now, site=SiteReading(garage or 9000, now), loads=loads, nodes=nodes))

    step(1, 10680, 7680)
    assert engine.status().loads["ev"].level_w == 4560
    step(2, 10680, 4560)  # commanded, not shown yet: 6120 W of it is the EV's, not unmanaged
    step(3, None, 4560)
    assert engine.status().nodes["garage"].total.unmanaged_w == pytest.approx(3000)


def test_the_remembered_part_survives_a_restart_while_the_sensor_still_fails() -> None:
    plant = garage_plant()
    run_checked(plant, 120)
    level = plant.setting["ev"]
    plant.broken["garage"] = None
    run_checked(plant, 60)
    memory = plant.engine.export_memory()
    plant.engine = CapacityEngine(US, SETTINGS, [EV], nodes=[GARAGE], memory=memory)
    run_checked(plant, 300)
    assert plant.setting["ev"] == level
    total = plant.engine.status().nodes["garage"].total
    assert total.unmanaged_w == pytest.approx(3000)
    # Restarted with the sensor taken out of the configuration (no reading, no fault): loads only.
    again = CapacityEngine(US, SETTINGS, [EV], nodes=[GARAGE], memory=memory)
    plant = TreePlant(again, base=dict(HEATER_3KW), metered={ROOT: TOTAL, "garage": NONE})
    plant.step()
    total = again.status().nodes["garage"].total
    assert (total.flow_w, total.unmanaged_w) == (7680, None)
    # A memory written before this change (no "unmanaged") or a damaged one is read as before.
    for damaged in (
        {k: v for k, v in memory.items() if k != "unmanaged"},
        memory | {"unmanaged": [{"x": 1}]},
    ):
        engine = CapacityEngine(US, SETTINGS, [EV], nodes=[GARAGE], memory=damaged)
        assert engine.export_memory()["unmanaged"] == []


def test_the_parents_count_the_kept_part_once() -> None:
    # The garage hangs in a workshop subpanel without a sensor; the service is measured.
    shop = NodeConfig(node_id="shop", rating_a=60)
    garage = NodeConfig(node_id="garage", rating_a=40, parent_id="shop")
    lamp = LoadConfig(load_id="lamp", kind=LoadKind.SWITCH, nominal_w=240, node_id="shop", conductors=(L1,))
    engine = CapacityEngine(US, SETTINGS, [EV, lamp], nodes=[shop, garage])
    plant = TreePlant(
        engine,
        base={**HEATER_3KW, (ROOT, L1): 700.0},
        metered={ROOT: CONDUCTORS, "shop": NONE, "garage": TOTAL},
    )
    run_checked(plant, 120)
    plant.broken["garage"] = None
    run_checked(plant, 60)
    nodes = engine.status().nodes
    assert nodes["garage"].total.flow_w == pytest.approx(plant.flow("garage"))
    assert nodes["shop"].total.flow_w == pytest.approx(plant.flow("shop"))  # the lamp, the EV, the heater
    assert nodes["shop"].conductors[L1].flow_w == pytest.approx(plant.flow("shop", L1))
    assert nodes["shop"].total.unmanaged_w is None  # the shop's own estimate holds nothing remembered
    assert nodes[ROOT].total.flow_w == pytest.approx(plant.flow(ROOT))  # measured: counts it all, once
    assert nodes[ROOT].total.source is FlowSource.MEASURED


@given(trees(), st.data())
@PROFILE
def test_a_failed_node_sensor_is_never_estimated_below_what_it_last_read(tree, data) -> None:
    """Property: whenever a node's sensor fails, its estimate stays at or above the true flow, loads unchanged.

    Over random trees: one node measured by its own sensor loses it (all of it, or one conductor's)
    at a random moment. From then on, with the unmanaged load as it was, every constraint that the
    sensor measured is estimated at no less than it truly carries, whatever the engine does to the
    loads meanwhile.
    """
    panel, control, nodes, loads, metered, profile = tree
    candidates = [node.node_id for node in nodes if metered[node.node_id] != NONE]
    assume(candidates)
    engine = CapacityEngine(panel, control, loads, nodes=nodes)
    plant = TreePlant(engine, base=dict(profile[0][1]), metered=dict(metered))
    failing = data.draw(st.sampled_from(candidates))
    conductors = plant.conductors[failing]
    conductor = None
    if metered[failing] == CONDUCTORS and len(conductors) > 1:
        conductor = data.draw(st.sampled_from([None, *conductors]))
    for _ in range(data.draw(st.integers(min_value=1, max_value=200))):
        plant.step()
    before = engine.status().nodes[failing]
    assume(before.total.fault is None and all(c.fault is None for c in before.conductors.values()))
    plant.broken[failing] = conductor  # it was reading (not refused as beyond what it could carry)
    watched = (
        [None] if metered[failing] == TOTAL else ([*conductors, None] if len(conductors) > 1 else [None])
    )
    for _ in range(data.draw(st.integers(min_value=1, max_value=60))):
        truth = {c: plant.flow(failing, c) for c in watched}  # what the step is about to read
        plant.step()
        status = engine.status().nodes[failing]
        for c in watched:
            constraint = status.total if c is None else status.conductors[c]
            assert constraint.flow_w is not None, (failing, c)
            assert constraint.flow_w >= truth[c] - 1e-6, (failing, c, constraint, truth[c])


def _garage_with_a_slow_clamp(clamp_every: int) -> tuple[list[float], int]:
    """The heater starts in a full garage; the main meter reports every second, the garage's clamp
    every ``clamp_every`` seconds. The EV's level at each second, and how many times it was cut."""
    engine = CapacityEngine(US, SETTINGS, [EV], nodes=[GARAGE])
    level, clamp, cuts, levels = 7680.0, 0.0, 0, []
    for second in range(60):
        heater = 3000.0 if second >= 5 else 0.0
        garage = level + heater
        if second % clamp_every == 0:
            clamp = garage
        now = 1000.0 + second
        result = engine.step(
            StepInput(
                now=now,
                site=SiteReading(garage + 1000.0, now),  # the house's own 1 kW besides
                nodes={"garage": NodeReading(power_w=clamp)},
                loads={"ev": LoadInput(is_on=level > 0, level_w=level)},
            )
        )
        for action in result.actions:
            cuts += action.reason is ActionReason.OVER_LIMIT
            level = action.level_w if action.level_w is not None else 0.0
        levels.append(level)
    return levels, cuts


def test_a_subpanel_meter_slower_than_the_main_one_is_not_taken_for_a_cut_not_working() -> None:
    """The main meter shows the EV's cut at once; the garage's clamp seconds later. Meanwhile the
    clamp's old reading must not be taken for the garage after the cut (it was: cut after cut, each
    main-meter reading, until the EV was off)."""
    fresh, fresh_cuts = _garage_with_a_slow_clamp(1)
    slow, slow_cuts = _garage_with_a_slow_clamp(5)
    assert fresh[-1] == 4560  # 7580 W of shed target less the heater, on the EV's 240 W grid
    assert slow[-1] == fresh[-1]
    assert min(slow) == fresh[-1]  # never cut deeper than needed
    assert slow_cuts == fresh_cuts == 1
