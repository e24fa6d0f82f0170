"""A fake OpenADR 3 VTN (server) for tests, shaped after the specification.

Written from the OpenADR 3.1.0 and 3.0.1 OpenAPI files and the notes in
docs/openadr3-capacity.md. It runs as an aiohttp application on 127.0.0.1 and
plays the part a utility's server plays for our client:

* ``GET /auth/server`` (3.1.0) and ``POST /auth/token`` (OAuth2 client
  credentials, form body, RFC 6749 error bodies);
* ``GET /programs``, ``GET /programs/{id}``, ``GET /events``, ``GET /events/{id}``
  with the spec's query parameters (``programID``, ``targets`` in 3.1.0,
  ``targetType``/``targetValues`` in 3.0.1, ``skip``, ``limit``, ``active``);
* ``POST /reports``, ``GET /reports``, ``GET/PUT/DELETE /reports/{id}`` with the
  spec's required fields checked;
* ``GET /vens`` (``venName``), ``GET /vens/{id}`` and ``POST /vens``: a VEN sees
  only its own ven objects (Definition.md, Object Privacy) and may create one
  (3.1.0: a ``VEN_VEN_REQUEST``, which cannot carry targets: only the business
  logic grants them; 409 when its client or the name has one already), as the
  reference VTN does;
* ``GET /notifiers`` (3.1.0: webhooks only, no MQTT).

Programs and events are written by the test through Python methods (the
business logic's side); a VEN token never carries ``write_programs`` or
``write_events``, so the write endpoints answer 403 as a real VTN would.

Errors are ``problem`` JSON (``type``, ``title``, ``status``, ``detail``,
``instance``); the token endpoint answers with RFC 6749 ``authError`` bodies.

Quirks of real servers, each on by default and switchable in the constructor
(see the notes, section 6):

* ``token_lifetime_s=None``: the token response has no ``expires_in`` (and the
  token never expires until :meth:`FakeVtn.revoke_tokens`);
* ``scope_as_list``: ``scope`` comes back as a JSON array, not a space-separated string;
* ``naive_timestamps``: ``createdDateTime``/``modificationDateTime`` look like
  ``"2026-11-26 11:48:38"`` (UTC, no zone, space separated, whole seconds);
* ``ignore_active``: the ``active`` query parameter is accepted and ignored;
* ``short_ids``: ids are ``"0"``, ``"1"``, ... counted per object type, so a
  program, an event and a report may all be ``"0"``;
* ``form_credentials_only``: client credentials are read from the form body
  only; a request that carries them only in a Basic header gets 400.

Always (spec or reference behaviour, not switchable): a request without a
bearer token gets 401, one with an unknown, revoked or expired token 403
(``bad_token_status``), both as problem JSON.

Faults for client tests: :meth:`FakeVtn.fail_next`, :meth:`FakeVtn.malformed_next`,
:meth:`FakeVtn.oversized_next`, :meth:`FakeVtn.drop_next`, :meth:`FakeVtn.restart`
(an in-memory VTN restarted: everything it stored is gone), and the attributes
``down`` (every request gets 503 problem JSON with ``Retry-After: 30``; the
socket still accepts connections; leave ``serve()`` for a refused connection),
``delay_s``, ``reject_credentials``, ``supports_delete_reports`` and ``clock_shift_s``.

:class:`CapacityUtility` plays the utility's business logic for Dynamic
Capacity Management (User Guide section 8.10.2) on top of a FakeVtn.

Nothing here imports Home Assistant. Under Home Assistant's test plugin,
sockets are blocked: a test serving the VTN needs pytest-socket's
``socket_enabled`` fixture (connections stay limited to 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
import inspect
import itertools
import json
import logging
import math
import re
import secrets
import ssl as ssl_module
from typing import Any
from urllib.parse import parse_qsl, unquote

from aiohttp import web
from aiohttp.test_utils import TestServer

_LOGGER = logging.getLogger(__name__)

type Json = dict[str, Any]
type ReportHook = Callable[[Json], Awaitable[None] | None]

V301 = "3.0.1"
V310 = "3.1.0"
VERSIONS = (V301, V310)

# Scopes the VTN gives a VEN token unless the test says otherwise. 3.1.0:
# Definition.md "VENs are assigned a default security scope of 'read_targets'";
# 3.0.1 knew only read_all and the write scopes.
DEFAULT_VEN_SCOPES = {
    V310: ("read_targets", "read_ven_objects", "write_reports", "write_subscriptions", "write_vens"),
    V301: ("read_all", "write_reports", "write_subscriptions", "write_vens"),
}
READ_SCOPES = frozenset({"read_all", "read_targets", "read_ven_objects", "read_bl"})
MAX_LIMIT = 50  # the spec's maximum for the limit query parameter
VEN_NAME_TARGET = "VEN_NAME"  # the valuesMap type used for 3.0.1 targets

# Fields the VTN writes; a client's values for them are ignored.
METADATA_FIELDS = ("id", "createdDateTime", "modificationDateTime", "objectType")
OBJECT_ID = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
# RFC 3339 date-time (format "date-time" in the OpenAPI files), plus the two
# spellings of "now" the spec names for intervalPeriod.start.
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$")
NOW_STARTS = ("0001-01-01", "0001-01-01T00:00:00")
# ISO 8601 duration with the same reach as the spec's pattern.
DURATION = re.compile(
    r"^(?P<neg>-)?P(?=\d|T\d)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<days>\d+)(?P<unit>[DW]))?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
FOREVER_YEARS = 1000  # a duration of this many years or more (P9999Y) is infinity


class _ProblemError(Exception):
    """Raised by a handler; the middleware turns it into problem JSON."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


@dataclass(slots=True)
class _Token:
    client_id: str
    scopes: tuple[str, ...]
    expires_at: datetime | None


