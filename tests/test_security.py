"""Security: secrets kept out of logs, events, diagnostics and errors; TLS; timeouts; who may change what.

The grid server here is the tests' spec-shaped VTN on 127.0.0.1, made to misbehave: it echoes the
secret and the token in its error answers, announces absurd limits, stalls. Home Assistant is real.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
import json
import logging
import math
import re
import traceback
from typing import Any
from unittest.mock import patch
from urllib.parse import quote_plus

import aiohttp
from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, MockUser, async_capture_events

from custom_components.panel_capacity.const import CONF_GRID_SERVER, DOMAIN
from custom_components.panel_capacity.diagnostics import async_get_config_entry_diagnostics
from custom_components.panel_capacity.engine import ROOT
from custom_components.panel_capacity.grid.client import (
    REDACTED,
    OpenAdrClient,
    OpenAdrConnectionError,
    shown_url,
)
from homeassistant.auth.const import GROUP_ID_USER
from homeassistant.const import CONF_CLIENT_SECRET, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import Context, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError, Unauthorized

from .conftest import PANEL_DATA, settle
from .openadr_vtn import CapacityUtility, FakeVtn
from .test_grid_server import CONNECTION, LIMIT, START, at, poll, reserve, setup_panel

pytestmark = pytest.mark.usefixtures("socket_enabled")

# A secret with characters that are encoded differently in a form, a URL and JSON.
SECRET = 's3c+r/et é&"x'  # noqa: S105 - a test credential
PANEL_LIMIT_W = 7680.0  # PANEL_DATA: 40 A at 240 V x 80 %
LEG_LIMIT_W = 3840.0  # 40 A x 80 % at 120 V


@pytest.fixture
async def vtn(freezer: FrozenDateTimeFactory) -> AsyncIterator[FakeVtn]:
    freezer.move_to(START)
    server = FakeVtn("3.1.0", client_secret=SECRET)
    server.add_program("dycm")
    async with server.serve():
        yield server


@pytest.fixture
def utility(vtn: FakeVtn) -> CapacityUtility:
    offer = [(at(hour), timedelta(hours=1), 4.0, 0.5) for hour in range(12, 24)]
    business = CapacityUtility(
        vtn, program_id=next(iter(vtn.programs)), ven_name="home-1", subscription_kw=5.0, availability=offer
    )
    business.install()
    return business


@pytest.fixture
async def grid_entry(
    hass: HomeAssistant, house: None, utility: CapacityUtility, vtn: FakeVtn
) -> MockConfigEntry:
    return await setup_panel(hass, vtn.url, **{CONF_CLIENT_SECRET: SECRET})


def echoes(vtn: FakeVtn) -> list[str]:
    """The secret as a careless server echoes it, and the last token it issued."""
    return [SECRET, quote_plus(SECRET), json.dumps(SECRET)[1:-1], vtn.issued_tokens[-1]]


def leaked(text: str, vtn: FakeVtn) -> list[str]:
    return [secret for secret in echoes(vtn) if secret in text]


def problem(detail: str) -> dict[str, Any]:
    return {
        "body": json.dumps({"detail": detail, "error_description": detail}),
        "content_type": "application/json",
    }


async def everything_shown(
    hass: HomeAssistant, entry: MockConfigEntry, caplog: pytest.LogCaptureFixture
) -> str:
    """What a person or a log reader can see: logs, states and attributes, diagnostics."""
    states = [(s.state, dict(s.attributes)) for s in hass.states.async_all()]
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    return caplog.text + repr(states) + repr(diagnostics) + repr(entry.runtime_data.grid.data)


# ------------------------------------------------------------------ secrets


async def test_a_token_endpoint_echoing_the_secret_leaks_it_nowhere(
    hass: HomeAssistant,
    grid_entry: MockConfigEntry,
    vtn: FakeVtn,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = vtn.issued_tokens[-1]
    # The token is refused, and the token endpoint refuses the secret, quoting it (raw, form-encoded,
    # JSON-escaped), and the old token, with the secret placed where an error text is cut (200).
    detail = f"{'x' * 180}{SECRET} / {quote_plus(SECRET)} / {json.dumps(SECRET)} / old token {token}"
    vtn.revoke_tokens()
    vtn.fail_next(401, count=50, path_contains="/auth/token", **problem(detail))
    with caplog.at_level(logging.DEBUG):
        await poll(hass, freezer)
        shown = await everything_shown(hass, grid_entry, caplog)
    assert hass.states.get(CONNECTION).state == "auth_failed"
    assert "The grid server refused the credentials" in caplog.text
    assert REDACTED in grid_entry.runtime_data.grid.data.last_error
    assert leaked(shown, vtn) == []


async def test_a_failing_server_echoing_secret_and_token_leaks_them_nowhere(
    hass: HomeAssistant,
    grid_entry: MockConfigEntry,
    vtn: FakeVtn,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = vtn.issued_tokens[-1]
    answers = async_capture_events(hass, "panel_capacity_reservation")
    vtn.fail_next(500, count=3, path_contains="/events", **problem(f"boom: Bearer {token}, secret {SECRET}"))
    with caplog.at_level(logging.DEBUG):
        await poll(hass, freezer)
        assert hass.states.get(CONNECTION).state == "unreachable"
        # A reservation asked while the server fails: the error raised names neither.
        vtn.fail_next(500, count=1, path_contains="/reports", **problem(f"{SECRET} {token}"))
        with pytest.raises(HomeAssistantError) as raised:
            await reserve(hass, grid_entry, power_kw=2, max_fee_per_kw=1.0)
        shown = await everything_shown(hass, grid_entry, caplog)
    error_text = str(raised.value) + repr(raised.value.translation_placeholders)
    error_text += "".join(traceback.format_exception(raised.value))
    assert raised.value.translation_key == "grid_request_failed"
    assert leaked(error_text, vtn) == []
    assert leaked(shown + repr([a.data for a in answers]), vtn) == []


async def test_a_transport_error_naming_the_secret_and_an_address_with_a_password(
    hass: HomeAssistant, vtn: FakeVtn
) -> None:
    """aiohttp's error texts name the address; ours give only the kind of error, and no password."""
    url = vtn.url.replace("http://", f"http://ha-ven:{quote_plus(SECRET)}@")
    assert shown_url(url) == vtn.url
    async with aiohttp.ClientSession() as session:
        client = OpenAdrClient(session, url, "ha-ven", SECRET)
        failure = aiohttp.ClientConnectionError(f"cannot reach {url} with {SECRET}")
        with (
            patch.object(session, "request", side_effect=failure),
            pytest.raises(OpenAdrConnectionError) as raised,
        ):
            await client.authenticate()
    text = "".join(traceback.format_exception(raised.value))
    assert "ClientConnectionError" in text
    assert SECRET not in text
    assert quote_plus(SECRET) not in text


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://u:p@vtn.example.com/openadr3/3.1.0?secret=x#f", "https://vtn.example.com/openadr3/3.1.0"),
        ("https://u:p@[2001:db8::1]:8443/api?k=v", "https://[2001:db8::1]:8443/api"),
        ("https://vtn.example.com:99999/api", "<invalid address>"),
    ],
)
def test_addresses_are_shown_without_credentials(url: str, shown: str) -> None:
    assert shown_url(url) == shown


