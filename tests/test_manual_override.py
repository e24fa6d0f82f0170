"""A load changed by hand is left alone for the hold time; the person can hand it back sooner."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.panel_capacity.engine import CapacityEngine, ControlSettings, LoadConfig, PanelConfig
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .conftest import BASE, WATER_HEATER, advance, set_number, set_switch, settle
from .test_fault_reports import ignore_commands

type StateOf = Callable[[str], str]
RESUME = "button.water_heater_resume_management"
MANAGER = "switch.main_panel_capacity_management"


async def _taken_over(hass: HomeAssistant, state_of: StateOf) -> None:
    """Over the limit, the water heater shed; a person turns it back on."""
    await set_number(hass, BASE, 7000)
    assert state_of(WATER_HEATER) == "off"
    await set_switch(hass, WATER_HEATER, True)
    assert state_of(WATER_HEATER) == "on"
    assert state_of("sensor.water_heater_state") == "manual"


async def _press(hass: HomeAssistant, entity_id: str) -> None:
    await hass.services.async_call("button", "press", {"entity_id": entity_id}, blocking=True)
    await settle(hass)


async def test_resume_management_hands_the_load_back_at_once(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, state_of: StateOf
) -> None:
    await _taken_over(hass, state_of)
    until = dt_util.parse_datetime(hass.states.get("sensor.water_heater_state").attributes["manual_until"])
    assert until is not None
    assert (until - dt_util.utcnow()).total_seconds() == pytest.approx(3600, abs=2)
    await _press(hass, RESUME)
    assert state_of(WATER_HEATER) == "off"  # managed again: still over the limit with it
    assert state_of("sensor.water_heater_state") in ("shed", "held_off")
    assert hass.states.get("sensor.water_heater_state").attributes["manual_until"] is None
    # Pressed for a load that is managed anyway: nothing happens.
    await _press(hass, RESUME)
    await _press(hass, "button.ev_charger_resume_management")
    assert state_of(WATER_HEATER) == "off"


async def test_management_off_and_on_ends_a_manual_override(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, state_of: StateOf
) -> None:
    await _taken_over(hass, state_of)
    await hass.services.async_call("switch", "turn_off", {"entity_id": MANAGER}, blocking=True)
    await settle(hass)
    assert state_of("sensor.main_panel_controller_state") == "monitoring"
    await hass.services.async_call("switch", "turn_on", {"entity_id": MANAGER}, blocking=True)
    await settle(hass)
    assert state_of(WATER_HEATER) == "off"
    assert state_of("sensor.water_heater_state") in ("shed", "held_off")


async def test_a_shorter_hold_time_applies_to_a_hold_in_progress(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, freezer: FrozenDateTimeFactory, state_of: StateOf
) -> None:
    await _taken_over(hass, state_of)  # left alone for the default hour
    await advance(hass, freezer, 200)
    hass.config_entries.async_update_entry(loaded_entry, options={"manual_hold_s": 300})
    await hass.async_block_till_done()
    assert state_of("sensor.water_heater_state") == "manual"  # 200 s of the 300 s gone
    await advance(hass, freezer, 90)
    assert state_of(WATER_HEATER) == "on"
    await advance(hass, freezer, 20)
    assert state_of(WATER_HEATER) == "off"  # 300 s after it was changed, not an hour
    assert state_of("sensor.water_heater_state") in ("shed", "held_off")


async def test_a_hold_time_set_to_zero_ends_every_hold_in_progress(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, state_of: StateOf
) -> None:
    await _taken_over(hass, state_of)
    hass.config_entries.async_update_entry(loaded_entry, options={"manual_hold_s": 0})
    await hass.async_block_till_done()
    await settle(hass)
    assert state_of(WATER_HEATER) == "off"


async def test_resume_management_of_a_load_that_did_not_respond(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, freezer: FrozenDateTimeFactory, state_of: StateOf
) -> None:
    calls = ignore_commands(hass, "input_boolean", "turn_off")  # the water heater's relay is stuck
    await set_number(hass, BASE, 7000)
    await advance(hass, freezer, 60)  # asked again, and again: given up on
    assert state_of("sensor.water_heater_reason") == "not_responding"
    asked = len(calls)
    await _press(hass, RESUME)
    assert state_of("sensor.water_heater_reason") != "not_responding"
    assert len(calls) == asked + 1  # managed again: asked once more


PANEL = PanelConfig(rating_a=40, voltage_v=240)
WH = LoadConfig(load_id="wh", nominal_w=1800)


@pytest.mark.parametrize(
    ("stored", "hold_s", "until"),
    [
        ({"manual_since": 1000.0, "manual_until": 4600.0}, 300, 1300.0),  # the hold time in force
        ({"manual_until": 4600.0}, 3600, 4600.0),  # stored by an earlier version: its end kept
        ({"manual_since": "soon"}, 300, None),  # malformed: no override
    ],
)
def test_a_stored_manual_override_lasts_the_hold_time_in_force(
    stored: dict[str, Any], hold_s: float, until: float | None
) -> None:
    memory = {"version": 1, "loads": {"wh": {"held": "none"} | stored}}
    engine = CapacityEngine(PANEL, ControlSettings(manual_hold_s=hold_s), [WH], memory=memory)
    assert engine.export_memory()["loads"]["wh"]["manual_until"] == until
