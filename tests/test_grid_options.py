"""Grid limits without a server: subscription, daily schedule, export limit, set in the options."""

from __future__ import annotations

from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.panel_capacity.const import (
    CONF_ACTUATOR,
    CONF_ALLOW_OFF,
    CONF_EXPORT_ACTUATOR,
    CONF_MAX,
    CONF_MIN,
    CONF_PHASES,
    CONF_SITE_SENSOR,
    CONF_STEP,
    CONF_UNIT,
    DOMAIN,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.setup import async_setup_component

from .conftest import (
    BASE,
    EV,
    EV_DATA,
    METER_REPORT,
    PANEL_DATA,
    SITE,
    advance,
    load_subentry,
    set_number,
    settle,
)

LIMIT = "sensor.main_panel_effective_limit"
BINDING = "sensor.main_panel_binding_limit"


async def _grid_options(
    hass: HomeAssistant, entry: MockConfigEntry, values: dict[str, Any]
) -> dict[str, Any]:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(result["flow_id"], {"next_step_id": "grid"})
    assert result["step_id"] == "grid"
    return await hass.config_entries.options.async_configure(result["flow_id"], values)


async def test_grid_options_with_an_error_then_subscription_limits_the_site(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, state_of
) -> None:
    assert hass.states.get("sensor.main_panel_subscription") is None  # no grid settings yet
    result = await _grid_options(
        hass, loaded_entry, {"subscription_kw": 5, "limit_schedule": "17:00-21:00 4\nevery evening 3"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"limit_schedule": "invalid_schedule"}
    assert result["description_placeholders"]["line"] == "every evening 3"
    assert loaded_entry.options == {}  # nothing lost, nothing saved
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"subscription_kw": 20_000, "emergency_limit_kw": 0}
    )
    assert result["errors"] == {"subscription_kw": "grid_power_out_of_range"}
    assert result["description_placeholders"]["grid_power_max"] == "10000"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"subscription_kw": 5, "emergency_limit_kw": 0}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    await settle(hass)
    assert loaded_entry.options == {"subscription_kw": 5, "emergency_limit_kw": 0}
    # 1000 + 1800 + 16 A x 240 V = 6640 W against a 5000 W subscription: the EV is turned down.
    assert state_of(BINDING) == "subscription"
    assert float(state_of(LIMIT)) == 5000
    assert float(state_of("sensor.main_panel_subscription")) == 5.0  # shown in kW
    assert hass.states.get("sensor.main_panel_subscription").attributes["source"] == "configured"
    assert float(state_of(SITE)) <= 5000 - 100
    # Down to the shed target, 4900 W: 4900 - 2800 leaves 2100 W, 8 A on the charger's 1 A grid.
    assert float(state_of(EV)) == 8
    # The panel's own limit still caps a subscription above it.
    await _grid_options(hass, loaded_entry, {"subscription_kw": 50, "emergency_limit_kw": 0})
    await hass.async_block_till_done()
    await settle(hass)
    assert state_of(BINDING) == "panel"
    assert float(state_of(LIMIT)) == 7680
    # Clearing the subscription removes it.
    await _grid_options(hass, loaded_entry, {"emergency_limit_kw": 0})
    await hass.async_block_till_done()
    assert "subscription_kw" not in loaded_entry.options
    assert hass.states.get("sensor.main_panel_subscription") is None


