"""What the panel says about faults: in the log, in its alarms, for each load."""

from __future__ import annotations

from collections.abc import Callable
import logging

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.panel_capacity.const import EVENT_ALERT
from homeassistant.components.recorder import Recorder
from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.setup import async_setup_component

from .conftest import (
    BASE,
    BASE_L1,
    EV,
    EV_DATA,
    METER_FROZEN,
    METER_ONLINE,
    WATER_HEATER,
    WATER_HEATER_DATA,
    add_panel,
    advance,
    load_device,
    load_subentry,
    set_number,
    set_switch,
    settle,
)
from .test_blueprints import blueprint_dir, notify_automation  # noqa: F401 - a fixture
from .test_logbook import described, logbook_entries

type StateOf = Callable[[str], str]

LOGGER_NAME = "custom_components.panel_capacity"


def ignore_commands(hass: HomeAssistant, domain: str, *services: str) -> list[ServiceCall]:
    """An actuator that takes its commands and does nothing: the calls succeed, the state stays."""
    calls: list[ServiceCall] = []
    for service in services:
        hass.services.async_register(domain, service, calls.append)
    return calls


def _our_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name.startswith(LOGGER_NAME)]


@pytest.mark.parametrize(
    ("meter", "said"),
    [
        (METER_FROZEN, "fail-safe, no reading from sensor.site_power for 6"),  # 60 to 65 s
        (METER_ONLINE, "fail-safe, sensor.site_power reads 'unavailable' W"),
    ],
    ids=["silent", "unavailable"],
)
async def test_the_fail_safe_log_line_says_what_is_wrong_with_the_meter(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    meter: str,
    said: str,
) -> None:
    caplog.set_level(logging.INFO, LOGGER_NAME)
    await set_switch(hass, meter, meter == METER_FROZEN)
    await advance(hass, freezer, 70)
    warnings = [r.getMessage() for r in _our_records(caplog) if r.levelno == logging.WARNING]
    # One line for the fail-safe (beside the sensor problem's own, said once when it starts).
    fail_safe = [line for line in warnings if "fail-safe" in line]
    assert len(fail_safe) == 1
    assert fail_safe[0].startswith(f"Main panel: {said}")
    assert "None" not in fail_safe[0]
    assert len([line for line in warnings if "sensor problem" in line]) == 1
    caplog.clear()
    await set_switch(hass, METER_FROZEN, False)
    await set_switch(hass, METER_ONLINE, True)
    await advance(hass, freezer, 5)
    await settle(hass)
    infos = [r.getMessage() for r in _our_records(caplog) if r.levelno == logging.INFO]
    assert "Main panel: fresh readings again (1000 W against the limit of 7680 W)" in infos


async def test_a_panel_added_before_its_loads_raises_no_alarm(
    hass: HomeAssistant,
    house: None,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    state_of: StateOf,
) -> None:
    """A busy house's first set-up: the panel over its limit exists before its loads do."""
    await set_number(hass, BASE, 3000)  # 8640 W against 7680 W
    alerts = async_capture_events(hass, EVENT_ALERT)
    entry = await add_panel(hass, [])
    await advance(hass, freezer, 10)
    assert state_of("binary_sensor.main_panel_over_limit") == "on"  # what is true is said
    assert state_of("binary_sensor.main_panel_cannot_reach_limit") == "off"
    # Its loads, added one after another as the flows do, each enough on its own.
    for title, data in (("Water heater", WATER_HEATER_DATA), ("EV charger", EV_DATA)):
        hass.config_entries.async_add_subentry(entry, ConfigSubentry(**load_subentry(title, data)))
        await hass.async_block_till_done()
        await settle(hass)
    assert state_of(WATER_HEATER) == "off"
    assert float(state_of(EV)) == 16
    assert state_of("binary_sensor.main_panel_over_limit") == "off"
    assert state_of("binary_sensor.main_panel_cannot_reach_limit") == "off"
    assert alerts == []
    assert [r.getMessage() for r in _our_records(caplog) if r.levelno >= logging.WARNING] == []


