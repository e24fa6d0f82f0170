"""What the flows ask Home Assistant before they save: entities, other entries, the grid server."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components.climate import ClimateEntityFeature
from homeassistant.components.water_heater import WaterHeaterEntityFeature
from homeassistant.const import (
    ATTR_SUPPORTED_FEATURES,
    ATTR_UNIT_OF_MEASUREMENT,
    CONF_CLIENT_SECRET,
    CONF_URL,
)
from homeassistant.core import HomeAssistant, State

from ..configuration import SENSOR_KEYS
from ..const import (
    CONF_ACTUATOR,
    CONF_IMPORT_SENSOR,
    CONF_L1_SENSOR,
    CONF_METERING,
    CONF_PROGRAM,
    CONF_SITE_SENSOR,
    DOMAIN,
    METERING_PAIR,
    SUBENTRY_LOAD,
)
from ..engine.rules import meter_error
from ..grid.client import OpenAdrAuthError, OpenAdrConnectionError, OpenAdrError, ProgramNotFoundError
from ..grid_coordinator import ServerSettings, make_client
from ..readings import SUPPORTED_UNITS, state_number

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from homeassistant.config_entries import ConfigEntry

    from ..engine import Conductor

# Actuators that can be switched only when the entity says it supports it.
REQUIRED_FEATURES = {
    "climate": ClimateEntityFeature.TURN_OFF | ClimateEntityFeature.TURN_ON,
    "water_heater": WaterHeaterEntityFeature.ON_OFF,
}


def sensor_error(hass: HomeAssistant, entity_id: str) -> str | None:
    """Why a sensor cannot measure power, or None when it can."""
    state = hass.states.get(entity_id)
    if state is None:
        return "entity_not_found"
    if state.attributes.get(ATTR_UNIT_OF_MEASUREMENT) not in SUPPORTED_UNITS:
        return "unsupported_unit"
    if state_number(state) is None and state.state not in ("unknown", "unavailable"):
        return "not_numeric"
    return None


def meter_errors(
    hass: HomeAssistant,
    user_input: Mapping[str, Any],
    total_keys: Sequence[str],
    conductors: Sequence[Conductor],
    *,
    required: bool,
) -> dict[str, str]:
    """Check a meter's sensors: a total (one sensor, or import and export) and one per conductor.

    Each must measure power or current, none twice; without a total, the
    conductors must all be measured (rules.meter_error). Errors keyed by field.
    """
    errors: dict[str, str] = {}
    seen: set[str] = set()
    for key in [*total_keys, *(SENSOR_KEYS[conductor] for conductor in conductors)]:
        entity_id = user_input.get(key)
        if not entity_id:
            continue
        if error := sensor_error(hass, entity_id):
            errors[key] = error
        elif entity_id in seen:
            errors[key] = "same_sensor"
        seen.add(entity_id)
    measured = [conductor.value for conductor in conductors if user_input.get(SENSOR_KEYS[conductor])]
    has_total = all(user_input.get(key) for key in total_keys)
    wanted = [conductor.value for conductor in conductors]
    if not errors and (error := meter_error(has_total, measured, wanted, required=required)):
        missing = [SENSOR_KEYS[conductor] for conductor in conductors if conductor.value not in measured]
        errors[missing[0] if error == "meter_incomplete" else total_keys[0]] = error
    return errors


def can_switch(state: State) -> bool:
    """Whether Panel Capacity can turn this actuator off and on again."""
    required = REQUIRED_FEATURES.get(state.domain)
    if required is None:
        return True
    features = state.attributes.get(ATTR_SUPPORTED_FEATURES) or 0
    return int(features) & required == required


def actuator_error(hass: HomeAssistant, actuator: str, own_subentry_id: str | None) -> str | None:
    """Why a load cannot be driven by this actuator, or None when it can.

    ``own_subentry_id`` is the load being changed, which may keep its actuator.
    """
    state = hass.states.get(actuator)
    if state is None:
        return "entity_not_found"
    if not can_switch(state):
        return "cannot_switch"
    if any(
        sub.data.get(CONF_ACTUATOR) == actuator
        for panel in hass.config_entries.async_entries(DOMAIN)
        for sid, sub in panel.subentries.items()
        if sid != own_subentry_id and sub.subentry_type == SUBENTRY_LOAD
    ):
        # One controller per actuator: two would fight, each taking the
        # other's commands for a person's.
        return "actuator_in_use"
    return None


def meter_keys(data: Mapping[str, Any]) -> dict[str, Any]:
    """The keys that identify a panel's meter, to reject a second entry on it."""
    if data.get(CONF_METERING) == METERING_PAIR:
        return {CONF_IMPORT_SENSOR: data[CONF_IMPORT_SENSOR]}
    if data.get(CONF_SITE_SENSOR):
        return {CONF_SITE_SENSOR: data[CONF_SITE_SENSOR]}
    return {CONF_L1_SENSOR: data[CONF_L1_SENSOR]}  # a meter of legs or phases alone


def meter_owner(
    entries: Iterable[ConfigEntry], meter: Mapping[str, Any], own_entry_id: str | None
) -> ConfigEntry | None:
    """The other entry (not ``own_entry_id``) that has this meter (its meter_keys), if any."""
    for entry in entries:
        if entry.entry_id != own_entry_id and all(entry.data.get(k) == v for k, v in meter.items()):
            return entry
    return None


async def server_errors(hass: HomeAssistant, server: ServerSettings) -> dict[str, str]:
    """Check the grid server: fetch a token, then find the program. Errors keyed by field."""
    url = server.url.lower()
    if not url.startswith(("https://", "http://")):
        return {CONF_URL: "invalid_url"}
    if url.startswith("http://") and server.verify_ssl:
        # Plain HTTP would send the secret in clear: only for a test server, with verification off.
        return {CONF_URL: "insecure_url"}
    client = make_client(hass, server)
    try:
        await client.authenticate()
        await client.find_program(server.program)
    except OpenAdrAuthError:
        return {CONF_CLIENT_SECRET: "invalid_auth"}
    except ProgramNotFoundError:
        return {CONF_PROGRAM: "program_not_found"}
    except OpenAdrConnectionError:
        return {CONF_URL: "cannot_connect"}
    except OpenAdrError:
        return {CONF_URL: "not_openadr"}
    return {}
