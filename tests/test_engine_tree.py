"""The engine over a tree of limits: legs, phases and subpanels, each held to its own limit."""

from __future__ import annotations

import pytest

from custom_components.panel_capacity.engine import (
    ROOT,
    ActionKind,
    ActionReason,
    CapacityEngine,
    Conductor,
    ConfigError,
    ControlSettings,
    FlowSource,
    LoadConfig,
    LoadInput,
    LoadKind,
    LoadReason,
    NodeConfig,
    NodeReading,
    PanelConfig,
    SiteReading,
    StepInput,
    Supply,
)

from .tree_plant import CONDUCTORS, TOTAL, TreePlant

L1, L2, L3 = Conductor.L1, Conductor.L2, Conductor.L3
SETTINGS = ControlSettings(
    margin_w=100, hysteresis_w=150, restore_holdoff_s=30, response_s=10, staleness_s=60
)
# US 100 A split-phase: 80 A per leg, 9600 W a leg at 120 V, 19,200 W in all.
US = PanelConfig(rating_a=100, voltage_v=240, supply=Supply.SPLIT_PHASE, name="Main")
# A 240 V EV charger at up to 48 A (11,520 W: 5760 W on each leg).
EV = LoadConfig(load_id="ev", name="EV", kind=LoadKind.MODULATED, min_w=1440, max_w=11520, step_w=240)
DEHUMIDIFIER = LoadConfig(load_id="dh", kind=LoadKind.SWITCH, nominal_w=500, conductors=(L1,))
FREEZER = LoadConfig(load_id="fz", kind=LoadKind.SWITCH, nominal_w=600, conductors=(L2,))


def test_a_leg_over_its_limit_sheds_only_loads_on_that_leg() -> None:
    # 40 A of 120 V kitchen load on L1 and the EV at 48 A: L1 = 88 A, L2 = 48 A, 16.8 kW in all.
    engine = CapacityEngine(US, SETTINGS, [EV, FREEZER, DEHUMIDIFIER])
    plant = TreePlant(engine, base={(ROOT, L1): 4800.0}, metered={ROOT: CONDUCTORS})
    assert plant.flow(ROOT) < engine.limit.effective_w  # the total alone would shed nothing
    actions = plant.step()
    # The dehumidifier (least important, on L1) first, then the EV down; the freezer on L2 is left alone.
    assert [(a.load_id, a.kind, a.node_id, a.conductor) for a in actions] == [
        ("dh", ActionKind.TURN_OFF, ROOT, L1),
        ("ev", ActionKind.SET_LEVEL, ROOT, L1),
    ]
    assert plant.flow(ROOT, L1) <= 9600 - 100
    assert plant.setting["fz"] == 1.0
    # L1 needed 11,060 - 9500 = 1560 W less: 500 W from the dehumidifier, 1060 W of the EV's half.
    assert plant.setting["ev"] == 11520 - 2160  # 2120 W less in all, rounded to the 240 W step
    status = engine.status()
    assert status.binding is not None
    assert (status.binding.node_id, status.binding.conductor, status.binding.term) == (ROOT, L1, "panel")
    leg = status.nodes[ROOT].conductors[L1]
    assert leg.source is FlowSource.MEASURED
    assert leg.limit.effective_w == 9600
    assert leg.current_a == pytest.approx(11060 / 120)  # 92 A: what the step read
    assert leg.projected_w is not None
    assert leg.projected_w <= 9500


def test_measuring_only_the_total_keeps_the_aggregate_behaviour_and_says_so() -> None:
    engine = CapacityEngine(US, SETTINGS, [EV, FREEZER, DEHUMIDIFIER])
    plant = TreePlant(engine, base={(ROOT, L1): 4800.0}, metered={ROOT: TOTAL})
    assert plant.step() == ()  # L1 is over its rating, but only the total is known
    root = engine.status().nodes[ROOT]
    assert not root.conductors_measured
    assert root.conductors[L1].source is FlowSource.NOT_MEASURED
    assert root.conductors[L1].flow_w is None
    assert root.total.source is FlowSource.MEASURED


