"""An entry made by version 1 (the panel's total only) migrates to the tree and behaves as before."""

from __future__ import annotations

from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.panel_capacity.const import CONFIG_VERSION, DOMAIN, EVENT_ACTION
from custom_components.panel_capacity.engine import ROOT, Conductor
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant

from .conftest import (
    BASE,
    EV,
    EV_DATA,
    PANEL_DATA,
    WATER_HEATER,
    WATER_HEATER_DATA,
    load_subentry,
    set_number,
)


def version_1_entry(data: dict[str, object], ev: dict[str, object]) -> MockConfigEntry:
    """An entry as version 1 stored it: no nodes, loads without node or conductors, phases on chargers."""
    return MockConfigEntry(
        domain=DOMAIN,
        version=1,
        title="Main panel",
        data=data,
        subentries_data=[load_subentry("Water heater", WATER_HEATER_DATA), load_subentry("EV charger", ev)],
    )


async def test_split_phase_entry_migrates_and_sheds_as_before(
    hass: HomeAssistant, house: None, state_of
) -> None:
    entry = version_1_entry(PANEL_DATA, EV_DATA)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert (entry.version, entry.minor_version) == (CONFIG_VERSION, 1)
    assert dict(entry.data) == PANEL_DATA
    loads = {sub.title: dict(sub.data) for sub in entry.subentries.values()}
    assert loads["Water heater"] == WATER_HEATER_DATA | {"node": "main", "conductors": ["l1", "l2"]}
    ev = {key: value for key, value in EV_DATA.items() if key != "phases"}
    assert loads["EV charger"] == ev | {"node": "main", "conductors": ["l1", "l2"]}
    setup = entry.runtime_data.coordinator.setup
    assert setup.nodes == ()
    assert setup.conductor_sensors == {}
    assert setup.loads[1].watts_per_unit == 240  # as before: a 240 V charger
    # The same shedding as version 1 did (tests/test_control.py): the EV turned down to 11 A.
    actions = async_capture_events(hass, EVENT_ACTION)
    await set_number(hass, BASE, 3000)  # 3000 + 1800 + 3840 = 8640 W > 7680 W
    assert float(state_of(EV)) == 11
    assert state_of(WATER_HEATER) == "on"
    assert [
        (event.data["level_w"], event.data["site_power_w"], event.data["limit_w"]) for event in actions
    ] == [(2640, 8640, 7680)]
    # Its legs are not measured: the total alone is held, as before.
    root = entry.runtime_data.coordinator.data.nodes[ROOT]
    assert not root.conductors_measured


async def test_three_phase_entry_keeps_each_charger_on_its_phases(
    hass: HomeAssistant, house: None, state_of
) -> None:
    three_phase = PANEL_DATA | {
        "supply": "three_phase",
        "rating_a": 25,
        "voltage_v": 230,
        "site_sensor": "sensor.grid",
    }
    hass.states.async_set("sensor.grid", "12000", {"unit_of_measurement": "W", "device_class": "power"})
    entry = version_1_entry(three_phase, EV_DATA)  # a one-phase charger in amperes
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    ev_data = next(sub.data for sub in entry.subentries.values() if sub.title == "EV charger")
    wh_data = next(sub.data for sub in entry.subentries.values() if sub.title == "Water heater")
    assert ev_data["conductors"] == ["l1"]
    assert wh_data["conductors"] == ["l1", "l2", "l3"]
    ev = entry.runtime_data.coordinator.setup.loads[1]
    assert ev.config.conductors == (Conductor.L1,)
    assert ev.watts_per_unit == 230  # 230 V a ampere, as version 1 counted one phase
    assert (ev.config.min_w, ev.config.max_w) == (6 * 230, 32 * 230)
    # 3 x 25 A x 230 V x 80 % = 13,800 W; 15,000 W is 1300 W over the shed target:
    # the charger (16 A: 3680 W) goes to 10 A (2300 W), as version 1 set it.
    hass.states.async_set("sensor.grid", "15000", {"unit_of_measurement": "W", "device_class": "power"})
    await hass.async_block_till_done()
    await set_number(hass, BASE, 1000)
    assert float(state_of(EV)) == 10


async def test_three_phase_charger_on_three_phases(hass: HomeAssistant, house: None) -> None:
    three_phase = PANEL_DATA | {"supply": "three_phase", "rating_a": 25, "voltage_v": 230}
    entry = version_1_entry(three_phase, EV_DATA | {"phases": "3", "max": 16})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    ev = entry.runtime_data.coordinator.setup.loads[1]
    assert ev.config.conductors == (Conductor.L1, Conductor.L2, Conductor.L3)
    assert ev.watts_per_unit == 690


async def test_an_entry_from_a_newer_version_is_left_alone(hass: HomeAssistant, house: None) -> None:
    entry = MockConfigEntry(domain=DOMAIN, version=CONFIG_VERSION + 1, title="Future", data=PANEL_DATA)
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.MIGRATION_ERROR
    assert entry.version == CONFIG_VERSION + 1