@dataclass(slots=True)
class _Fault:
    kind: str  # "status", "malformed", "oversized" or "drop"
    remaining: int
    path_contains: str | None
    status: int = 200
    body: str | bytes | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    nbytes: int = 0
    chunked: bool = True


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the VTN received it (path relative to the base path)."""

    method: str
    path: str
    query: dict[str, str | list[str]]
    headers: dict[str, str]
    body: bytes


# --- small helpers shared by the VTN and the utility ---------------------------------------------


def parse_duration(text: Any) -> timedelta | None:
    """An ISO 8601 duration; None for infinity (P9999Y). Raises ValueError when malformed."""
    match = DURATION.match(text) if isinstance(text, str) else None
    if match is None or match["neg"]:
        raise ValueError(f"not a duration: {text!r}")
    years = int(match["years"] or 0)
    if years >= FOREVER_YEARS:
        return None
    days = int(match["days"] or 0) * (7 if match["unit"] == "W" else 1)
    return timedelta(
        days=years * 365 + int(match["months"] or 0) * 30 + days,
        hours=int(match["hours"] or 0),
        minutes=int(match["minutes"] or 0),
        seconds=float(match["seconds"] or 0),
    )


def parse_start(text: Any, now: datetime) -> datetime:
    """An intervalPeriod.start; "0001-01-01" means now. Raises ValueError when malformed."""
    if not isinstance(text, str):
        raise TypeError(f"not a date-time: {text!r}")
    if text in NOW_STARTS:
        return now
    if not RFC3339.match(text):
        raise ValueError(f"not an RFC 3339 date-time: {text!r}")
    return datetime.fromisoformat(text.upper()).astimezone(UTC)


def format_time(moment: datetime) -> str:
    """RFC 3339, UTC, whole seconds: 2025-06-01T18:00:00Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_duration(duration: timedelta) -> str:
    """ISO 8601 in hours, minutes and seconds: PT1H30M."""
    total = round(duration.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    return text + (f"{seconds}S" if seconds or text == "PT" else "")


def _query_dict(request: web.BaseRequest) -> dict[str, str | list[str]]:
    result: dict[str, str | list[str]] = {}
    for key in request.query:
        if key not in result:
            values = request.query.getall(key)
            result[key] = values[0] if len(values) == 1 else list(values)
    return result


def _status_title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _target_pairs(targets: Any) -> set[tuple[str | None, str]]:
    """Targets of an object as (type, value) pairs: 3.1.0 strings have no type."""
    pairs: set[tuple[str | None, str]] = set()
    for target in targets if isinstance(targets, list) else ():
        if isinstance(target, str):
            pairs.add((None, target))
        elif isinstance(target, dict) and isinstance(target.get("values"), list):
            kind = target.get("type")
            pairs.update((kind if isinstance(kind, str) else None, str(v)) for v in target["values"])
    return pairs


def _pair_matches(wanted: tuple[str | None, str | None], have: tuple[str | None, str]) -> bool:
    """Whether a query pair (None = any) matches an object's pair."""
    return (wanted[0] is None or wanted[0] == have[0]) and (wanted[1] is None or wanted[1] == have[1])


# --- the VTN ------------------------------------------------------------------------------------


class FakeVtn:
    """A spec-shaped OpenADR 3 VTN for one VEN client; see the module docstring."""

    def __init__(
        self,
        version: str = V310,
        *,
        client_id: str = "ha-ven",
        client_secret: str = "s3cret",  # noqa: S107 - a test credential
        ven_name: str = "home-1",
        token_lifetime_s: float | None = None,
        base_path: str | None = None,
        max_page: int = MAX_LIMIT,
        scopes: Sequence[str] | None = None,
        ven_targets: list[Any] | None = None,
        ven_registered: bool = True,
        enforce_ven_targets: bool = False,
        targets_query_keeps_untargeted: bool = False,
        auth_server: bool | None = None,
        scope_as_list: bool = True,
        naive_timestamps: bool = True,
        ignore_active: bool = True,
        short_ids: bool = True,
        form_credentials_only: bool = True,
        bad_token_status: int = 403,
        invalid_client_status: int = 401,
        problem_content_type: str = "application/problem+json",
    ) -> None:
        """Set up an empty VTN; nothing listens until :meth:`serve`.

        ``ven_targets`` are the targets the business logic 'granted' the VEN
        through its ven object (default: the VEN's name, as a string in 3.1.0
        and as ``{"type": "VEN_NAME", "values": [name]}`` in 3.0.1); with
        ``ven_registered`` (the default) the business logic has created that
        ven object, otherwise there is none until someone creates it. The
        targets granted are those of the ven objects of the requesting client,
        only used with ``enforce_ven_targets`` (Definition.md, Object Privacy:
        a targeted event is visible when the request's targets, intersected with
        the granted ones, or the granted ones when the request has none, match
        it). Without it a request with no targets sees every event.

        A request with targets sees only objects whose targets match them
        (Definition.md, Response Filtering), unless ``targets_query_keeps_untargeted``,
        which also returns objects without targets.
        """
        if version not in VERSIONS:
            raise ValueError(f"unknown OpenADR version {version!r}")
        if not 1 <= max_page <= MAX_LIMIT:
            raise ValueError(f"max_page must be 1..{MAX_LIMIT}")
        self.version = version
        self.client_id = client_id
        self.client_secret = client_secret
        self.ven_name = ven_name
        self.token_lifetime_s = token_lifetime_s
        self.base_path = (f"/openadr3/{version}" if base_path is None else base_path).rstrip("/")
        self.max_page = max_page
        self.scopes: tuple[str, ...] = tuple(scopes or DEFAULT_VEN_SCOPES[version])
        self.enforce_ven_targets = enforce_ven_targets
        self.targets_query_keeps_untargeted = targets_query_keeps_untargeted
        self.auth_server = version == V310 if auth_server is None else auth_server
        self.scope_as_list = scope_as_list
        self.naive_timestamps = naive_timestamps
        self.ignore_active = ignore_active
        self.short_ids = short_ids
        self.form_credentials_only = form_credentials_only
        self.bad_token_status = bad_token_status
        self.invalid_client_status = invalid_client_status
        self.problem_content_type = problem_content_type

        self._init_state()
        self.app = self._build_app()
        if ven_registered:
            self.add_ven(ven_name, ven_targets if ven_targets is not None else self.targets_for(ven_name))

    def _init_state(self) -> None:
        # Switches a test may flip at any time.
        self.down = False
        self.delay_s = 0.0
        self.reject_credentials = False
        self.supports_delete_reports = True
        self.delete_unsupported_status = 405
        self.clock_shift_s = 0.0
        self.hold_reports = False  # True: the hooks wait for release_reports()

        # Business-logic hooks, called after a report is stored (POST and PUT) or deleted.
        self.on_report: ReportHook | None = None
        self.on_report_deleted: ReportHook | None = None

        # What happened, for assertions.
        self.requests: list[tuple[str, str, dict[str, str | list[str]]]] = []
        self.recorded: list[RecordedRequest] = []
        self.hook_errors: list[BaseException] = []
        self.deleted_reports: list[Json] = []
        self.issued_tokens: list[str] = []

        self._init_storage()
        self._held: list[tuple[str, Json]] = []
        self._faults: list[_Fault] = []
        self._server: TestServer | None = None
        self._closing = asyncio.Event()
        self.port: int | None = None
        self.scheme = "http"

    def _init_storage(self) -> None:
        self.programs: dict[str, Json] = {}
        self.events: dict[str, Json] = {}
        self.vens: dict[str, Json] = {}
        self._ven_owner: dict[str, str] = {}
        self._reports: dict[str, Json] = {}
        self._report_owner: dict[str, str] = {}
        self._tokens: dict[str, _Token] = {}
        self._counters: dict[str, int] = {}
        self._modified: dict[tuple[str, str], datetime] = {}

    def restart(self, *, keep: Iterable[str] = ()) -> None:
        """An in-memory VTN restarted: programs, events, vens, reports and tokens are gone.

        ``keep`` names what the business logic has already put back, among
        ``"programs"`` and ``"vens"`` (the same objects, with the same ids).
        Ids start again from "0", as a fresh store counts them.
        """
        kept = {name: copy.deepcopy(getattr(self, name)) for name in keep}
        owners = dict(self._ven_owner)
        self._init_storage()
        for name, objects in kept.items():
            getattr(self, name).update(objects)
            if name == "vens":
                self._ven_owner = {ven_id: owners[ven_id] for ven_id in objects}
        for name, object_type in (("programs", "PROGRAM"), ("vens", "VEN")):
            self._counters[object_type] = len(getattr(self, name))

    # --- serving ---------------------------------------------------------------------------------

    @asynccontextmanager
    async def serve(
        self, port: int | None = None, ssl: ssl_module.SSLContext | None = None
    ) -> AsyncIterator[str]:
        """Listen on 127.0.0.1 (a free port, or ``port`` to come back on the same one).

        With ``ssl``, over HTTPS. Yields the base URL including the base path,
        and closes the server on exit. A request still sleeping in ``delay_s``
        is woken at close.
        """
        if self._server is not None:
            raise RuntimeError("the VTN is already serving")
        self._closing = asyncio.Event()
        self.scheme = "https" if ssl is not None else "http"
        server = TestServer(self.app, host="127.0.0.1", port=port)
        # No access log: its timing breaks under a frozen clock, and tests read ``requests`` instead.
        await server.start_server(shutdown_timeout=1.0, access_log=None, ssl=ssl)
        self._server = server
        self.port = server.port
        try:
            yield self.url
        finally:
            self._closing.set()
            await server.close()
            self._server = None

    @property
    def url(self) -> str:
        """The base URL (scheme, host, port and base path) while serving."""
        if self.port is None:
            raise RuntimeError("the VTN has not been served yet")
        return f"{self.scheme}://127.0.0.1:{self.port}{self.base_path}"

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._front])
        base = self.base_path
        routes = [
            ("GET", "/auth/server", self._auth_server),
            ("POST", "/auth/token", self._token),
            ("GET", "/programs", self._search_programs),
            ("POST", "/programs", self._bl_only),
            ("GET", "/programs/{object_id}", self._get_program),
            ("PUT", "/programs/{object_id}", self._bl_only),
            ("DELETE", "/programs/{object_id}", self._bl_only),
            ("GET", "/events", self._search_events),
            ("POST", "/events", self._bl_only),
            ("GET", "/events/{object_id}", self._get_event),
            ("PUT", "/events/{object_id}", self._bl_only),
            ("DELETE", "/events/{object_id}", self._bl_only),
            ("GET", "/reports", self._search_reports),
            ("POST", "/reports", self._create_report),
            ("GET", "/reports/{object_id}", self._get_report),
            ("PUT", "/reports/{object_id}", self._update_report),
            ("DELETE", "/reports/{object_id}", self._delete_report),
            ("GET", "/vens", self._search_vens),
            ("POST", "/vens", self._create_ven),
            ("GET", "/vens/{object_id}", self._get_ven),
            ("GET", "/notifiers", self._notifiers),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, base + path, handler)
        return app

    # --- business-logic side: programs and events -------------------------------------------------

    def targets_for(self, *names: str, target_type: str = VEN_NAME_TARGET) -> list[Any]:
        """Targets in this version's shape: ["a"] (3.1.0) or [{"type": ..., "values": ["a"]}] (3.0.1)."""
        if self.version == V310:
            return list(names)
        return [{"type": target_type, "values": list(names)}]

    def add_ven(self, ven_name: str, targets: list[Any] | None = None, client_id: str | None = None) -> Json:
        """Create a ven object as the business logic does (a BL_VEN_REQUEST in 3.1.0), for ``client_id``."""
        owner = client_id or self.client_id
        if any(v["venName"] == ven_name for v in self.vens.values()) or owner in self._ven_owner.values():
            raise ValueError(f"a ven named {ven_name!r} or of client {owner!r} exists (409)")
        fields: Json = {"venName": ven_name, "targets": list(targets or [])}
        if self.version == V310:
            fields["clientID"] = owner
        ven = self._new_object("VEN", fields)
        self.vens[ven["id"]] = ven
        self._ven_owner[ven["id"]] = owner
        return copy.deepcopy(ven)

    def grant_targets(self, ven_name: str, targets: list[Any]) -> Json:
        """The business logic updates a ven object's targets (PUT /vens/{id})."""
        ven = next(v for v in self.vens.values() if v["venName"] == ven_name)
        ven["targets"] = list(targets)
        self._touch(ven)
        return copy.deepcopy(ven)

    @property
    def ven_targets(self) -> list[Any]:
        """The targets granted to the VEN client (those of its ven objects)."""
        return [
            t for rid, v in self.vens.items() if self._ven_owner[rid] == self.client_id for t in v["targets"]
        ]

    @ven_targets.setter
    def ven_targets(self, targets: list[Any]) -> None:
        own = [v for rid, v in self.vens.items() if self._ven_owner[rid] == self.client_id]
        if own:
            self.grant_targets(own[0]["venName"], targets)
        else:
            self.add_ven(self.ven_name, targets)

    def add_program(self, program_name: str, **extra: Any) -> Json:
        """Create a program as the business logic would; returns (a copy of) the stored object."""
        if any(p["programName"] == program_name for p in self.programs.values()):
            raise ValueError(f"program {program_name!r} exists (409)")
        program = self._new_object("PROGRAM", {"programName": program_name, **extra})
        self.programs[program["id"]] = program
        return copy.deepcopy(program)

    def add_event(self, program_id: str, *, strict: bool = True, **fields: Any) -> Json:
        """Create an event of ``program_id``; ``fields`` are eventRequest fields (camelCase).

        With ``strict`` the program must exist and targets must have this
        version's shape; ``strict=False`` stores whatever it is given, to test a
        client against malformed events.
        """
        if strict:
            self._check_event_fields(program_id, fields)
        event = self._new_object("EVENT", {"programID": program_id, **fields})
        self.events[event["id"]] = event
        return copy.deepcopy(event)

    def update_event(
        self, event_id: str, *, replace: bool = False, strict: bool = True, **fields: Any
    ) -> Json:
        """Change an event (``replace``: PUT semantics, only ``fields`` and programID remain).

        ``modificationDateTime`` always moves forward, even within the same second.
        """
        event = self.events[event_id]
        if strict:
            self._check_event_fields(str(fields.get("programID", event["programID"])), fields)
        body = {k: v for k, v in fields.items() if k not in METADATA_FIELDS}
        if replace:
            keep = {k: event[k] for k in (*METADATA_FIELDS, "programID")}
            event.clear()
            event.update(keep)
        event.update(body)
        self._touch(event)
        return copy.deepcopy(event)

    def delete_event(self, event_id: str) -> Json:
        """Remove an event; returns it."""
        self._modified.pop(("EVENT", event_id), None)
        return self.events.pop(event_id)

    def _check_event_fields(self, program_id: str, fields: Json) -> None:
        if program_id not in self.programs:
            raise KeyError(f"no program {program_id!r} (409)")
        targets = fields.get("targets")
        if targets is None:
            return
        wanted = str if self.version == V310 else dict
        if not isinstance(targets, list) or not all(isinstance(t, wanted) for t in targets):
            raise ValueError(f"targets {targets!r} do not have the {self.version} shape; use targets_for()")

    # --- faults ----------------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        count: int = 1,
        body: str | bytes | None = None,
        path_contains: str | None = None,
        *,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``count`` matching requests with ``status``.

        The body is problem JSON unless ``body`` is given (str: text/plain,
        bytes: application/octet-stream, unless ``content_type``).
        ``path_contains`` is matched against the path below the base path
        (e.g. "/events", "/auth/token"); None matches every request.
        """
        self._faults.append(
            _Fault("status", count, path_contains, status, body, content_type, dict(headers or {}))
        )

    def malformed_next(self, count: int = 1, path_contains: str | None = None) -> None:
        """Answer 200 with a Content-Type of application/json and a truncated JSON body."""
        self._faults.append(_Fault("malformed", count, path_contains))

    def oversized_next(
        self, nbytes: int, path_contains: str | None = None, *, count: int = 1, chunked: bool = True
    ) -> None:
        """Answer 200 with valid JSON of ``nbytes`` bytes (an empty array padded with spaces).

        ``chunked`` sends it without a Content-Length, as a stream would arrive.
        """
        self._faults.append(_Fault("oversized", count, path_contains, nbytes=max(nbytes, 2), chunked=chunked))

    def drop_next(self, count: int = 1, path_contains: str | None = None) -> None:
        """Close the connection without an answer (the client sees a disconnect)."""
        self._faults.append(_Fault("drop", count, path_contains))

    def revoke_tokens(self) -> None:
        """Every token issued so far becomes invalid (403); new ones can be fetched."""
        self._tokens.clear()

    def clear_faults(self) -> None:
        """Forget the queued one-shot faults."""
        self._faults.clear()

    # --- reports as stored ---------------------------------------------------------------------

    @property
    def reports(self) -> list[Json]:
        """The stored reports, oldest first (copies)."""
        return [copy.deepcopy(r) for r in self._reports.values()]

    async def release_reports(self) -> int:
        """Run the hooks held back while ``hold_reports`` was on; returns how many ran."""
        held, self._held = self._held, []
        for kind, report in held:
            await self._run_hook(kind, report)
        return len(held)

    # --- clock and object metadata ---------------------------------------------------------------

    def now(self) -> datetime:
        """The server's clock: UTC, shifted by ``clock_shift_s``."""
        return datetime.now(UTC) + timedelta(seconds=self.clock_shift_s)

    def _precision(self) -> timedelta:
        return timedelta(seconds=1) if self.naive_timestamps else timedelta(milliseconds=1)

    def _truncated_now(self) -> datetime:
        now = self.now()
        if self.naive_timestamps:
            return now.replace(microsecond=0)
        return now.replace(microsecond=now.microsecond // 1000 * 1000)

    def _format_stamp(self, moment: datetime) -> str:
        if self.naive_timestamps:
            return moment.strftime("%Y-%m-%d %H:%M:%S")
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def _next_id(self, object_type: str) -> str:
        if not self.short_ids:
            return f"{object_type.lower()}-{secrets.token_hex(6)}"
        number = self._counters.get(object_type, 0)
        self._counters[object_type] = number + 1
        return str(number)

    def _new_object(self, object_type: str, fields: Json, extra_metadata: Json | None = None) -> Json:
        stamp = self._truncated_now()
        obj: Json = {
            "id": self._next_id(object_type),
            "createdDateTime": self._format_stamp(stamp),
            "modificationDateTime": self._format_stamp(stamp),
            "objectType": object_type,
            **(extra_metadata or {}),
        }
        obj.update({k: v for k, v in fields.items() if k not in METADATA_FIELDS and k not in obj})
        self._modified[object_type, obj["id"]] = stamp
        return obj

    def _touch(self, obj: Json) -> None:
        """Move modificationDateTime forward (at least one tick past the last one)."""
        key = (obj["objectType"], obj["id"])
        stamp = self._truncated_now()
        previous = self._modified.get(key)
        if previous is not None and stamp <= previous:
            stamp = previous + self._precision()
        self._modified[key] = stamp
        obj["modificationDateTime"] = self._format_stamp(stamp)

    # --- middleware: log, delay, down, faults, problem JSON --------------------------------------

    def _relative(self, path: str) -> str:
        if self.base_path and (path == self.base_path or path.startswith(self.base_path + "/")):
            return path[len(self.base_path) :] or "/"
        return path

    @web.middleware
    async def _front(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        body = await request.read()
        path = self._relative(request.path)
        query = _query_dict(request)
        self.requests.append((request.method, path, query))
        self.recorded.append(RecordedRequest(request.method, path, query, dict(request.headers), body))
        if self.delay_s > 0:
            with suppress(TimeoutError):
                async with asyncio.timeout(self.delay_s):
                    await self._closing.wait()
            if self._closing.is_set():  # woken by serve() closing: go away without an answer
                return self._drop(request)
        if self.down:
            return self._problem(request, 503, "the VTN is down", {"Retry-After": "30"})
        fault = self._take_fault(path)
        if fault is not None:
            return await self._apply_fault(request, fault)
        try:
            return await handler(request)
        except _ProblemError as err:
            return self._problem(request, err.status, err.detail, err.headers)
        except web.HTTPMethodNotAllowed as err:
            allow = ", ".join(sorted(err.allowed_methods))
            return self._problem(request, 405, f"{request.method} is not allowed here", {"Allow": allow})
        except web.HTTPNotFound:
            return self._problem(request, 404, f"no resource at {request.path}")

    def _problem(
        self, request: web.BaseRequest, status: int, detail: str, headers: dict[str, str] | None = None
    ) -> web.Response:
        body = {
            "type": "about:blank",
            "title": _status_title(status),
            "status": status,
            "detail": detail,
            "instance": str(request.url),
        }
        return web.Response(
            status=status, text=json.dumps(body), content_type=self.problem_content_type, headers=headers
        )

    def _take_fault(self, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.path_contains is None or fault.path_contains in path:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    async def _apply_fault(self, request: web.Request, fault: _Fault) -> web.StreamResponse:
        if fault.kind == "drop":
            return self._drop(request)
        if fault.kind == "malformed":
            return web.Response(
                status=200, body=b'[{"id": "0", "objectType": ', content_type="application/json"
            )
        if fault.kind == "oversized":
            return await self._oversized(request, fault)
        if fault.body is None:
            return self._problem(request, fault.status, "injected fault", fault.headers)
        default_type = "text/plain" if isinstance(fault.body, str) else "application/octet-stream"
        raw = fault.body.encode() if isinstance(fault.body, str) else fault.body
        headers = {"Content-Type": fault.content_type or default_type, **fault.headers}
        return web.Response(status=fault.status, body=raw, headers=headers)

    def _drop(self, request: web.Request) -> web.StreamResponse:
        """Close the connection; the handler ends without writing anything."""
        if request.transport is not None:
            request.transport.close()
        raise asyncio.CancelledError

    async def _oversized(self, request: web.Request, fault: _Fault) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        if not fault.chunked:
            response.content_length = fault.nbytes
        await response.prepare(request)
        chunk = b" " * 65536
        try:
            await response.write(b"[")
            remaining = fault.nbytes - 2
            while remaining > 0:
                await response.write(chunk[: min(remaining, len(chunk))])
                remaining -= len(chunk)
            await response.write(b"]")
            await response.write_eof()
        except ConnectionError:
            _LOGGER.debug("client stopped reading the oversized answer")
        return response

    # --- authentication ------------------------------------------------------------------------

    async def _auth_server(self, request: web.Request) -> web.Response:
        if not self.auth_server:
            raise _ProblemError(404, "no /auth/server on this VTN")
        origin = request.url.origin()
        return web.json_response({"tokenURL": f"{origin}{self.base_path}/auth/token"})

    def _auth_error(self, status: int, error: str, description: str) -> web.Response:
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        if status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="openadr3"'
        body = {"error": error, "error_description": description}
        return web.json_response(body, status=status, headers=headers)

    def _basic_credentials(self, request: web.Request) -> tuple[str, str] | None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except binascii.Error, UnicodeDecodeError:
            return None
        client_id, sep, secret = decoded.partition(":")
        return (unquote(client_id), unquote(secret)) if sep else None

    async def _token(self, request: web.Request) -> web.Response:
        if request.content_type != "application/x-www-form-urlencoded":
            return self._auth_error(
                400, "invalid_request", "the body must be application/x-www-form-urlencoded"
            )
        try:
            pairs = parse_qsl((await request.read()).decode(), keep_blank_values=True)
        except UnicodeDecodeError:
            return self._auth_error(400, "invalid_request", "the body is not UTF-8")
        form: dict[str, str] = {}
        for key, value in pairs:
            if key in form:
                return self._auth_error(400, "invalid_request", f"parameter {key} is repeated")
            form[key] = value
        grant_type = form.get("grant_type")
        if not grant_type:
            return self._auth_error(400, "invalid_request", "grant_type is missing")
        if grant_type != "client_credentials":
            return self._auth_error(
                400, "unsupported_grant_type", f"grant_type {grant_type} is not supported"
            )
        credentials = (form.get("client_id", ""), form.get("client_secret", ""))
        if not all(credentials):
            basic = None if self.form_credentials_only else self._basic_credentials(request)
            if basic is None:
                return self._auth_error(
                    400, "invalid_request", "client_id and client_secret are required in the request body"
                )
            credentials = basic
        if self.reject_credentials or credentials != (self.client_id, self.client_secret):
            return self._auth_error(
                self.invalid_client_status, "invalid_client", "client authentication failed"
            )
        requested = form.get("scope", "").split()
        granted = [s for s in requested if s in self.scopes] if requested else list(self.scopes)
        if not granted:
            return self._auth_error(400, "invalid_scope", f"none of {requested} can be granted")
        return self._issue_token(credentials[0], granted)

    def _issue_token(self, client_id: str, granted: list[str]) -> web.Response:
        access_token = secrets.token_urlsafe(24)
        lifetime = self.token_lifetime_s
        expires_at = None if lifetime is None else datetime.now(UTC) + timedelta(seconds=lifetime)
        self._tokens[access_token] = _Token(client_id, tuple(granted), expires_at)
        self.issued_tokens.append(access_token)
        body: Json = {"access_token": access_token, "token_type": "Bearer"}
        if lifetime is not None:
            body["expires_in"] = int(lifetime)
        body["scope"] = granted if self.scope_as_list else " ".join(granted)
        return web.json_response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _authorize(self, request: web.Request, accepted: Iterable[str]) -> _Token:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise _ProblemError(
                401, "a bearer token is required", {"WWW-Authenticate": 'Bearer realm="openadr3"'}
            )
        token = self._tokens.get(value.strip())
        if token is not None and token.expires_at is not None and datetime.now(UTC) >= token.expires_at:
            del self._tokens[value.strip()]
            token = None
        if token is None:
            raise _ProblemError(self.bad_token_status, "the bearer token is not valid")
        if not set(token.scopes) & set(accepted):
            raise _ProblemError(403, f"the token's scopes {list(token.scopes)} do not allow this request")
        return token

    async def _bl_only(self, request: web.Request) -> web.Response:
        kind = "programs" if "/programs" in request.path else "events"
        self._authorize(request, {f"write_{kind}"})
        raise _ProblemError(501, f"writing {kind} over HTTP is not implemented in the fake; use its methods")

    async def _notifiers(self, request: web.Request) -> web.Response:
        if self.version != V310:
            raise _ProblemError(404, "no /notifiers in OpenADR 3.0.1")
        self._authorize(request, READ_SCOPES)
        return web.json_response({"WEBHOOK": True})

    # --- query parameters ------------------------------------------------------------------------

    def _int_param(self, request: web.Request, name: str, maximum: int | None = None) -> int | None:
        values = request.query.getall(name, [])
        if not values:
            return None
        try:
            number = int(values[-1])
        except ValueError:
            raise _ProblemError(400, f"{name} must be an integer") from None
        if number < 0 or (maximum is not None and number > maximum):
            raise _ProblemError(
                400, f"{name} must be between 0 and {maximum if maximum is not None else 'any'}"
            )
        return number

    def _page(self, request: web.Request, items: list[Json]) -> list[Json]:
        skip = self._int_param(request, "skip") or 0
        limit = self._int_param(request, "limit", MAX_LIMIT)
        size = self.max_page if limit is None else min(limit, self.max_page)
        return [copy.deepcopy(item) for item in items[skip : skip + size]]

    def _target_query(self, request: web.Request) -> list[tuple[str | None, str | None]] | None:
        """The request's targets as (type, value) pairs, None = no targets asked for."""
        if self.version == V310:
            values = request.query.getall("targets", [])
            return [(None, v) for v in values] if values else None
        target_type = request.query.get("targetType")
        values = request.query.getall("targetValues", [])
        if target_type is None and not values:
            return None
        if not values:
            return [(target_type, None)]
        return [(target_type, v) for v in values]

    def _visible(self, obj: Json, request: web.Request) -> bool:
        pairs = _target_pairs(obj.get("targets"))
        query: list[tuple[str | None, str | None]] | None = self._target_query(request)
        if not pairs:
            return query is None or self.targets_query_keeps_untargeted
        if self.enforce_ven_targets:
            granted = _target_pairs(self._granted_targets(request))
            if query is None:
                query = [(kind, value) for kind, value in granted]
            query = [q for q in query if any(_pair_matches(q, g) for g in granted)]
        if query is None:
            return True
        return any(_pair_matches(q, p) for q in query for p in pairs)

    def _active_filter(self, request: web.Request, events: list[Json]) -> list[Json]:
        if self.version != V310 or "active" not in request.query:
            return events
        value = request.query["active"].lower()
        if value not in ("true", "false"):
            raise _ProblemError(400, "active must be true or false")
        if self.ignore_active or value == "false":
            return events
        now = self.now()
        return [e for e in events if (end := _event_end(e, now)) is None or end > now]

    def _granted_targets(self, request: web.Request) -> list[Any]:
        """The targets of the ven objects of the client whose token the request carries."""
        _scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        token = self._tokens.get(value.strip())
        owner = token.client_id if token is not None else None
        return [t for rid, v in self.vens.items() if self._ven_owner[rid] == owner for t in v["targets"]]

    # --- ven objects over HTTP -------------------------------------------------------------------

    def _own_vens(self, token: _Token) -> list[Json]:
        return [v for rid, v in self.vens.items() if self._ven_owner[rid] == token.client_id]

    async def _search_vens(self, request: web.Request) -> web.Response:
        token = self._authorize(request, READ_SCOPES)
        items = self._own_vens(token)
        if "venName" in request.query:
            items = [v for v in items if v["venName"] == request.query["venName"]]
        return web.json_response(self._page(request, items))

    async def _get_ven(self, request: web.Request) -> web.Response:
        token = self._authorize(request, READ_SCOPES)
        ven = self.vens.get(request.match_info["object_id"])
        if ven is None or ven not in self._own_vens(token):
            raise _ProblemError(404, f"no ven {request.match_info['object_id']}")
        return web.json_response(copy.deepcopy(ven))

    async def _create_ven(self, request: web.Request) -> web.Response:
        """A VEN creates its ven object: never with targets in 3.1.0 (only BL grants them)."""
        token = self._authorize(request, {"write_vens"})
        try:
            body = json.loads(await request.read())
        except ValueError, UnicodeDecodeError:
            raise _ProblemError(400, "the body is not JSON") from None
        if not isinstance(body, dict) or not _short_string(body.get("venName")):
            raise _ProblemError(400, "venName is required (1..128 characters)")
        targets: list[Any] = []
        if self.version == V310:
            if body.get("objectType") == "BL_VEN_REQUEST":
                raise _ProblemError(403, "only the business logic may send a BL_VEN_REQUEST")
            if body.get("objectType") != "VEN_VEN_REQUEST":
                raise _ProblemError(400, "objectType must be VEN_VEN_REQUEST")
        elif isinstance(body.get("targets"), list):
            targets = body["targets"]
        try:
            ven = self.add_ven(body["venName"], targets, token.client_id)
        except ValueError as err:
            raise _ProblemError(409, str(err)) from None
        return web.json_response(ven, status=201)

    # --- programs and events over HTTP -----------------------------------------------------------

    async def _search_programs(self, request: web.Request) -> web.Response:
        self._authorize(request, READ_SCOPES)
        items = [p for p in self.programs.values() if self._visible(p, request)]
        return web.json_response(self._page(request, items))

    async def _get_program(self, request: web.Request) -> web.Response:
        self._authorize(request, READ_SCOPES)
        program = self.programs.get(request.match_info["object_id"])
        if program is None or not self._visible(program, request):
            raise _ProblemError(404, f"no program {request.match_info['object_id']}")
        return web.json_response(copy.deepcopy(program))

    async def _search_events(self, request: web.Request) -> web.Response:
        self._authorize(request, READ_SCOPES)
        items = list(self.events.values())
        if "programID" in request.query:
            items = [e for e in items if e.get("programID") == request.query["programID"]]
        items = self._active_filter(request, [e for e in items if self._visible(e, request)])
        return web.json_response(self._page(request, items))

    async def _get_event(self, request: web.Request) -> web.Response:
        self._authorize(request, READ_SCOPES)
        event = self.events.get(request.match_info["object_id"])
        if event is None or not self._visible(event, request):
            raise _ProblemError(404, f"no event {request.match_info['object_id']}")
        return web.json_response(copy.deepcopy(event))

    # --- reports ------------------------------------------------------------------------------------

    def _own_report(self, request: web.Request, token: _Token) -> Json:
        report_id = request.match_info["object_id"]
        report = self._reports.get(report_id)
        if report is None or self._report_owner.get(report_id) != token.client_id:
            raise _ProblemError(404, f"no report {report_id}")
        return report

    async def _search_reports(self, request: web.Request) -> web.Response:
        token = self._authorize(request, READ_SCOPES)
        items = [r for rid, r in self._reports.items() if self._report_owner.get(rid) == token.client_id]
        for name in ("programID", "eventID", "clientName"):
            if name in request.query:
                items = [r for r in items if self._report_field(r, name) == request.query[name]]
        return web.json_response(self._page(request, items))

    def _report_field(self, report: Json, name: str) -> Any:
        if name == "programID" and "programID" not in report:
            return self.events.get(report.get("eventID", ""), {}).get("programID")
        return report.get(name)

    async def _read_report_body(self, request: web.Request) -> Json:
        try:
            body = json.loads(await request.read())
        except ValueError, UnicodeDecodeError:
            raise _ProblemError(400, "the body is not JSON") from None
        problem = self._report_problem(body)
        if problem is not None:
            raise _ProblemError(400, problem)
        event = self.events.get(body["eventID"])
        if event is None:
            raise _ProblemError(409, f"no event {body['eventID']}")
        if self.version == V301 and body["programID"] not in self.programs:
            raise _ProblemError(409, f"no program {body['programID']}")
        return {k: v for k, v in body.items() if k not in (*METADATA_FIELDS, "clientID")}

    def _report_problem(self, body: Any) -> str | None:
        """What makes ``body`` an invalid reportRequest (None when it is valid)."""
        if not isinstance(body, dict):
            return "a report must be a JSON object"
        required = ("programID", "eventID") if self.version == V301 else ("eventID",)
        for name in required:
            if not isinstance(body.get(name), str) or not OBJECT_ID.match(body[name]):
                return f"{name} is required (an object ID)"
        if not _short_string(body.get("clientName")):
            return "clientName is required (1..128 characters)"
        if (
            "reportName" in body
            and body["reportName"] is not None
            and not isinstance(body["reportName"], str)
        ):
            return "reportName must be a string"
        problem = self._descriptors_problem(body.get("payloadDescriptors"))
        if problem is not None:
            return problem
        resources = body.get("resources")
        if not isinstance(resources, list):
            return "resources is required (an array)"
        for index, resource in enumerate(resources):
            problem = self._resource_problem(resource)
            if problem is not None:
                return f"resources[{index}]: {problem}"
        return None

    def _descriptors_problem(self, descriptors: Any) -> str | None:
        if descriptors is None:
            return None
        if not isinstance(descriptors, list):
            return "payloadDescriptors must be an array"
        for index, descriptor in enumerate(descriptors):
            if not isinstance(descriptor, dict) or not _short_string(descriptor.get("payloadType")):
                return f"payloadDescriptors[{index}]: payloadType is required"
            object_type = descriptor.get("objectType")
            if (
                self.version == V310 or object_type is not None
            ) and object_type != "REPORT_PAYLOAD_DESCRIPTOR":
                return f"payloadDescriptors[{index}]: objectType must be REPORT_PAYLOAD_DESCRIPTOR"
        return None

    def _resource_problem(self, resource: Any) -> str | None:
        if not isinstance(resource, dict):
            return "not an object"
        if not _short_string(resource.get("resourceName")):
            return "resourceName is required (1..128 characters)"
        if "intervalPeriod" in resource:
            problem = self._period_problem(resource["intervalPeriod"])
            if problem is not None:
                return f"intervalPeriod: {problem}"
        intervals = resource.get("intervals")
        if not isinstance(intervals, list):
            return "intervals is required (an array)"
        for index, interval in enumerate(intervals):
            problem = self._interval_problem(interval)
            if problem is not None:
                return f"intervals[{index}]: {problem}"
        return None

    def _interval_problem(self, interval: Any) -> str | None:
        if not isinstance(interval, dict):
            return "not an object"
        if not isinstance(interval.get("id"), int) or isinstance(interval["id"], bool):
            return "id is required (an integer)"
        if "intervalPeriod" in interval:
            problem = self._period_problem(interval["intervalPeriod"])
            if problem is not None:
                return f"intervalPeriod: {problem}"
        payloads = interval.get("payloads")
        if not isinstance(payloads, list):
            return "payloads is required (an array)"
        for payload in payloads:
            if not isinstance(payload, dict) or not _short_string(payload.get("type")):
                return "a payload needs a type (1..128 characters)"
            if not isinstance(payload.get("values"), list):
                return f"payload {payload['type']}: values must be an array"
        return None

    def _period_problem(self, period: Any) -> str | None:
        if not isinstance(period, dict):
            return "not an object"
        if self.version == V301 and "start" not in period:
            return "start is required"
        try:
            if "start" in period:
                parse_start(period["start"], self.now())
            for name in ("duration", "randomizeStart"):
                if name in period:
                    parse_duration(period[name])
        except (TypeError, ValueError) as err:
            return str(err)
        return None

    async def _create_report(self, request: web.Request) -> web.Response:
        token = self._authorize(request, {"write_reports"})
        body = await self._read_report_body(request)
        extra = {"clientID": token.client_id} if self.version == V310 else {}
        report = self._new_object("REPORT", body, extra)
        self._reports[report["id"]] = report
        self._report_owner[report["id"]] = token.client_id
        await self._call_hook("report", copy.deepcopy(report))
        return web.json_response(copy.deepcopy(report), status=201)

    async def _get_report(self, request: web.Request) -> web.Response:
        token = self._authorize(request, READ_SCOPES)
        return web.json_response(copy.deepcopy(self._own_report(request, token)))

    async def _update_report(self, request: web.Request) -> web.Response:
        token = self._authorize(request, {"write_reports"})
        report = self._own_report(request, token)
        body = await self._read_report_body(request)
        keep = {k: report[k] for k in (*METADATA_FIELDS, "clientID") if k in report}
        report.clear()
        report.update(keep)
        report.update(body)
        self._touch(report)
        await self._call_hook("report", copy.deepcopy(report))
        return web.json_response(copy.deepcopy(report))

    async def _delete_report(self, request: web.Request) -> web.Response:
        token = self._authorize(request, {"write_reports"})
        if not self.supports_delete_reports:
            status = self.delete_unsupported_status
            headers = {"Allow": "GET, PUT"} if status == 405 else None
            raise _ProblemError(status, "reports cannot be deleted on this VTN", headers)
        report = self._own_report(request, token)
        del self._reports[report["id"]]
        del self._report_owner[report["id"]]
        self.deleted_reports.append(report)
        await self._call_hook("delete", copy.deepcopy(report))
        return web.json_response(copy.deepcopy(report))

    async def _call_hook(self, kind: str, report: Json) -> None:
        """Run a hook for a request: held back while ``hold_reports``; a failure answers 500."""
        if self.hold_reports:
            self._held.append((kind, report))
            return
        try:
            await self._run_hook(kind, report)
        except Exception as err:
            _LOGGER.exception("business logic failed on report %s", report.get("id"))
            self.hook_errors.append(err)
            raise _ProblemError(500, f"business logic failed: {err!r}") from err

    async def _run_hook(self, kind: str, report: Json) -> None:
        hook = self.on_report if kind == "report" else self.on_report_deleted
        if hook is None:
            return
        result = hook(report)
        if inspect.isawaitable(result):
            await result


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _short_string(value: Any) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 128


def _event_end(event: Json, now: datetime) -> datetime | None:
    """When an event's last interval ends; None when open-ended or unknown (then it counts as active)."""
    try:
        period = event.get("intervalPeriod") or {}
        cursor = parse_start(period["start"], now) if "start" in period else None
        default = parse_duration(period.get("duration", "PT0S"))
        end = cursor
        for interval in event.get("intervals") or [{}]:
            own = interval.get("intervalPeriod") or {}
            start = parse_start(own["start"], now) if "start" in own else cursor
            duration = parse_duration(own["duration"]) if "duration" in own else default
            if start is None or duration is None:
                return None
            cursor = start + duration
            end = cursor if end is None else max(end, cursor)
    except KeyError, TypeError, ValueError, AttributeError:
        return None
    return end


# --- the utility's business logic -----------------------------------------------------------------

IMPORT_SUBSCRIPTION = "IMPORT_CAPACITY_SUBSCRIPTION"
IMPORT_RESERVATION = "IMPORT_CAPACITY_RESERVATION"
IMPORT_RESERVATION_FEE = "IMPORT_CAPACITY_RESERVATION_FEE"
IMPORT_AVAILABLE = "IMPORT_CAPACITY_AVAILABLE"
IMPORT_AVAILABLE_PRICE = "IMPORT_CAPACITY_AVAILABLE_PRICE"
IMPORT_LIMIT = "IMPORT_CAPACITY_LIMIT"
EXPORT_LIMIT = "EXPORT_CAPACITY_LIMIT"
ALERT_GRID_EMERGENCY = "ALERT_GRID_EMERGENCY"
REQUEST_CAPACITY = "IMPORT_RESERVATION_CAPACITY"
REQUEST_FEE = "IMPORT_RESERVATION_FEE"
# Names a VEN may use in its request report: the enumerated one first, then
# the User Guide's example spellings (Example 8.10.2-3 and its short forms).
REQUEST_CAPACITY_NAMES = (REQUEST_CAPACITY, IMPORT_RESERVATION, "CAPACITY_RESERVATION")
REQUEST_FEE_NAMES = (REQUEST_FEE, IMPORT_RESERVATION_FEE, "CAPACITY_RESERVATION_FEE")
KW_PER_UNIT = {"W": 0.001, "KW": 1.0, "MW": 1000.0}

GRANTED = "granted"
DENIED_FEE = "denied_fee"  # capacity is there, the offered fee is below the price
DENIED_CAPACITY = "denied_capacity"  # not enough capacity, or none on offer then
REJECTED_GRID = "rejected_grid"  # start or duration not on the utility's grid
REJECTED_PAST = "rejected_past"  # the requested window is over
REJECTED_INVALID = "rejected_invalid"  # no usable period or amount
EPSILON = 1e-9

# How the utility tells a VEN the fee it asks, besides the price in its availability event (User
# Guide 8.10.2; the enumeration: IMPORT_CAPACITY_RESERVATION_FEE is "the cost per unit of power of
# extra import capacity available for reservation"): an interval of the reservation event over the
# request that reserves 0 kW at that fee, or carries only the fee, or lists the kW asked at that fee.
FEE_IN_AVAILABILITY = "availability"
FEE_AT_ZERO_KW = "zero_kw"
FEE_ONLY = "fee_only"
FEE_ON_THE_KW = "kw_at_fee"
FEE_ANSWERS = (FEE_IN_AVAILABILITY, FEE_AT_ZERO_KW, FEE_ONLY, FEE_ON_THE_KW)


@dataclass(slots=True)
class Window:
    """Capacity on offer between ``start`` and ``end``: ``kw`` at ``price`` per kW."""

    start: datetime
    end: datetime
    kw: float
    price: float


@dataclass(frozen=True, slots=True)
class Reservation:
    """A granted request: ``kw`` extra from ``start`` to ``end`` at ``fee`` per kW."""

    report_id: str
    interval_id: int
    start: datetime
    end: datetime
    kw: float | None  # None: a quote that names only the fee
    fee: float


@dataclass(frozen=True, slots=True)
class Decision:
    """What the utility made of one requested interval."""

    report_id: str
    interval_id: int | None
    start: datetime | None
    end: datetime | None
    kw: float | None
    fee_offered: float
    outcome: str
    fee_charged: float | None = None


@dataclass(frozen=True, slots=True)
class _Request:
    interval_id: int | None
    start: datetime | None
    end: datetime | None
    kw: float | None
    fee: float


class CapacityUtility:
    """The utility's business logic for Dynamic Capacity Management, on a FakeVtn.

    :meth:`install` posts, targeted at the VEN:

    * the subscription event (``capacity_subscription``): IMPORT_CAPACITY_SUBSCRIPTION
      over P9999Y, with reportDescriptors asking for IMPORT_RESERVATION_CAPACITY
      (OPEN_INTERVALS) and IMPORT_RESERVATION_FEE: the request channel;
    * the availability event (``capacity_available``): IMPORT_CAPACITY_AVAILABLE and
      IMPORT_CAPACITY_AVAILABLE_PRICE per window. While the windows are back to
      back and equally long, the event has one intervalPeriod and intervals
      without their own; otherwise (after a grant splits a window) every
      interval carries its own intervalPeriod.

    Each report posted (or put) against one of these events is a set of
    requests, one per interval. A request is granted when it lies on the
    ``grid_minutes`` grid, the windows cover it without a gap, each has at
    least the requested kW, and the offered fee reaches the highest price among
    them; the fee charged is that price (never more than offered). A grant
    takes the kW out of the windows (splitting them at the request's edges)
    and posts or updates the ``capacity_reservation`` event, which lists every
    current reservation as its own interval with its own intervalPeriod
    (IMPORT_CAPACITY_RESERVATION kW, IMPORT_CAPACITY_RESERVATION_FEE). The
    availability event is re-posted after every request report, granted or
    not, so its modificationDateTime moves; the reservation event only
    changes when the reservations do. A report put again first gives back
    what its earlier version was granted. Deleting a report gives its
    reservations' capacity back. Reservations that have ended are dropped
    (``prune_expired``; ``now`` defaults to the VTN's clock), and a request
    whose window is over is not granted (``rejected_past``).

    ``withdraw_on_delete=False`` plays a VTN without such business logic (the
    reference VTN): a deleted report is gone, but its grant stays listed.
    ``fee_answer`` says how a fee too low is answered besides the availability
    (see FEE_ANSWERS): with anything but ``availability`` the reservation event
    also lists the refused request's interval, at 0 kW, with only the fee, or
    with the kW asked, at the price asked; such a quote answers the latest
    report and is gone with the next. ``announce_availability=False`` keeps the
    availability event unposted (the utility still decides against its windows).

    The reservation event does not exist before the first grant or quote; once every
    reservation is gone it stays, with an empty ``intervals`` list. Pieces a
    grant split off merge back when the capacity returns; the windows the
    utility was given never merge. Every decision is kept in ``decisions``
    (outcomes ``granted``, ``denied_fee``, ``denied_capacity``, ``rejected_grid``,
    ``rejected_past``, ``rejected_invalid``), every live grant in ``reservations``.
    Reports that carry no reservation capacity, or that answer another event,
    are left alone.
    """

    def __init__(
        self,
        vtn: FakeVtn,
        *,
        program_id: str,
        ven_name: str,
        subscription_kw: float,
        availability: Sequence[tuple[datetime, timedelta, float, float]],
        grid_minutes: int = 15,
        currency: str = "USD",
        subscription_start: datetime | None = None,
        prune_expired: bool = True,
        now: Callable[[], datetime] | None = None,
        withdraw_on_delete: bool = True,
        fee_answer: str = FEE_IN_AVAILABILITY,
        announce_availability: bool = True,
    ) -> None:
        """Nothing is posted until :meth:`install`.

        ``availability`` lists (start, duration, kW on offer, price per kW).
        """
        self.vtn = vtn
        self.program_id = program_id
        self.ven_name = ven_name
        self.subscription_kw = subscription_kw
        self.grid = timedelta(minutes=grid_minutes)
        self.currency = currency
        self.subscription_start = subscription_start or datetime(2025, 1, 1, tzinfo=UTC)
        self.prune_expired = prune_expired
        if fee_answer not in FEE_ANSWERS:
            raise ValueError(f"fee_answer must be one of {FEE_ANSWERS}")
        self.withdraw_on_delete = withdraw_on_delete
        self.fee_answer = fee_answer
        self.announce_availability = announce_availability
        self.quotes: list[Reservation] = []  # fees asked for the latest report's refused intervals
        self.now: Callable[[], datetime] = now or vtn.now
        self.windows: list[Window] = []
        self._edges: set[datetime] = set()
        self._set_windows(availability)
        self.reservations: list[Reservation] = []
        self.decisions: list[Decision] = []
        self.subscription_event_id: str | None = None
        self.availability_event_id: str | None = None
        self.reservation_event_id: str | None = None

    # --- events ----------------------------------------------------------------------------------

    @property
    def targets(self) -> list[Any]:
        """The VEN, in the VTN's version's target shape."""
        return self.vtn.targets_for(self.ven_name)

    def _descriptor(self, payload_type: str, *, price: bool = False) -> Json:
        descriptor: Json = {
            "objectType": "EVENT_PAYLOAD_DESCRIPTOR",
            "payloadType": payload_type,
            "units": "KW",
        }
        if price:
            descriptor["currency"] = self.currency
        return descriptor

    def install(self) -> None:
        """Post the subscription and availability events and take over the VTN's report hooks.

        After the VTN's :meth:`FakeVtn.restart`, installing again posts them anew.
        """
        self.reservation_event_id = None
        subscription = self.vtn.add_event(
            self.program_id,
            eventName="capacity_subscription",
            targets=self.targets,
            intervalPeriod={"start": format_time(self.subscription_start), "duration": "P9999Y"},
            payloadDescriptors=[self._descriptor(IMPORT_SUBSCRIPTION)],
            reportDescriptors=[
                {"payloadType": REQUEST_CAPACITY, "units": "KW", "reportIntervals": "OPEN_INTERVALS"},
                {"payloadType": REQUEST_FEE},
            ],
            intervals=[self._subscription_interval()],
        )
        self.subscription_event_id = subscription["id"]
        if self.announce_availability:
            availability = self.vtn.add_event(self.program_id, **self._availability_fields())
            self.availability_event_id = availability["id"]
        self.vtn.on_report = self.handle_report
        self.vtn.on_report_deleted = self.handle_report_deleted

    def _subscription_interval(self) -> Json:
        return {"id": 0, "payloads": [{"type": IMPORT_SUBSCRIPTION, "values": [self.subscription_kw]}]}

    def set_subscription(self, kw: float) -> Json:
        """Announce a new subscription level (the same event, updated)."""
        if self.subscription_event_id is None:
            raise RuntimeError("install() first")
        self.subscription_kw = kw
        return self.vtn.update_event(self.subscription_event_id, intervals=[self._subscription_interval()])

    def set_availability(self, availability: Sequence[tuple[datetime, timedelta, float, float]]) -> Json:
        """Replace the capacity on offer and re-post the availability event."""
        self._set_windows(availability)
        return self._publish_availability()

    def _set_windows(self, availability: Sequence[tuple[datetime, timedelta, float, float]]) -> None:
        self.windows = sorted(
            (Window(s, s + d, kw, p) for s, d, kw, p in availability), key=lambda w: w.start
        )
        # The utility's own window edges: pieces split off by reservations merge back, these never do.
        self._edges = {w.start for w in self.windows} | {w.end for w in self.windows}

    def _availability_fields(self) -> Json:
        windows = self.windows
        fields: Json = {
            "eventName": "capacity_available",
            "targets": self.targets,
            "payloadDescriptors": [
                self._descriptor(IMPORT_AVAILABLE),
                self._descriptor(IMPORT_AVAILABLE_PRICE, price=True),
            ],
        }
        back_to_back = all(
            b.start == a.end and b.end - b.start == a.end - a.start for a, b in itertools.pairwise(windows)
        )
        intervals: list[Json] = []
        for index, window in enumerate(windows):
            interval: Json = {"id": index}
            if not back_to_back:
                interval["intervalPeriod"] = _period(window.start, window.end)
            interval["payloads"] = [
                {"type": IMPORT_AVAILABLE, "values": [round(window.kw, 6)]},
                {"type": IMPORT_AVAILABLE_PRICE, "values": [window.price]},
            ]
            intervals.append(interval)
        if windows:
            first = windows[0]
            end = first.end if back_to_back else windows[-1].end
            fields["intervalPeriod"] = _period(first.start, end)
        fields["intervals"] = intervals
        return fields

    def _publish_availability(self) -> Json | None:
        if not self.announce_availability:
            return None
        if self.availability_event_id is None:
            raise RuntimeError("install() first")
        return self.vtn.update_event(self.availability_event_id, replace=True, **self._availability_fields())

    def _publish_reservations(self) -> None:
        if self.prune_expired:
            now = self.now()
            self.reservations = [r for r in self.reservations if r.end > now]
        intervals = [
            {
                "id": index,
                "intervalPeriod": _period(r.start, r.end),
                "payloads": [
                    *([{"type": IMPORT_RESERVATION, "values": [r.kw]}] if r.kw is not None else []),
                    {"type": IMPORT_RESERVATION_FEE, "values": [r.fee]},
                ],
            }
            for index, r in enumerate([*self.reservations, *self.quotes])
        ]
        fields: Json = {
            "eventName": "capacity_reservation",
            "targets": self.targets,
            "payloadDescriptors": [
                self._descriptor(IMPORT_RESERVATION),
                self._descriptor(IMPORT_RESERVATION_FEE, price=True),
            ],
            "intervals": intervals,
        }
        if self.reservation_event_id is None:
            self.reservation_event_id = self.vtn.add_event(self.program_id, **fields)["id"]
        else:
            self.vtn.update_event(self.reservation_event_id, replace=True, **fields)

    def doe(
        self,
        start: datetime,
        step: timedelta,
        import_kw: Sequence[float],
        export_kw: Sequence[float] | None = None,
        *,
        event_name: str = "doe",
    ) -> Json:
        """A Dynamic Operating Envelope (UG 8.10.1): back-to-back intervals of ``step``."""
        if export_kw is not None and len(export_kw) != len(import_kw):
            raise ValueError("import_kw and export_kw need the same length")
        descriptors = [self._descriptor(IMPORT_LIMIT)]
        if export_kw is not None:
            descriptors.append(self._descriptor(EXPORT_LIMIT))
        intervals = []
        for index, kw in enumerate(import_kw):
            payloads: list[Json] = [{"type": IMPORT_LIMIT, "values": [kw]}]
            if export_kw is not None:
                payloads.append({"type": EXPORT_LIMIT, "values": [export_kw[index]]})
            intervals.append({"id": index, "payloads": payloads})
        return self.vtn.add_event(
            self.program_id,
            eventName=event_name,
            targets=self.targets,
            intervalPeriod={"start": format_time(start), "duration": format_duration(step)},
            payloadDescriptors=descriptors,
            intervals=intervals,
        )

    def emergency(
        self,
        start: datetime,
        duration: timedelta,
        import_kw: float,
        *,
        message: str | None = "grid emergency",
        priority: int = 0,
    ) -> Json:
        """A forced reduction: the import limit drops to ``import_kw`` from ``start`` for ``duration``.

        Shape: eventName "emergency", ``priority`` 0 (the highest; a lower
        number is a higher priority), targeted at the VEN, one intervalPeriod
        and one interval carrying IMPORT_CAPACITY_LIMIT (kW) and, unless
        ``message`` is None, ALERT_GRID_EMERGENCY with that human-readable text.
        """
        payloads: list[Json] = [{"type": IMPORT_LIMIT, "values": [import_kw]}]
        descriptors = [self._descriptor(IMPORT_LIMIT)]
        if message is not None:
            payloads.append({"type": ALERT_GRID_EMERGENCY, "values": [message]})
            descriptors.append(
                {"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": ALERT_GRID_EMERGENCY}
            )
        return self.vtn.add_event(
            self.program_id,
            eventName="emergency",
            priority=priority,
            targets=self.targets,
            intervalPeriod={"start": format_time(start), "duration": format_duration(duration)},
            payloadDescriptors=descriptors,
            intervals=[{"id": 0, "payloads": payloads}],
        )

    # --- requests --------------------------------------------------------------------------------

    def _own_event_ids(self) -> set[str]:
        ids = (self.subscription_event_id, self.availability_event_id, self.reservation_event_id)
        return {i for i in ids if i is not None}

    def handle_report(self, report: Json) -> None:
        """A report was stored (POST or PUT): decide each requested interval and publish."""
        if report.get("eventID") not in self._own_event_ids():
            return
        requests = _reservation_requests(report, self.now())
        if not requests:
            return
        report_id = str(report["id"])
        released = self._release(report_id)
        quoted, self.quotes = bool(self.quotes), []
        granted = False
        for request in requests:
            decision = self._decide(report_id, request)
            self.decisions.append(decision)
            granted = granted or decision.outcome == GRANTED
            if decision.outcome == DENIED_FEE and self.fee_answer != FEE_IN_AVAILABILITY:
                self.quotes.append(self._quote(report_id, request))
        if granted or released or quoted or self.quotes:
            self._publish_reservations()
        self._publish_availability()

    def _quote(self, report_id: str, request: _Request) -> Reservation:
        """The fee asked for a refused interval, as the reservation event lists it (see ``fee_answer``)."""
        assert request.start is not None
        assert request.end is not None
        covering = self._covering(request.start, request.end) or []
        price = max((w.price for w in covering), default=0.0)
        kw = {FEE_AT_ZERO_KW: 0.0, FEE_ONLY: None, FEE_ON_THE_KW: request.kw}[self.fee_answer]
        return Reservation(report_id, request.interval_id or 0, request.start, request.end, kw, price)

    def handle_report_deleted(self, report: Json) -> None:
        """A report was deleted: its reservations end and their capacity is on offer again.

        Unless ``withdraw_on_delete`` is off: then nothing changes (the grant stays listed).
        """
        if self.withdraw_on_delete and self._release(str(report.get("id"))):
            self._publish_reservations()
            self._publish_availability()

    def _release(self, report_id: str) -> bool:
        mine = [r for r in self.reservations if r.report_id == report_id]
        for reservation in mine:
            self._split_at(reservation.start)
            self._split_at(reservation.end)
            for window in self.windows:
                if reservation.start <= window.start and window.end <= reservation.end:
                    window.kw += reservation.kw
            self.reservations.remove(reservation)
        self._merge()
        return bool(mine)

    def _on_grid(self, moment: datetime, duration: timedelta) -> bool:
        step = self.grid.total_seconds()
        return (
            duration > timedelta(0)
            and moment.timestamp() % step == 0
            and duration.total_seconds() % step == 0
        )

    def _decide(self, report_id: str, request: _Request) -> Decision:
        def decision(outcome: str, fee_charged: float | None = None) -> Decision:
            return Decision(
                report_id,
                request.interval_id,
                request.start,
                request.end,
                request.kw,
                request.fee,
                outcome,
                fee_charged,
            )

        start, end, kw = request.start, request.end, request.kw
        if start is None or end is None or kw is None or kw <= 0:
            return decision(REJECTED_INVALID)
        if not self._on_grid(start, end - start):
            return decision(REJECTED_GRID)
        if self.prune_expired and end <= self.now():
            return decision(REJECTED_PAST)
        covering = self._covering(start, end)
        if covering is None or min(w.kw for w in covering) + EPSILON < kw:
            return decision(DENIED_CAPACITY)
        price = max(w.price for w in covering)
        if request.fee + EPSILON < price:
            return decision(DENIED_FEE)
        self._split_at(start)
        self._split_at(end)
        for window in self.windows:
            if start <= window.start and window.end <= end:
                window.kw = max(window.kw - kw, 0.0)
        self.reservations.append(Reservation(report_id, request.interval_id or 0, start, end, kw, price))
        return decision(GRANTED, price)

    def _covering(self, start: datetime, end: datetime) -> list[Window] | None:
        """The windows that together cover [start, end) without a gap, or None."""
        overlapping = [w for w in self.windows if w.start < end and w.end > start]
        cursor = start
        for window in overlapping:
            if window.start > cursor:
                return None
            cursor = max(cursor, window.end)
        return overlapping if cursor >= end else None

    def _split_at(self, moment: datetime) -> None:
        for index, window in enumerate(self.windows):
            if window.start < moment < window.end:
                tail = Window(moment, window.end, window.kw, window.price)
                window.end = moment
                self.windows.insert(index + 1, tail)
                return

    def _merge(self) -> None:
        merged: list[Window] = []
        for window in self.windows:
            last = merged[-1] if merged else None
            if (
                last is not None
                and last.end == window.start
                and window.start not in self._edges
                and math.isclose(last.kw, window.kw)
                and last.price == window.price
            ):
                last.end = window.end
            else:
                merged.append(window)
        self.windows = merged


def _period(start: datetime, end: datetime) -> Json:
    return {"start": format_time(start), "duration": format_duration(end - start)}


def _first_number(payloads: Any, names: Sequence[str]) -> float | None:
    found: dict[str, float] = {}
    for payload in payloads if isinstance(payloads, list) else ():
        values = payload.get("values") if isinstance(payload, dict) else None
        if isinstance(values, list) and values and _is_number(values[0]):
            found.setdefault(str(payload.get("type")), float(values[0]))
    return next((found[name] for name in names if name in found), None)


def _units_scale(report: Json) -> float:
    for descriptor in report.get("payloadDescriptors") or ():
        if isinstance(descriptor, dict) and descriptor.get("payloadType") in REQUEST_CAPACITY_NAMES:
            return KW_PER_UNIT.get(str(descriptor.get("units") or "KW").upper(), 1.0)
    return 1.0


def _reservation_requests(report: Json, now: datetime) -> list[_Request]:
    """One request per report interval that carries a reservation capacity.

    An interval's period is its own intervalPeriod, else it follows the
    previous one from the resource's intervalPeriod, each lasting the
    resource's duration (as for event intervals).
    """
    scale = _units_scale(report)
    requests: list[_Request] = []
    for resource in report.get("resources") or ():
        period = resource.get("intervalPeriod") or {}
        try:
            cursor: datetime | None = parse_start(period["start"], now) if "start" in period else None
            default = parse_duration(period["duration"]) if "duration" in period else None
        except TypeError, ValueError:
            cursor = default = None
        for interval in resource.get("intervals") or ():
            kw = _first_number(interval.get("payloads"), REQUEST_CAPACITY_NAMES)
            if kw is None:
                continue
            fee = _first_number(interval.get("payloads"), REQUEST_FEE_NAMES) or 0.0
            own = interval.get("intervalPeriod") or {}
            try:
                start = parse_start(own["start"], now) if "start" in own else cursor
                duration = parse_duration(own["duration"]) if "duration" in own else default
            except TypeError, ValueError:
                start = duration = None
            end = start + duration if start is not None and duration is not None else None
            requests.append(_Request(interval.get("id"), start, end, kw * scale, fee))
            cursor = end
    return requests
