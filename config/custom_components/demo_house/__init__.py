"""Development only: put Panel Capacity on the demo house the first time Home Assistant starts.

It goes through the integration's own config flow, node subentry flow and load
subentry flows, exactly as a person would in the UI. Not shipped with the
integration.

The house (config/configuration.yaml) is split-phase, 100 A at 240 V: 80 A
(9.6 kW) a leg, 19.2 kW in all. Its own consumption is replayed from real data,
kitchen on L1 and laundry on L2 (see sensor.py), and measured at the main
feed in all and on each leg. A 40 A garage subpanel (32 A a leg, 7.68 kW),
measured by its own total, holds the EV charger (240 V) and a space heater
(120 V, L1). The heat pump and the water heater (240 V) are on the main panel.
At the first start everything is on: the garage is over its limit at once (the
space heater is shed, the EV charger turned down). The legs are unbalanced, so
about a minute later the laundry takes L2 over its limit while the total is
under its own, and the EV charger (on both legs) is turned down for L2; about six
minutes in, the kitchen takes L1 over and the space heater (on L1) is shed for it.

A configuration made by an earlier demo (one panel measured by its total,
three loads) is left as it is: the integration migrates its entry.
"""

from __future__ import annotations

import logging
from typing import Any

import probatio

from homeassistant.config_entries import SOURCE_USER, ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.discovery import async_load_platform
from homeassistant.helpers.start import async_at_started
from homeassistant.helpers.typing import ConfigType

DOMAIN = "demo_house"
PANEL = "panel_capacity"
LOGGER = logging.getLogger(__name__)
GARAGE = "Garage"

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
    "rating_a": 100,
    "voltage_v": 240,
    "continuous_pct": 80,
    "metering": "net",
}  # 24 kW rating; limits 19.2 kW in all, 80 A (9.6 kW) a leg
METER_FORM = {
    "site_sensor": "sensor.demo_main_panel_power",
    "l1_sensor": "sensor.demo_main_panel_l1_power",
    "l2_sensor": "sensor.demo_main_panel_l2_power",
}
NODE_FORMS: tuple[dict[str, Any], dict[str, Any]] = (
    {"name": GARAGE, "parent": "main", "rating_a": 40, "continuous_pct": 80, "conductors": "l1_l2"},
    {"power_sensor": "sensor.demo_garage_power"},
)  # a 40 A feeder: 32 A a leg, 7.68 kW; less than the EV charger and the space heater together
# Most important first. "node": GARAGE is replaced by the garage's subentry id.
LOADS: list[tuple[dict[str, Any], dict[str, Any]]] = [
    (
        {
            "name": "Heat pump",
            "actuator": "input_boolean.demo_heat_pump",
            "node": "main",
            "conductors": "l1_l2",
        },
        {"nominal_w": 3000, "min_on_s": 180, "min_off_s": 180, "never_shed": False},
    ),
    (
        {
            "name": "Water heater",
            "actuator": "input_boolean.demo_water_heater",
            "node": "main",
            "conductors": "l1_l2",
        },
        {"nominal_w": 4500, "min_on_s": 0, "min_off_s": 60, "never_shed": False},
    ),
    (
        {
            "name": "EV charger",
            "actuator": "input_number.demo_ev_current",
            "node": GARAGE,
            "conductors": "l1_l2",
        },
        {
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
    (
        {
            "name": "Space heater",
            "actuator": "input_boolean.demo_space_heater",
            "node": GARAGE,
            "conductors": "l1",
        },
        {"nominal_w": 1500, "min_on_s": 0, "min_off_s": 60, "never_shed": False},
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
        await async_seed(hass)

    async_at_started(hass, _seed)
    return True


async def async_seed(hass: HomeAssistant) -> ConfigEntry:
    """Add the house's panel, garage and loads to Panel Capacity; then turn the loads on."""
    flows = hass.config_entries.flow
    result = await flows.async_init(PANEL, context={"source": SOURCE_USER})
    result = await flows.async_configure(result["flow_id"], PANEL_FORM)
    result = await flows.async_configure(result["flow_id"], METER_FORM)
    entry: ConfigEntry = result["result"]
    garage = await _add_subentry(hass, entry, "node", NODE_FORMS)
    for first, details in LOADS:
        where = {"node": garage} if first["node"] == GARAGE else {}
        await _add_subentry(hass, entry, "load", (first | where, details))
    LOGGER.info("Added %s with a garage subpanel and %d loads to Panel Capacity", entry.title, len(LOADS))
    # Each subentry added scheduled a reload of the panel; this one comes after them all (they
    # take turns), so the panel runs its whole configuration before anything is turned on.
    await hass.config_entries.async_reload(entry.entry_id)
    # A lively first start, once every load is known (not one at a time as they are added): the
    # EV charging at 32 A and every appliance on, on top of the house's own evening consumption.
    await hass.services.async_call(
        "input_number",
        "set_value",
        {"entity_id": "input_number.demo_ev_current", "value": 32},
        blocking=True,
    )
    await hass.services.async_call(
        "input_boolean",
        "turn_on",
        {
            "entity_id": [
                "input_boolean.demo_water_heater",
                "input_boolean.demo_heat_pump",
                "input_boolean.demo_space_heater",
                "input_boolean.demo_ev_plugged_in",
            ]
        },
        blocking=True,
    )
    return entry


async def _add_subentry(
    hass: HomeAssistant, entry: ConfigEntry, kind: str, forms: tuple[dict[str, Any], dict[str, Any]]
) -> str:
    """Fill a subentry flow's two forms; the new subentry's id."""
    subentries = hass.config_entries.subentries
    before = set(entry.subentries)
    flow = await subentries.async_init((entry.entry_id, kind), context={"source": SOURCE_USER})
    for form in forms:
        flow = await subentries.async_configure(flow["flow_id"], form)
    if flow["type"] != "create_entry":
        raise RuntimeError(f"the {kind} form for {forms[0]['name']} was refused: {flow.get('errors')}")
    (added,) = set(entry.subentries) - before
    return added
