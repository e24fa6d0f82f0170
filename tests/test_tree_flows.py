"""The tree's forms: the panel's meter per leg or phase, subpanels and circuits, where a load draws.

Every branch and every error, each followed by a recovery; what was typed is kept on an error.
"""

from __future__ import annotations

from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.panel_capacity.const import DOMAIN, SUBENTRY_LOAD, SUBENTRY_NODE
from custom_components.panel_capacity.engine import Conductor
from homeassistant.config_entries import SOURCE_RECONFIGURE, SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from .conftest import (
    FREEZER,
    GARAGE,
    GARAGE_ID,
    HEAT_PUMP,
    LEG_L1,
    LEG_L2,
    SERVICE,
    WATER_HEATER_DATA,
    load_subentry,
    node_subentry,
    subentry_id,
)
from .test_config_flow import PANEL_FORM, TRANSLATIONS, assert_range_messages, configure, sensor


def fields(result: dict[str, Any]) -> list[str]:
    return [str(key) for key in result["data_schema"].schema]


def suggested(result: dict[str, Any]) -> dict[str, Any]:
    """What the form shows filled in."""
    return {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description and "suggested_value" in key.description
    }


async def panel_flow(hass: HomeAssistant, form: dict[str, Any]) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    return await hass.config_entries.flow.async_configure(result["flow_id"], form)


# ------------------------------------------------------------- the panel's meter


@pytest.mark.usefixtures("tree_house")
async def test_meter_with_a_total_and_each_leg(hass: HomeAssistant) -> None:
    result = await panel_flow(hass, PANEL_FORM)
    assert result["step_id"] == "sensors"
    assert fields(result) == ["site_sensor", "l1_sensor", "l2_sensor"]  # no L3 on split-phase
    result = await configure(hass, result, {"site_sensor": SERVICE, "l1_sensor": LEG_L1, "l2_sensor": LEG_L2})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    panel = {key: value for key, value in PANEL_FORM.items() if key != "name"}
    assert result["data"] == panel | {"site_sensor": SERVICE, "l1_sensor": LEG_L1, "l2_sensor": LEG_L2}
    await hass.async_block_till_done()
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert entry.version == 2
    setup = entry.runtime_data.coordinator.setup
    assert setup.conductor_sensors == {Conductor.L1: LEG_L1, Conductor.L2: LEG_L2}
    root = entry.runtime_data.coordinator.data.nodes["main"]
    assert root.conductors_measured


@pytest.mark.usefixtures("tree_house")
async def test_meter_of_legs_alone_and_the_same_meter_twice(hass: HomeAssistant) -> None:
    result = await panel_flow(hass, PANEL_FORM)
    result = await configure(hass, result, {"l1_sensor": LEG_L1, "l2_sensor": LEG_L2})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert "site_sensor" not in result["data"]
    await hass.async_block_till_done()
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert entry.runtime_data.coordinator.data.site_w == pytest.approx(12580, abs=1)
    again = await panel_flow(hass, PANEL_FORM | {"name": "Again"})
    again = await configure(hass, again, {"l1_sensor": LEG_L1, "l2_sensor": LEG_L2})
    assert again["type"] is FlowResultType.FORM
    assert again["errors"] == {"l1_sensor": "meter_in_use"}  # a meter of legs alone is known by L1
    assert again["description_placeholders"] == {"panel": "House"}


