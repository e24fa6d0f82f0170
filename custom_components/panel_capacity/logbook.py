"""Panel Capacity's events in the logbook (Activity): what was done to which load, and why.

The words come from the "logbook" section of the translations, loaded when the
integration is set up; the logbook asks for descriptions synchronously.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from homeassistant.components.logbook import (
    LOGBOOK_ENTRY_ENTITY_ID,
    LOGBOOK_ENTRY_MESSAGE,
    LOGBOOK_ENTRY_NAME,
)
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers.translation import async_get_cached_translations

from .const import DOMAIN, EVENT_ACTION, EVENT_ALERT, EVENT_RESERVATION
from .engine import ROOT

CATEGORY = "logbook"


def _kilowatts(value: Any) -> str:
    """A power in W, as kW with one decimal; "?" for what is not a number."""
    try:
        return f"{float(value) / 1000:.1f}"
    except TypeError, ValueError:
        return "?"


class _Words:
    """The logbook's words in Home Assistant's language; the key itself when a word is missing."""

    def __init__(self, hass: HomeAssistant) -> None:
        self._strings = async_get_cached_translations(hass, hass.config.language, CATEGORY, DOMAIN)

    def __call__(self, key: str, **placeholders: str) -> str:
        text = self._strings.get(f"component.{DOMAIN}.{CATEGORY}.{key}")
        if text is None:
            return key.rsplit(".", 1)[-1].replace("_", " ")
        try:
            return text.format(**placeholders)
        except KeyError, IndexError, ValueError:
            return text


def _reason_key(data: Mapping[str, Any]) -> str:
    """The words for why: a shed says where the limit was, unless it was the panel's total."""
    reason = str(data.get("reason"))
    if reason != "over_limit":
        return reason
    leg = "_leg" if data.get("conductor") else ""
    node = "_node" if data.get("node_id", ROOT) != ROOT else ""
    return f"{reason}{node}{leg}"


def describe_action(hass: HomeAssistant, data: Mapping[str, Any]) -> dict[str, str]:
    """A load was switched off or on, or set to a level: name, message and its actuator."""
    words = _Words(hass)
    power = {"site_kw": _kilowatts(data.get("site_power_w")), "limit_kw": _kilowatts(data.get("limit_w"))}
    where = {"node": str(data.get("node")), "conductor": str(data.get("conductor") or "").upper()}
    reason = words(f"reason.{_reason_key(data)}", **power, **where)
    level = _kilowatts(data.get("level_w"))
    if data.get("reason") == "retry":
        # Not "was switched off" again: it had not followed the command, and is asked again.
        what = words(f"retry.{data.get('action')}", level_kw=level)
    else:
        what = words(f"action.{data.get('action')}", level_kw=level, reason=reason)
    if data.get("success") is False:
        what = words("failed", action=what)
    described = {
        LOGBOOK_ENTRY_NAME: str(data.get("load") or data.get("entity_id") or DOMAIN),
        LOGBOOK_ENTRY_MESSAGE: what,
    }
    if data.get("entity_id"):
        described[LOGBOOK_ENTRY_ENTITY_ID] = str(data["entity_id"])
    return described


def _about_panel(
    hass: HomeAssistant, data: Mapping[str, Any], key: str, **placeholders: str
) -> dict[str, str]:
    """An entry under the panel's name."""
    entry = hass.config_entries.async_get_entry(str(data.get("entry_id")))
    return {
        LOGBOOK_ENTRY_NAME: entry.title if entry is not None else "Panel Capacity",
        LOGBOOK_ENTRY_MESSAGE: _Words(hass)(key, **placeholders),
    }


def describe_alert(hass: HomeAssistant, data: Mapping[str, Any]) -> dict[str, str]:
    """The controller cannot reach the limit, lost its readings or has them back; a load did not respond."""
    if data.get("alert") == "not_responding":
        words = _Words(hass)
        command = words(f"command.{data.get('action')}", level_kw=_kilowatts(data.get("level_w")))
        described = {
            LOGBOOK_ENTRY_NAME: str(data.get("load") or data.get("entity_id") or DOMAIN),
            LOGBOOK_ENTRY_MESSAGE: words(
                "alert.not_responding",
                commands=str(data.get("commands")),
                command=command,
                minutes=str(data.get("minutes")),
            ),
        }
        if data.get("entity_id"):
            described[LOGBOOK_ENTRY_ENTITY_ID] = str(data["entity_id"])
        return described
    return _about_panel(
        hass,
        data,
        f"alert.{data.get('alert')}",
        site_kw=_kilowatts(data.get("site_power_w")),
        limit_kw=_kilowatts(data.get("limit_w")),
    )


def describe_reservation(hass: HomeAssistant, data: Mapping[str, Any]) -> dict[str, str]:
    """A reservation request was answered, or cancelled."""
    return _about_panel(
        hass,
        data,
        f"reservation.{data.get('status')}",
        requested_kw=str(data.get("requested_kw")),
        granted_kw=str(data.get("granted_kw")),
        start=str(data.get("start")),
        required_fee=str(data.get("required_fee_per_kw")),
    )


@callback
def async_describe_events(
    hass: HomeAssistant,
    async_describe_event: Callable[[str, str, Callable[[Event], dict[str, str]]], None],
) -> None:
    """Tell the logbook how to show Panel Capacity's events."""
    async_describe_event(DOMAIN, EVENT_ACTION, _describer(hass, describe_action))
    async_describe_event(DOMAIN, EVENT_ALERT, _describer(hass, describe_alert))
    async_describe_event(DOMAIN, EVENT_RESERVATION, _describer(hass, describe_reservation))


def _describer(
    hass: HomeAssistant, describe: Callable[[HomeAssistant, Mapping[str, Any]], dict[str, str]]
) -> Callable[[Event], dict[str, str]]:
    @callback
    def describe_event(event: Event) -> dict[str, str]:
        return describe(hass, event.data)

    return describe_event
