"""What the panel says about faults: in the log, in its alarms, for each load."""

from __future__ import annotations

import logging

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.core import HomeAssistant

from .conftest import METER_FROZEN, METER_ONLINE, advance, set_switch, settle

LOGGER_NAME = "custom_components.panel_capacity"


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
