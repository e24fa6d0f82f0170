"""Sensors that are there but give nothing usable, in Home Assistant: said, never taken as a flow.

A reading no panel could carry (1 GW on a 9600 W panel) is a sensor problem, not an overload; so
is a subpanel's or a leg's sensor that gives no number. The sensor-problem binary sensor says which
sensor and why, a subpanel's reading source says it, the log says when it starts and ends.
"""

from __future__ import annotations

import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.panel_capacity.const import EVENT_ACTION, EVENT_ALERT
from custom_components.panel_capacity.engine import FlowSource
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant

from .conftest import (
    EV,
    GARAGE,
    GARAGE_EV,
    GARAGE_ID,
    LEG_L1,
    METER_FROZEN,
    SITE,
    WATER_HEATER,
    WATER_HEATER_DATA,
    advance,
    load_subentry,
    report_meter,
    set_switch,
    set_up,
    settle,
    subentry_id,
)

PROBLEM = "binary_sensor.main_panel_sensor_problem"
CONTROLLER = "sensor.main_panel_controller_state"
SOURCE = "sensor.garage_reading"


def set_reading(hass: HomeAssistant, entity_id: str, state: str) -> None:
    """The sensor reports ``state``, keeping its unit and class (a report even when it is the same)."""
    current = hass.states.get(entity_id)
    assert current is not None
    hass.states.async_set(entity_id, state, current.attributes, force_update=True)