async def test_diagnostics_show_no_password_of_the_address(
    hass: HomeAssistant, house: None, utility: CapacityUtility, vtn: FakeVtn
) -> None:
    url = vtn.url.replace("http://", "http://someone:pa55word@")
    entry = await setup_panel(hass, url, **{CONF_CLIENT_SECRET: SECRET})
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["entry"]["data"][CONF_GRID_SERVER][CONF_URL] == vtn.url
    assert diagnostics["entry"]["data"][CONF_GRID_SERVER][CONF_CLIENT_SECRET] == "**REDACTED**"
    assert "pa55word" not in repr(diagnostics)
    assert SECRET not in repr(diagnostics)


async def test_the_options_form_shows_no_secret_echoed_by_the_server(
    hass: HomeAssistant, house: None, vtn: FakeVtn, caplog: pytest.LogCaptureFixture
) -> None:
    entry = MockConfigEntry(domain=DOMAIN, title="Main panel", data=dict(PANEL_DATA))
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    vtn.fail_next(401, count=5, path_contains="/auth/token", **problem(f"wrong secret {SECRET}"))
    flow = await hass.config_entries.options.async_init(entry.entry_id)
    flow = await hass.config_entries.options.async_configure(flow["flow_id"], {"next_step_id": "grid_server"})
    with caplog.at_level(logging.DEBUG):
        result = await hass.config_entries.options.async_configure(
            flow["flow_id"],
            {
                CONF_URL: vtn.url,
                "client_id": "ha-ven",
                CONF_CLIENT_SECRET: SECRET,
                "program": "dycm",
                "ven_name": "home-1",
                CONF_VERIFY_SSL: False,
            },
        )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_CLIENT_SECRET: "invalid_auth"}
    assert SECRET not in repr(result) + caplog.text
    await hass.config_entries.async_unload(entry.entry_id)