async def test_loads_that_cannot_bring_the_panel_under_still_raise_the_alarm(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, caplog: pytest.LogCaptureFixture, state_of
) -> None:
    await set_number(hass, BASE, 9000)
    assert state_of("binary_sensor.main_panel_cannot_reach_limit") == "on"
    warnings = [r.getMessage() for r in _our_records(caplog) if r.levelno == logging.WARNING]
    said = (
        "Main panel: cannot reach the limit by shedding: 14640 W, 9000 W with what it may shed turned off"
        " or down, against the limit of 7680 W"
    )
    assert warnings == [said]


async def test_the_cannot_reach_log_line_says_which_limit(
    hass: HomeAssistant, loaded_tree: MockConfigEntry, caplog: pytest.LogCaptureFixture
) -> None:
    await set_number(hass, BASE_L1, 12000)  # L1 alone over its 9600 W with all its loads off
    warnings = [r.getMessage() for r in _our_records(caplog) if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith("Main panel: cannot reach the limit by shedding (on Main panel L1): ")
    assert warnings[0].endswith(" W with what it may shed turned off or down, against the limit of 9600 W")


async def test_an_actuator_that_ignores_its_commands_is_said_not_to_respond(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    loaded_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    state_of: StateOf,
) -> None:
    assert await async_setup_component(hass, "logbook", {})
    await hass.async_block_till_done()
    calls = ignore_commands(hass, "input_boolean", "turn_off")  # the water heater's relay is stuck
    alerts = async_capture_events(hass, EVENT_ALERT)
    await set_number(hass, BASE, 7000)
    await advance(hass, freezer, 60)
    assert len(calls) == 4  # asked, then three times again
    assert state_of(WATER_HEATER) == "on"
    assert state_of("sensor.water_heater_state") == "not_responding"
    assert state_of("sensor.water_heater_reason") == "not_responding"
    assert float(state_of(EV)) == 0  # the next load is shed instead
    entries = described(
        await logbook_entries(
            hass, await hass_ws_client(hass), device_ids=[load_device(hass, loaded_entry, "Water heater")]
        )
    )
    assert [message for _, message, _ in entries] == [
        "was switched off: over the limit (12.6 kW against 7.7 kW)",
        "had not switched off: asked again",
        "had not switched off: asked again",
        "had not switched off: asked again",
        "did not respond: asked 4 times to switch off, it did not; left alone for 10 minutes",
    ]
    assert {entity for _, _, entity in entries} == {WATER_HEATER}
    # With it stuck on, the panel cannot get under its limit: that is said too.
    assert sorted(alert.data["alert"] for alert in alerts) == ["insufficient", "not_responding"]
    given_up = next(alert for alert in alerts if alert.data["alert"] == "not_responding")
    assert given_up.data["load"] == "Water heater"
    warnings = [r.getMessage() for r in _our_records(caplog) if r.levelno == logging.WARNING]
    assert (
        "Water heater (input_boolean.water_heater) did not respond: asked 4 times to turn off, it did not;"
        " left alone for 10 minutes"
    ) in warnings
    # It changes of its own (the thermostat, or the relay working again): it responds again.
    hass.states.async_set(WATER_HEATER, "off")
    await settle(hass)
    assert state_of("sensor.water_heater_reason") != "not_responding"


@pytest.mark.usefixtures("blueprint_dir")
async def test_the_notify_blueprint_says_a_load_does_not_respond(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    await notify_automation(hass, loaded_entry, include_restores=True)
    told = async_capture_events(hass, "told")
    ignore_commands(hass, "input_boolean", "turn_off")
    await set_number(hass, BASE, 7000)  # the EV shed, the water heater asked to switch off
    await advance(hass, freezer, 60)
    messages = [event.data["message"] for event in told]
    assert "Water heater does not respond: asked 4 times, it did not; left alone for 10 minutes." in messages
    assert not [message for message in messages if "retry" in message]  # asked again: not news
