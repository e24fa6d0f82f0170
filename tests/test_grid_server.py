"""The grid over OpenADR 3, end to end: Home Assistant, our client, and a spec-shaped server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
import ipaddress
import logging
from pathlib import Path
import ssl
from typing import Any
from unittest.mock import patch

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.panel_capacity.const import (
    CONF_GRID_SERVER,
    CONF_POLL_INTERVAL_S,
    CONF_PROGRAM,
    CONF_PROTOCOL_VERSION,
    CONF_TARGETS,
    CONF_VEN_NAME,
    DOMAIN,
    EVENT_RESERVATION,
)
from custom_components.panel_capacity.diagnostics import async_get_config_entry_diagnostics
from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.const import CONF_CLIENT_ID, CONF_CLIENT_SECRET, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.setup import async_setup_component

from .conftest import EV, EV_DATA, PANEL_DATA, SITE, WATER_HEATER_DATA, advance, load_subentry, settle
from .openadr_vtn import CapacityUtility, FakeVtn
from .test_blueprints import blueprint_dir  # noqa: F401 - a fixture

pytestmark = pytest.mark.usefixtures("socket_enabled")

START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LIMIT = "sensor.main_panel_effective_limit"
BINDING = "sensor.main_panel_binding_limit"
CONNECTION = "sensor.main_panel_grid_connection"


def at(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return START.replace(hour=hour, minute=minute, second=second)


def server_data(url: str, **changes: Any) -> dict[str, Any]:
    return {
        CONF_URL: url,
        CONF_CLIENT_ID: "ha-ven",
        CONF_CLIENT_SECRET: "s3cret",
        CONF_PROGRAM: "dycm",
        CONF_VEN_NAME: "home-1",
        CONF_PROTOCOL_VERSION: "3.1.0",
        CONF_VERIFY_SSL: False,
        CONF_POLL_INTERVAL_S: 60,
    } | changes


@pytest.fixture
def version() -> str:
    return "3.1.0"


@pytest.fixture
async def vtn(freezer: FrozenDateTimeFactory, version: str) -> AsyncIterator[FakeVtn]:
    freezer.move_to(START)
    server = FakeVtn(version)
    server.add_program("dycm")
    async with server.serve():
        yield server


@pytest.fixture
def utility(vtn: FakeVtn) -> CapacityUtility:
    """5 kW subscribed; 4 kW more on offer every hour of the day at 0.5 per kW."""
    program_id = next(iter(vtn.programs))
    offer = [(at(hour), timedelta(hours=1), 4.0, 0.5) for hour in range(12, 24)]
    business = CapacityUtility(
        vtn, program_id=program_id, ven_name="home-1", subscription_kw=5.0, availability=offer
    )
    business.install()
    return business


async def setup_panel(
    hass: HomeAssistant, url: str, options: dict[str, Any] | None = None, *, wait: bool = True, **changes: Any
) -> MockConfigEntry:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Main panel",
        data=PANEL_DATA | {CONF_GRID_SERVER: server_data(url, **changes)},
        options=options or {},
        subentries_data=[
            load_subentry("Water heater", WATER_HEATER_DATA),
            load_subentry("EV charger", EV_DATA),
        ],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    if wait:
        await hass.async_block_till_done(wait_background_tasks=True)
        await settle(hass)
    return entry


@pytest.fixture
async def grid_entry(
    hass: HomeAssistant, house: None, utility: CapacityUtility, vtn: FakeVtn
) -> MockConfigEntry:
    return await setup_panel(hass, vtn.url)


async def poll(hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float = 60) -> None:
    """Let time pass in 5 s ticks (the meter keeps reporting), each poll answered before the next tick."""
    while seconds > 0:
        await advance(hass, freezer, min(5.0, seconds))
        await hass.async_block_till_done(wait_background_tasks=True)
        seconds -= 5.0
    await settle(hass)


async def at_moment(hass: HomeAssistant, freezer: FrozenDateTimeFactory, moment: datetime) -> None:
    """Jump to ``moment`` exactly and let timers due by then run."""
    freezer.move_to(moment)
    await advance(hass, freezer, 0.001)
    await hass.async_block_till_done(wait_background_tasks=True)


async def reserve(hass: HomeAssistant, entry: MockConfigEntry, **data: Any) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN,
        "request_reservation",
        {"config_entry_id": entry.entry_id, "start": at(12, 15), "duration": {"hours": 1}} | data,
        blocking=True,
        return_response=True,
    )
    assert isinstance(response, dict)
    await settle(hass)
    return response


async def cancel(hass: HomeAssistant, entry: MockConfigEntry, request_id: str) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN,
        "cancel_reservation",
        {"config_entry_id": entry.entry_id, "request_id": request_id},
        blocking=True,
        return_response=True,
    )
    assert isinstance(response, dict)
    await settle(hass)
    return response


# ------------------------------------------------------------------ limits


async def test_subscription_from_the_server_limits_the_site(
    hass: HomeAssistant, grid_entry: MockConfigEntry, vtn: FakeVtn, state_of
) -> None:
    assert state_of(CONNECTION) == "connected"
    assert state_of(BINDING) == "subscription"
    assert float(state_of(LIMIT)) == 5000
    subscription = hass.states.get("sensor.main_panel_subscription")
    assert subscription.state == "5.0"
    assert subscription.attributes["source"] == "server"
    # 1000 + 1800 + 16 A x 240 V = 6640 W: the charger is turned down to 8 A (4720 W).
    assert float(state_of(EV)) == 8
    assert float(state_of(SITE)) <= 4900
    # The client signed in with the credentials in the form body and read the program's events.
    paths = [path for _method, path, _query in vtn.requests]
    # Lists are read until an empty page comes back; the VEN finds its ven object first.
    assert paths[:8] == [
        "/auth/server",
        "/auth/token",
        "/programs",
        "/programs",
        "/vens",
        "/vens",
        "/events",
        "/events",
    ]
    events_query = next(query for _m, path, query in vtn.requests if path == "/events")
    assert events_query["programID"] == next(iter(vtn.programs))
    token_body = next(r for r in vtn.recorded if r.path == "/auth/token").body
    assert b"client_secret=s3cret" in token_body
    assert "Authorization" not in next(r for r in vtn.recorded if r.path == "/auth/token").headers


async def test_envelope_changes_the_limit_at_its_boundaries(
    hass: HomeAssistant,
    grid_entry: MockConfigEntry,
    utility: CapacityUtility,
    freezer: FrozenDateTimeFactory,
    state_of,
) -> None:
    utility.doe(at(12, 10), timedelta(minutes=30), import_kw=[4.0, 6.0], export_kw=[3.0, 3.0])
    await poll(hass, freezer)
    assert float(state_of(LIMIT)) == 5000
    await at_moment(hass, freezer, at(12, 9, 59))
    assert float(state_of(LIMIT)) == 5000
    await at_moment(hass, freezer, at(12, 10))
    assert state_of(BINDING) == "envelope"
    assert float(state_of(LIMIT)) == 4000
    assert float(state_of("sensor.main_panel_export_limit")) == 3.0
    assert float(state_of(SITE)) <= 3900
    await at_moment(hass, freezer, at(12, 40))
    assert state_of(BINDING) == "subscription"  # 6 kW envelope above the 5 kW subscription
    await at_moment(hass, freezer, at(13, 10))
    assert state_of(BINDING) == "subscription"
    assert hass.states.get("sensor.main_panel_export_limit").state == "unknown"


async def test_emergency_lowers_the_limit_while_it_lasts(
    hass: HomeAssistant,
    grid_entry: MockConfigEntry,
    utility: CapacityUtility,
    freezer: FrozenDateTimeFactory,
    state_of,
) -> None:
    utility.emergency(at(12, 5), timedelta(minutes=20), import_kw=2.0)
    await poll(hass, freezer)
    await at_moment(hass, freezer, at(12, 5))
    assert state_of(BINDING) == "emergency"
    assert float(state_of(LIMIT)) == 2000
    assert state_of("input_boolean.water_heater") == "off"
    await at_moment(hass, freezer, at(12, 25))
    assert state_of(BINDING) == "subscription"


# ------------------------------------------------------------ reservations


async def test_reservation_granted_raises_the_limit_only_in_its_interval(
    hass: HomeAssistant, grid_entry: MockConfigEntry, vtn: FakeVtn, freezer: FrozenDateTimeFactory, state_of
) -> None:
    answers = async_capture_events(hass, EVENT_RESERVATION)
    response = await reserve(hass, grid_entry, power_kw=2, max_fee_per_kw=1.0)
    assert response["status"] == "granted"
    assert response["granted_kw"] == 2.0
    assert response["fee_per_kw"] == 0.5  # the utility's price, not the most offered
    assert response["start"] == at(12, 15).isoformat()
    assert response["end"] == at(13, 15).isoformat()
    assert [a["available_kw"] for a in response["availability"]][:3] == [4.0, 2.0, 2.0]
    # The request as sent: enumerated names, the request event, our VEN name.
    report = vtn.reports[-1]
    assert report["clientName"] == "home-1"
    payloads = report["resources"][0]["intervals"][0]["payloads"]
    assert payloads == [
        {"type": "IMPORT_RESERVATION_CAPACITY", "values": [2.0]},
        {"type": "IMPORT_RESERVATION_FEE", "values": [1.0]},
    ]
    assert [a.data["status"] for a in answers] == ["pending", "granted"]
    assert state_of("sensor.main_panel_last_reservation_request") == "granted"
    assert float(state_of("sensor.main_panel_reservation_fees_committed")) == 1.0
    assert state_of("sensor.main_panel_next_reservation") == at(12, 15).isoformat()
    # Not yet: the subscription holds until 12:15:00.
    await at_moment(hass, freezer, at(12, 14, 59))
    assert float(state_of(LIMIT)) == 5000
    await at_moment(hass, freezer, at(12, 15))
    assert state_of(BINDING) == "reservation"
    assert float(state_of(LIMIT)) == 7000
    assert float(state_of("sensor.main_panel_reserved_capacity_now")) == 2.0
    await at_moment(hass, freezer, at(13, 14, 59))
    assert float(state_of(LIMIT)) == 7000
    await at_moment(hass, freezer, at(13, 15))
    assert state_of(BINDING) == "subscription"
    assert float(state_of(LIMIT)) == 5000


async def test_reservation_denied_for_the_fee_and_for_capacity(
    hass: HomeAssistant, grid_entry: MockConfigEntry, state_of
) -> None:
    fee = await reserve(hass, grid_entry, power_kw=2, max_fee_per_kw=0.1)
    assert fee["status"] == "denied_fee_required"
    assert fee["required_fee_per_kw"] == 0.5
    assert fee["granted_kw"] == 0.0
    capacity = await reserve(hass, grid_entry, power_kw=10, max_fee_per_kw=5)
    assert capacity["status"] == "denied_no_capacity"
    # The availability list lets the user pick another amount or time.
    assert capacity["availability"][0] == {
        "start": at(12).isoformat(),
        "end": at(13).isoformat(),
        "available_kw": 4.0,
        "price_per_kw": 0.5,
    }
    assert state_of("sensor.main_panel_last_reservation_request") == "denied_no_capacity"
    assert float(state_of(LIMIT)) == 5000


async def test_pending_until_the_utility_answers(
    hass: HomeAssistant, grid_entry: MockConfigEntry, vtn: FakeVtn, freezer: FrozenDateTimeFactory, state_of
) -> None:
    vtn.hold_reports = True
    response = await reserve(hass, grid_entry, power_kw=2, max_fee_per_kw=1.0, wait={"seconds": 0})
    assert response["status"] == "pending"
    assert grid_entry.runtime_data.grid.update_interval == timedelta(seconds=5)  # polled faster
    await vtn.release_reports()
    await poll(hass, freezer, 5)
    assert state_of("sensor.main_panel_last_reservation_request") == "granted"
    assert grid_entry.runtime_data.grid.update_interval == timedelta(seconds=60)


async def test_cancel_where_the_server_allows_it_and_where_it_does_not(
    hass: HomeAssistant, grid_entry: MockConfigEntry, vtn: FakeVtn, freezer: FrozenDateTimeFactory, state_of
) -> None:
    granted = await reserve(hass, grid_entry, power_kw=2, max_fee_per_kw=1.0)
    await at_moment(hass, freezer, at(12, 15))
    assert float(state_of(LIMIT)) == 7000
    cancelled = await cancel(hass, grid_entry, granted["request_id"])
    assert cancelled["status"] == "cancelled"
    assert float(state_of(LIMIT)) == 5000
    assert vtn.deleted_reports
    vtn.supports_delete_reports = False
    kept = await reserve(hass, grid_entry, start=at(13), power_kw=1, max_fee_per_kw=1.0)
    assert kept["status"] == "granted"
    with pytest.raises(HomeAssistantError) as err:
        await cancel(hass, grid_entry, kept["request_id"])
    assert err.value.translation_key == "cancel_not_supported"
    assert grid_entry.runtime_data.grid.reservation(kept["request_id"]).status.value == "granted"
    with pytest.raises(ServiceValidationError) as err:
        await cancel(hass, grid_entry, "nope")
    assert err.value.translation_key == "unknown_reservation"
    assert err.value.translation_placeholders == {"request_id": "nope"}


async def test_cancel_of_an_unknown_request_is_the_caller_s_mistake_not_an_error_logged(
    hass: HomeAssistant,
    grid_entry: MockConfigEntry,
    vtn: FakeVtn,
    hass_client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    granted = await reserve(hass, grid_entry, power_kw=2, max_fee_per_kw=1.0)
    await cancel(hass, grid_entry, granted["request_id"])
    assert await async_setup_component(hass, "api", {})
    client = await hass_client()
    long_id = "f" * 300
    for request_id in (granted["request_id"], long_id):  # cancelled already; never ours
        caplog.clear()
        answer = await client.post(
            f"/api/services/{DOMAIN}/cancel_reservation",
            json={"config_entry_id": grid_entry.entry_id, "request_id": request_id},
        )
        # Home Assistant answers a validation error with 400, and logs nothing of it (aiohttp's
        # access log fails under the frozen clock: not ours).
        assert answer.status == 400
        assert "There is no reservation request" in (await answer.json())["message"]
        assert not [
            record
            for record in caplog.records
            if record.levelno >= logging.ERROR
            and record.name.startswith(("homeassistant", "custom_components"))
        ]
    with pytest.raises(ServiceValidationError) as err:
        await cancel(hass, grid_entry, long_id)
    assert err.value.translation_placeholders == {"request_id": "f" * 24 + "…"}


async def test_cancel_without_a_server_is_refused(hass: HomeAssistant, loaded_entry: MockConfigEntry) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await cancel(hass, loaded_entry, "3f9a1c2b7d4e")
    assert err.value.translation_key == "no_grid_server"


async def test_requests_that_make_no_sense_get_a_clear_error(
    hass: HomeAssistant, grid_entry: MockConfigEntry, vtn: FakeVtn
) -> None:
    reports = len(vtn.reports)
    with pytest.raises(ServiceValidationError) as err:
        await reserve(hass, grid_entry, start=at(10), power_kw=2)
    assert err.value.translation_key == "reservation_in_the_past"
    assert len(vtn.reports) == reports  # nothing was sent


async def test_reservations_survive_a_restart_even_with_the_server_down(
    hass: HomeAssistant, grid_entry: MockConfigEntry, vtn: FakeVtn, freezer: FrozenDateTimeFactory, state_of
) -> None:
    await reserve(hass, grid_entry, power_kw=2, max_fee_per_kw=1.0)
    vtn.down = True
    await hass.config_entries.async_reload(grid_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await settle(hass)
    assert state_of(CONNECTION) == "unreachable"
    assert float(state_of(LIMIT)) == 5000  # the last subscription the server announced
    await at_moment(hass, freezer, at(12, 15))
    assert float(state_of(LIMIT)) == 7000  # the stored grant, to the second
    await at_moment(hass, freezer, at(13, 15))
    assert float(state_of(LIMIT)) == 5000


async def test_request_without_a_server_is_refused(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await reserve(hass, loaded_entry, power_kw=2)
    assert err.value.translation_key == "no_grid_server"


# ------------------------------------------------------------------ faults


@pytest.mark.parametrize(
    ("fault", "connection"),
    [
        (lambda vtn: setattr(vtn, "down", True), "unreachable"),
        (lambda vtn: vtn.fail_next(500, count=3), "unreachable"),
        (lambda vtn: vtn.malformed_next(count=3, path_contains="/events"), "bad_answer"),
        (lambda vtn: vtn.oversized_next(3_000_000, path_contains="/events"), "bad_answer"),
        (lambda vtn: vtn.drop_next(count=6), "unreachable"),
        (lambda vtn: setattr(vtn, "delay_s", 2.0), "unreachable"),
    ],
    ids=["down", "500", "malformed", "oversized", "dropped", "timeout"],
)
async def test_faults_end_in_a_safe_limit_and_a_clear_state(
    hass: HomeAssistant,
    house: None,
    utility: CapacityUtility,
    vtn: FakeVtn,
    freezer: FrozenDateTimeFactory,
    state_of,
    fault,
    connection: str,
) -> None:
    fault(vtn)
    slow = vtn.delay_s > 0
    with patch("custom_components.panel_capacity.grid_coordinator.REQUEST_TIMEOUT_S", 0.5):
        entry = await setup_panel(hass, vtn.url, options={"subscription_kw": 6}, wait=not slow)
    if slow:
        # The loop's clock is frozen: let a second pass, so the request times out.
        await hass.async_block_till_done()
        await advance(hass, freezer, 1)
        await hass.async_block_till_done(wait_background_tasks=True)
        await settle(hass)
    assert state_of(CONNECTION) == connection, entry.runtime_data.grid.data.last_error
    if slow:
        assert "timed out" in entry.runtime_data.grid.data.last_error
    # The subscription entered in the options holds; the loop runs on.
    assert state_of(BINDING) == "subscription"
    assert float(state_of(LIMIT)) == 6000
    assert hass.states.get("sensor.main_panel_subscription").attributes["source"] == "configured"
    grid = entry.runtime_data.grid
    assert grid.update_interval == timedelta(seconds=120)  # backing off
    # The server recovers: the next poll reads it.
    vtn.down = False
    vtn.delay_s = 0.0
    vtn.clear_faults()
    await poll(hass, freezer, 120)
    assert state_of(CONNECTION) == "connected"
    assert float(state_of(LIMIT)) == 5000
    assert grid.update_interval == timedelta(seconds=60)


async def test_rejected_token_is_renewed_and_refused_credentials_start_reauth(
    hass: HomeAssistant, grid_entry: MockConfigEntry, vtn: FakeVtn, freezer: FrozenDateTimeFactory, state_of
) -> None:
    tokens = len(vtn.issued_tokens)
    vtn.revoke_tokens()
    await poll(hass, freezer)
    assert state_of(CONNECTION) == "connected"  # a new token was fetched and the call retried
    assert len(vtn.issued_tokens) == tokens + 1
    vtn.fail_next(401, path_contains="/events")
    await poll(hass, freezer)
    assert state_of(CONNECTION) == "connected"
    assert len(vtn.issued_tokens) == tokens + 2
    vtn.revoke_tokens()
    vtn.reject_credentials = True
    for seconds in (60, 120, 120):  # refused three polls in a row: new credentials are asked for
        await poll(hass, freezer, seconds)
    assert state_of(CONNECTION) == "auth_failed"
    assert float(state_of(LIMIT)) == 5000  # the last subscription announced still holds
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    # Wrong secret: an error on the field; the right one: saved and reloaded.
    vtn.reject_credentials = False
    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {CONF_CLIENT_ID: "ha-ven", CONF_CLIENT_SECRET: "wrong"}
    )
    assert result["errors"] == {CONF_CLIENT_SECRET: "invalid_auth"}
    vtn.down = True  # trouble that is not in the form is shown for the whole form
    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {CONF_CLIENT_ID: "ha-ven", CONF_CLIENT_SECRET: "s3cret"}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    vtn.down = False
    vtn.client_secret = "n3w"  # noqa: S105 - a test credential
    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {CONF_CLIENT_ID: "ha-ven", CONF_CLIENT_SECRET: "n3w"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert grid_entry.data[CONF_GRID_SERVER][CONF_CLIENT_SECRET] == "n3w"
    await hass.async_block_till_done(wait_background_tasks=True)
    await settle(hass)
    assert state_of(CONNECTION) == "connected"


async def test_malformed_events_are_skipped_and_logged_once(
    hass: HomeAssistant,
    grid_entry: MockConfigEntry,
    vtn: FakeVtn,
    utility: CapacityUtility,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    state_of,
) -> None:
    program_id = next(iter(vtn.programs))
    vtn.add_event(program_id, strict=False, eventName="broken", intervals="nonsense")
    vtn.add_event(
        program_id,
        strict=False,
        eventName="absurd",
        intervalPeriod={"start": "2026-06-01T00:00:00Z", "duration": "P1D"},
        intervals=[{"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [-4]}]}],
    )
    vtn.add_event(
        program_id, strict=False, eventName="wrong types", payloadDescriptors=5, reportDescriptors=True
    )
    vtn.add_event(
        program_id,
        strict=False,
        eventName="huge",
        targets=[10**400],
        intervalPeriod={"start": "9999-12-31T23:30:00-05:00", "duration": "PT1H"},
        intervals=[{"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [10**400]}]}],
    )
    utility.doe(at(12), timedelta(hours=1), import_kw=[4.5])
    with caplog.at_level(logging.WARNING):
        await poll(hass, freezer)
        await poll(hass, freezer)
    assert float(state_of(LIMIT)) == 4500  # the good envelope is used
    warnings = [r.message for r in caplog.records if "Ignoring part of the grid server's data" in r.message]
    assert len(warnings) == 3  # once per bad event, not once per poll
    # The loop goes on reading: an emergency posted now is applied.
    utility.emergency(at(12), timedelta(hours=1), import_kw=1.0)
    await poll(hass, freezer)
    assert state_of(BINDING) == "emergency"
    assert state_of(CONNECTION) == "connected"


async def test_clock_shifted_server(
    hass: HomeAssistant, grid_entry: MockConfigEntry, vtn: FakeVtn, freezer: FrozenDateTimeFactory, state_of
) -> None:
    vtn.clock_shift_s = -7200  # its clock two hours behind ours
    response = await reserve(hass, grid_entry, power_kw=2, max_fee_per_kw=1.0)
    assert response["status"] == "granted"
    # An envelope "from now, for 30 minutes": now is when we first read it, not the server's clock.
    vtn.add_event(
        next(iter(vtn.programs)),
        eventName="doe_now",
        targets=vtn.targets_for("home-1"),
        intervalPeriod={"start": "0001-01-01", "duration": "PT30M"},
        intervals=[{"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [3.0]}]}],
    )
    await poll(hass, freezer)
    assert float(state_of(LIMIT)) == 3000
    await poll(hass, freezer, 25 * 60)
    assert float(state_of(LIMIT)) == 3000
    await poll(hass, freezer, 5 * 60)
    assert state_of(BINDING) == "reservation"  # the envelope is over; the grant from 12:15 holds
    assert float(state_of(LIMIT)) == 7000


@pytest.mark.parametrize("version", ["3.0.1"])
async def test_protocol_3_0_1(
    hass: HomeAssistant, house: None, utility: CapacityUtility, vtn: FakeVtn, state_of
) -> None:
    entry = await setup_panel(hass, vtn.url, **{CONF_PROTOCOL_VERSION: "3.0.1"})
    assert float(state_of(LIMIT)) == 5000
    response = await reserve(hass, entry, power_kw=2, max_fee_per_kw=1.0)
    assert response["status"] == "granted"
    assert vtn.reports[-1]["programID"] == next(iter(vtn.programs))


# ------------------------------------------------------------ config flow


async def _server_step(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "grid_server"}
    )
    assert result["step_id"] == "grid_server"
    return result["flow_id"]


async def test_server_settings_are_checked_before_they_are_saved(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, utility: CapacityUtility, vtn: FakeVtn, state_of
) -> None:
    flow_id = await _server_step(hass, loaded_entry)
    good = server_data(vtn.url)
    cases = [
        ({CONF_URL: "ftp://example"}, {CONF_URL: "invalid_url"}),
        ({CONF_URL: "http://127.0.0.1:9/openadr3/3.1.0"}, {CONF_URL: "cannot_connect"}),
        ({CONF_CLIENT_SECRET: "wrong"}, {CONF_CLIENT_SECRET: "invalid_auth"}),
        ({CONF_PROGRAM: "nope"}, {CONF_PROGRAM: "program_not_found"}),
        ({CONF_URL: vtn.url.rsplit("/", 2)[0]}, {CONF_URL: "not_openadr"}),
        ({CONF_CLIENT_ID: ""}, {CONF_CLIENT_ID: "required"}),
        ({CONF_VERIFY_SSL: True}, {CONF_URL: "insecure_url"}),  # http would send the secret in clear
        ({CONF_POLL_INTERVAL_S: 5}, {CONF_POLL_INTERVAL_S: "poll_interval_out_of_range"}),
    ]
    for change, errors in cases:
        result = await hass.config_entries.options.async_configure(flow_id, good | change)
        assert result["type"] is FlowResultType.FORM, change
        assert result["errors"] == errors, change
    assert CONF_GRID_SERVER not in loaded_entry.data
    result = await hass.config_entries.options.async_configure(flow_id, good)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    await settle(hass)
    assert loaded_entry.data[CONF_GRID_SERVER] == good
    assert state_of(CONNECTION) == "connected"
    assert float(state_of(LIMIT)) == 5000
    # Edited again with the secret left empty: the saved one is kept (it is never shown).
    flow_id = await _server_step(hass, loaded_entry)
    result = await hass.config_entries.options.async_configure(
        flow_id, {k: v for k, v in good.items() if k != CONF_CLIENT_SECRET} | {CONF_POLL_INTERVAL_S: 30}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    assert loaded_entry.data[CONF_GRID_SERVER][CONF_CLIENT_SECRET] == "s3cret"
    assert loaded_entry.data[CONF_GRID_SERVER][CONF_POLL_INTERVAL_S] == 30
    # The form never shows the secret; and it is not sent to another server.
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    form = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "grid_server"}
    )
    suggested = {
        str(key): (key.description or {}).get("suggested_value") for key in form["data_schema"].schema
    }
    assert suggested[CONF_URL] == vtn.url
    assert suggested[CONF_CLIENT_SECRET] is None
    flow_id = form["flow_id"]
    elsewhere = {k: v for k, v in good.items() if k != CONF_CLIENT_SECRET} | {
        CONF_URL: "http://127.0.0.1:9/x"
    }
    result = await hass.config_entries.options.async_configure(flow_id, elsewhere)
    assert result["errors"] == {CONF_CLIENT_SECRET: "required"}
    assert not any(r.path.startswith("/x") for r in vtn.recorded)
    result = await hass.config_entries.options.async_configure(flow_id, good)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    # An empty address disconnects.
    flow_id = await _server_step(hass, loaded_entry)
    result = await hass.config_entries.options.async_configure(
        flow_id, {CONF_PROTOCOL_VERSION: "3.1.0", CONF_VERIFY_SSL: True, CONF_POLL_INTERVAL_S: 60}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    await settle(hass)
    assert CONF_GRID_SERVER not in loaded_entry.data
    assert hass.states.get(CONNECTION) is None
    assert float(state_of(LIMIT)) == 7680


async def test_secrets_stay_out_of_diagnostics_logs_and_events(
    hass: HomeAssistant, grid_entry: MockConfigEntry, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        answers = async_capture_events(hass, EVENT_RESERVATION)
        await reserve(hass, grid_entry, power_kw=2, max_fee_per_kw=1.0)
        diagnostics = await async_get_config_entry_diagnostics(hass, grid_entry)
    text = repr(diagnostics) + caplog.text + repr([a.data for a in answers])
    assert "s3cret" not in text
    assert diagnostics["entry"]["data"][CONF_GRID_SERVER][CONF_CLIENT_SECRET] == "**REDACTED**"
    assert diagnostics["grid"]["connection"] == "connected"
    assert diagnostics["grid"]["reservations"][0]["status"] == "granted"
    assert diagnostics["grid"]["ven"]["name"] == "home-1"
    assert "ha-ven" not in repr(diagnostics)  # the client id, a credential, is redacted everywhere


# --------------------------------------------------------------- blueprint

PLUGGED_IN = "binary_sensor.car_plugged_in"  # as a car's integration would provide it


async def reservation_automation(hass: HomeAssistant, entry: MockConfigEntry, **inputs: Any) -> None:
    hass.states.async_set(PLUGGED_IN, "off")
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "alias": "Reserve for the car",
                "use_blueprint": {
                    "path": "panel_capacity/reserve_capacity_for_ev.yaml",
                    "input": {
                        "panel": entry.entry_id,
                        "subscription": "sensor.main_panel_subscription",
                        "plugged_in": PLUGGED_IN,
                        "charger_kw": 7.4,
                        "house_kw": 1.5,
                        "ready_by": "09:00:00",
                        "then": [
                            {
                                "event": "told",
                                "event_data": {"message": "{{ message }}", "status": "{{ status }}"},
                            }
                        ],
                    }
                    | inputs,
                },
            }
        },
    )
    await hass.async_block_till_done()


async def plug_in(hass: HomeAssistant) -> None:
    hass.states.async_set(PLUGGED_IN, "on")
    await hass.async_block_till_done(wait_background_tasks=True)
    await settle(hass)


@pytest.mark.usefixtures("blueprint_dir")
async def test_blueprint_reserves_the_shortfall_and_tells_the_answer(
    hass: HomeAssistant, grid_entry: MockConfigEntry, vtn: FakeVtn, freezer: FrozenDateTimeFactory, state_of
) -> None:
    # 12:00 UTC is 05:00 in the test's time zone (US/Pacific): 30 kWh by 09:00 from 05:15 is
    # 8 kW, the subscription leaves 3.5 kW for the car, the charger takes 7.4 kW: 3.9 kW short.
    await reservation_automation(hass, grid_entry, energy_kwh=30, max_fee_per_kw=1.0)
    told = async_capture_events(hass, "told")
    await plug_in(hass)
    assert [event.data["status"] for event in told] == ["granted"]
    assert (
        told[0].data["message"]
        == "Reserved 3.9 kW more for 05:15-09:00 at 0.5 per kW: the car will be ready."
    )
    payloads = vtn.reports[-1]["resources"][0]["intervals"][0]["payloads"]
    assert payloads[0] == {"type": "IMPORT_RESERVATION_CAPACITY", "values": [3.9]}
    assert vtn.reports[-1]["resources"][0]["intervalPeriod"] == {
        "start": "2026-06-01T12:15:00Z",
        "duration": "PT3H45M",
    }
    await at_moment(hass, freezer, at(12, 15))
    assert float(state_of(LIMIT)) == 7680  # 5000 + 3900 W, capped by the panel


@pytest.mark.usefixtures("blueprint_dir")
async def test_blueprint_tells_the_fee_the_utility_asks(
    hass: HomeAssistant, grid_entry: MockConfigEntry
) -> None:
    await reservation_automation(hass, grid_entry, energy_kwh=30, max_fee_per_kw=0.1)
    told = async_capture_events(hass, "told")
    await plug_in(hass)
    assert [event.data["status"] for event in told] == ["denied_fee_required"]
    assert told[0].data["message"] == (
        "The utility has 3.9 kW for 05:15-09:00, but asks 0.5 per kW (you accept 0.1)."
    )


@pytest.mark.usefixtures("blueprint_dir")
async def test_blueprint_asks_nothing_when_the_subscription_is_enough(
    hass: HomeAssistant, grid_entry: MockConfigEntry, vtn: FakeVtn
) -> None:
    await reservation_automation(hass, grid_entry, energy_kwh=5, max_fee_per_kw=1.0)
    told = async_capture_events(hass, "told")
    await plug_in(hass)
    assert told == []
    assert vtn.reports == []


def other_event(vtn: FakeVtn, target: str, payload: str, kw: float) -> None:
    vtn.add_event(
        next(iter(vtn.programs)),
        eventName=f"{payload.lower()}_for_{target}",
        targets=vtn.targets_for(target),
        intervalPeriod={"start": "2026-06-01T00:00:00Z", "duration": "P1D"},
        intervals=[{"id": 0, "payloads": [{"type": payload, "values": [kw]}]}],
    )


@pytest.mark.parametrize("version", ["3.0.1"])  # where a VEN may read every customer's events
async def test_events_targeted_elsewhere_are_ignored_unless_a_target_is_ours(
    hass: HomeAssistant,
    house: None,
    utility: CapacityUtility,
    vtn: FakeVtn,
    freezer: FrozenDateTimeFactory,
    state_of,
) -> None:
    other_event(vtn, "home-2", "IMPORT_CAPACITY_SUBSCRIPTION", 20.0)
    other_event(vtn, "home-2", "IMPORT_CAPACITY_LIMIT", 2.0)
    other_event(vtn, "feeder-7", "IMPORT_CAPACITY_LIMIT", 3.0)
    await setup_panel(hass, vtn.url, **{CONF_PROTOCOL_VERSION: "3.0.1"})
    assert state_of(BINDING) == "subscription"
    assert float(state_of(LIMIT)) == 5000
    await hass.config_entries.async_remove(hass.config_entries.async_entries(DOMAIN)[0].entry_id)
    await hass.async_block_till_done()
    await setup_panel(hass, vtn.url, **{CONF_PROTOCOL_VERSION: "3.0.1", CONF_TARGETS: "feeder-7, zone-b"})
    assert state_of(BINDING) == "envelope"
    assert float(state_of(LIMIT)) == 3000


async def test_unknown_program_and_a_program_without_reservations(
    hass: HomeAssistant, house: None, vtn: FakeVtn, utility: CapacityUtility, state_of
) -> None:
    entry = await setup_panel(hass, vtn.url, **{CONF_PROGRAM: "nope"})
    assert state_of(CONNECTION) == "program_not_found"
    assert float(state_of(LIMIT)) == 7680
    with pytest.raises(HomeAssistantError) as err:
        await reserve(hass, entry, power_kw=2)
    assert err.value.translation_key == "grid_request_failed"
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    vtn.add_program("doe-only")
    other = await setup_panel(hass, vtn.url, **{CONF_PROGRAM: "doe-only"})
    assert state_of(CONNECTION) == "connected"
    with pytest.raises(HomeAssistantError) as err:
        await reserve(hass, other, power_kw=2)
    assert err.value.translation_key == "no_reservation_program"


async def test_request_with_refused_credentials(
    hass: HomeAssistant, grid_entry: MockConfigEntry, vtn: FakeVtn, state_of
) -> None:
    vtn.revoke_tokens()
    vtn.reject_credentials = True
    with pytest.raises(HomeAssistantError) as err:
        await reserve(hass, grid_entry, power_kw=2)
    assert err.value.translation_key == "grid_auth_failed"
    assert state_of(CONNECTION) == "auth_failed"


async def test_a_server_that_refuses_without_changing_its_events(
    hass: HomeAssistant, grid_entry: MockConfigEntry, vtn: FakeVtn, freezer: FrozenDateTimeFactory, state_of
) -> None:
    vtn.on_report = None  # the report is stored; the business logic never answers
    low_fee = await reserve(hass, grid_entry, power_kw=2, max_fee_per_kw=0.1, wait={"seconds": 0})
    assert low_fee["status"] == "pending"
    await poll(hass, freezer, 110)
    grid = grid_entry.runtime_data.grid
    assert grid.reservation(low_fee["request_id"]).status.value == "pending"
    await poll(hass, freezer, 15)
    assert grid.reservation(low_fee["request_id"]).status.value == "denied_fee_required"
    fair = await reserve(hass, grid_entry, power_kw=2, max_fee_per_kw=1.0, wait={"seconds": 0})
    await poll(hass, freezer, 110)
    assert grid.reservation(fair["request_id"]).status.value == "pending"  # capacity listed: wait for a grant
    await poll(hass, freezer, 15)
    assert grid.reservation(fair["request_id"]).status.value == "denied_no_capacity"
    assert state_of("sensor.main_panel_last_reservation_request") == "denied_no_capacity"
    assert grid.update_interval == timedelta(seconds=60)


async def test_a_request_without_a_start_begins_at_the_current_quarter_hour(
    hass: HomeAssistant, grid_entry: MockConfigEntry, vtn: FakeVtn, freezer: FrozenDateTimeFactory, state_of
) -> None:
    freezer.move_to(at(12, 7, 30))
    response = await hass.services.async_call(
        DOMAIN,
        "request_reservation",
        {
            "config_entry_id": grid_entry.entry_id,
            "duration": {"minutes": 30},
            "power_kw": 1.5,
            "max_fee_per_kw": 1,
        },
        blocking=True,
        return_response=True,
    )
    await settle(hass)
    assert response["status"] == "granted"
    assert vtn.reports[-1]["resources"][0]["intervalPeriod"] == {
        "start": "2026-06-01T12:00:00Z",
        "duration": "PT30M",
    }
    assert float(state_of(LIMIT)) == 6500  # in force at once


def self_signed(directory: Path) -> ssl.SSLContext:
    """A server context with a certificate for 127.0.0.1 that no authority signed."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test VTN")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "vtn.pem", directory / "vtn.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


