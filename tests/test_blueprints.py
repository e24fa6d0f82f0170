"""The blueprints load into Home Assistant and do their job on real events of the integration."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
import shutil

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

from .conftest import BASE, HEAT_PUMP, METER_ONLINE, advance, report_meter, set_number, set_switch, settle

BLUEPRINTS = Path(__file__).parent.parent / "blueprints"


@pytest.fixture
def blueprint_dir(hass: HomeAssistant, tmp_path: Path) -> None:
    """A config directory holding the repository's blueprints, as an import would place them."""
    hass.config.config_dir = str(tmp_path)
    shutil.copytree(BLUEPRINTS, tmp_path / "blueprints")


async def notify_automation(hass: HomeAssistant, entry: MockConfigEntry, include_restores: bool) -> None:
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "alias": "Tell me",
                "use_blueprint": {
                    "path": "panel_capacity/notify_on_actions.yaml",
                    "input": {
                        "panel": entry.entry_id,
                        "include_restores": include_restores,
                        "then": [{"event": "told", "event_data": {"message": "{{ message }}"}}],
                    },
                },
            }
        },
    )
    await hass.async_block_till_done()


@pytest.mark.usefixtures("blueprint_dir")
async def test_notify_on_shed_restore_and_fail_safe(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    await notify_automation(hass, loaded_entry, include_restores=True)
    told = async_capture_events(hass, "told")
    await set_number(hass, BASE, 3000)
    assert [event.data["message"] for event in told] == [
        "EV charger turned down (over limit): 8640 W of 7680 W."
    ]
    await set_number(hass, BASE, 1000)
    await advance(hass, freezer, 35)
    assert told[-1].data["message"] == "EV charger is back on."
    await set_switch(hass, METER_ONLINE, False)
    await advance(hass, freezer, 65)
    assert "Panel sensor silent: managed loads are in their safe state." in [e.data["message"] for e in told]
    await set_switch(hass, METER_ONLINE, True)
    assert told[-1].data["message"] == "Panel sensor is back."


@pytest.mark.usefixtures("blueprint_dir")
async def test_notify_without_restores(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    await notify_automation(hass, loaded_entry, include_restores=False)
    told = async_capture_events(hass, "told")
    await set_number(hass, BASE, 9000)
    assert [event.data["message"] for event in told] == [
        "EV charger turned off (over limit): 14640 W of 7680 W.",
        "Water heater turned off (over limit): 14640 W of 7680 W.",
        "Cannot get under the limit (14640 W of 7680 W) even with every load shed.",
    ]
    await set_number(hass, BASE, 500)
    await advance(hass, freezer, 300)
    assert len(told) == 3


DR_WINDOW = "binary_sensor.demand_response"  # as a utility's integration would provide it


async def use_blueprint(hass: HomeAssistant, path: str, inputs: dict) -> None:
    # The core actions (homeassistant.turn_on/off) are always there in a running Home Assistant.
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(
        hass,
        "automation",
        {"automation": {"alias": path, "use_blueprint": {"path": f"panel_capacity/{path}", "input": inputs}}},
    )
    await hass.async_block_till_done()


@pytest.mark.usefixtures("blueprint_dir")
async def test_lower_limit_during_window(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, freezer: FrozenDateTimeFactory, state_of
) -> None:
    hass.states.async_set(DR_WINDOW, "off")
    await use_blueprint(
        hass,
        "lower_limit_during_window.yaml",
        {"limit_cap": "number.main_panel_limit_cap", "window": DR_WINDOW, "lowered_w": 5000},
    )
    assert float(state_of("sensor.main_panel_effective_limit")) == 7680
    hass.states.async_set(DR_WINDOW, "on")
    await advance(hass, freezer, 1)
    await settle(hass)  # the meter's new reading is shown within a second
    assert float(state_of("number.main_panel_limit_cap")) == 5000
    assert state_of("sensor.main_panel_binding_limit") == "user_cap"
    assert float(state_of("sensor.main_panel_site_power")) <= 4900  # the charger turned down
    hass.states.async_set(DR_WINDOW, "off")
    await advance(hass, freezer, 1)
    assert float(state_of("number.main_panel_limit_cap")) == 7680  # the cap lifted
    assert state_of("sensor.main_panel_binding_limit") == "panel"
    await advance(hass, freezer, 300)
    assert float(state_of("input_number.ev_current")) == 16  # and everything given back


@pytest.mark.usefixtures("blueprint_dir")
async def test_lower_limit_never_above_the_panel(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, freezer: FrozenDateTimeFactory, state_of
) -> None:
    hass.states.async_set(DR_WINDOW, "on")
    await use_blueprint(
        hass,
        "lower_limit_during_window.yaml",
        {"limit_cap": "number.main_panel_limit_cap", "window": DR_WINDOW, "lowered_w": 50000},
    )
    hass.states.async_set(DR_WINDOW, "off")
    hass.states.async_set(DR_WINDOW, "on")
    await advance(hass, freezer, 1)
    assert float(state_of("sensor.main_panel_effective_limit")) == 7680


async def run_loop(hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float) -> None:
    """Let time pass in 5 s ticks without waiting for every task to end.

    The protecting automation waits (for calm, up to its longest off time)
    inside its run, which Home Assistant counts as a task in progress:
    waiting for all tasks would wait for it. The loop is given enough turns
    for the meter, the panel and the automation to react to each tick.
    """
    while seconds > 0:
        freezer.tick(timedelta(seconds=min(5.0, seconds)))
        report_meter(hass)
        async_fire_time_changed(hass)
        for _ in range(100):
            await asyncio.sleep(0)
        seconds -= 5.0


@pytest.mark.usefixtures("blueprint_dir")
async def test_protect_an_appliance_it_does_not_manage(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, freezer: FrozenDateTimeFactory, state_of
) -> None:
    # The heat pump is not one of the panel's loads; this automation looks after it.
    await use_blueprint(
        hass,
        "protect_appliance.yaml",
        {
            "utilisation": "sensor.main_panel_utilisation",
            "appliance": HEAT_PUMP,
            "off_above": 100,
            "for_seconds": 10,
            "on_below": 75,
            "calm_minutes": 5,
            "longest_off_minutes": 60,
        },
    )
    await set_switch(hass, HEAT_PUMP, True)  # 6640 + 3000 = 9640 W: the panel sheds its own loads first
    await set_number(hass, BASE, 7000)  # more than shedding everything can absorb
    assert float(state_of("sensor.main_panel_utilisation")) > 100  # 10000 W even with both loads shed
    await run_loop(hass, freezer, 5)
    assert state_of(HEAT_PUMP) == "on"  # not for 10 s yet
    await run_loop(hass, freezer, 10)
    assert state_of(HEAT_PUMP) == "off"
    # 0 + 1800 + 3840 W once the panel has given its loads back: 73 % of 7680 W.
    await hass.services.async_call("input_number", "set_value", {"entity_id": BASE, "value": 0})
    await run_loop(hass, freezer, 4 * 60)
    assert float(state_of("sensor.main_panel_utilisation")) < 75
    assert state_of(HEAT_PUMP) == "off"  # calm, but not for 5 minutes yet
    await run_loop(hass, freezer, 90)
    assert state_of(HEAT_PUMP) == "on"
    # Back on, it takes the site over the limit: the panel turns its charger down (under 100 %),
    # and the appliance stays on.
    await run_loop(hass, freezer, 60)
    assert state_of(HEAT_PUMP) == "on"
    assert float(state_of("sensor.main_panel_utilisation")) < 100


@pytest.mark.usefixtures("blueprint_dir")
async def test_protected_appliance_is_never_left_off_for_good(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, freezer: FrozenDateTimeFactory, state_of
) -> None:
    await use_blueprint(
        hass,
        "protect_appliance.yaml",
        {"utilisation": "sensor.main_panel_utilisation", "appliance": HEAT_PUMP, "longest_off_minutes": 30},
    )
    await set_switch(hass, HEAT_PUMP, True)
    await set_number(hass, BASE, 9000)
    await run_loop(hass, freezer, 15)
    assert state_of(HEAT_PUMP) == "off"
    await run_loop(hass, freezer, 29 * 60)
    assert state_of(HEAT_PUMP) == "off"  # still too busy
    await run_loop(hass, freezer, 65)
    assert state_of(HEAT_PUMP) == "on"  # the longest off time is up
