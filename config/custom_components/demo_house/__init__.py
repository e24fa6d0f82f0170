"""Development only: put Panel Capacity on the demo house the first time Home Assistant starts.

It goes through the integration's own config flow and load subentry flows,
exactly as a person would in the UI. Not shipped with the integration.
"""

from __future__ import annotations

import logging
from typing import Any

import probatio

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.helpers.discovery import async_load_platform
from homeassistant.helpers.start import async_at_started
from homeassistant.helpers.typing import ConfigType

DOMAIN = "demo_house"
PANEL = "panel_capacity"
LOGGER = logging.getLogger(__name__)

CONFIG_SCHEMA = probatio.Schema(
    {
        DOMAIN: probatio.Any(
            None,
            {
                probatio.Optional("speed", default=12): probatio.All(
                    probatio.Coerce(float), probatio.Range(min=0.1, max=600)
                ),
                probatio.Optional("start", default="2006-12-28 20:45:00"): str,
                probatio.Optional("data"): str,
            },
        )
    },
    extra=probatio.ALLOW_EXTRA,
)

PANEL_FORM = {
    "name": "Demo panel",
    "supply": "split_phase",
    "rating_a": 60,
    "voltage_v": 240,
    "continuous_pct": 80,
    "metering": "net",
}  # 14.4 kW rating, 11.52 kW limit
METER_FORM = {"site_sensor": "sensor.demo_main_panel_power"}
LOADS: list[tuple[dict[str, Any], dict[str, Any]]] = [
    (
        {"name": "Heat pump", "actuator": "input_boolean.demo_heat_pump"},
        {"nominal_w": 3000, "min_on_s": 180, "min_off_s": 180, "never_shed": False},
    ),
    (
        {"name": "Water heater", "actuator": "input_boolean.demo_water_heater"},
        {"nominal_w": 4500, "min_on_s": 0, "min_off_s": 60, "never_shed": False},
    ),
    (
        {"name": "EV charger", "actuator": "input_number.demo_ev_current"},
        {
            "unit": "A",
            "min": 6,
            "max": 32,
            "step": 1,
            "allow_off": True,
            "power_sensor": "sensor.demo_ev_charger_power",
            "min_on_s": 0,
            "min_off_s": 0,
            "never_shed": False,
        },
    ),
]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Replay the house's consumption; seed the demo panel once Home Assistant has started."""
    hass.async_create_task(
        async_load_platform(hass, "sensor", DOMAIN, dict(config.get(DOMAIN) or {}), config)
    )

    async def _seed(_hass: HomeAssistant) -> None:
        if hass.config_entries.async_entries(PANEL):
            return
        # A lively first start: the EV charging at 24 A, both appliances on, on top of the
        # house's own evening consumption.
        await hass.services.async_call(
            "input_number",
            "set_value",
            {"entity_id": "input_number.demo_ev_current", "value": 24},
            blocking=True,
        )
        await hass.services.async_call(
            "input_boolean",
            "turn_on",
            {
                "entity_id": [
                    "input_boolean.demo_water_heater",
                    "input_boolean.demo_heat_pump",
                    "input_boolean.demo_ev_plugged_in",
                ]
            },
            blocking=True,
        )
        result = await hass.config_entries.flow.async_init(PANEL, context={"source": SOURCE_USER})
        result = await hass.config_entries.flow.async_configure(result["flow_id"], PANEL_FORM)
        result = await hass.config_entries.flow.async_configure(result["flow_id"], METER_FORM)
        entry = result["result"]
        for first, details in LOADS:
            flow = await hass.config_entries.subentries.async_init(
                (entry.entry_id, "load"), context={"source": SOURCE_USER}
            )
            flow = await hass.config_entries.subentries.async_configure(flow["flow_id"], first)
            await hass.config_entries.subentries.async_configure(flow["flow_id"], details)
        LOGGER.info("Added %s with %d loads to Panel Capacity", entry.title, len(LOADS))

    async_at_started(hass, _seed)
    return True
