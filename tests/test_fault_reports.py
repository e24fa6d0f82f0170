"""What the panel says about faults: in the log, in its alarms, for each load."""

from __future__ import annotations

from collections.abc import Callable
import logging

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.panel_capacity.const import EVENT_ALERT
from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant, ServiceCall

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
    load_subentry,
    set_number,
    set_switch,
    settle,
)

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
    assert len(warnings) == 1
    assert warnings[0].startswith(f"Main panel: {said}")
    assert "None" not in warnings[0]
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
    state_of: Callable[[str], str],
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