async def test_certificates_are_verified_unless_turned_off(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, tmp_path: Path, state_of
) -> None:
    secure = FakeVtn()
    secure.add_program("dycm")
    loop = asyncio.get_running_loop()
    test_handler = loop.get_exception_handler()

    def server_side(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # The fake server's end of a handshake the client refused: the server's noise, not ours.
        if context.get("message", "").startswith("Error on transport creation for incoming connection"):
            return
        assert test_handler is not None
        test_handler(loop, context)

    async with secure.serve(ssl=self_signed(tmp_path)) as url:
        assert url.startswith("https://")
        flow_id = await _server_step(hass, loaded_entry)
        verified = server_data(url, **{CONF_VERIFY_SSL: True})
        loop.set_exception_handler(server_side)
        try:
            result = await hass.config_entries.options.async_configure(flow_id, verified)
            await asyncio.sleep(0.1)  # the server notices the refused handshake
        finally:
            loop.set_exception_handler(test_handler)
        assert result["errors"] == {CONF_URL: "cannot_connect"}  # an unknown certificate is refused
        assert not any(r.path == "/auth/token" for r in secure.recorded)  # the secret never left
        result = await hass.config_entries.options.async_configure(
            flow_id, verified | {CONF_VERIFY_SSL: False}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        await hass.async_block_till_done(wait_background_tasks=True)
        await settle(hass)
        assert state_of(CONNECTION) == "connected"