@pytest.mark.parametrize(
    ("meter", "errors"),
    [
        ({}, {"site_sensor": "meter_required"}),
        ({"l1_sensor": LEG_L1}, {"l2_sensor": "meter_incomplete"}),
        ({"site_sensor": SERVICE, "l1_sensor": LEG_L1, "l2_sensor": LEG_L1}, {"l2_sensor": "same_sensor"}),
        ({"site_sensor": SERVICE, "l1_sensor": "sensor.percent"}, {"l1_sensor": "unsupported_unit"}),
        ({"site_sensor": SERVICE, "l2_sensor": "sensor.nothing"}, {"l2_sensor": "entity_not_found"}),
    ],
)
@pytest.mark.usefixtures("tree_house")
async def test_meter_errors_then_recovery(
    hass: HomeAssistant, meter: dict[str, str], errors: dict[str, str]
) -> None:
    sensor(hass, "sensor.percent", "12", "%")
    result = await configure(hass, await panel_flow(hass, PANEL_FORM), meter)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    assert suggested(result) == meter  # nothing typed is lost
    result = await configure(hass, result, {"site_sensor": SERVICE, "l2_sensor": LEG_L2})
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    ("form", "offered"),
    [
        ({"supply": "single_phase", "voltage_v": 230}, ["site_sensor"]),
        ({"supply": "three_phase", "voltage_v": 230}, ["site_sensor", "l1_sensor", "l2_sensor", "l3_sensor"]),
        ({"metering": "pair"}, ["import_sensor", "export_sensor", "l1_sensor", "l2_sensor"]),
    ],
)
async def test_meter_offers_the_conductors_of_the_supply(
    hass: HomeAssistant, form: dict[str, Any], offered: list[str]
) -> None:
    result = await panel_flow(hass, PANEL_FORM | form)
    assert fields(result) == offered


async def test_three_phase_meter_in_amperes(hass: HomeAssistant) -> None:
    for phase, amps in (("l1", "20"), ("l2", "10"), ("l3", "5")):
        sensor(hass, f"sensor.{phase}_current", amps, "A")
    result = await panel_flow(hass, PANEL_FORM | {"supply": "three_phase", "rating_a": 25, "voltage_v": 230})
    result = await configure(hass, result, {f"{p}_sensor": f"sensor.{p}_current" for p in ("l1", "l2", "l3")})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    root = entry.runtime_data.coordinator.data.nodes["main"]
    assert root.total.flow_w == pytest.approx(35 * 230)
    assert root.conductors[Conductor.L1].current_a == pytest.approx(20)
    assert root.conductors[Conductor.L3].limit.effective_w == pytest.approx(20 * 230)


async def test_reconfigure_supply_keeps_what_is_wired_and_the_grid_server(
    hass: HomeAssistant, loaded_tree: MockConfigEntry
) -> None:
    server = {"url": "https://vtn.example.com", "client_id": "id", "client_secret": "secret"}
    hass.config_entries.async_update_entry(loaded_tree, data=dict(loaded_tree.data) | {"grid_server": server})
    await hass.async_block_till_done()
    result = await loaded_tree.start_reconfigure_flow(hass)
    result = await configure(hass, result, PANEL_FORM | {"name": "Main panel", "supply": "single_phase"})
    assert result["errors"] == {"supply": "supply_conductors_in_use"}  # the space heater is on L2
    result = await configure(hass, result, PANEL_FORM | {"name": "Main panel", "rating_a": 125})
    assert result["step_id"] == "sensors"
    assert suggested(result) == {"site_sensor": SERVICE, "l1_sensor": LEG_L1, "l2_sensor": LEG_L2}
    result = await configure(hass, result, {"site_sensor": SERVICE, "l1_sensor": LEG_L1})
    assert result["reason"] == "reconfigure_successful"
    assert loaded_tree.data["rating_a"] == 125
    assert "l2_sensor" not in loaded_tree.data
    assert loaded_tree.data["grid_server"] == server


# ------------------------------------------------------- subpanels and circuits


async def start_sub(
    hass: HomeAssistant, entry: MockConfigEntry, kind: str, sid: str | None = None
) -> dict[str, Any]:
    context: dict[str, Any] = {"source": SOURCE_USER}
    if sid is not None:
        context = {"source": SOURCE_RECONFIGURE, "subentry_id": sid}
    return await hass.config_entries.subentries.async_init((entry.entry_id, kind), context=context)