async def keep_reading(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, entity_id: str, state: str, seconds: float
) -> None:
    """The sensor keeps reporting ``state`` every 5 s."""
    for _ in range(int(seconds // 5)):
        freezer.tick(5)
        set_reading(hass, entity_id, state)
        await settle(hass)


def problem(hass: HomeAssistant) -> dict[str, Any]:
    state = hass.states.get(PROBLEM)
    assert state is not None
    return {"on": state.state == "on", "sensor_faults": state.attributes["sensor_faults"]}


async def test_an_absurd_meter_reading_is_a_sensor_problem_not_an_overload(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    state_of,
    caplog: pytest.LogCaptureFixture,
) -> None:
    actions = async_capture_events(hass, EVENT_ACTION)
    alerts = async_capture_events(hass, EVENT_ALERT)
    assert problem(hass) == {"on": False, "sensor_faults": {}}
    # The test meter is a template over the loads: frozen, it re-renders no true value when
    # the fail-safe turns them off; the broken sensor alone says what it reads.
    await set_switch(hass, METER_FROZEN, True)
    set_reading(hass, SITE, "1000000000")  # 1 GW on a 9600 W panel
    await settle(hass)
    assert actions == []  # nothing shed for it
    assert state_of(WATER_HEATER) == "on"
    assert float(state_of(EV)) == 16
    assert state_of("sensor.main_panel_site_power") == "unknown"
    assert state_of("binary_sensor.main_panel_over_limit") == "off"
    assert problem(hass) == {"on": True, "sensor_faults": {SITE: "implausible"}}
    assert (
        "Main panel: sensor.site_power reads 1000000000 W, more than ten times what its conductors are rated for;"
        " ignored as a sensor problem"
    ) in caplog.text
    # It keeps saying so: held still, then fail-safe once the last good reading is stale.
    await keep_reading(hass, freezer, SITE, "1000000000", 55)
    assert state_of(WATER_HEATER) == "on"
    await keep_reading(hass, freezer, SITE, "1000000000", 10)
    assert [event.data["alert"] for event in alerts] == ["fail_safe"]
    assert state_of(CONTROLLER) == "fail_safe"
    assert state_of(WATER_HEATER) == "off"
    assert {event.data["reason"] for event in actions} == {"fail_safe"}
    # Nothing of it was counted as time or energy over the limit.
    assert float(state_of("sensor.main_panel_time_over_limit_today")) == 0
    counters = loaded_entry.runtime_data.coordinator.data.accounting
    assert counters.energy_over_limit_wh == 0
    assert counters.seconds_over_rating == 0
    # The meter reads sense again: recovered, and the problem is over.
    caplog.clear()
    await set_switch(hass, METER_FROZEN, False)
    report_meter(hass)
    await settle(hass)
    assert [event.data["alert"] for event in alerts] == ["fail_safe", "recovered"]
    assert problem(hass) == {"on": False, "sensor_faults": {}}
    assert "sensor.site_power reads again" in caplog.text
    await advance(hass, freezer, 40)
    assert state_of(WATER_HEATER) == "on"
    assert loaded_entry.runtime_data.coordinator.data.accounting.energy_over_limit_wh == 0


async def test_a_sensor_problem_is_logged_once_when_it_starts(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO):
        await keep_reading(hass, freezer, SITE, "-5e9", 20)
    starts = [
        r for r in caplog.records if r.levelno == logging.WARNING and "sensor problem" in r.getMessage()
    ]
    assert len(starts) == 1
    assert problem(hass)["sensor_faults"] == {SITE: "implausible"}  # exporting 5 GW: no more plausible


@pytest.mark.parametrize("garbage", ["garbage", STATE_UNAVAILABLE])
async def test_a_subpanel_sensor_without_a_number_is_a_sensor_problem(
    hass: HomeAssistant, loaded_tree: MockConfigEntry, state_of, garbage: str
) -> None:
    assert state_of(SOURCE) == "measured"
    assert problem(hass) == {"on": False, "sensor_faults": {}}
    set_reading(hass, GARAGE, garbage)
    await settle(hass)
    # Estimated from its loads as before, but not silently.
    garage = loaded_tree.runtime_data.coordinator.data.nodes[GARAGE_ID]
    assert garage.total.source is FlowSource.ESTIMATED
    assert state_of(SOURCE) == "no_number"
    assert problem(hass) == {"on": True, "sensor_faults": {GARAGE: "no_number"}}
    assert float(state_of(GARAGE_EV)) == 32  # nothing shed for it
    report_meter(hass)  # the meter gives numbers again
    await settle(hass)
    assert state_of(SOURCE) == "measured"
    assert problem(hass) == {"on": False, "sensor_faults": {}}


async def test_an_absurd_subpanel_reading_is_refused(
    hass: HomeAssistant, loaded_tree: MockConfigEntry, state_of
) -> None:
    actions = async_capture_events(hass, EVENT_ACTION)
    set_reading(hass, GARAGE, "9e8")  # 900 MW through a 60 A subpanel
    await settle(hass)
    assert actions == []
    assert state_of(SOURCE) == "implausible"
    assert problem(hass) == {"on": True, "sensor_faults": {GARAGE: "implausible"}}
    garage = loaded_tree.runtime_data.coordinator.data.nodes[GARAGE_ID]
    assert garage.total.flow_w == pytest.approx(600 + 32 * 240)  # its freezer and EV, estimated


async def test_a_leg_sensor_without_a_number_is_a_sensor_problem_and_the_total_still_holds(
    hass: HomeAssistant, loaded_tree: MockConfigEntry, state_of
) -> None:
    set_reading(hass, LEG_L1, "garbage")
    await settle(hass)
    assert problem(hass) == {"on": True, "sensor_faults": {LEG_L1: "no_number"}}
    root = loaded_tree.runtime_data.coordinator.data.nodes["main"]
    assert root.total.flow_w == 12580
    assert root.conductors["l1"].flow_w is None
    assert root.conductors["l1"].fault.value == "no_number"
    set_reading(hass, LEG_L1, "1e7")  # 10 MA on a 100 A leg
    await settle(hass)
    assert problem(hass) == {"on": True, "sensor_faults": {LEG_L1: "implausible"}}


async def test_a_silent_subpanel_sensor_is_a_sensor_problem(
    hass: HomeAssistant, loaded_tree: MockConfigEntry, freezer: FrozenDateTimeFactory, state_of
) -> None:
    for _ in range(13):  # 65 s: the service and legs keep reporting, the garage does not
        freezer.tick(5)
        for entity_id in ("sensor.service_power", LEG_L1, "sensor.leg_l2_current"):
            set_reading(hass, entity_id, hass.states.get(entity_id).state)
        await settle(hass)
    assert state_of(SOURCE) == "stale"
    assert problem(hass) == {"on": True, "sensor_faults": {GARAGE: "stale"}}
    assert state_of(CONTROLLER) != "fail_safe"


@pytest.mark.parametrize(
    "panel_loads",
    [[load_subentry("Water heater", WATER_HEATER_DATA | {"power_sensor": "sensor.water_heater_power"})]],
)
async def test_an_absurd_reading_of_a_load_s_own_sensor_is_a_sensor_problem(
    hass: HomeAssistant, house: None, config_entry: MockConfigEntry, state_of
) -> None:
    hass.states.async_set("sensor.water_heater_power", "1790", {"unit_of_measurement": "W"})
    await set_up(hass, config_entry)
    assert problem(hass) == {"on": False, "sensor_faults": {}}
    set_reading(hass, "sensor.water_heater_power", "2e9")
    await settle(hass)
    assert problem(hass) == {"on": True, "sensor_faults": {"sensor.water_heater_power": "implausible"}}
    assert (
        config_entry.runtime_data.coordinator.data.loads[subentry_id(config_entry, "Water heater")].expected_w
        == 1790
    )
