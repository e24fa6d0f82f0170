"""The tree in Home Assistant: per-leg meters at the service, a subpanel's own meter, loads on legs.

The house is the split-phase one of conftest: 80 A a leg (9600 W), a 60 A garage (11,520 W).
"""

from __future__ import annotations

import copy
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events
from pytest_homeassistant_custom_component.components.diagnostics import get_diagnostics_for_config_entry

from custom_components.panel_capacity.const import CONFIG_VERSION, DOMAIN, EVENT_ACTION
from custom_components.panel_capacity.engine import Conductor, FlowSource
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er

from .conftest import (
    BASE_L1,
    FREEZER,
    GARAGE,
    GARAGE_BASE,
    GARAGE_DATA,
    GARAGE_EV,
    GARAGE_ID,
    HEATER,
    KETTLE,
    LEG_L1,
    LEG_L2,
    METER_ONLINE,
    PANEL_DATA,
    SERVICE,
    TREE_PANEL_DATA,
    WATER_HEATER_DATA,
    advance,
    load_subentry,
    node_subentry,
    set_number,
    set_switch,
    set_up,
    settle,
)


def status(entry: MockConfigEntry) -> Any:
    return entry.runtime_data.coordinator.data


async def test_readings_reach_the_engine(hass: HomeAssistant, loaded_tree: MockConfigEntry) -> None:
    # L1: 500 + 1800 + 600 + 32 A x 120 V = 6740 W; L2: 500 + 1500 + 3840 = 5840 W.
    root = status(loaded_tree).nodes["main"]
    assert root.total.flow_w == 12580
    assert root.conductors[Conductor.L1].flow_w == pytest.approx(6740, abs=1)
    assert root.conductors[Conductor.L1].current_a == pytest.approx(56.17, abs=0.01)
    assert root.conductors[Conductor.L1].limit.effective_w == 9600
    assert root.conductors[Conductor.L2].source is FlowSource.MEASURED
    garage = status(loaded_tree).nodes[GARAGE_ID]
    assert garage.total.flow_w == 8280
    assert garage.total.source is FlowSource.MEASURED
    assert garage.total.limit.effective_w == 11520
    # The garage measures its total only: its legs are not measured.
    assert garage.conductors[Conductor.L1].source is FlowSource.NOT_MEASURED


async def test_leg_over_while_the_total_is_under_sheds_a_load_on_that_leg(
    hass: HomeAssistant, loaded_tree: MockConfigEntry, state_of
) -> None:
    actions = async_capture_events(hass, EVENT_ACTION)
    await set_number(hass, BASE_L1, 3500)  # L1: 9740 W over 9600 W; the total 15,580 W under 19,200 W
    # The space heater is the least important, but it is on L2: shedding it would not help L1.
    assert state_of(KETTLE) == "off"
    assert state_of(HEATER) == "on"
    assert state_of(FREEZER) == "on"
    assert float(state_of(GARAGE_EV)) == 32
    assert [(event.data["entity_id"], event.data["reason"]) for event in actions] == [(KETTLE, "over_limit")]
    assert actions[0].data["limit_w"] == 9600
    assert actions[0].data["site_power_w"] == pytest.approx(9740, abs=1)
    assert (actions[0].data["node_id"], actions[0].data["conductor"]) == ("main", "l1")
    assert float(state_of(LEG_L1)) * 120 == pytest.approx(7940, abs=1)


async def test_subpanel_over_while_the_main_has_room_sheds_inside_the_subpanel(
    hass: HomeAssistant, loaded_tree: MockConfigEntry, state_of
) -> None:
    actions = async_capture_events(hass, EVENT_ACTION)
    await set_number(hass, GARAGE_BASE, 3720)  # the garage: 12,000 W over 11,520 W; the legs have room
    assert [(event.data["node"], event.data["conductor"]) for event in actions] == [("Garage", None)]
    assert actions[0].data["node_id"] == GARAGE_ID
    # The kettle and the heater are less important but not in the garage.
    assert state_of(HEATER) == "on"
    assert state_of(KETTLE) == "on"
    assert state_of(FREEZER) == "off"
    assert float(state_of(GARAGE_EV)) == 32
    assert float(state_of(GARAGE)) == 11400