async def test_daily_schedule_changes_the_limit_on_the_second(
    hass: HomeAssistant, house: None, freezer: FrozenDateTimeFactory, state_of
) -> None:
    await hass.config.async_set_time_zone("Europe/Amsterdam")
    freezer.move_to("2026-06-01 16:59:50+02:00")
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Main panel",
        data=PANEL_DATA,
        options={"limit_schedule": "17:00-18:00 4"},
        subentries_data=[load_subentry("EV charger", EV_DATA)],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await settle(hass)
    assert float(state_of(LIMIT)) == 7680
    freezer.move_to("2026-06-01 16:59:59.500+02:00")
    await advance(hass, freezer, 0.1, meter=False)
    assert float(state_of(LIMIT)) == 7680
    assert float(state_of(EV)) == 16
    # 17:00:00 local: the 4 kW window starts, and the panel acts at once.
    freezer.move_to("2026-06-01 17:00:00+02:00")
    await advance(hass, freezer, 0.01, meter=False)
    assert state_of(BINDING) == "schedule"
    assert float(state_of(LIMIT)) == 4000
    assert float(state_of(SITE)) <= 3900
    await set_number(hass, BASE, 500)
    freezer.move_to("2026-06-01 18:00:00+02:00")
    await advance(hass, freezer, 0.01, meter=False)
    assert state_of(BINDING) == "panel"
    assert float(state_of(LIMIT)) == 7680


PV_LIMIT = "input_number.pv_limit"
SUN = "input_number.sun"
SOLAR_SITE = "sensor.solar_site_power"


@pytest.fixture
async def solar_house(hass: HomeAssistant) -> None:
    """A house with a 1000 W base load and a solar inverter whose output is the sun, capped by its limit."""
    assert await async_setup_component(
        hass,
        "input_number",
        {
            "input_number": {
                "base_load": {
                    "min": 0,
                    "max": 30000,
                    "step": 10,
                    "initial": 1000,
                    "unit_of_measurement": "W",
                },
                "pv_limit": {"min": 0, "max": 8000, "step": 100, "initial": 8000, "unit_of_measurement": "W"},
                "sun": {"min": 0, "max": 8000, "step": 100, "initial": 0, "unit_of_measurement": "W"},
            }
        },
    )
    template = (
        "{{ (states('input_number.base_load') | float(0) - [states('input_number.sun') | float(0),"
        " states('input_number.pv_limit') | float(0)] | min) | round(0) }}"
    )
    assert await async_setup_component(
        hass,
        "template",
        {
            "template": [
                {
                    "trigger": [
                        {"trigger": "state", "entity_id": ["input_number.base_load", SUN, PV_LIMIT]},
                        {"trigger": "event", "event_type": METER_REPORT},
                    ],
                    "sensor": [
                        {
                            "name": "Solar site power",
                            "unique_id": "solar_site_power",
                            "unit_of_measurement": "W",
                            "device_class": "power",
                            "state": template,
                        }
                    ],
                }
            ]
        },
    )
    await hass.async_block_till_done()
    hass.bus.async_fire(METER_REPORT)
    await hass.async_block_till_done()


PV_DATA = {
    CONF_ACTUATOR: PV_LIMIT,
    CONF_UNIT: "W",
    CONF_PHASES: "1",
    CONF_MIN: 0,
    CONF_MAX: 8000,
    CONF_STEP: 100,
    CONF_ALLOW_OFF: False,
    CONF_EXPORT_ACTUATOR: True,
}


async def test_export_limit_turns_the_inverter_down_and_back_up(
    hass: HomeAssistant, solar_house: None, freezer: FrozenDateTimeFactory, state_of
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Main panel",
        data=PANEL_DATA | {CONF_SITE_SENSOR: SOLAR_SITE},
        options={"export_limit_kw": 3},
        subentries_data=[load_subentry("Solar", PV_DATA)],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await settle(hass)
    assert float(state_of("sensor.main_panel_export_limit")) == 3.0
    # 1000 W of house and 7000 W of sun: 6000 W export > 3000 W. The inverter is
    # turned down to 1000 + 3000 - 100 (margin) = 3900 W, on its 100 W grid.
    await set_number(hass, SUN, 7000)
    assert float(state_of(PV_LIMIT)) == 3900
    assert float(state_of(SOLAR_SITE)) == -2900
    assert state_of("sensor.solar_state") == "reduced"
    assert state_of("sensor.main_panel_time_over_export_limit") == "0.0"
    # Clouds: room to export again, the inverter is given back step by step.
    await set_number(hass, SUN, 3000)
    await advance(hass, freezer, 600)
    assert float(state_of(PV_LIMIT)) == 8000
    assert state_of("sensor.solar_state") == "on"
