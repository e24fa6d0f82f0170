"""Reading a config entry into the engine's configuration."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.panel_capacity.configuration import (
    load_data_from_v1,
    load_from_subentry,
    panel_from_data,
    settings_from_options,
    setup_from_entry,
    watts_per_unit,
)
from custom_components.panel_capacity.const import CONF_LOAD_ORDER, DOMAIN
from custom_components.panel_capacity.engine import Conductor, LoadKind, NodeConfig, PanelConfig, Supply

from .conftest import EV_DATA, PANEL_DATA, WATER_HEATER_DATA, load_subentry, node_subentry

THREE_PHASE = PanelConfig(rating_a=25, voltage_v=230, supply=Supply.THREE_PHASE)
SPLIT = PanelConfig(rating_a=100, voltage_v=240, supply=Supply.SPLIT_PHASE)


SINGLE = PanelConfig(rating_a=60, voltage_v=230, supply=Supply.SINGLE_PHASE)


@pytest.mark.parametrize(
    ("panel", "unit", "conductors", "watts"),
    [
        (SPLIT, "A", 1, 120),  # a 120 V load on one leg
        (SPLIT, "A", 2, 240),  # a 240 V load on both legs
        (SPLIT, "A", 3, 240),  # never more conductors than the supply has
        (SINGLE, "A", 1, 230),
        (THREE_PHASE, "A", 1, 230),
        (THREE_PHASE, "A", 3, 690),
        (THREE_PHASE, "A", 7, 690),
        (SPLIT, "W", 1, 1),
        (SPLIT, "kW", 1, 1000),
    ],
)
def test_watts_per_unit(panel: PanelConfig, unit: str, conductors: int, watts: float) -> None:
    assert watts_per_unit(panel, unit, conductors) == watts


def test_three_phase_ev_in_amps() -> None:
    data = EV_DATA | {"conductors": ["l1", "l2", "l3"], "max": 16}
    load = load_from_subentry(THREE_PHASE, "ev", "EV", data)
    assert load.kind is LoadKind.MODULATED
    assert load.config.min_w == 6 * 690
    assert load.config.max_w == 16 * 690
    assert load.config.step_w == 690
    assert load.watts_per_unit == 690
    assert load.domain == "input_number"


def test_switch_load_and_defaults() -> None:
    load = load_from_subentry(SPLIT, "wh", "Water heater", {"actuator": "switch.boiler", "nominal_w": 4500})
    assert load.kind is LoadKind.SWITCH
    assert load.config.nominal_w == 4500
    assert load.config.allow_off is True
    assert load.power_sensor is None
    settings = settings_from_options({})
    assert (settings.margin_w, settings.hysteresis_w, settings.staleness_s) == (100, 150, 60)
    assert panel_from_data(PANEL_DATA).continuous_limit_w == pytest.approx(7680)


def test_priority_order_keeps_new_loads_last() -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        data=PANEL_DATA,
        subentries_data=[
            load_subentry("A", WATER_HEATER_DATA),
            load_subentry("B", EV_DATA),
            load_subentry("C", WATER_HEATER_DATA | {"actuator": "switch.c"}),
        ],
    )
    ids = {sub.title: sid for sid, sub in entry.subentries.items()}
    entry = MockConfigEntry(
        domain=DOMAIN,
        data=PANEL_DATA,
        options={CONF_LOAD_ORDER: [ids["B"], "gone", ids["A"]]},
        subentries_data=[
            load_subentry("A", WATER_HEATER_DATA) | {"subentry_id": ids["A"]},
            load_subentry("B", EV_DATA) | {"subentry_id": ids["B"]},
            load_subentry("C", WATER_HEATER_DATA | {"actuator": "switch.c"}) | {"subentry_id": ids["C"]},
        ],
    )
    setup = setup_from_entry(entry)
    assert [load.name for load in setup.loads] == ["B", "A", "C"]
    assert setup.site_sensors == ("sensor.site_power",)


@pytest.mark.parametrize(
    ("supply", "data", "conductors"),
    [
        (Supply.SPLIT_PHASE, WATER_HEATER_DATA, ["l1", "l2"]),
        (Supply.SPLIT_PHASE, EV_DATA, ["l1", "l2"]),  # phases meant nothing on split-phase
        (Supply.SINGLE_PHASE, EV_DATA, ["l1"]),
        (Supply.THREE_PHASE, EV_DATA, ["l1"]),  # one phase: taken as L1
        (Supply.THREE_PHASE, EV_DATA | {"phases": "3"}, ["l1", "l2", "l3"]),
        (Supply.THREE_PHASE, WATER_HEATER_DATA, ["l1", "l2", "l3"]),  # no phases: the whole supply
    ],
)
def test_version_1_load_data(supply: Supply, data: dict[str, Any], conductors: list[str]) -> None:
    migrated = load_data_from_v1(supply, data)
    assert migrated == {key: value for key, value in data.items() if key != "phases"} | {
        "node": "main",
        "conductors": conductors,
    }
    # What it draws per ampere is what version 1 counted.
    panel = PanelConfig(
        rating_a=100, voltage_v=240 if supply is not Supply.THREE_PHASE else 230, supply=supply
    )
    old = {
        Supply.SPLIT_PHASE: 240,
        Supply.SINGLE_PHASE: 240,
        Supply.THREE_PHASE: 230 * int(data.get("phases", 3)),
    }
    assert watts_per_unit(panel, "A", len(conductors)) == old[supply]


def test_tree_with_sensors_and_adopted_subentries() -> None:
    garage = {"parent": "main", "rating_a": 60, "continuous_pct": 80, "conductors": ["l1", "l2"]}
    entry = MockConfigEntry(
        domain=DOMAIN,
        version=2,
        data={key: value for key, value in PANEL_DATA.items() if key != "site_sensor"}
        | {"l1_sensor": "sensor.l1", "l2_sensor": "sensor.l2", "l3_sensor": "sensor.not_on_split_phase"},
        subentries_data=[
            node_subentry(
                "Garage", garage | {"power_sensor": "sensor.garage", "l2_sensor": "sensor.g2"}, "garage"
            ),
            node_subentry(
                "Bench", {"parent": "garage", "rating_a": 20, "conductors": ["l1"], "cap_a": 15}, "bench"
            ),
            node_subentry("Shed", {"parent": "gone", "rating_a": 30}, "shed"),
            node_subentry("Loop A", {"parent": "loop_b", "rating_a": 30}, "loop_a"),
            node_subentry("Loop B", {"parent": "loop_a", "rating_a": 30}, "loop_b"),
            load_subentry("Freezer", WATER_HEATER_DATA | {"node": "bench", "conductors": [], "unit": "A"}),
            load_subentry("EV", EV_DATA | {"node": "garage", "conductors": ["l1", "l2"]})
            | {"subentry_id": "ev"},
            load_subentry("Lost", WATER_HEATER_DATA | {"actuator": "switch.lost", "node": "removed"})
            | {"subentry_id": "lost"},
        ],
    )
    setup = setup_from_entry(entry)
    assert setup.site_sensors == ()
    assert setup.conductor_sensors == {Conductor.L1: "sensor.l1", Conductor.L2: "sensor.l2"}
    nodes = {node.subentry_id: node for node in setup.nodes}
    assert nodes["garage"].conductor_sensors == {Conductor.L2: "sensor.g2"}
    assert nodes["garage"].sensors == ("sensor.garage", "sensor.g2")
    assert nodes["garage"].watts_per_amp == 240
    assert nodes["bench"].conductors == (Conductor.L1,)
    assert nodes["bench"].watts_per_amp == 120
    assert nodes["bench"].config == NodeConfig(
        node_id="bench", name="Bench", parent_id="garage", rating_a=20, cap_a=15, conductors=(Conductor.L1,)
    )
    # A missing parent or a loop of parents: hung on the panel, and said so.
    assert nodes["shed"].config.parent_id == "main"
    assert {nodes["loop_a"].config.parent_id, nodes["loop_b"].config.parent_id} >= {"main"}
    assert setup.measuring_entities == ("sensor.l1", "sensor.l2", "sensor.garage", "sensor.g2")
    loads = {load.name: load for load in setup.loads}
    assert loads["Freezer"].config.node_id == "bench"
    assert loads["Freezer"].watts_per_amp == 120  # on the bench's one leg
    assert loads["EV"].config.conductors == (Conductor.L1, Conductor.L2)
    assert loads["EV"].watts_per_unit == 240
    assert loads["Lost"].config.node_id == "main"