def test_three_phase_charger_is_limited_by_its_busiest_phase() -> None:
    # 3 x 25 A at 230 V, 20 A a phase (4600 W); an 11 kW charger at 16 A and an oven at 10 A on L1.
    panel = PanelConfig(rating_a=25, voltage_v=230, supply=Supply.THREE_PHASE)
    charger = LoadConfig(load_id="ev", kind=LoadKind.MODULATED, min_w=4140, max_w=11040, step_w=690)
    engine = CapacityEngine(panel, SETTINGS, [charger])
    plant = TreePlant(engine, base={(ROOT, L1): 2300.0}, metered={ROOT: CONDUCTORS})
    assert plant.flow(ROOT) < engine.limit.effective_w  # 13.3 kW against 13.8 kW
    actions = plant.step()
    assert [(a.load_id, a.conductor) for a in actions] == [("ev", L1)]
    # L1 may carry 4500 W: 2200 W for the charger's third, 6600 W in all, on its 690 W (1 A) grid.
    assert plant.setting["ev"] == 6210
    assert plant.flow(ROOT, L1) <= 4500
    # Later, with the oven off, the charger comes back up, step by step, never over any phase.
    plant.base = {}
    for _ in range(600):
        plant.step()
        assert max(plant.flow(ROOT, c) for c in (L1, L2, L3)) <= 4600
    assert plant.setting["ev"] == 11040


GARAGE = NodeConfig(node_id="garage", name="Garage", rating_a=60)  # 48 A a leg: 5760 W, 11,520 W in all
GARAGE_EV = LoadConfig(
    load_id="ev", kind=LoadKind.MODULATED, min_w=1440, max_w=11520, step_w=240, node_id="garage"
)
WATER_HEATER = LoadConfig(load_id="wh", kind=LoadKind.SWITCH, nominal_w=4500)


def test_a_subpanel_over_its_limit_sheds_inside_it_while_the_main_has_room() -> None:
    # The water heater (on the main panel) is less important, yet only the garage is over.
    engine = CapacityEngine(US, SETTINGS, [GARAGE_EV, WATER_HEATER], nodes=[GARAGE])
    plant = TreePlant(
        engine,
        base={("garage", L1): 1500.0, ("garage", L2): 1500.0},
        metered={ROOT: TOTAL, "garage": TOTAL},
    )
    actions = plant.step()
    assert [(a.load_id, a.node_id, a.conductor) for a in actions] == [("ev", "garage", None)]
    assert plant.setting["wh"] == 1.0
    assert plant.flow("garage") <= 11520 - 100
    status = engine.status()
    assert status.nodes["garage"].total.source is FlowSource.MEASURED
    assert status.nodes["garage"].parent_id == ROOT
    assert status.loads["ev"].node_id == "garage"
    assert status.loads["ev"].conductors == (L1, L2)


def test_an_unmetered_subpanel_is_estimated_from_its_loads() -> None:
    garage = NodeConfig(node_id="garage", rating_a=20, conductors=(L1,))  # a 120 V, 20 A circuit: 1920 W
    heater = LoadConfig(load_id="heater", kind=LoadKind.SWITCH, nominal_w=1500, node_id="garage")
    compressor = LoadConfig(load_id="compressor", kind=LoadKind.SWITCH, nominal_w=1000, node_id="garage")
    engine = CapacityEngine(US, SETTINGS, [heater, compressor], nodes=[garage])
    plant = TreePlant(engine, metered={ROOT: TOTAL})
    actions = plant.step()
    assert [(a.load_id, a.node_id) for a in actions] == [("compressor", "garage")]
    circuit = engine.status().nodes["garage"].total
    assert circuit.source is FlowSource.ESTIMATED
    assert circuit.flow_w == 2500  # before the cut: what the step saw
    assert circuit.limit.effective_w == 1920


def test_a_node_cap_lowers_its_limit_and_binds() -> None:
    garage = NodeConfig(node_id="garage", rating_a=60, cap_a=30)
    engine = CapacityEngine(US, SETTINGS, [GARAGE_EV], nodes=[garage])
    plant = TreePlant(engine, metered={ROOT: TOTAL, "garage": CONDUCTORS})
    plant.step()
    node = engine.status().nodes["garage"]
    assert node.conductors[L1].limit.effective_w == 30 * 120
    assert node.conductors[L1].limit.binding == "user_cap"
    assert node.conductors[L1].limit.terms["panel"] == 48 * 120
    assert plant.flow("garage", L1) <= 3600 - 100