# ---------------------------------------------------------------------- TLS


async def test_verification_off_is_warned_once_per_setup(
    hass: HomeAssistant, grid_entry: MockConfigEntry, caplog: pytest.LogCaptureFixture
) -> None:
    def warnings() -> list[logging.LogRecord]:
        records = caplog.get_records("setup") + caplog.get_records("call")
        return [r for r in records if "Certificate verification is off" in r.getMessage()]

    assert len(warnings()) == 1  # set up with verification off (a plain-HTTP test server)
    assert warnings()[0].levelno == logging.WARNING
    assert "plain HTTP" in warnings()[0].getMessage()
    await hass.config_entries.async_reload(grid_entry.entry_id)
    await hass.async_block_till_done()
    assert len(warnings()) == 2  # once more for the new setup, not once per poll


async def test_verification_on_gives_no_warning(
    hass: HomeAssistant, house: None, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens there: the panel sets up, the server is unreachable, nothing is warned about TLS.
    await setup_panel(hass, "https://127.0.0.1:9/openadr3/3.1.0", **{CONF_VERIFY_SSL: True})
    assert not [r for r in caplog.records if "Certificate verification is off" in r.getMessage()]


# ------------------------------------------------------------------ timeouts


async def _stalling_server(*, headers_first: bool) -> tuple[asyncio.Server, str, list[asyncio.StreamWriter]]:
    """A server that accepts, reads the request and never answers (or answers headers, then stalls)."""
    held: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.readuntil(b"\r\n\r\n")
        if headers_first:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[")
            await writer.drain()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/openadr3/3.0.1", held


@pytest.mark.parametrize("headers_first", [False, True], ids=["no_answer", "body_stalls"])
async def test_a_server_that_never_answers_is_given_up(headers_first: bool) -> None:
    server, url, held = await _stalling_server(headers_first=headers_first)
    try:
        async with aiohttp.ClientSession() as session:
            client = OpenAdrClient(session, url, "ha-ven", SECRET, version="3.0.1", timeout_s=0.2)
            # The guard only keeps a broken client from hanging the suite; the client's own timeout ends it.
            async with asyncio.timeout(30):
                with pytest.raises(OpenAdrConnectionError, match="timed out"):
                    await client.authenticate()
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


# ----------------------------------------------------------------- services


async def call(hass: HomeAssistant, service: str, data: dict[str, Any], **kwargs: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=True, **kwargs
    )


@pytest.mark.parametrize(
    ("service", "data", "key", "field"),
    [
        ("plan_load", {"power_kw": math.nan}, "service_invalid_number", "power_kw"),
        ("plan_load", {"power_kw": "inf"}, "service_invalid_number", "power_kw"),
        ("plan_load", {"power_kw": -3}, "service_invalid_number", "power_kw"),
        ("plan_load", {"power_kw": 5000}, "service_invalid_number", "power_kw"),
        ("plan_load", {"power_kw": "lots"}, "service_invalid_number", "power_kw"),
        ("plan_load", {"current_a": 0}, "service_invalid_number", "current_a"),
        ("plan_load", {"power_kw": 7, "phases": 2}, "service_invalid_choice", "phases"),
        ("plan_load", {"power_kw": 7, "days": 0}, "service_invalid_number", "days"),
        (
            "plan_load",
            {"power_kw": 7, "daily_energy_kwh": math.inf},
            "service_invalid_number",
            "daily_energy_kwh",
        ),
        ("plan_load", {"power_kw": 7, "arrive": "25:00"}, "service_invalid_time", "arrive"),
        ("plan_load", {"power_kw": 7, "colour": "red"}, "service_unknown_field", "colour"),
        (
            "request_reservation",
            {"duration": "01:00:00", "power_kw": math.nan},
            "service_invalid_number",
            "power_kw",
        ),
        (
            "request_reservation",
            {"duration": "01:00:00", "power_kw": 0},
            "service_invalid_number",
            "power_kw",
        ),
        (
            "request_reservation",
            {"duration": {"minutes": -30}, "power_kw": 2},
            "service_invalid_duration",
            "duration",
        ),
        (
            "request_reservation",
            {"duration": "00:00:00", "power_kw": 2},
            "service_invalid_duration",
            "duration",
        ),
        (
            "request_reservation",
            {"duration": {"days": 8}, "power_kw": 2},
            "service_invalid_duration",
            "duration",
        ),
        ("request_reservation", {"duration": "soon", "power_kw": 2}, "service_invalid_duration", "duration"),
        (
            "request_reservation",
            {"duration": "01:00", "power_kw": 2, "wait": {"seconds": -5}},
            "service_invalid_duration",
            "wait",
        ),
        (
            "request_reservation",
            {"duration": "01:00", "power_kw": 2, "wait": "00:10:00"},
            "service_invalid_duration",
            "wait",
        ),
        (
            "request_reservation",
            {"duration": "01:00", "power_kw": 2, "max_fee_per_kw": -1},
            "service_invalid_number",
            "max_fee_per_kw",
        ),
        (
            "request_reservation",
            {"duration": "01:00", "power_kw": 2, "max_fee_per_kw": "nan"},
            "service_invalid_number",
            "max_fee_per_kw",
        ),
        (
            "request_reservation",
            {"duration": "01:00", "power_kw": 2, "start": "tomorrowish"},
            "service_invalid_datetime",
            "start",
        ),
        ("request_reservation", {"power_kw": 2}, "service_missing_field", "duration"),
        ("cancel_reservation", {}, "service_missing_field", "request_id"),
        ("cancel_reservation", {"request_id": None}, "service_invalid_text", "request_id"),
    ],
)
async def test_every_refused_input_is_a_translated_error_naming_its_field(
    hass: HomeAssistant, grid_entry: MockConfigEntry, service: str, data: dict[str, Any], key: str, field: str
) -> None:
    with pytest.raises(ServiceValidationError) as raised:
        await call(hass, service, {"config_entry_id": grid_entry.entry_id} | data)
    assert raised.value.translation_domain == DOMAIN
    assert raised.value.translation_key == key
    message = str(raised.value)
    assert field in message
    assert not re.search(r"\{[a-z_]+\}", message)  # every placeholder filled: the translated message
    assert "value must be" not in message  # not the validator's English text


@pytest.mark.parametrize(
    ("service", "data", "key"),
    [
        ("plan_load", {"config_entry_id": "nope", "power_kw": 7}, "invalid_config_entry"),
        (
            "request_reservation",
            {"config_entry_id": "nope", "duration": "01:00", "power_kw": 2},
            "invalid_config_entry",
        ),
        ("cancel_reservation", {"config_entry_id": "nope", "request_id": "x"}, "invalid_config_entry"),
        ("cancel_reservation", {"request_id": "not-one-of-ours"}, "unknown_reservation"),
        # Over before it starts (a month ago, for an hour).
        (
            "request_reservation",
            {"start": "2026-05-01T12:00:00+00:00", "duration": "01:00", "power_kw": 2},
            "reservation_in_the_past",
        ),
        ("plan_load", {"power_kw": 7, "current_a": 30}, "plan_size_twice"),
        ("plan_load", {"power_kw": 50}, "plan_load_too_large"),
    ],
)
async def test_wrong_entries_ids_and_windows_are_translated_errors(
    hass: HomeAssistant, grid_entry: MockConfigEntry, service: str, data: dict[str, Any], key: str
) -> None:
    with pytest.raises(ServiceValidationError) as raised:
        await call(hass, service, {"config_entry_id": grid_entry.entry_id} | data)
    assert raised.value.translation_key == key
    assert not re.search(r"\{[a-z_]+\}", str(raised.value))


async def test_a_panel_not_loaded_is_refused(hass: HomeAssistant, grid_entry: MockConfigEntry) -> None:
    assert await hass.config_entries.async_unload(grid_entry.entry_id)
    for service, data in [
        ("plan_load", {"power_kw": 7}),
        ("request_reservation", {"duration": "01:00", "power_kw": 2}),
        ("cancel_reservation", {"request_id": "x"}),
    ]:
        with pytest.raises(ServiceValidationError) as raised:
            await call(hass, service, {"config_entry_id": grid_entry.entry_id} | data)
        assert raised.value.translation_key == "invalid_config_entry"


# --------------------------------------------------------- who may change what


@pytest.fixture
async def plain_user(hass: HomeAssistant, local_auth: Any) -> MockUser:
    """A user who is not an administrator (Home Assistant's *Users* group)."""
    return MockUser(groups=[await hass.auth.async_get_group(GROUP_ID_USER)]).add_to_hass(hass)


MANAGER = "switch.main_panel_capacity_management"
USER_CAP = "number.main_panel_limit_cap"


async def test_reservations_are_for_administrators(
    hass: HomeAssistant,
    grid_entry: MockConfigEntry,
    plain_user: MockUser,
    hass_admin_user: MockUser,
    vtn: FakeVtn,
) -> None:
    reports = len(vtn.reports)
    request = {
        "config_entry_id": grid_entry.entry_id,
        "duration": "01:00:00",
        "power_kw": 2,
        "max_fee_per_kw": 1,
    }
    with pytest.raises(Unauthorized):
        await call(hass, "request_reservation", request, context=Context(user_id=plain_user.id))
    with pytest.raises(Unauthorized):
        await call(
            hass,
            "cancel_reservation",
            {"config_entry_id": grid_entry.entry_id, "request_id": "x"},
            context=Context(user_id=plain_user.id),
        )
    assert len(vtn.reports) == reports  # nothing was asked of the utility
    granted = await call(hass, "request_reservation", request, context=Context(user_id=hass_admin_user.id))
    assert granted["status"] == "granted"
    # Planning only reads the history: any user may (here it gets as far as asking for the recorder).
    with pytest.raises(HomeAssistantError) as raised:
        await call(
            hass,
            "plan_load",
            {"config_entry_id": grid_entry.entry_id, "power_kw": 1},
            context=Context(user_id=plain_user.id),
        )
    assert raised.value.translation_key == "plan_needs_recorder"


async def manager(hass: HomeAssistant, service: str, user: MockUser | None) -> str:
    """Turn capacity management on or off as ``user`` (None: an automation); its state after."""
    context = Context(user_id=user.id if user is not None else None)
    await hass.services.async_call("switch", service, {"entity_id": MANAGER}, blocking=True, context=context)
    await settle(hass)
    return hass.states.get(MANAGER).state


async def test_only_an_administrator_turns_management_off(
    hass: HomeAssistant, grid_entry: MockConfigEntry, plain_user: MockUser, hass_admin_user: MockUser
) -> None:
    assert hass.states.get(MANAGER).state == "on"
    with pytest.raises(Unauthorized):
        await manager(hass, "turn_off", plain_user)
    assert hass.states.get(MANAGER).state == "on"
    assert grid_entry.runtime_data.coordinator.enabled
    assert await manager(hass, "turn_off", hass_admin_user) == "off"
    # Turning it back on protects the panel: any user may; so may an automation (no user) turn it off.
    assert await manager(hass, "turn_on", plain_user) == "on"
    assert await manager(hass, "turn_off", None) == "off"


def limits(entry: MockConfigEntry) -> list[float]:
    """The effective limit of the panel's total and of every conductor it has a constraint for."""
    root = entry.runtime_data.coordinator.data.nodes[ROOT]
    return [c.limit.effective_w for c in (root.total, *root.conductors.values())]


async def test_any_user_can_lower_the_cap_but_never_raise_the_limit_past_the_panel(
    hass: HomeAssistant, grid_entry: MockConfigEntry, plain_user: MockUser
) -> None:
    context = Context(user_id=plain_user.id)
    await hass.services.async_call(
        "number", "set_value", {"entity_id": USER_CAP, "value": 3000}, blocking=True, context=context
    )
    await settle(hass)
    assert float(hass.states.get(LIMIT).state) == 3000
    # Above the panel's limit: refused by Home Assistant's own range check (the number's maximum).
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            "number", "set_value", {"entity_id": USER_CAP, "value": 1e9}, blocking=True, context=context
        )
    # Whatever the cap is set to by other means, the panel's rating x factor binds.
    await grid_entry.runtime_data.coordinator.async_set_user_cap(1e9)
    await settle(hass)
    assert float(hass.states.get(LIMIT).state) <= PANEL_LIMIT_W
    assert max(limits(grid_entry)) <= PANEL_LIMIT_W


# ------------------------------------------------------ a malicious grid server


async def test_a_malicious_server_can_only_lower_the_limit(
    hass: HomeAssistant,
    grid_entry: MockConfigEntry,
    vtn: FakeVtn,
    utility: CapacityUtility,
    freezer: FrozenDateTimeFactory,
) -> None:
    program_id = next(iter(vtn.programs))
    coordinator = grid_entry.runtime_data.coordinator

    def assert_within_panel() -> None:
        assert hass.states.get(CONNECTION).state in {"connected", "bad_answer"}
        assert float(hass.states.get(LIMIT).state) <= PANEL_LIMIT_W
        root = coordinator.data.nodes[ROOT]
        assert root.total.limit.effective_w <= PANEL_LIMIT_W
        assert all(c.limit.effective_w <= LEG_LIMIT_W for c in root.conductors.values())
        assert all(math.isfinite(w) for w in limits(grid_entry))

    # An absurd subscription, an absurd envelope, and a grant of 1000 kW on an offer of 10 MW.
    utility.set_subscription(9_000)
    utility.doe(at(12), timedelta(hours=2), import_kw=[9_000, 1e9])
    utility.set_availability([(at(12), timedelta(hours=2), 10_000.0, 0.0)])
    await poll(hass, freezer)
    assert_within_panel()
    response = await reserve(hass, grid_entry, power_kw=1000, max_fee_per_kw=1.0)
    assert response["status"] == "granted"
    await poll(hass, freezer)
    assert_within_panel()
    # Not numbers at all (JSON NaN and Infinity), negative, 1e9 kW.
    for values in ([math.nan], [math.inf], [-5], [1e12], ["lots"]):
        for payload in (
            "IMPORT_CAPACITY_SUBSCRIPTION",
            "IMPORT_CAPACITY_LIMIT",
            "IMPORT_CAPACITY_RESERVATION",
        ):
            vtn.add_event(
                program_id,
                strict=False,
                eventName=f"bad {payload} {values}",
                intervalPeriod={"start": "2026-06-01T00:00:00Z", "duration": "P1D"},
                intervals=[{"id": 0, "payloads": [{"type": payload, "values": values}]}],
            )
    await poll(hass, freezer)
    assert_within_panel()
    # A body far too large: refused, the last good answer holds, nothing crashes.
    vtn.oversized_next(5_000_000, path_contains="/events", count=3)
    await poll(hass, freezer)
    assert hass.states.get(CONNECTION).state == "bad_answer"
    assert_within_panel()
    # And the server can still lower it: a 2 kW envelope binds.
    vtn.clear_faults()
    utility.doe(at(12, 5), timedelta(hours=1), import_kw=[2.0], event_name="low")
    await poll(hass, freezer, 120)
    assert float(hass.states.get(LIMIT).state) == 2000
    assert_within_panel()