async def test_reload_and_restart_keep_what_is_held(
    hass: HomeAssistant,
    loaded_tree: MockConfigEntry,
    hass_storage: dict[str, Any],
    freezer: FrozenDateTimeFactory,
    state_of,
) -> None:
    await set_number(hass, BASE_L1, 3500)
    assert state_of(KETTLE) == "off"
    actions = async_capture_events(hass, EVENT_ACTION)
    # A reload for a changed setting: the kettle stays held by the new controller.
    hass.config_entries.async_update_entry(loaded_tree, options={"margin_w": 200})
    await hass.async_block_till_done()
    assert loaded_tree.runtime_data.coordinator.setup.settings.margin_w == 200
    assert state_of("sensor.kettle_state") in ("shed", "held_off")
    assert state_of(KETTLE) == "off"
    await advance(hass, freezer, 15)
    assert actions == []
    # A restart: what was stored before it is taken back, with the kettle off as it was left.
    key = f"{DOMAIN}.{loaded_tree.entry_id}"
    stored = copy.deepcopy(hass_storage[key])
    assert await hass.config_entries.async_unload(loaded_tree.entry_id)
    await hass.async_block_till_done()
    assert state_of(KETTLE) == "off"  # not given back: unloading is not for good
    assert actions == []
    hass_storage[key] = stored
    await set_switch(hass, KETTLE, False)
    assert await hass.config_entries.async_setup(loaded_tree.entry_id)
    await hass.async_block_till_done()
    await advance(hass, freezer, 40)
    assert state_of("sensor.kettle_state") == "shed"
    assert state_of(KETTLE) == "off"  # L1 would go over again with it
    assert actions == []


@pytest.mark.parametrize("tree_panel_data", [TREE_PANEL_DATA | {"l1_sensor": "sensor.spare_l1"}])
async def test_a_missing_leg_sensor_is_left_out_and_the_total_still_holds(
    hass: HomeAssistant, loaded_tree: MockConfigEntry, state_of
) -> None:
    await set_number(hass, BASE_L1, 3500)  # L1 over, but not measured: its sensor does not exist
    root = status(loaded_tree).nodes["main"]
    assert root.conductors[Conductor.L1].source is FlowSource.NOT_MEASURED
    assert root.conductors[Conductor.L2].source is FlowSource.MEASURED
    assert root.total.flow_w == 15580
    assert state_of(KETTLE) == "on"
    hass.states.async_set("sensor.spare_l1", "unavailable", {"unit_of_measurement": "A"})
    await settle(hass)
    assert state_of(KETTLE) == "on"
    # Its sensor reports (in A): the leg is measured and relieved at once.
    hass.states.async_set("sensor.spare_l1", "81.2", {"unit_of_measurement": "A"})
    await settle(hass)
    assert state_of(KETTLE) == "off"
    assert state_of(HEATER) == "on"


async def test_a_silent_leg_sensor_is_left_out_after_the_staleness_time(
    hass: HomeAssistant, loaded_tree: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    await advance(hass, freezer, 30)
    hass.states.async_set(SERVICE, "12580", {"unit_of_measurement": "W"})
    assert status(loaded_tree).nodes["main"].conductors[Conductor.L1].source is FlowSource.MEASURED
    for _ in range(14):  # the total keeps reporting, the legs say nothing
        await advance(hass, freezer, 5, meter=False)
        hass.states.async_set(SERVICE, "12580", {"unit_of_measurement": "W"}, force_update=True)
    await settle(hass)
    root = status(loaded_tree).nodes["main"]
    assert root.conductors[Conductor.L1].source is FlowSource.NOT_MEASURED
    assert status(loaded_tree).state.value != "fail_safe"


@pytest.mark.parametrize(
    "tree_panel_data", [{key: value for key, value in TREE_PANEL_DATA.items() if key != "site_sensor"}]
)
async def test_a_meter_of_legs_alone(
    hass: HomeAssistant, loaded_tree: MockConfigEntry, freezer: FrozenDateTimeFactory, state_of
) -> None:
    assert loaded_tree.runtime_data.coordinator.setup.site_sensors == ()
    assert status(loaded_tree).site_w == pytest.approx(12580, abs=1)  # the sum of the legs
    await set_number(hass, BASE_L1, 3500)
    assert state_of(KETTLE) == "off"
    # A leg missing: no total, then fail-safe.
    await set_switch(hass, METER_ONLINE, False)
    assert status(loaded_tree).site_w is None
    await advance(hass, freezer, 65)
    assert status(loaded_tree).state.value == "fail_safe"


async def test_a_subpanel_without_a_reading_is_estimated(
    hass: HomeAssistant, loaded_tree: MockConfigEntry, state_of
) -> None:
    hass.states.async_set(GARAGE, "unavailable", {"unit_of_measurement": "W"})
    await hass.async_block_till_done()
    await set_number(hass, BASE_L1, 600)  # any step
    hass.states.async_set(GARAGE, "unavailable", {"unit_of_measurement": "W"})
    await settle(hass)
    garage = status(loaded_tree).nodes[GARAGE_ID]
    assert garage.total.source is FlowSource.ESTIMATED
    assert garage.total.flow_w == pytest.approx(600 + 32 * 240)  # the freezer and the EV


async def test_diagnostics_show_the_tree(
    hass: HomeAssistant, hass_client, loaded_tree: MockConfigEntry
) -> None:
    await set_number(hass, BASE_L1, 3500)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, loaded_tree)
    tree = diagnostics["tree"]
    ids = {sub.title: sid for sid, sub in loaded_tree.subentries.items()}
    assert list(tree["nodes"]) == ["main", GARAGE_ID]
    main, garage = tree["nodes"]["main"], tree["nodes"][GARAGE_ID]
    assert main["sensors"] == {"total": [SERVICE], "l1": LEG_L1, "l2": LEG_L2}
    assert main["nodes"] == [GARAGE_ID]
    assert main["loads"] == {ids["Kettle"]: ["l1"], ids["Space heater"]: ["l2"]}
    assert garage["parent"] == "main"
    assert garage["sensors"] == {"total": [GARAGE]}
    assert garage["loads"] == {ids["Garage EV"]: ["l1", "l2"], ids["Freezer"]: ["l1"]}
    assert [(c["conductor"], c["source"], c["limit_w"]) for c in garage["constraints"]] == [
        (None, "measured", 11520),
        ("l1", "not_measured", 5760),
        ("l2", "not_measured", 5760),
    ]
    l1 = main["constraints"][1]
    assert (l1["conductor"], l1["source"], l1["term"]) == ("l1", "measured", "panel")
    assert l1["current_a"] == pytest.approx(66.17, abs=0.01)
    assert tree["binding"]["node_id"] == "main"
    assert tree["binding"]["conductor"] == "l1"
    # Names are redacted, in the status too.
    assert diagnostics["status"]["nodes"][GARAGE_ID]["name"] == "**REDACTED**"