def test_restoring_needs_room_on_every_constraint_of_the_load() -> None:
    """A held 120 V load on L2 comes back while L1 is full; one on L1 waits."""
    l1_load = LoadConfig(load_id="l1", kind=LoadKind.SWITCH, nominal_w=1000, conductors=(L1,))
    l2_load = LoadConfig(load_id="l2", kind=LoadKind.SWITCH, nominal_w=1000, conductors=(L2,))
    engine = CapacityEngine(US, SETTINGS, [l1_load, l2_load])
    plant = TreePlant(engine, base={(ROOT, L1): 9000.0, (ROOT, L2): 9000.0}, metered={ROOT: CONDUCTORS})
    plant.step()
    assert plant.setting == {"l1": 0.0, "l2": 0.0}  # both legs were over
    plant.base = {(ROOT, L1): 9400.0, (ROOT, L2): 5000.0}  # L1 under its limit, above its restore threshold
    plant.run(120)
    assert plant.setting == {"l1": 0.0, "l2": 1.0}
    reasons = engine.status().loads
    assert reasons["l1"].reason is LoadReason.WAITING_FOR_HEADROOM


def test_a_more_important_load_keeps_room_it_waits_for() -> None:
    """A less important load is not given room that a more important one waits for."""
    big = LoadConfig(load_id="big", kind=LoadKind.SWITCH, nominal_w=4000)  # 240 V: 2000 W a leg
    small = LoadConfig(load_id="small", kind=LoadKind.SWITCH, nominal_w=1000, conductors=(L1,))
    other = LoadConfig(load_id="other", kind=LoadKind.SWITCH, nominal_w=1000, conductors=(L2,))
    engine = CapacityEngine(US, SETTINGS, [big, small, other])
    plant = TreePlant(engine, base={(ROOT, L1): 9000.0, (ROOT, L2): 9000.0}, metered={ROOT: CONDUCTORS})
    plant.step()
    assert plant.setting == {"big": 0.0, "small": 0.0, "other": 0.0}
    # L1 has 1850 W of room under its 9350 W restore threshold: enough for the small load, not for the
    # big one's 2000 W. The small one waits for the big one; the one on L2 is in nobody's way.
    plant.base = {(ROOT, L1): 7500.0, (ROOT, L2): 5000.0}
    plant.run(120)
    assert plant.setting == {"big": 0.0, "small": 0.0, "other": 1.0}
    reasons = engine.status().loads
    assert reasons["big"].reason is LoadReason.WAITING_FOR_HEADROOM
    assert reasons["small"].reason is LoadReason.HIGHER_PRIORITY_FIRST
    plant.base = {(ROOT, L1): 7000.0, (ROOT, L2): 5000.0}
    plant.run(120)
    assert plant.setting == {"big": 1.0, "small": 0.0, "other": 1.0}


def test_several_overloads_in_one_step_are_resolved_in_that_step() -> None:
    garage = NodeConfig(node_id="garage", rating_a=30)  # 24 A a leg: 2880 W
    heater = LoadConfig(
        load_id="heater", kind=LoadKind.SWITCH, nominal_w=2000, node_id="garage", conductors=(L2,)
    )
    kettle = LoadConfig(load_id="kettle", kind=LoadKind.SWITCH, nominal_w=1500, conductors=(L1,))
    engine = CapacityEngine(US, SETTINGS, [heater, kettle], nodes=[garage])
    plant = TreePlant(
        engine,
        base={(ROOT, L1): 8500.0, ("garage", L2): 1500.0},
        metered={ROOT: CONDUCTORS, "garage": CONDUCTORS},
    )
    actions = plant.step()
    assert sorted((a.load_id, a.node_id, a.conductor) for a in actions) == [
        ("heater", "garage", L2),
        ("kettle", ROOT, L1),
    ]


