"""The fake OpenADR 3 VTN follows the specification: checked with a plain aiohttp client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import json
import re
from typing import Any

import aiohttp
import pytest

from .openadr_vtn import (
    DENIED_CAPACITY,
    DENIED_FEE,
    FEE_AT_ZERO_KW,
    FEE_ON_THE_KW,
    FEE_ONLY,
    GRANTED,
    REJECTED_GRID,
    REJECTED_PAST,
    CapacityUtility,
    FakeVtn,
    format_duration,
    parse_duration,
)

# Home Assistant's test plugin blocks sockets; pytest-socket's fixture lets these tests
# open them again (connections stay limited to 127.0.0.1).
pytestmark = pytest.mark.usefixtures("socket_enabled")

NAIVE_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
RFC3339_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
VEN_SCOPES_310 = ["read_targets", "read_ven_objects", "write_reports", "write_subscriptions", "write_vens"]
FORM = {"grant_type": "client_credentials", "client_id": "ha-ven", "client_secret": "s3cret"}
# Far enough ahead that nothing has expired when the tests run.
T0 = datetime(2035, 6, 1, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
OTHER_SECRET = "other"  # noqa: S105 - a test credential


@dataclass
class Answer:
    status: int
    body: Any
    headers: Any
    content_type: str


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession, method: str, url: str, token: str | None = None, **kwargs: Any
) -> Answer:
    headers = dict(kwargs.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with http.request(method, url, headers=headers, **kwargs) as resp:
        text = await resp.text()
        body = json.loads(text) if text and "json" in resp.content_type else text
        return Answer(resp.status, body, resp.headers, resp.content_type)


async def get_token(http: aiohttp.ClientSession, url: str, **form: str) -> str:
    answer = await call(http, "POST", f"{url}/auth/token", data={**FORM, **form})
    assert answer.status == 200, answer.body
    token = answer.body["access_token"]
    assert isinstance(token, str)
    return token


def problem(status: int, title: str, detail: str, instance: str) -> dict[str, Any]:
    return {"type": "about:blank", "title": title, "status": status, "detail": detail, "instance": instance}


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def request_report(
    event_id: str,
    start: datetime,
    duration: timedelta,
    kw: float,
    fee: float,
    *,
    capacity_name: str = "IMPORT_RESERVATION_CAPACITY",
    own_period: bool = False,
    program_id: str | None = None,
) -> dict[str, Any]:
    """A reservation request as the notes show it (section 4)."""
    period = {"start": stamp(start), "duration": format_duration(duration)}
    interval: dict[str, Any] = {
        "id": 0,
        "payloads": [
            {"type": capacity_name, "values": [kw]},
            {"type": "IMPORT_RESERVATION_FEE", "values": [fee]},
        ],
    }
    resource: dict[str, Any] = {"resourceName": "AGGREGATED_REPORT"}
    if own_period:
        interval["intervalPeriod"] = period
    else:
        resource["intervalPeriod"] = period
    resource["intervals"] = [interval]
    report: dict[str, Any] = {
        "eventID": event_id,
        "clientName": "home-1",
        "reportName": "capacityReservationRequest",
        "payloadDescriptors": [
            {"objectType": "REPORT_PAYLOAD_DESCRIPTOR", "payloadType": capacity_name, "units": "KW"},
            {
                "objectType": "REPORT_PAYLOAD_DESCRIPTOR",
                "payloadType": "IMPORT_RESERVATION_FEE",
                "units": "USD_PER_KW",
            },
        ],
        "resources": [resource],
    }
    if program_id is not None:
        report["programID"] = program_id
    return report


# --- authentication ------------------------------------------------------------------------------


async def test_token_flow_defaults(http: aiohttp.ClientSession) -> None:
    vtn = FakeVtn()
    async with vtn.serve() as url:
        assert url.endswith("/openadr3/3.1.0")
        server = await call(http, "GET", f"{url}/auth/server")
        assert (server.status, server.body) == (200, {"tokenURL": f"{url}/auth/token"})

        answer = await call(http, "POST", server.body["tokenURL"], data=FORM)
        assert answer.status == 200
        # No expires_in, and the scope as a JSON array: the reference VTN's quirks.
        assert answer.body == {
            "access_token": answer.body["access_token"],
            "token_type": "Bearer",
            "scope": VEN_SCOPES_310,
        }
        assert answer.headers["Cache-Control"] == "no-store"
        assert vtn.issued_tokens == [answer.body["access_token"]]
        assert vtn.recorded[-1].headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert b"client_secret=s3cret" in vtn.recorded[-1].body

        programs = await call(http, "GET", f"{url}/programs", answer.body["access_token"])
        assert (programs.status, programs.body) == (200, [])


async def test_token_with_lifetime_and_string_scope(http: aiohttp.ClientSession) -> None:
    vtn = FakeVtn(token_lifetime_s=3600, scope_as_list=False)
    async with vtn.serve() as url:
        answer = await call(http, "POST", f"{url}/auth/token", data=FORM)
        assert answer.body == {
            "access_token": answer.body["access_token"],
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": " ".join(VEN_SCOPES_310),
        }
        narrowed = await call(
            http,
            "POST",
            f"{url}/auth/token",
            data={**FORM, "scope": "read_targets write_events write_reports"},
        )
        assert narrowed.body["scope"] == "read_targets write_reports"
        refused = await call(http, "POST", f"{url}/auth/token", data={**FORM, "scope": "write_events"})
        assert refused.status == 400
        assert refused.body == {
            "error": "invalid_scope",
            "error_description": "none of ['write_events'] can be granted",
        }


async def test_token_expires(http: aiohttp.ClientSession) -> None:
    vtn = FakeVtn(token_lifetime_s=60)
    async with vtn.serve() as url:
        token = await get_token(http, url)
        assert (await call(http, "GET", f"{url}/events", token)).status == 200
        # The VTN's token store is the only clock that matters here: age the token.
        vtn._tokens[token].expires_at = datetime.now(UTC) - timedelta(seconds=1)
        expired = await call(http, "GET", f"{url}/events", token)
        assert expired.status == 403
        assert expired.body["detail"] == "the bearer token is not valid"


async def test_basic_auth_only_is_rejected(http: aiohttp.ClientSession) -> None:
    basic = {"Authorization": aiohttp.encode_basic_auth("ha-ven", "s3cret")}
    vtn = FakeVtn()
    async with vtn.serve() as url:
        answer = await call(
            http, "POST", f"{url}/auth/token", data={"grant_type": "client_credentials"}, headers=basic
        )
        assert answer.status == 400
        assert answer.content_type == "application/json"
        assert answer.body == {
            "error": "invalid_request",
            "error_description": "client_id and client_secret are required in the request body",
        }
    lenient = FakeVtn(form_credentials_only=False)
    async with lenient.serve() as url:
        answer = await call(
            http, "POST", f"{url}/auth/token", data={"grant_type": "client_credentials"}, headers=basic
        )
        assert answer.status == 200


async def test_token_endpoint_errors(http: aiohttp.ClientSession) -> None:
    vtn = FakeVtn()
    async with vtn.serve() as url:
        token_url = f"{url}/auth/token"
        as_json = await call(http, "POST", token_url, json=FORM)
        assert (as_json.status, as_json.body["error"]) == (400, "invalid_request")
        no_grant = await call(
            http, "POST", token_url, data={"client_id": "ha-ven", "client_secret": "s3cret"}
        )
        assert no_grant.body == {"error": "invalid_request", "error_description": "grant_type is missing"}
        wrong_grant = await call(http, "POST", token_url, data={**FORM, "grant_type": "password"})
        assert (wrong_grant.status, wrong_grant.body["error"]) == (400, "unsupported_grant_type")
        repeated = await call(http, "POST", token_url, data=[*FORM.items(), ("client_id", "x")])
        assert repeated.body == {
            "error": "invalid_request",
            "error_description": "parameter client_id is repeated",
        }
        wrong_secret = await call(http, "POST", token_url, data={**FORM, "client_secret": "nope"})
        assert wrong_secret.status == 401
        assert wrong_secret.body == {
            "error": "invalid_client",
            "error_description": "client authentication failed",
        }
        assert wrong_secret.headers["WWW-Authenticate"] == 'Basic realm="openadr3"'

        vtn.reject_credentials = True
        rejected = await call(http, "POST", token_url, data=FORM)
        assert (rejected.status, rejected.body["error"]) == (401, "invalid_client")
        vtn.invalid_client_status = 400
        rejected = await call(http, "POST", token_url, data=FORM)
        assert (rejected.status, rejected.body["error"]) == (400, "invalid_client")
        vtn.reject_credentials = False
        assert (await call(http, "POST", token_url, data=FORM)).status == 200


async def test_missing_token_401_bad_token_403(http: aiohttp.ClientSession) -> None:
    vtn = FakeVtn()
    async with vtn.serve() as url:
        missing = await call(http, "GET", f"{url}/events")
        assert missing.status == 401
        assert missing.content_type == "application/problem+json"
        assert missing.body == problem(401, "Unauthorized", "a bearer token is required", f"{url}/events")
        assert missing.headers["WWW-Authenticate"] == 'Bearer realm="openadr3"'
        basic = await call(
            http,
            "GET",
            f"{url}/events",
            headers={"Authorization": aiohttp.encode_basic_auth("ha-ven", "s3cret")},
        )
        assert basic.status == 401

        bad = await call(http, "GET", f"{url}/events?programID=0", "not-a-token")
        assert bad.status == 403
        assert bad.body == problem(
            403, "Forbidden", "the bearer token is not valid", f"{url}/events?programID=0"
        )

        token = await get_token(http, url)
        assert (await call(http, "GET", f"{url}/events", token)).status == 200
        vtn.revoke_tokens()
        assert (await call(http, "GET", f"{url}/events", token)).status == 403
        fresh = await get_token(http, url)
        assert fresh != token
        assert (await call(http, "GET", f"{url}/events", fresh)).status == 200


async def test_scopes_are_checked(http: aiohttp.ClientSession) -> None:
    vtn = FakeVtn()
    program = vtn.add_program("capacity")
    event = vtn.add_event(program["id"], eventName="e")
    async with vtn.serve() as url:
        read_only = await get_token(http, url, scope="read_targets")
        denied = await call(
            http, "POST", f"{url}/reports", read_only, json=request_report(event["id"], T0, HOUR, 1, 0)
        )
        assert denied.status == 403
        assert denied.body["detail"] == "the token's scopes ['read_targets'] do not allow this request"
        token = await get_token(http, url)
        # A VEN never holds write_events or write_programs.
        for method, path in (("POST", "/events"), ("PUT", "/events/0"), ("DELETE", "/programs/0")):
            answer = await call(http, method, f"{url}{path}", token, json={})
            assert answer.status == 403, path
        assert (await call(http, "GET", f"{url}/notifiers", token)).body == {"WEBHOOK": True}


async def test_unknown_paths_and_methods_are_problems(http: aiohttp.ClientSession) -> None:
    vtn = FakeVtn("3.0.1")
    async with vtn.serve() as url:
        assert url.endswith("/openadr3/3.0.1")
        token = await get_token(http, url)
        # 3.0.1 has no /auth/server and no /notifiers.
        assert (await call(http, "GET", f"{url}/auth/server")).status == 404
        assert (await call(http, "GET", f"{url}/notifiers", token)).status == 404
        missing = await call(http, "GET", f"{url}/subscriptions", token)
        assert missing.body == problem(
            404, "Not Found", "no resource at /openadr3/3.0.1/subscriptions", f"{url}/subscriptions"
        )
        wrong = await call(http, "PATCH", f"{url}/events", token)
        assert (wrong.status, wrong.body["title"]) == (405, "Method Not Allowed")
        assert wrong.headers["Allow"] == "GET, POST"
        no_event = await call(http, "GET", f"{url}/events/7", token)
        assert (no_event.status, no_event.body["detail"]) == (404, "no event 7")


# --- objects, paging, filters --------------------------------------------------------------------


async def test_object_metadata_default_quirks(http: aiohttp.ClientSession) -> None:
    vtn = FakeVtn()
    program = vtn.add_program("capacity", programLongName="Capacity")
    event = vtn.add_event(program["id"], eventName="first", targets=["home-1"])
    async with vtn.serve() as url:
        token = await get_token(http, url)
        programs = (await call(http, "GET", f"{url}/programs", token)).body
        assert programs == [
            {
                "id": "0",
                "createdDateTime": program["createdDateTime"],
                "modificationDateTime": program["createdDateTime"],
                "objectType": "PROGRAM",
                "programName": "capacity",
                "programLongName": "Capacity",
            }
        ]
        assert NAIVE_STAMP.match(program["createdDateTime"])
        assert event["id"] == "0"  # ids are counted per object type
        got = (await call(http, "GET", f"{url}/events/0", token)).body
        assert got == {
            "id": "0",
            "createdDateTime": event["createdDateTime"],
            "modificationDateTime": event["createdDateTime"],
            "objectType": "EVENT",
            "programID": "0",
            "eventName": "first",
            "targets": ["home-1"],
        }
        before = got["modificationDateTime"]
        vtn.update_event("0", eventName="second")
        vtn.update_event("0", eventName="third")
        after = (await call(http, "GET", f"{url}/events/0", token)).body
        # Moves forward on every update, even within one second.
        assert before < after["modificationDateTime"]
        assert after["createdDateTime"] == event["createdDateTime"]
        assert after["eventName"] == "third"
        vtn.delete_event("0")
        assert (await call(http, "GET", f"{url}/events/0", token)).status == 404


async def test_object_metadata_without_quirks() -> None:
    vtn = FakeVtn(naive_timestamps=False, short_ids=False)
    program = vtn.add_program("capacity")
    assert re.fullmatch(r"program-[0-9a-f]{12}", program["id"])
    assert RFC3339_MS.match(program["createdDateTime"])
    with pytest.raises(ValueError, match="exists"):
        vtn.add_program("capacity")
    with pytest.raises(KeyError):
        vtn.add_event("nope")
    with pytest.raises(ValueError, match=r"3\.1\.0 shape"):
        vtn.add_event(program["id"], targets=[{"type": "VEN_NAME", "values": ["home-1"]}])
    # strict=False stores anything, for malformed-event tests.
    odd = vtn.add_event("nope", strict=False, targets="home-1", intervals=None)
    assert odd["targets"] == "home-1"


def test_clock_shift_moves_server_timestamps() -> None:
    vtn = FakeVtn()
    vtn.clock_shift_s = 7200
    program = vtn.add_program("capacity")
    created = datetime.fromisoformat(program["createdDateTime"]).replace(tzinfo=UTC)
    assert abs((created - datetime.now(UTC)) - timedelta(hours=2)) < timedelta(seconds=5)


async def test_paging(http: aiohttp.ClientSession) -> None:
    vtn = FakeVtn(max_page=2)
    program = vtn.add_program("capacity")
    other = vtn.add_program("other")
    for index in range(5):
        vtn.add_event(program["id"], eventName=f"e{index}")
    vtn.add_event(other["id"], eventName="elsewhere")
    async with vtn.serve() as url:
        token = await get_token(http, url)

        async def ids(query: str) -> list[str]:
            answer = await call(http, "GET", f"{url}/events?{query}", token)
            assert answer.status == 200, answer.body
            return [e["id"] for e in answer.body]

        assert await ids("programID=0") == ["0", "1"]
        assert await ids("programID=0&skip=2") == ["2", "3"]
        assert await ids("programID=0&skip=4&limit=50") == ["4"]
        assert await ids("programID=0&skip=1&limit=1") == ["1"]
        assert await ids("programID=0&limit=0") == []
        assert await ids("programID=1") == ["5"]
        assert await ids("programID=9") == []
        assert await ids("skip=4") == ["4", "5"]
        for query in ("limit=51", "limit=-1", "skip=-1", "skip=x"):
            answer = await call(http, "GET", f"{url}/events?{query}", token)
            assert (answer.status, answer.body["title"]) == (400, "Bad Request"), query
        assert vtn.requests[-1] == ("GET", "/events", {"skip": "x"})
        programs = await call(http, "GET", f"{url}/programs?limit=1&skip=1", token)
        assert [p["programName"] for p in programs.body] == ["other"]


async def test_active_query(http: aiohttp.ClientSession) -> None:
    past: dict[str, Any] = {
        "intervalPeriod": {"start": "2020-01-01T00:00:00Z", "duration": "PT1H"},
        "intervals": [],
    }
    forever: dict[str, Any] = {
        "intervalPeriod": {"start": "2020-01-01T00:00:00Z", "duration": "P9999Y"},
        "intervals": [],
    }
    for ignore, expected in ((True, ["0", "1"]), (False, ["1"])):
        vtn = FakeVtn(ignore_active=ignore)
        program = vtn.add_program("capacity")
        vtn.add_event(program["id"], **past)
        vtn.add_event(program["id"], **forever)
        async with vtn.serve() as url:
            token = await get_token(http, url)
            active = await call(http, "GET", f"{url}/events?active=true", token)
            assert [e["id"] for e in active.body] == expected
            everything = await call(http, "GET", f"{url}/events?active=false", token)
            assert [e["id"] for e in everything.body] == ["0", "1"]
            bad = await call(http, "GET", f"{url}/events?active=maybe", token)
            assert bad.status == 400


async def _event_ids(http: aiohttp.ClientSession, url: str, token: str, query: str = "") -> list[str]:
    answer = await call(http, "GET", f"{url}/events?{query}", token)
    assert answer.status == 200, answer.body
    return [e["id"] for e in answer.body]


async def test_targets_310(http: aiohttp.ClientSession) -> None:
    def make(**options: Any) -> FakeVtn:
        vtn = FakeVtn(**options)
        program = vtn.add_program("capacity")
        vtn.add_event(program["id"], eventName="everyone")
        vtn.add_event(program["id"], targets=["home-1"])
        vtn.add_event(program["id"], targets=["other"])
        vtn.add_event(program["id"], targets=["group-a", "home-1"])
        return vtn

    vtn = make()
    async with vtn.serve() as url:
        token = await get_token(http, url)
        assert await _event_ids(http, url, token) == ["0", "1", "2", "3"]
        assert await _event_ids(http, url, token, "targets=home-1") == ["1", "3"]
        assert await _event_ids(http, url, token, "targets=home-1&targets=other") == ["1", "2", "3"]
        assert (
            await _event_ids(http, url, token, "targets=home-1,other") == []
        )  # one target named "home-1,other"
        # 3.0.1 parameters mean nothing to a 3.1.0 VTN.
        assert await _event_ids(http, url, token, "targetType=VEN_NAME&targetValues=home-1") == [
            "0",
            "1",
            "2",
            "3",
        ]
        assert vtn.requests[-3] == ("GET", "/events", {"targets": ["home-1", "other"]})

    vtn = make(targets_query_keeps_untargeted=True)
    async with vtn.serve() as url:
        token = await get_token(http, url)
        assert await _event_ids(http, url, token, "targets=home-1") == ["0", "1", "3"]

    vtn = make(enforce_ven_targets=True)  # granted targets: ["home-1"]
    async with vtn.serve() as url:
        token = await get_token(http, url)
        assert await _event_ids(http, url, token) == ["0", "1", "3"]
        assert await _event_ids(http, url, token, "targets=other") == []
        assert await _event_ids(http, url, token, "targets=group-a") == []
        assert (await call(http, "GET", f"{url}/events/2", token)).status == 404
        vtn.ven_targets = ["home-1", "group-a"]
        assert await _event_ids(http, url, token, "targets=group-a") == ["3"]


async def test_targets_301(http: aiohttp.ClientSession) -> None:
    vtn = FakeVtn("3.0.1")
    program = vtn.add_program("capacity", targets=vtn.targets_for("home-1"))
    vtn.add_event(program["id"], eventName="everyone")
    vtn.add_event(program["id"], targets=vtn.targets_for("home-1"))
    vtn.add_event(program["id"], targets=[{"type": "GROUP", "values": ["home-1", "b"]}])
    vtn.add_event(program["id"], targets=vtn.targets_for("other"))
    with pytest.raises(ValueError, match=r"3\.0\.1 shape"):
        vtn.add_event(program["id"], targets=["home-1"])
    async with vtn.serve() as url:
        token = await get_token(http, url)
        got = await call(http, "GET", f"{url}/events/1", token)
        assert got.body["targets"] == [{"type": "VEN_NAME", "values": ["home-1"]}]
        assert await _event_ids(http, url, token) == ["0", "1", "2", "3"]
        assert await _event_ids(http, url, token, "targetType=VEN_NAME&targetValues=home-1") == ["1"]
        assert await _event_ids(http, url, token, "targetType=GROUP&targetValues=home-1") == ["2"]
        assert await _event_ids(http, url, token, "targetValues=home-1") == ["1", "2"]
        assert await _event_ids(
            http, url, token, "targetType=VEN_NAME&targetValues=home-1&targetValues=other"
        ) == [
            "1",
            "3",
        ]
        assert await _event_ids(http, url, token, "targetType=GROUP") == ["2"]
        # The 3.1.0 parameter means nothing to a 3.0.1 VTN.
        assert await _event_ids(http, url, token, "targets=home-1") == ["0", "1", "2", "3"]
        programs = await call(http, "GET", f"{url}/programs?targetType=VEN_NAME&targetValues=nobody", token)
        assert programs.body == []


# --- reports -------------------------------------------------------------------------------------


async def test_report_validation_310(http: aiohttp.ClientSession) -> None:
    vtn = FakeVtn()
    program = vtn.add_program("capacity")
    event = vtn.add_event(program["id"], eventName="subscription")
    seen: list[dict[str, Any]] = []
    vtn.on_report = seen.append
    good = request_report(event["id"], T0, HOUR, 2.0, 0.0)

    def without(path: tuple[Any, ...]) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(json.dumps(good))
        target = body
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
        return body

    cases = [
        (without(("eventID",)), "eventID is required (an object ID)"),
        (without(("clientName",)), "clientName is required (1..128 characters)"),
        (without(("resources",)), "resources is required (an array)"),
        (
            without(("resources", 0, "resourceName")),
            "resources[0]: resourceName is required (1..128 characters)",
        ),
        (without(("resources", 0, "intervals")), "resources[0]: intervals is required (an array)"),
        (
            without(("resources", 0, "intervals", 0, "id")),
            "resources[0]: intervals[0]: id is required (an integer)",
        ),
        (
            without(("payloadDescriptors", 0, "objectType")),
            "payloadDescriptors[0]: objectType must be REPORT_PAYLOAD_DESCRIPTOR",
        ),
        ({**good, "eventID": "a/b"}, "eventID is required (an object ID)"),
        ([good], "a report must be a JSON object"),
    ]
    naive = json.loads(json.dumps(good))
    naive["resources"][0]["intervalPeriod"]["start"] = "2035-06-01 10:00:00"
    cases.append((naive, "resources[0]: intervalPeriod: not an RFC 3339 date-time: '2035-06-01 10:00:00'"))
    bad_duration = json.loads(json.dumps(good))
    bad_duration["resources"][0]["intervalPeriod"]["duration"] = "1 hour"
    cases.append((bad_duration, "resources[0]: intervalPeriod: not a duration: '1 hour'"))
    async with vtn.serve() as url:
        token = await get_token(http, url)
        for body, detail in cases:
            answer = await call(http, "POST", f"{url}/reports", token, json=body)
            assert answer.status == 400, detail
            assert answer.body == problem(400, "Bad Request", detail, f"{url}/reports")
        not_json = await call(
            http, "POST", f"{url}/reports", token, data=b"{", headers={"Content-Type": "application/json"}
        )
        assert (not_json.status, not_json.body["detail"]) == (400, "the body is not JSON")
        unknown = await call(http, "POST", f"{url}/reports", token, json={**good, "eventID": "99"})
        assert (unknown.status, unknown.body["detail"]) == (409, "no event 99")
        assert vtn.reports == []
        assert seen == []

        created = await call(
            http, "POST", f"{url}/reports", token, json={**good, "id": "mine", "clientID": "x"}
        )
        assert created.status == 201
        assert created.body == {
            "id": "0",
            "createdDateTime": created.body["createdDateTime"],
            "modificationDateTime": created.body["createdDateTime"],
            "objectType": "REPORT",
            "clientID": "ha-ven",
            **good,
        }
        assert NAIVE_STAMP.match(created.body["createdDateTime"])
        assert vtn.reports == [created.body]
        assert seen == [created.body]
        # "now" and a 3.1.0 report without descriptors are fine.
        now_start = json.loads(json.dumps(good))
        now_start["resources"][0]["intervalPeriod"]["start"] = "0001-01-01"
        del now_start["payloadDescriptors"]
        assert (await call(http, "POST", f"{url}/reports", token, json=now_start)).status == 201


async def test_report_validation_301(http: aiohttp.ClientSession) -> None:
    vtn = FakeVtn("3.0.1")
    program = vtn.add_program("capacity")
    event = vtn.add_event(program["id"], eventName="subscription")
    good = request_report(event["id"], T0, HOUR, 2.0, 0.0, program_id=program["id"])
    async with vtn.serve() as url:
        token = await get_token(http, url)
        no_program = {k: v for k, v in good.items() if k != "programID"}
        answer = await call(http, "POST", f"{url}/reports", token, json=no_program)
        assert (answer.status, answer.body["detail"]) == (400, "programID is required (an object ID)")
        unknown = await call(http, "POST", f"{url}/reports", token, json={**good, "programID": "7"})
        assert (unknown.status, unknown.body["detail"]) == (409, "no program 7")
        no_start = json.loads(json.dumps(good))
        del no_start["resources"][0]["intervalPeriod"]["start"]
        answer = await call(http, "POST", f"{url}/reports", token, json=no_start)
        assert (answer.status, answer.body["detail"]) == (
            400,
            "resources[0]: intervalPeriod: start is required",
        )
        # 3.0.1 descriptors need no objectType.
        loose = json.loads(json.dumps(good))
        del loose["payloadDescriptors"][0]["objectType"]
        created = await call(http, "POST", f"{url}/reports", token, json=loose)
        assert created.status == 201
        # 3.0.1 reports carry programID and no clientID.
        assert created.body == {
            "id": "0",
            "createdDateTime": created.body["createdDateTime"],
            "modificationDateTime": created.body["createdDateTime"],
            "objectType": "REPORT",
            **loose,
        }


async def test_report_search_update_delete(http: aiohttp.ClientSession) -> None:
    vtn = FakeVtn()
    program = vtn.add_program("capacity")
    first = vtn.add_event(program["id"], eventName="a")
    second = vtn.add_event(program["id"], eventName="b")
    deleted: list[dict[str, Any]] = []
    vtn.on_report_deleted = deleted.append
    async with vtn.serve() as url:
        token = await get_token(http, url)
        one = (
            await call(
                http, "POST", f"{url}/reports", token, json=request_report(first["id"], T0, HOUR, 1, 0)
            )
        ).body
        two = (
            await call(
                http, "POST", f"{url}/reports", token, json=request_report(second["id"], T0, HOUR, 2, 0)
            )
        ).body
        assert [r["id"] for r in (await call(http, "GET", f"{url}/reports", token)).body] == ["0", "1"]
        by_event = await call(http, "GET", f"{url}/reports?eventID={second['id']}", token)
        assert by_event.body == [two]
        by_program = await call(http, "GET", f"{url}/reports?programID=0&clientName=home-1&limit=1", token)
        assert by_program.body == [one]
        assert (await call(http, "GET", f"{url}/reports?clientName=else", token)).body == []
        assert (await call(http, "GET", f"{url}/reports/1", token)).body == two

        changed = request_report(second["id"], T0, HOUR, 3, 0.5)
        put = await call(http, "PUT", f"{url}/reports/1", token, json=changed)
        assert put.status == 200
        assert put.body == {
            "id": "1",
            "createdDateTime": two["createdDateTime"],
            "modificationDateTime": put.body["modificationDateTime"],
            "objectType": "REPORT",
            "clientID": "ha-ven",
            **changed,
        }
        assert put.body["modificationDateTime"] > two["modificationDateTime"]
        assert (await call(http, "PUT", f"{url}/reports/9", token, json=changed)).status == 404

        vtn.supports_delete_reports = False
        refused = await call(http, "DELETE", f"{url}/reports/0", token)
        assert refused.status == 405
        assert refused.body == problem(
            405, "Method Not Allowed", "reports cannot be deleted on this VTN", f"{url}/reports/0"
        )
        assert refused.headers["Allow"] == "GET, PUT"
        vtn.delete_unsupported_status = 404
        assert (await call(http, "DELETE", f"{url}/reports/0", token)).status == 404
        assert len(vtn.reports) == 2

        vtn.supports_delete_reports = True
        gone = await call(http, "DELETE", f"{url}/reports/0", token)
        assert (gone.status, gone.body) == (200, one)
        assert deleted == [one]
        assert vtn.deleted_reports == [one]
        assert (await call(http, "GET", f"{url}/reports/0", token)).status == 404
        assert (await call(http, "DELETE", f"{url}/reports/0", token)).status == 404
        assert [r["id"] for r in vtn.reports] == ["1"]


async def test_reports_are_private_to_their_client(http: aiohttp.ClientSession) -> None:
    vtn = FakeVtn()
    program = vtn.add_program("capacity")
    event = vtn.add_event(program["id"])
    async with vtn.serve() as url:
        token = await get_token(http, url)
        assert (
            await call(
                http, "POST", f"{url}/reports", token, json=request_report(event["id"], T0, HOUR, 1, 0)
            )
        ).status == 201
        vtn.client_id, vtn.client_secret = "another-ven", OTHER_SECRET
        other = await get_token(http, url, client_id="another-ven", client_secret=OTHER_SECRET)
        assert (await call(http, "GET", f"{url}/reports", other)).body == []
        assert (await call(http, "GET", f"{url}/reports/0", other)).status == 404


# --- the utility ---------------------------------------------------------------------------------


AVAILABILITY = [(T0, HOUR, 5.0, 0.5), (T0 + HOUR, HOUR, 5.0, 0.5)]


def utility_vtn(version: str = "3.1.0", **options: Any) -> tuple[FakeVtn, CapacityUtility]:
    vtn = FakeVtn(version, **options)
    program = vtn.add_program("capacity")
    utility = CapacityUtility(
        vtn, program_id=program["id"], ven_name="home-1", subscription_kw=6.0, availability=AVAILABILITY
    )
    utility.install()
    return vtn, utility


def by_name(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["eventName"]: e for e in events}


def available(kw_a: float, kw_b: float) -> list[dict[str, Any]]:
    return [
        {
            "id": index,
            "payloads": [
                {"type": "IMPORT_CAPACITY_AVAILABLE", "values": [kw]},
                {"type": "IMPORT_CAPACITY_AVAILABLE_PRICE", "values": [0.5]},
            ],
        }
        for index, kw in enumerate((kw_a, kw_b))
    ]


async def test_utility_installs_spec_shaped_events(http: aiohttp.ClientSession) -> None:
    vtn, utility = utility_vtn()
    async with vtn.serve() as url:
        token = await get_token(http, url)
        events = by_name((await call(http, "GET", f"{url}/events?programID=0&targets=home-1", token)).body)
        assert set(events) == {"capacity_subscription", "capacity_available"}
        subscription = events["capacity_subscription"]
        assert {
            k: v for k, v in subscription.items() if k not in ("createdDateTime", "modificationDateTime")
        } == {
            "id": "0",
            "objectType": "EVENT",
            "programID": "0",
            "eventName": "capacity_subscription",
            "targets": ["home-1"],
            "intervalPeriod": {"start": "2025-01-01T00:00:00Z", "duration": "P9999Y"},
            "payloadDescriptors": [
                {
                    "objectType": "EVENT_PAYLOAD_DESCRIPTOR",
                    "payloadType": "IMPORT_CAPACITY_SUBSCRIPTION",
                    "units": "KW",
                }
            ],
            "reportDescriptors": [
                {
                    "payloadType": "IMPORT_RESERVATION_CAPACITY",
                    "units": "KW",
                    "reportIntervals": "OPEN_INTERVALS",
                },
                {"payloadType": "IMPORT_RESERVATION_FEE"},
            ],
            "intervals": [{"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_SUBSCRIPTION", "values": [6.0]}]}],
        }
        availability = events["capacity_available"]
        assert availability["intervalPeriod"] == {"start": "2035-06-01T10:00:00Z", "duration": "PT1H"}
        assert availability["payloadDescriptors"] == [
            {
                "objectType": "EVENT_PAYLOAD_DESCRIPTOR",
                "payloadType": "IMPORT_CAPACITY_AVAILABLE",
                "units": "KW",
            },
            {
                "objectType": "EVENT_PAYLOAD_DESCRIPTOR",
                "payloadType": "IMPORT_CAPACITY_AVAILABLE_PRICE",
                "units": "KW",
                "currency": "USD",
            },
        ]
        assert availability["intervals"] == available(5.0, 5.0)

        before = subscription["modificationDateTime"]
        utility.set_subscription(8.0)
        after = (await call(http, "GET", f"{url}/events/0", token)).body
        assert after["intervals"][0]["payloads"] == [
            {"type": "IMPORT_CAPACITY_SUBSCRIPTION", "values": [8.0]}
        ]
        assert after["modificationDateTime"] > before


async def test_utility_grants(http: aiohttp.ClientSession) -> None:
    vtn, utility = utility_vtn()
    async with vtn.serve() as url:
        token = await get_token(http, url)
        old = by_name((await call(http, "GET", f"{url}/events", token)).body)["capacity_available"]
        # Offering more than the price: charged the price only.
        report = request_report("0", T0, HOUR, 3.0, 0.8)
        assert (await call(http, "POST", f"{url}/reports", token, json=report)).status == 201
        events = by_name((await call(http, "GET", f"{url}/events", token)).body)
        reservation = events["capacity_reservation"]
        assert {
            k: v for k, v in reservation.items() if k not in ("createdDateTime", "modificationDateTime")
        } == {
            "id": "2",
            "objectType": "EVENT",
            "programID": "0",
            "eventName": "capacity_reservation",
            "targets": ["home-1"],
            "payloadDescriptors": [
                {
                    "objectType": "EVENT_PAYLOAD_DESCRIPTOR",
                    "payloadType": "IMPORT_CAPACITY_RESERVATION",
                    "units": "KW",
                },
                {
                    "objectType": "EVENT_PAYLOAD_DESCRIPTOR",
                    "payloadType": "IMPORT_CAPACITY_RESERVATION_FEE",
                    "units": "KW",
                    "currency": "USD",
                },
            ],
            "intervals": [
                {
                    "id": 0,
                    "intervalPeriod": {"start": "2035-06-01T10:00:00Z", "duration": "PT1H"},
                    "payloads": [
                        {"type": "IMPORT_CAPACITY_RESERVATION", "values": [3.0]},
                        {"type": "IMPORT_CAPACITY_RESERVATION_FEE", "values": [0.5]},
                    ],
                }
            ],
        }
        assert events["capacity_available"]["intervals"] == available(2.0, 5.0)
        assert events["capacity_available"]["modificationDateTime"] > old["modificationDateTime"]
        assert [(d.outcome, d.fee_charged) for d in utility.decisions] == [(GRANTED, 0.5)]

        # A second grant straddling both windows: every current reservation is listed,
        # and the availability windows, now of different lengths, each carry their own period.
        second = request_report(
            "0", T0 + timedelta(minutes=30), timedelta(minutes=75), 2.0, 0.5, own_period=True
        )
        assert (await call(http, "POST", f"{url}/reports", token, json=second)).status == 201
        events = by_name((await call(http, "GET", f"{url}/events", token)).body)
        periods = [
            (i["intervalPeriod"]["start"], i["intervalPeriod"]["duration"], i["payloads"][0]["values"][0])
            for i in events["capacity_reservation"]["intervals"]
        ]
        assert periods == [("2035-06-01T10:00:00Z", "PT1H", 3.0), ("2035-06-01T10:30:00Z", "PT1H15M", 2.0)]
        availability = events["capacity_available"]
        assert availability["intervalPeriod"] == {"start": "2035-06-01T10:00:00Z", "duration": "PT2H"}
        assert [
            (
                i["id"],
                i["intervalPeriod"]["start"],
                i["intervalPeriod"]["duration"],
                i["payloads"][0]["values"][0],
            )
            for i in availability["intervals"]
        ] == [
            (0, "2035-06-01T10:00:00Z", "PT30M", 2.0),
            (1, "2035-06-01T10:30:00Z", "PT30M", 0.0),
            (2, "2035-06-01T11:00:00Z", "PT45M", 3.0),
            (3, "2035-06-01T11:45:00Z", "PT15M", 5.0),
        ]

        # Deleting the first report gives its 3 kW back.
        assert (await call(http, "DELETE", f"{url}/reports/0", token)).status == 200
        events = by_name((await call(http, "GET", f"{url}/events", token)).body)
        assert [i["payloads"][0]["values"] for i in events["capacity_reservation"]["intervals"]] == [[2.0]]
        assert [
            (i["intervalPeriod"]["start"], i["payloads"][0]["values"][0])
            for i in events["capacity_available"]["intervals"]
        ] == [
            ("2035-06-01T10:00:00Z", 5.0),
            ("2035-06-01T10:30:00Z", 3.0),
            ("2035-06-01T11:00:00Z", 3.0),
            ("2035-06-01T11:45:00Z", 5.0),
        ]
        # And the second: everything is back as it was, the reservation event lists nothing.
        assert (await call(http, "DELETE", f"{url}/reports/1", token)).status == 200
        events = by_name((await call(http, "GET", f"{url}/events", token)).body)
        assert events["capacity_reservation"]["intervals"] == []
        assert events["capacity_available"]["intervals"] == available(5.0, 5.0)
        assert events["capacity_available"]["intervalPeriod"] == {
            "start": "2035-06-01T10:00:00Z",
            "duration": "PT1H",
        }
        assert utility.reservations == []


async def test_utility_denies_fee_too_low(http: aiohttp.ClientSession) -> None:
    vtn, utility = utility_vtn()
    async with vtn.serve() as url:
        token = await get_token(http, url)
        old = by_name((await call(http, "GET", f"{url}/events", token)).body)["capacity_available"]
        report = request_report("0", T0, HOUR, 3.0, 0.2)
        created = await call(http, "POST", f"{url}/reports", token, json=report)
        events = by_name((await call(http, "GET", f"{url}/events", token)).body)
        assert "capacity_reservation" not in events
        assert events["capacity_available"]["intervals"] == old["intervals"]
        assert events["capacity_available"]["modificationDateTime"] > old["modificationDateTime"]
        assert [d.outcome for d in utility.decisions] == [DENIED_FEE]

        # Asking again with the price (PUT of the same report) is granted.
        retry = request_report("0", T0, HOUR, 3.0, 0.5)
        assert (
            await call(http, "PUT", f"{url}/reports/{created.body['id']}", token, json=retry)
        ).status == 200
        events = by_name((await call(http, "GET", f"{url}/events", token)).body)
        assert [i["payloads"] for i in events["capacity_reservation"]["intervals"]] == [
            [
                {"type": "IMPORT_CAPACITY_RESERVATION", "values": [3.0]},
                {"type": "IMPORT_CAPACITY_RESERVATION_FEE", "values": [0.5]},
            ]
        ]
        # Putting it again replaces the grant rather than adding one.
        assert (
            await call(http, "PUT", f"{url}/reports/{created.body['id']}", token, json=retry)
        ).status == 200
        assert len(utility.reservations) == 1
        assert utility.windows[0].kw == 2.0
        assert [d.outcome for d in utility.decisions] == [DENIED_FEE, GRANTED, GRANTED]


async def test_utility_denies_without_capacity(http: aiohttp.ClientSession) -> None:
    vtn, utility = utility_vtn()
    async with vtn.serve() as url:
        token = await get_token(http, url)
        too_much = request_report("0", T0, HOUR, 6.0, 10.0)
        assert (await call(http, "POST", f"{url}/reports", token, json=too_much)).status == 201
        nothing_on_offer = request_report("0", T0 + 3 * HOUR, HOUR, 1.0, 10.0)
        assert (await call(http, "POST", f"{url}/reports", token, json=nothing_on_offer)).status == 201
        partly_on_offer = request_report("0", T0 + HOUR, 2 * HOUR, 1.0, 10.0)
        assert (await call(http, "POST", f"{url}/reports", token, json=partly_on_offer)).status == 201
        events = by_name((await call(http, "GET", f"{url}/events", token)).body)
        assert "capacity_reservation" not in events
        assert events["capacity_available"]["intervals"] == available(5.0, 5.0)
        assert [d.outcome for d in utility.decisions] == [DENIED_CAPACITY] * 3


async def test_utility_grid_legacy_names_and_mixed_requests(http: aiohttp.ClientSession) -> None:
    vtn, utility = utility_vtn()
    async with vtn.serve() as url:
        token = await get_token(http, url)
        for start, duration in ((T0 + timedelta(minutes=5), HOUR), (T0, timedelta(minutes=20))):
            off_grid = request_report("0", start, duration, 1.0, 1.0)
            assert (await call(http, "POST", f"{url}/reports", token, json=off_grid)).status == 201
        assert [d.outcome for d in utility.decisions] == [REJECTED_GRID, REJECTED_GRID]

        # The User Guide's example name, and two requests in one report (back to back
        # from the resource's period): the first fits, the second asks too much.
        legacy = request_report(
            "0", T0, timedelta(minutes=30), 1.0, 0.5, capacity_name="IMPORT_CAPACITY_RESERVATION"
        )
        legacy["resources"][0]["intervals"].append(
            {"id": 1, "payloads": [{"type": "IMPORT_CAPACITY_RESERVATION", "values": [9.0]}]}
        )
        assert (await call(http, "POST", f"{url}/reports", token, json=legacy)).status == 201
        outcomes = [(d.outcome, d.start, d.end, d.kw) for d in utility.decisions[2:]]
        assert outcomes == [
            (GRANTED, T0, T0 + timedelta(minutes=30), 1.0),
            (DENIED_CAPACITY, T0 + timedelta(minutes=30), T0 + HOUR, 9.0),
        ]
        # Reports against events that are not the utility's are left alone.
        other = vtn.add_event("0", eventName="unrelated")
        assert (
            await call(
                http, "POST", f"{url}/reports", token, json=request_report(other["id"], T0, HOUR, 1, 1)
            )
        ).status == 201
        assert len(utility.decisions) == 4


async def test_utility_past_requests_and_expired_reservations(http: aiohttp.ClientSession) -> None:
    vtn, utility = utility_vtn()
    clock = [T0 - HOUR]
    utility.now = lambda: clock[0]
    async with vtn.serve() as url:
        token = await get_token(http, url)
        assert (
            await call(http, "POST", f"{url}/reports", token, json=request_report("0", T0, HOUR, 1.0, 0.5))
        ).status == 201
        clock[0] = T0 + HOUR
        late = request_report("0", T0, HOUR, 1.0, 0.5)
        assert (await call(http, "POST", f"{url}/reports", token, json=late)).status == 201
        assert [d.outcome for d in utility.decisions] == [GRANTED, REJECTED_PAST]
        # The next grant republishes the reservations without the one that has ended.
        assert (
            await call(
                http, "POST", f"{url}/reports", token, json=request_report("0", T0 + HOUR, HOUR, 2.0, 0.5)
            )
        ).status == 201
        events = by_name((await call(http, "GET", f"{url}/events", token)).body)
        assert [i["payloads"][0]["values"] for i in events["capacity_reservation"]["intervals"]] == [[2.0]]
        assert [r.report_id for r in utility.reservations] == ["2"]


async def test_utility_pending_until_released(http: aiohttp.ClientSession) -> None:
    vtn, utility = utility_vtn()
    vtn.hold_reports = True
    async with vtn.serve() as url:
        token = await get_token(http, url)
        old = by_name((await call(http, "GET", f"{url}/events", token)).body)
        assert (
            await call(http, "POST", f"{url}/reports", token, json=request_report("0", T0, HOUR, 1.0, 0.5))
        ).status == 201
        assert by_name((await call(http, "GET", f"{url}/events", token)).body) == old
        assert await vtn.release_reports() == 1
        assert "capacity_reservation" in by_name((await call(http, "GET", f"{url}/events", token)).body)
        assert [d.outcome for d in utility.decisions] == [GRANTED]


async def test_utility_301(http: aiohttp.ClientSession) -> None:
    vtn, utility = utility_vtn("3.0.1")
    async with vtn.serve() as url:
        token = await get_token(http, url)
        report = request_report("0", T0, HOUR, 1.0, 0.5, program_id="0")
        assert (await call(http, "POST", f"{url}/reports", token, json=report)).status == 201
        events = await call(http, "GET", f"{url}/events?targetType=VEN_NAME&targetValues=home-1", token)
        named = by_name(events.body)
        assert set(named) == {"capacity_subscription", "capacity_available", "capacity_reservation"}
        assert named["capacity_reservation"]["targets"] == [{"type": "VEN_NAME", "values": ["home-1"]}]
        assert [d.outcome for d in utility.decisions] == [GRANTED]


async def test_utility_doe_and_emergency(http: aiohttp.ClientSession) -> None:
    vtn, utility = utility_vtn()
    doe = utility.doe(T0, timedelta(minutes=30), [10.0, 8.0], [4.0, 6.0])
    emergency = utility.emergency(T0 + HOUR, timedelta(minutes=45), 2.5)
    import_only = utility.doe(T0, HOUR, [7.0], event_name="doe-import")
    with pytest.raises(ValueError, match="same length"):
        utility.doe(T0, HOUR, [1.0, 2.0], [1.0])
    async with vtn.serve() as url:
        token = await get_token(http, url)
        got = (await call(http, "GET", f"{url}/events/{doe['id']}", token)).body
        assert {
            k: v for k, v in got.items() if k not in ("id", "createdDateTime", "modificationDateTime")
        } == {
            "objectType": "EVENT",
            "programID": "0",
            "eventName": "doe",
            "targets": ["home-1"],
            "intervalPeriod": {"start": "2035-06-01T10:00:00Z", "duration": "PT30M"},
            "payloadDescriptors": [
                {
                    "objectType": "EVENT_PAYLOAD_DESCRIPTOR",
                    "payloadType": "IMPORT_CAPACITY_LIMIT",
                    "units": "KW",
                },
                {
                    "objectType": "EVENT_PAYLOAD_DESCRIPTOR",
                    "payloadType": "EXPORT_CAPACITY_LIMIT",
                    "units": "KW",
                },
            ],
            "intervals": [
                {
                    "id": 0,
                    "payloads": [
                        {"type": "IMPORT_CAPACITY_LIMIT", "values": [10.0]},
                        {"type": "EXPORT_CAPACITY_LIMIT", "values": [4.0]},
                    ],
                },
                {
                    "id": 1,
                    "payloads": [
                        {"type": "IMPORT_CAPACITY_LIMIT", "values": [8.0]},
                        {"type": "EXPORT_CAPACITY_LIMIT", "values": [6.0]},
                    ],
                },
            ],
        }
        got = (await call(http, "GET", f"{url}/events/{emergency['id']}", token)).body
        assert {
            k: v for k, v in got.items() if k not in ("id", "createdDateTime", "modificationDateTime")
        } == {
            "objectType": "EVENT",
            "programID": "0",
            "eventName": "emergency",
            "priority": 0,
            "targets": ["home-1"],
            "intervalPeriod": {"start": "2035-06-01T11:00:00Z", "duration": "PT45M"},
            "payloadDescriptors": [
                {
                    "objectType": "EVENT_PAYLOAD_DESCRIPTOR",
                    "payloadType": "IMPORT_CAPACITY_LIMIT",
                    "units": "KW",
                },
                {"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "ALERT_GRID_EMERGENCY"},
            ],
            "intervals": [
                {
                    "id": 0,
                    "payloads": [
                        {"type": "IMPORT_CAPACITY_LIMIT", "values": [2.5]},
                        {"type": "ALERT_GRID_EMERGENCY", "values": ["grid emergency"]},
                    ],
                }
            ],
        }
        got = (await call(http, "GET", f"{url}/events/{import_only['id']}", token)).body
        assert got["intervalPeriod"] == {"start": "2035-06-01T10:00:00Z", "duration": "PT1H"}
        assert got["intervals"] == [
            {"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [7.0]}]}
        ]


def test_durations() -> None:
    assert parse_duration("P9999Y") is None
    assert parse_duration("PT1H30M") == timedelta(minutes=90)
    assert parse_duration("P1W") == timedelta(days=7)
    assert parse_duration("PT0.5S") == timedelta(milliseconds=500)
    for bad in ("PT", "1H", "-PT1H", "P1H", None):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)
    assert [format_duration(timedelta(seconds=s)) for s in (0, 45, 3600, 5400, 90061)] == [
        "PT0S",
        "PT45S",
        "PT1H",
        "PT1H30M",
        "PT25H1M1S",
    ]


# --- faults --------------------------------------------------------------------------------------


async def test_fail_next(http: aiohttp.ClientSession) -> None:
    vtn = FakeVtn()
    async with vtn.serve() as url:
        token = await get_token(http, url)
        vtn.fail_next(500, count=2, path_contains="/events")
        assert (await call(http, "GET", f"{url}/programs", token)).status == 200
        first = await call(http, "GET", f"{url}/events", token)
        assert first.body == problem(500, "Internal Server Error", "injected fault", f"{url}/events")
        assert (await call(http, "GET", f"{url}/events", token)).status == 500
        assert (await call(http, "GET", f"{url}/events", token)).status == 200

        vtn.fail_next(502, body="<html>bad gateway</html>", content_type="text/html")
        gateway = await call(http, "POST", f"{url}/auth/token", data=FORM)
        assert (gateway.status, gateway.content_type) == (502, "text/html")
        vtn.fail_next(429, headers={"Retry-After": "5"})
        limited = await call(http, "GET", f"{url}/events", token)
        assert (limited.status, limited.headers["Retry-After"]) == (429, "5")
        vtn.fail_next(500, body=b"\x00\x01")
        async with http.get(f"{url}/events") as resp:
            assert (resp.status, resp.content_type, await resp.read()) == (
                500,
                "application/octet-stream",
                b"\x00\x01",
            )
        vtn.fail_next(500, count=3)
        vtn.clear_faults()
        assert (await call(http, "GET", f"{url}/events", token)).status == 200


async def test_down(http: aiohttp.ClientSession) -> None:
    vtn = FakeVtn()
    async with vtn.serve() as url:
        token = await get_token(http, url)
        vtn.down = True
        for method, path in (("GET", "/events"), ("POST", "/auth/token"), ("GET", "/auth/server")):
            answer = await call(http, method, f"{url}{path}", token)
            assert answer.status == 503
            assert answer.body == problem(503, "Service Unavailable", "the VTN is down", f"{url}{path}")
            assert answer.headers["Retry-After"] == "30"
        vtn.down = False
        assert (await call(http, "GET", f"{url}/events", token)).status == 200
    # Closed: the connection is refused; served again on the same port, it answers again.
    port = vtn.port
    with pytest.raises(aiohttp.ClientConnectionError):
        await call(http, "GET", f"{url}/events", token)
    async with vtn.serve(port=port) as again:
        assert again == url
        assert (await call(http, "GET", f"{url}/events", token)).status == 200


async def test_delay_makes_clients_time_out(http: aiohttp.ClientSession) -> None:
    vtn = FakeVtn()
    async with vtn.serve() as url:
        token = await get_token(http, url)
        vtn.delay_s = 30.0
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(TimeoutError):
            await call(http, "GET", f"{url}/events", token, timeout=aiohttp.ClientTimeout(total=0.2))
        vtn.delay_s = 0.05
        assert (await call(http, "GET", f"{url}/events", token)).status == 200
        vtn.delay_s = 30.0
        # A request still waiting when the server closes is woken, so closing is quick.
        pending = asyncio.ensure_future(call(http, "GET", f"{url}/events", token))
        await asyncio.sleep(0.1)
    with pytest.raises(aiohttp.ClientError):
        await pending
    assert loop.time() - started < 5


async def test_malformed_and_oversized(http: aiohttp.ClientSession) -> None:
    vtn = FakeVtn()
    async with vtn.serve() as url:
        token = await get_token(http, url)
        vtn.malformed_next(path_contains="/events")
        async with http.get(f"{url}/events", headers={"Authorization": f"Bearer {token}"}) as resp:
            assert (resp.status, resp.content_type) == (200, "application/json")
            with pytest.raises(json.JSONDecodeError):
                json.loads(await resp.text())
        vtn.malformed_next(path_contains="/auth/token")
        async with http.post(f"{url}/auth/token", data=FORM) as resp:
            assert resp.status == 200
            with pytest.raises(ValueError, match="Expecting value"):
                await resp.json()

        vtn.oversized_next(1_000_000, path_contains="/events")
        async with http.get(f"{url}/events", headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 200
            assert "Content-Length" not in resp.headers
            body = await resp.read()
        assert len(body) == 1_000_000
        assert json.loads(body) == []
        vtn.oversized_next(200_000, chunked=False)
        async with http.get(f"{url}/events", headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.headers["Content-Length"] == "200000"
            assert len(await resp.read()) == 200_000
        # A client that gives up early does not upset the server.
        vtn.oversized_next(5_000_000)
        async with http.get(f"{url}/events", headers={"Authorization": f"Bearer {token}"}) as resp:
            assert len(await resp.content.read(1024)) > 0
            resp.close()
        assert (await call(http, "GET", f"{url}/events", token)).status == 200


async def test_drop_next(http: aiohttp.ClientSession) -> None:
    vtn = FakeVtn()
    async with vtn.serve() as url:
        token = await get_token(http, url)
        event = vtn.add_event(vtn.add_program("capacity")["id"])
        report = request_report(event["id"], T0, HOUR, 1, 0)
        vtn.drop_next(path_contains="/reports")
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await call(http, "POST", f"{url}/reports", token, json=report)
        assert vtn.reports == []
        # aiohttp retries an idempotent request once when a reused connection drops,
        # so one dropped GET goes unnoticed by the client; two do not.
        vtn.drop_next(path_contains="/events")
        assert (await call(http, "GET", f"{url}/events", token)).status == 200
        vtn.drop_next(count=2, path_contains="/events")
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await call(http, "GET", f"{url}/events", token)
        assert [r[:2] for r in vtn.requests[-5:]] == [("POST", "/reports")] + [("GET", "/events")] * 4
        assert (await call(http, "POST", f"{url}/reports", token, json=report)).status == 201


async def test_hook_failure_is_a_500(http: aiohttp.ClientSession) -> None:
    vtn = FakeVtn()
    program = vtn.add_program("capacity")
    event = vtn.add_event(program["id"])

    async def broken(report: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        raise RuntimeError("no")

    vtn.on_report = broken
    async with vtn.serve() as url:
        token = await get_token(http, url)
        answer = await call(
            http, "POST", f"{url}/reports", token, json=request_report(event["id"], T0, HOUR, 1, 0)
        )
        assert (answer.status, answer.body["detail"]) == (500, "business logic failed: RuntimeError('no')")
        assert [type(e) for e in vtn.hook_errors] == [RuntimeError]


async def test_request_log(http: aiohttp.ClientSession) -> None:
    vtn = FakeVtn(base_path="/api")
    async with vtn.serve() as url:
        assert url.endswith("/api")
        token = await get_token(http, url)
        await call(http, "GET", f"{url}/events?programID=0&targets=a&targets=b", token)
        await call(http, "GET", f"http://127.0.0.1:{vtn.port}/elsewhere", token)
    assert vtn.requests == [
        ("POST", "/auth/token", {}),
        ("GET", "/events", {"programID": "0", "targets": ["a", "b"]}),
        ("GET", "/elsewhere", {}),
    ]


# --- ven objects, restarts and what a utility may do differently ------------------------------------


async def test_ven_objects(http: aiohttp.ClientSession) -> None:
    vtn = FakeVtn(ven_registered=False, enforce_ven_targets=True)
    program = vtn.add_program("capacity")
    vtn.add_event(program["id"], eventName="mine", targets=["home-1"])
    async with vtn.serve() as url:
        token = await get_token(http, url)
        assert (await call(http, "GET", f"{url}/vens?venName=home-1", token)).body == []
        bl = {"objectType": "BL_VEN_REQUEST", "venName": "home-1", "clientID": "ha-ven", "targets": ["x"]}
        assert (await call(http, "POST", f"{url}/vens", token, json=bl)).status == 403
        assert (await call(http, "POST", f"{url}/vens", token, json={"venName": "home-1"})).status == 400
        assert (await call(http, "POST", f"{url}/vens", token, data="not json")).status == 400
        assert (
            await call(http, "POST", f"{url}/vens", token, json={"objectType": "VEN_VEN_REQUEST"})
        ).status == 400
        own = {"objectType": "VEN_VEN_REQUEST", "venName": "home-1", "targets": ["sneaky"]}
        created = await call(http, "POST", f"{url}/vens", token, json=own)
        assert created.status == 201
        assert {k: created.body[k] for k in ("id", "objectType", "venName", "clientID", "targets")} == {
            "id": "0",
            "objectType": "VEN",
            "venName": "home-1",
            "clientID": "ha-ven",
            "targets": [],  # only the business logic grants targets
        }
        assert (await call(http, "POST", f"{url}/vens", token, json=own)).status == 409
        assert (await call(http, "GET", f"{url}/vens/0", token)).body["venName"] == "home-1"
        assert await _event_ids(http, url, token) == []  # registered, but granted nothing
        vtn.grant_targets("home-1", ["home-1"])
        assert await _event_ids(http, url, token) == ["0"]
        # Another client sees neither the ven object nor what it was granted.
        vtn.client_id, vtn.client_secret = "other-ven", OTHER_SECRET
        other = await get_token(http, url, client_id="other-ven", client_secret=OTHER_SECRET)
        assert (await call(http, "GET", f"{url}/vens", other)).body == []
        assert (await call(http, "GET", f"{url}/vens/0", other)).status == 404
        assert await _event_ids(http, url, other) == []
        assert vtn.ven_targets == []
        vtn.ven_name = "home-2"
        vtn.ven_targets = ["home-2"]  # the business logic registers it, with a target
        assert [(v["venName"], v["targets"]) for v in vtn.vens.values()] == [
            ("home-1", ["home-1"]),
            ("home-2", ["home-2"]),
        ]
    with pytest.raises(ValueError, match="exists"):
        vtn.add_ven("home-1")


async def test_ven_objects_301(http: aiohttp.ClientSession) -> None:
    vtn = FakeVtn("3.0.1", ven_registered=False)
    async with vtn.serve() as url:
        token = await get_token(http, url)
        targets = [{"type": "GROUP", "values": ["g"]}]
        created = await call(
            http, "POST", f"{url}/vens", token, json={"venName": "home-1", "targets": targets}
        )
        assert created.status == 201
        assert created.body["targets"] == targets  # 3.0.1 let a VEN write its targets
        assert "clientID" not in created.body


async def test_restart_loses_what_was_stored(http: aiohttp.ClientSession) -> None:
    vtn, _utility = utility_vtn()
    async with vtn.serve() as url:
        token = await get_token(http, url)
        assert (await call(http, "GET", f"{url}/vens", token)).body != []
        vtn.restart(keep=["programs"])
        assert (await call(http, "GET", f"{url}/events", token)).status == 403  # tokens are gone too
        token = await get_token(http, url)
        assert (await call(http, "GET", f"{url}/events?programID=0", token)).body == []
        assert [p["programName"] for p in (await call(http, "GET", f"{url}/programs", token)).body] == [
            "capacity"
        ]
        assert (await call(http, "GET", f"{url}/vens", token)).body == []
        assert vtn.add_program("second")["id"] == "1"  # counted on from what was kept
        vtn.add_ven("home-1", ["home-1"])
        vtn.restart(keep=["vens"])
        assert vtn.programs == {}
        assert [v["venName"] for v in vtn.vens.values()] == ["home-1"]
        vtn.restart()
        assert (vtn.programs, vtn.events, vtn.vens, vtn.reports) == ({}, {}, {}, [])


def _fee_utility(**options: Any) -> tuple[FakeVtn, CapacityUtility]:
    vtn = FakeVtn()
    program = vtn.add_program("capacity")
    utility = CapacityUtility(
        vtn,
        program_id=program["id"],
        ven_name="home-1",
        subscription_kw=6.0,
        availability=AVAILABILITY,
        **options,
    )
    utility.install()
    return vtn, utility


@pytest.mark.parametrize(
    ("fee_answer", "payloads"),
    [
        (
            FEE_AT_ZERO_KW,
            [
                {"type": "IMPORT_CAPACITY_RESERVATION", "values": [0.0]},
                {"type": "IMPORT_CAPACITY_RESERVATION_FEE", "values": [0.5]},
            ],
        ),
        (FEE_ONLY, [{"type": "IMPORT_CAPACITY_RESERVATION_FEE", "values": [0.5]}]),
        (
            FEE_ON_THE_KW,
            [
                {"type": "IMPORT_CAPACITY_RESERVATION", "values": [3.0]},
                {"type": "IMPORT_CAPACITY_RESERVATION_FEE", "values": [0.5]},
            ],
        ),
    ],
)
async def test_utility_asks_its_fee_in_the_reservation_event(
    http: aiohttp.ClientSession, fee_answer: str, payloads: list[dict[str, Any]]
) -> None:
    vtn, utility = _fee_utility(fee_answer=fee_answer, announce_availability=False)
    async with vtn.serve() as url:
        token = await get_token(http, url)
        assert set(by_name((await call(http, "GET", f"{url}/events", token)).body)) == {
            "capacity_subscription"
        }
        await call(http, "POST", f"{url}/reports", token, json=request_report("0", T0, HOUR, 3.0, 0.2))
        events = by_name((await call(http, "GET", f"{url}/events", token)).body)
        [quote] = events["capacity_reservation"]["intervals"]
        assert quote["intervalPeriod"] == {"start": stamp(T0), "duration": "PT1H"}
        assert quote["payloads"] == payloads
        assert utility.reservations == []
        # The next report answers again: the quote is gone, the grant listed.
        await call(http, "POST", f"{url}/reports", token, json=request_report("0", T0, HOUR, 3.0, 0.5))
        events = by_name((await call(http, "GET", f"{url}/events", token)).body)
        assert [i["payloads"][0]["values"] for i in events["capacity_reservation"]["intervals"]] == [[3.0]]
        assert [d.outcome for d in utility.decisions] == [DENIED_FEE, GRANTED]
    with pytest.raises(ValueError, match="fee_answer"):
        _fee_utility(fee_answer="by post")


async def test_utility_that_keeps_the_grant_of_a_deleted_report(http: aiohttp.ClientSession) -> None:
    vtn, utility = _fee_utility(withdraw_on_delete=False)
    async with vtn.serve() as url:
        token = await get_token(http, url)
        created = await call(
            http, "POST", f"{url}/reports", token, json=request_report("0", T0, HOUR, 3.0, 0.5)
        )
        before = by_name((await call(http, "GET", f"{url}/events", token)).body)["capacity_reservation"]
        assert (await call(http, "DELETE", f"{url}/reports/{created.body['id']}", token)).status == 200
        after = by_name((await call(http, "GET", f"{url}/events", token)).body)["capacity_reservation"]
        assert after == before  # nothing withdrew the grant
        assert len(utility.reservations) == 1
        assert vtn.reports == []