async def test_panel_sensors_follow_what_is_measured(
    hass: HomeAssistant, loaded_tree: MockConfigEntry, entity_registry: er.EntityRegistry, state_of
) -> None:
    assert float(state_of("sensor.main_panel_l2_limit")) == 80
    assert state_of("sensor.main_panel_binding_panel_or_circuit") == "Garage"  # 72 % against 70 % on L1
    assert state_of("sensor.garage_reading") == "measured"
    data = {key: value for key, value in loaded_tree.data.items() if key != "l2_sensor"}
    hass.config_entries.async_update_entry(loaded_tree, data=data)
    await hass.async_block_till_done()
    assert entity_registry.async_get("sensor.main_panel_l2_limit") is None  # gone, not left unavailable
    assert float(state_of("sensor.main_panel_l1_limit")) == 80
    hass.config_entries.async_remove_subentry(loaded_tree, GARAGE_ID)
    await hass.async_block_till_done()
    data = {key: value for key, value in data.items() if key != "l1_sensor"}
    hass.config_entries.async_update_entry(loaded_tree, data=data)
    await hass.async_block_till_done()
    # The total alone, no node: today's aggregate panel, without the tree's sensors.
    assert entity_registry.async_get("sensor.main_panel_binding_panel_or_circuit") is None
    assert entity_registry.async_get("sensor.main_panel_l1_limit") is None
    assert entity_registry.async_get("sensor.garage_power") is None


@pytest.mark.parametrize(
    "tree_subentries",
    [[node_subentry("Garage", GARAGE_DATA | {"power_sensor": "sensor.none"}, GARAGE_ID)]],
)
async def test_an_unmeasured_node_says_so(
    hass: HomeAssistant, loaded_tree: MockConfigEntry, state_of
) -> None:
    assert state_of("sensor.garage_reading") == "estimated"
    assert float(state_of("sensor.garage_power")) == 0  # nothing known hangs on it
    assert state_of("sensor.garage_binding_term") == "panel"


async def test_a_three_phase_load_on_two_phases_shows_no_choice(hass: HomeAssistant, state_of) -> None:
    hass.states.async_set("sensor.grid", "1000", {"unit_of_measurement": "W"})
    hass.states.async_set("switch.welder", "on")
    load = WATER_HEATER_DATA | {"actuator": "switch.welder", "node": "main", "conductors": ["l1", "l2"]}
    entry = MockConfigEntry(
        domain=DOMAIN,
        version=CONFIG_VERSION,
        title="Main panel",
        data=PANEL_DATA | {"supply": "three_phase", "voltage_v": 230, "site_sensor": "sensor.grid"},
        subentries_data=[load_subentry("Welder", load)],
    )
    await set_up(hass, entry)
    assert state_of("sensor.welder_draws_on") == "unknown"  # two of three phases: no choice names it
    assert state_of("sensor.welder_wired_to") == "Main panel"
