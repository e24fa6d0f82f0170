"""The logbook (Activity) says what Panel Capacity did to a load and why, in the recorded history."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import async_wait_recording_done
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.panel_capacity.const import DOMAIN
from custom_components.panel_capacity.logbook import (
    describe_action,
    describe_alert,
    describe_reservation,
)
from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util

from .conftest import BASE, EV, load_device, set_number


async def logbook_entries(hass: HomeAssistant, client: Any, **target: list[str]) -> list[dict[str, Any]]:
    """What the logbook shows for entities or devices, as the frontend asks for it."""
    await async_wait_recording_done(hass)
    await client.send_json_auto_id(
        {"type": "logbook/get_events", "start_time": (dt_util.utcnow() - timedelta(hours=1)).isoformat()}
        | target
    )
    response = await client.receive_json()
    assert response["success"], response
    return list(response["result"])


def described(entries: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """The entries Panel Capacity wrote: name, message, entity."""
    return [
        (entry["name"], entry["message"], entry["entity_id"])
        for entry in entries
        if entry.get("domain") == DOMAIN
    ]


async def test_a_shed_is_explained_in_the_logbook(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    loaded_entry: MockConfigEntry,
) -> None:
    assert await async_setup_component(hass, "logbook", {})
    await hass.async_block_till_done()  # the logbook reads the integrations' logbook platforms
    await set_number(hass, BASE, 3000)  # over the 7680 W limit: the EV charger is turned down
    client = await hass_ws_client(hass)
    expected = [("EV charger", "was set to 2.6 kW: over the limit (8.6 kW against 7.7 kW)", EV)]
    # On the load's device page (the logbook there asks for the device)...
    device = load_device(hass, loaded_entry, "EV charger")
    by_device = await logbook_entries(hass, client, device_ids=[device])
    assert described(by_device) == expected
    # ... and on a logbook card for the load's state and its actuator (the ready dashboard's).
    by_entity = await logbook_entries(hass, client, entity_ids=["sensor.ev_charger_state", EV])
    assert described(by_entity) == expected
    assert "reduced" in [entry.get("state") for entry in by_entity]  # the load's state, next to it


async def test_every_event_has_words(hass: HomeAssistant, loaded_entry: MockConfigEntry) -> None:
    base = {"entry_id": loaded_entry.entry_id, "site_power_w": 9050, "limit_w": 7680}
    action = base | {"load": "Water heater", "entity_id": "input_boolean.water_heater", "level_w": 0}
    assert describe_action(
        hass, action | {"action": "turn_off", "reason": "fail_safe", "success": False}
    ) == {
        "name": "Water heater",
        "message": "was switched off: no fresh reading from the panel's meter (the command failed)",
        "entity_id": "input_boolean.water_heater",
    }
    assert (
        describe_action(hass, action | {"action": "turn_on", "reason": "headroom", "success": True})[
            "message"
        ]
        == "was switched back on: room under the limit again (9.1 kW against 7.7 kW)"
    )
    # A shed for a leg or a subpanel says where the limit was (events of earlier versions do not).
    shed = action | {"action": "turn_off", "reason": "over_limit", "success": True}
    wheres = [
        ({"node_id": "main", "node": "Main panel", "conductor": None}, "over the limit (9.1 kW"),
        ({"node_id": "main", "node": "Main panel", "conductor": "l2"}, "over the limit on L2 (9.1 kW"),
        ({"node_id": "01GARAGE", "node": "Garage", "conductor": None}, "over the limit of Garage (9.1 kW"),
        ({"node_id": "01GARAGE", "node": "Garage", "conductor": "l1"}, "over the limit of Garage on L1 ("),
    ]
    for where, words in wheres:
        assert describe_action(hass, shed | where)["message"].startswith(f"was switched off: {words}")
    for reason in ("retry", "released"):
        message = describe_action(hass, action | {"action": "turn_on", "reason": reason})["message"]
        assert "{" not in message
        assert reason not in message
    # An event from a newer version, or with parts missing, still reads as something.
    odd = describe_action(hass, {"action": "explode", "reason": "mystery", "site_power_w": "n/a"})
    assert odd == {"name": DOMAIN, "message": "explode"}

    assert describe_alert(hass, base | {"alert": "insufficient"}) == {
        "name": "Main panel",
        "message": "cannot reach the limit by shedding: 9.1 kW against 7.7 kW",
    }
    assert describe_alert(hass, base | {"alert": "fail_safe"})["message"].startswith("went to fail-safe")
    assert describe_alert(hass, {"entry_id": "gone", "alert": "recovered"})["name"] == "Panel Capacity"

    reservation = {
        "entry_id": loaded_entry.entry_id,
        "requested_kw": 4.0,
        "granted_kw": 0.0,
        "start": "2026-11-26T17:00:00+00:00",
        "required_fee_per_kw": 0.5,
    }
    assert describe_reservation(hass, reservation | {"status": "denied_fee_required"}) == {
        "name": "Main panel",
        "message": "was refused 4.0 kW from 2026-11-26T17:00:00+00:00: the fee is 0.5 per kW",
    }
    for status in ("pending", "granted", "denied_no_capacity", "cancelled"):
        message = describe_reservation(hass, reservation | {"status": status})["message"]
        assert "{" not in message
        assert ("0.0 kW" if status == "granted" else "4.0 kW") in message