async def configure_sub(hass: HomeAssistant, result: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    return await hass.config_entries.subentries.async_configure(result["flow_id"], data)


NODE_FORM = {
    "name": "Kitchen circuit",
    "parent": "main",
    "rating_a": 20,
    "continuous_pct": 80,
    "conductors": "l1",
}


def parent_options(result: dict[str, Any]) -> list[tuple[str, str]]:
    key = next(key for key in result["data_schema"].schema if key == "parent")
    selector = result["data_schema"].schema[key]
    return [(option["value"], option["label"]) for option in selector.config["options"]]


async def test_add_a_circuit_with_its_own_sensor(
    hass: HomeAssistant, loaded_tree: MockConfigEntry, state_of
) -> None:
    sensor(hass, "sensor.kitchen_current", "12", "A")
    result = await start_sub(hass, loaded_tree, SUBENTRY_NODE)
    assert result["step_id"] == "user"
    assert parent_options(result) == [("main", "Main panel"), (GARAGE_ID, "Garage")]
    assert suggested(result)["conductors"] == "l1_l2"  # both legs unless told otherwise
    result = await configure_sub(hass, result, NODE_FORM | {"cap_a": 15})
    assert result["step_id"] == "sensors"
    assert fields(result) == ["power_sensor"]  # one leg: its total is that leg
    result = await configure_sub(hass, result, {"power_sensor": "sensor.kitchen_current"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Kitchen circuit"
    assert result["data"] == {
        "parent": "main",
        "rating_a": 20,
        "continuous_pct": 80,
        "cap_a": 15,
        "conductors": ["l1"],
        "power_sensor": "sensor.kitchen_current",
    }
    await hass.async_block_till_done()
    coordinator = loaded_tree.runtime_data.coordinator
    kitchen = next(node for node in coordinator.setup.nodes if node.name == "Kitchen circuit")
    status = coordinator.data.nodes[kitchen.subentry_id]
    assert status.total.flow_w == pytest.approx(12 * 120)  # a current on one leg: 120 V
    assert status.total.limit.effective_w == pytest.approx(15 * 120)  # the cap binds (the rating allows 16 A)
    assert status.total.limit.binding == "user_cap"


async def test_a_subpanel_measured_per_leg(hass: HomeAssistant, loaded_tree: MockConfigEntry) -> None:
    result = await start_sub(hass, loaded_tree, SUBENTRY_NODE)
    result = await configure_sub(
        hass, result, NODE_FORM | {"name": "Shed", "conductors": "l1_l2", "rating_a": 40}
    )
    assert fields(result) == ["power_sensor", "l1_sensor", "l2_sensor"]
    result = await configure_sub(hass, result, {"l1_sensor": LEG_L1})
    assert result["errors"] == {"l2_sensor": "meter_incomplete"}
    assert suggested(result) == {"l1_sensor": LEG_L1}
    result = await configure_sub(hass, result, {"l1_sensor": LEG_L1, "l2_sensor": LEG_L1})
    assert result["errors"] == {"l2_sensor": "same_sensor"}
    result = await configure_sub(hass, result, {"power_sensor": "sensor.nothing"})
    assert result["errors"] == {"power_sensor": "entity_not_found"}
    result = await configure_sub(hass, result, {"power_sensor": GARAGE, "l1_sensor": LEG_L1})
    assert result["type"] is FlowResultType.CREATE_ENTRY  # a total beside some legs is enough
    assert result["data"]["conductors"] == ["l1", "l2"]


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        ({"name": " "}, {"name": "name_required"}),
        ({"cap_a": 25}, {"cap_a": "cap_above_rating"}),
        ({"cap_a": -1, "rating_a": 0}, {"cap_a": "cap_out_of_range", "rating_a": "rating_out_of_range"}),
        ({"continuous_pct": 101}, {"continuous_pct": "continuous_out_of_range"}),
        ({"parent": "circuit_l1", "conductors": "l1_l2"}, {"conductors": "conductors_unavailable"}),
        ({"parent": "circuit_l1", "conductors": "l2"}, {"conductors": "conductors_unavailable"}),
    ],
)
@pytest.mark.parametrize(
    "tree_subentries",
    [[node_subentry("L1 circuit", {"parent": "main", "rating_a": 30, "conductors": ["l1"]}, "circuit_l1")]],
)
async def test_node_errors_then_recovery(
    hass: HomeAssistant, loaded_tree: MockConfigEntry, change: dict[str, Any], errors: dict[str, str]
) -> None:
    result = await start_sub(hass, loaded_tree, SUBENTRY_NODE)
    assert assert_range_messages(TRANSLATIONS["config_subentries"]["node"], result["data_schema"]) == 3
    result = await configure_sub(hass, result, NODE_FORM | change)
    assert result["errors"] == errors
    assert suggested(result) == NODE_FORM | change  # nothing typed is lost
    result = await configure_sub(hass, result, NODE_FORM | {"parent": "circuit_l1"})
    assert result["step_id"] == "sensors"
    result = await configure_sub(hass, result, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["parent"] == "circuit_l1"


BENCH = node_subentry("Bench", {"parent": GARAGE_ID, "rating_a": 20, "conductors": ["l1"]}, "bench")


@pytest.mark.parametrize(
    "tree_subentries",
    [
        [
            node_subentry(
                "Garage", {"parent": "main", "rating_a": 60, "conductors": ["l1", "l2"]}, GARAGE_ID
            ),
            BENCH,
            load_subentry("Dryer", WATER_HEATER_DATA | {"node": GARAGE_ID, "conductors": ["l1", "l2"]}),
        ]
    ],
)
async def test_reconfigure_a_node(hass: HomeAssistant, loaded_tree: MockConfigEntry) -> None:
    result = await start_sub(hass, loaded_tree, SUBENTRY_NODE, GARAGE_ID)
    assert result["step_id"] == "user"
    assert result["description_placeholders"]["below"] == "Bench, Dryer"
    assert parent_options(result) == [("main", "Main panel"), ("bench", "Bench")]  # not itself
    assert suggested(result)["conductors"] == "l1_l2"
    garage = {"name": "Garage", "parent": "main", "rating_a": 60, "continuous_pct": 80, "conductors": "l1_l2"}
    # Never fed from itself or from what hangs below it.
    result = await configure_sub(hass, result, garage | {"parent": "bench"})
    assert result["errors"] == {"parent": "own_ancestor"}
    # The dryer below it draws on both legs.
    result = await configure_sub(hass, result, garage | {"conductors": "l1"})
    assert result["errors"] == {"conductors": "conductors_in_use"}
    result = await configure_sub(hass, result, garage | {"rating_a": 50})
    assert result["step_id"] == "sensors"
    result = await configure_sub(hass, result, {"power_sensor": GARAGE})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert loaded_tree.subentries[GARAGE_ID].data["rating_a"] == 50
    assert (
        loaded_tree.runtime_data.coordinator.data.nodes[GARAGE_ID].total.limit.effective_w == 50 * 0.8 * 240
    )


async def test_nodes_on_single_phase(hass: HomeAssistant) -> None:
    sensor(hass, "sensor.grid", "1000", "W")
    result = await panel_flow(hass, PANEL_FORM | {"supply": "single_phase", "voltage_v": 230})
    result = await configure(hass, result, {"site_sensor": "sensor.grid"})
    await hass.async_block_till_done()
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    result = await start_sub(hass, entry, SUBENTRY_NODE)
    assert "conductors" not in fields(result)  # nothing to choose
    result = await configure_sub(
        hass, result, {key: value for key, value in NODE_FORM.items() if key != "conductors"}
    )
    assert fields(result) == ["power_sensor"]
    result = await configure_sub(hass, result, {})
    assert result["data"]["conductors"] == ["l1"]


# ------------------------------------------------------------ where a load draws

L1_CIRCUIT = node_subentry(
    "L1 circuit", {"parent": "main", "rating_a": 30, "conductors": ["l1"]}, "circuit_l1"
)
SWITCH_FORM = {"nominal_w": 5000, "min_on_s": 0, "min_off_s": 0, "never_shed": False}


async def test_a_240_v_load_in_the_subpanel(hass: HomeAssistant, loaded_tree: MockConfigEntry) -> None:
    hass.states.async_set("switch.dryer", "on")
    result = await start_sub(hass, loaded_tree, SUBENTRY_LOAD)
    assert fields(result) == ["name", "actuator", "node", "conductors"]
    assert suggested(result) == {"node": "main", "conductors": "l1_l2"}
    result = await configure_sub(
        hass, result, {"name": "Dryer", "actuator": "switch.dryer", "node": GARAGE_ID, "conductors": "l1_l2"}
    )
    assert result["step_id"] == "switch"
    result = await configure_sub(hass, result, SWITCH_FORM)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert (
        result["data"]
        == {"actuator": "switch.dryer", "node": GARAGE_ID, "conductors": ["l1", "l2"]} | SWITCH_FORM
    )
    await hass.async_block_till_done()
    dryer = next(load for load in loaded_tree.runtime_data.coordinator.setup.loads if load.name == "Dryer")
    assert (dryer.config.node_id, dryer.config.conductors) == (GARAGE_ID, (Conductor.L1, Conductor.L2))


@pytest.mark.parametrize("tree_subentries", [[L1_CIRCUIT]])
async def test_a_load_only_on_its_circuits_legs(hass: HomeAssistant, loaded_tree: MockConfigEntry) -> None:
    hass.states.async_set(
        "number.charger", "16", {"min": 0, "max": 40, "step": 1, "unit_of_measurement": "A"}
    )
    result = await start_sub(hass, loaded_tree, SUBENTRY_LOAD)
    form = {"name": "Charger", "actuator": "number.charger", "node": "circuit_l1", "conductors": "l1_l2"}
    result = await configure_sub(hass, result, form)
    assert result["errors"] == {"conductors": "conductors_unavailable"}
    assert suggested(result) == form
    result = await configure_sub(hass, result, form | {"conductors": "l1"})
    assert result["step_id"] == "modulated"
    modulated = {"min": 6, "max": 24, "step": 1, "allow_off": True, "min_on_s": 0}
    modulated |= {"min_off_s": 0, "never_shed": False, "export": False}
    result = await configure_sub(hass, result, modulated)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    charger = next(
        load for load in loaded_tree.runtime_data.coordinator.setup.loads if load.name == "Charger"
    )
    assert charger.watts_per_unit == 120  # a 120 V charger on L1
    assert charger.config.max_w == 24 * 120


async def test_without_nodes_a_load_chooses_its_legs_only(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    result = await start_sub(hass, loaded_entry, SUBENTRY_LOAD)
    assert fields(result) == ["name", "actuator", "conductors"]
    result = await configure_sub(
        hass, result, {"name": "Heat pump", "actuator": HEAT_PUMP, "conductors": "l2"}
    )
    result = await configure_sub(hass, result, SWITCH_FORM)
    assert result["data"]["node"] == "main"
    assert result["data"]["conductors"] == ["l2"]


async def test_reconfigure_a_load_shows_where_it_draws(
    hass: HomeAssistant, loaded_tree: MockConfigEntry
) -> None:
    freezer = subentry_id(loaded_tree, "Freezer")
    result = await start_sub(hass, loaded_tree, SUBENTRY_LOAD, freezer)
    assert suggested(result) == {
        "name": "Freezer",
        "actuator": FREEZER,
        "node": GARAGE_ID,
        "conductors": "l1",
    }
    result = await configure_sub(
        hass, result, {"name": "Freezer", "actuator": FREEZER, "node": GARAGE_ID, "conductors": "l2"}
    )
    result = await configure_sub(hass, result, SWITCH_FORM | {"nominal_w": 600})
    assert result["reason"] == "reconfigure_successful"
    assert loaded_tree.subentries[freezer].data["conductors"] == ["l2"]


async def test_a_load_on_single_phase_has_nothing_to_choose(hass: HomeAssistant) -> None:
    sensor(hass, "sensor.grid", "1000", "W")
    hass.states.async_set("switch.oven", "off")
    result = await panel_flow(hass, PANEL_FORM | {"supply": "single_phase", "voltage_v": 230})
    await configure(hass, result, {"site_sensor": "sensor.grid"})
    await hass.async_block_till_done()
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    result = await start_sub(hass, entry, SUBENTRY_LOAD)
    assert fields(result) == ["name", "actuator"]
    result = await configure_sub(hass, result, {"name": "Oven", "actuator": "switch.oven"})
    result = await configure_sub(hass, result, SWITCH_FORM)
    assert (result["data"]["node"], result["data"]["conductors"]) == ("main", ["l1"])