def test_root_total_from_its_conductors_alone() -> None:
    engine = CapacityEngine(US, SETTINGS, [FREEZER])
    engine.step(
        StepInput(
            now=1,
            site=SiteReading(None, 1, {L1: 1000.0, L2: 2500.0}),
            loads={"fz": LoadInput(is_on=True)},
        )
    )
    assert engine.status().site_w == 3500
    # A leg missing and no total: nothing is known of the site.
    engine.step(
        StepInput(now=2, site=SiteReading(None, 2, {L1: 1000.0}), loads={"fz": LoadInput(is_on=True)})
    )
    assert engine.status().site_w is None


def test_a_missing_node_reading_falls_back_to_the_estimate() -> None:
    engine = CapacityEngine(US, SETTINGS, [GARAGE_EV], nodes=[GARAGE])
    loads = {"ev": LoadInput(is_on=True, level_w=5000)}
    engine.step(StepInput(now=1, site=SiteReading(8000, 1), loads=loads, nodes={"garage": NodeReading(6000)}))
    assert engine.status().nodes["garage"].total.source is FlowSource.MEASURED
    engine.step(StepInput(now=2, site=SiteReading(8000, 2), loads=loads))
    garage = engine.status().nodes["garage"].total
    # Its loads, and the 1000 W its sensor showed that they do not explain (tests/test_engine_node_fault.py).
    assert (garage.source, garage.flow_w, garage.unmanaged_w) == (FlowSource.ESTIMATED, 6000, 1000)
    # A node never measured is estimated from its loads alone.
    fresh = CapacityEngine(US, SETTINGS, [GARAGE_EV], nodes=[GARAGE])
    fresh.step(StepInput(now=2, site=SiteReading(8000, 2), loads=loads))
    garage = fresh.status().nodes["garage"].total
    assert (garage.source, garage.flow_w, garage.unmanaged_w) == (FlowSource.ESTIMATED, 5000, None)


def test_an_estimated_node_counts_its_measured_children() -> None:
    shop = NodeConfig(node_id="shop", rating_a=60)  # no sensor
    bench = NodeConfig(node_id="bench", rating_a=30, parent_id="shop")  # its own meter
    saw = LoadConfig(load_id="saw", kind=LoadKind.SWITCH, nominal_w=1800, node_id="shop", conductors=(L1,))
    engine = CapacityEngine(US, SETTINGS, [saw], nodes=[shop, bench])
    engine.step(
        StepInput(
            now=1,
            site=SiteReading(6000, 1),
            loads={"saw": LoadInput(is_on=True)},
            nodes={"bench": NodeReading(None, {L1: 700.0, L2: 300.0})},
        )
    )
    shop_status = engine.status().nodes["shop"]
    assert shop_status.total.flow_w == 2800
    assert shop_status.conductors[L1].flow_w == 2500
    assert shop_status.conductors[L2].flow_w == 300


def test_without_a_tree_actions_answer_to_the_site_total() -> None:
    engine = CapacityEngine(US, SETTINGS, [FREEZER])
    result = engine.step(StepInput(now=1, site=SiteReading(20000, 1), loads={"fz": LoadInput(is_on=True)}))
    assert [(a.reason, a.node_id, a.conductor, a.site_w, a.limit_w) for a in result.actions] == [
        (ActionReason.OVER_LIMIT, ROOT, None, 20000, 19200)
    ]


@pytest.mark.parametrize(
    ("nodes", "loads", "message"),
    [
        ([NodeConfig(node_id="a", rating_a=30, parent_id="b")], [], "no parent b"),
        (
            [
                NodeConfig(node_id="a", rating_a=30, parent_id="b"),
                NodeConfig(node_id="b", rating_a=30, parent_id="a"),
            ],
            [],
            "loop",
        ),
        ([NodeConfig(node_id="a", rating_a=30), NodeConfig(node_id="a", rating_a=20)], [], "duplicate node"),
        ([NodeConfig(node_id=ROOT, rating_a=30)], [], "duplicate node"),
        ([NodeConfig(node_id="a", rating_a=0)], [], "rating"),
        ([NodeConfig(node_id="a", rating_a=30, continuous_factor=1.5)], [], "continuous factor"),
        ([NodeConfig(node_id="a", rating_a=30, cap_a=float("nan"))], [], "cap"),
        ([NodeConfig(node_id="a", rating_a=30, conductors=(L3,))], [], "conductors"),
        (
            [
                NodeConfig(node_id="a", rating_a=30, conductors=(L1,)),
                NodeConfig(node_id="b", rating_a=20, parent_id="a", conductors=(L2,)),
            ],
            [],
            "conductors",
        ),
        ([], [LoadConfig(load_id="x", nominal_w=1, node_id="nowhere")], "no node nowhere"),
        ([], [LoadConfig(load_id="x", nominal_w=1, conductors=(L3,))], "conductors"),
        ([], [LoadConfig(load_id="x", nominal_w=1, conductors=(L1, L1))], "conductors"),
    ],
)
def test_invalid_trees_are_refused(nodes, loads, message) -> None:
    with pytest.raises(ConfigError, match=message):
        CapacityEngine(US, SETTINGS, loads, nodes=nodes)


def test_memory_of_a_tree_survives_a_restart() -> None:
    engine = CapacityEngine(US, SETTINGS, [GARAGE_EV, WATER_HEATER], nodes=[GARAGE])
    plant = TreePlant(
        engine, base={("garage", L1): 1500.0, ("garage", L2): 1500.0}, metered={ROOT: TOTAL, "garage": TOTAL}
    )
    plant.step()
    memory = engine.export_memory()
    again = CapacityEngine(US, SETTINGS, [GARAGE_EV, WATER_HEATER], nodes=[GARAGE], memory=memory)
    plant.engine = again
    plant.step()
    assert again.status().loads["ev"].state.value == "reduced"


@pytest.mark.parametrize(
    ("panel", "settings", "loads", "message"),
    [
        (PanelConfig(rating_a=0.5, voltage_v=240), SETTINGS, [], "rating"),
        (PanelConfig(rating_a=100, voltage_v=600), SETTINGS, [], "voltage"),
        (PanelConfig(rating_a=25, voltage_v=400, supply=Supply.THREE_PHASE), SETTINGS, [], "line to neutral"),
        (PanelConfig(rating_a=100, voltage_v=240, continuous_factor=0.3), SETTINGS, [], "continuous"),
        (US, ControlSettings(margin_w=10000, hysteresis_w=10000), [], "thresholds too wide"),
        (US, ControlSettings(largest_step_w=30000), [], "step above rating"),
        (US, SETTINGS, [LoadConfig(load_id="x", nominal_w=30000)], "above panel rating"),
        (
            US,
            SETTINGS,
            [LoadConfig(load_id="x", kind=LoadKind.MODULATED, min_w=1000, max_w=2000, step_w=1500)],
            "step too large",
        ),
    ],
)
def test_the_engine_refuses_what_the_forms_refuse(panel, settings, loads, message) -> None:
    """The engine's validation and the forms share engine/rules.py."""
    with pytest.raises(ConfigError, match=message):
        CapacityEngine(panel, settings, loads)


def test_a_child_measuring_only_its_total_keeps_its_known_loads_on_their_legs() -> None:
    shop = NodeConfig(node_id="shop", rating_a=60)  # no sensor
    bench = NodeConfig(node_id="bench", rating_a=30, parent_id="shop")  # measures its total only
    heater = LoadConfig(
        load_id="heater", kind=LoadKind.SWITCH, nominal_w=1500, node_id="bench", conductors=(L1,)
    )
    engine = CapacityEngine(US, SETTINGS, [heater], nodes=[shop, bench])
    engine.step(
        StepInput(
            now=1,
            site=SiteReading(6000, 1),
            loads={"heater": LoadInput(is_on=True)},
            nodes={"bench": NodeReading(2100)},
        )
    )
    legs = engine.status().nodes["shop"].conductors
    # The heater's 1500 W stay on L1; the 600 W its loads do not explain are shared over both legs.
    assert (legs[L1].flow_w, legs[L2].flow_w) == (1800, 300)
