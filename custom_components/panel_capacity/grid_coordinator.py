"""The grid's side of a panel: subscription, reservations and envelopes, from options or OpenADR 3.

Without a server the coordinator only holds the user's grid settings (a
subscription, a daily limit schedule, an export limit). With one it polls the
server's events, keeps what the server said (``grid.state.Heard``), answers
reservation requests, keeps the reservations across restarts, and tells the
panel when a limit starts or ends so the panel acts on the second. Which of the
grid's limits apply is decided by one pure function, ``grid.state.grid_state``,
from what the server said and what this home asked; the panel, the sensors and
the diagnostics all read its result (``state_at``).

Polling never stops for good: failures back off to at most two poll
intervals (and five minutes); credentials refused are retried on that pace
too, and Home Assistant asks for new ones only when the refusal has lasted
three polls in a row (a server restarting may refuse a token for a moment).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
import math
from typing import TYPE_CHECKING, Any, TypedDict
import uuid

from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import CONF_CLIENT_ID, CONF_CLIENT_SECRET, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.storage import Store
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from .const import (
    AUTH_REFUSALS_BEFORE_REAUTH,
    CONF_EMERGENCY_LIMIT_KW,
    CONF_EXPORT_LIMIT_KW,
    CONF_GRID_SERVER,
    CONF_LIMIT_SCHEDULE,
    CONF_POLL_INTERVAL_S,
    CONF_PROGRAM,
    CONF_PROTOCOL_VERSION,
    CONF_SUBSCRIPTION_KW,
    CONF_TARGETS,
    CONF_VEN_NAME,
    DEFAULT_EMERGENCY_LIMIT_KW,
    DEFAULT_POLL_INTERVAL_S,
    DOMAIN,
    EVENT_RESERVATION,
    GRID_STORAGE_VERSION,
    LOGGER,
    MAX_BACKOFF_S,
    PENDING_POLL_S,
    PENDING_TIMEOUT_S,
    STORAGE_SAVE_DELAY_S,
    VEN_CHECK_S,
)
from .grid.client import (
    REQUEST_TIMEOUT_S,
    VERSION_301,
    VERSION_310,
    OpenAdrAuthError,
    OpenAdrClient,
    OpenAdrError,
    OpenAdrNotSupportedError,
    OpenAdrResponseError,
    ProgramNotFoundError,
    shown_url,
)
from .grid.model import GridDataError, Ven, parse_event
from .grid.reservations import (
    Reservation,
    ReservationStatus,
    check_request,
    fingerprint,
    infer_answer,
    request_report,
)
from .grid.schedule import (
    GridPolicy,
    GridSchedule,
    GridTerms,
    ScheduleError,
    build_schedule,
    parse_daily_schedule,
    upcoming,
)
from .grid.state import FOREVER, GridState, Heard, grid_state, heard_answer, heard_nothing, in_force

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry

# An error message echoes this much of a request id it was given (ours have 12 characters).
SHOWN_ID_CHARS = 24


class GridConnection:
    """States of the connection to the server."""

    NOT_CONFIGURED = "not_configured"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    UNREACHABLE = "unreachable"
    AUTH_FAILED = "auth_failed"
    PROGRAM_NOT_FOUND = "program_not_found"
    BAD_ANSWER = "bad_answer"  # answers, but with something unusable (not JSON, too large, refused)
    # Answers, but with nothing for this home: its ven object is missing or has no targets,
    # so events targeted at it stay invisible until the utility grants them.
    NOT_REGISTERED = "not_registered"

    ALL = (
        NOT_CONFIGURED,
        CONNECTING,
        CONNECTED,
        UNREACHABLE,
        AUTH_FAILED,
        PROGRAM_NOT_FOUND,
        BAD_ANSWER,
        NOT_REGISTERED,
    )
    ANSWERING = (CONNECTED, NOT_REGISTERED)  # the last poll had an answer


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSettings:
    """How to reach the utility's OpenADR 3 server (VTN)."""

    url: str
    client_id: str
    client_secret: str = field(repr=False)
    program: str
    ven_name: str
    version: str = VERSION_310
    verify_ssl: bool = True
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S
    targets: tuple[str, ...] = ()  # group or resource names this home's events may be targeted at

    @classmethod
    def from_data(cls, data: Any) -> ServerSettings | None:
        """The server settings kept in a config entry's data, if any."""
        if not isinstance(data, dict) or not data.get(CONF_URL):
            return None
        return cls(
            url=str(data[CONF_URL]),
            client_id=str(data.get(CONF_CLIENT_ID, "")),
            client_secret=str(data.get(CONF_CLIENT_SECRET, "")),
            program=str(data.get(CONF_PROGRAM, "")),
            ven_name=str(data.get(CONF_VEN_NAME, "")),
            version=VERSION_301 if data.get(CONF_PROTOCOL_VERSION) == VERSION_301 else VERSION_310,
            verify_ssl=bool(data.get(CONF_VERIFY_SSL, True)),
            poll_interval_s=float(data.get(CONF_POLL_INTERVAL_S, DEFAULT_POLL_INTERVAL_S)),
            targets=tuple(
                name.strip() for name in str(data.get(CONF_TARGETS) or "").split(",") if name.strip()
            ),
        )


def make_client(hass: HomeAssistant, server: ServerSettings) -> OpenAdrClient:
    """A client on Home Assistant's shared session (certificates verified unless turned off)."""
    session = async_get_clientsession(hass, verify_ssl=server.verify_ssl)
    return OpenAdrClient(
        session,
        server.url,
        server.client_id,
        server.client_secret,
        version=server.version,
        timeout_s=REQUEST_TIMEOUT_S,
    )


def _safe_repr(value: Any, limit: int = 200) -> str:
    """A short text for an object from the server, whatever it holds."""
    try:
        return repr(value)[:limit]
    except Exception:  # noqa: BLE001 - e.g. an integer too long to print
        return f"<{type(value).__name__}>"


def _watts(value: Any) -> float | None:
    """A stored power (or any number that must be finite and not negative), if it is one."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        return None
    return float(value)


def _kw(options: Any, key: str) -> float | None:
    """An option in kW, in W."""
    value = _watts(options.get(key))
    return None if value is None else value * 1000.0


def policy_from_options(options: Any) -> GridPolicy:
    """The grid settings kept in the options (a damaged schedule is left out, and logged)."""
    try:
        daily = parse_daily_schedule(str(options.get(CONF_LIMIT_SCHEDULE) or ""))
    except ScheduleError as err:
        LOGGER.warning("Ignoring the limit schedule: %s", err)
        daily = ()
    emergency = _kw(options, CONF_EMERGENCY_LIMIT_KW)
    return GridPolicy(
        subscription_w=_kw(options, CONF_SUBSCRIPTION_KW),
        export_limit_w=_kw(options, CONF_EXPORT_LIMIT_KW),
        emergency_limit_w=emergency if emergency is not None else DEFAULT_EMERGENCY_LIMIT_KW * 1000,
        daily=daily,
    )


class StoredGrid(TypedDict):
    """What the grid side keeps across restarts (never the cached envelopes)."""

    reservations: list[dict[str, Any]]
    server_subscription_w: float | None
    server_export_subscription_w: float | None


@dataclass(slots=True)
class GridData:
    """What the grid side knows, for entities and the panel (the terms: ``GridCoordinator.state_at``)."""

    connection: str
    heard: Heard = field(default_factory=Heard)  # what the server said, as far as it still holds
    reservations: list[Reservation] = field(default_factory=list)  # what this home asked
    last_success: datetime | None = None
    last_error: str | None = None
    program_id: str | None = None
    ven: Ven | None = None  # this VEN's ven object on the server, when it has one


class GridCoordinator(DataUpdateCoordinator[GridData]):
    """Polls the utility's server, when there is one, and keeps the grid's limits."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
        """Read the settings; nothing is sent until the first refresh."""
        self.server = ServerSettings.from_data(entry.data.get(CONF_GRID_SERVER))
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{entry.title} grid",
            update_interval=timedelta(seconds=self.server.poll_interval_s) if self.server else None,
        )
        self.policy = policy_from_options(entry.options)
        self.client = make_client(hass, self.server) if self.server else None
        if self.server is not None and not self.server.verify_ssl:
            # Once per setup: the options allow it for a local test server, never silently.
            LOGGER.warning(
                "Certificate verification is off for the grid server %s%s: turn it on in the panel's"
                " options (Utility server) unless this is a local test server",
                shown_url(self.server.url),
                " (plain HTTP: the client secret and tokens travel unencrypted)"
                if self.server.url.lower().startswith("http://")
                else "",
            )
        self._store = self._make_store(hass, entry)
        self._saved: StoredGrid | None = None
        self._program_id: str | None = None
        self._failures = 0
        self._refusals = 0  # polls in a row whose credentials were refused
        self._ven_checked: datetime | None = None
        self._ven_readable = False  # the server shows this VEN its ven objects
        self._nothing_for_us = False  # its last answer had no event for this home
        self._registered_at: datetime | None = None  # when this VEN last asked to be registered
        self._logged_bad: set[str] = set()
        self._boundary_unsub: CALLBACK_TYPE | None = None
        self._state: tuple[GridData, GridPolicy, GridState] | None = None
        self._first_seen: dict[tuple[str, str], datetime] = {}  # when each event version was first read
        self.on_change: Callable[[], None] | None = None  # the panel's step
        self.data = GridData(
            connection=GridConnection.CONNECTING if self.server else GridConnection.NOT_CONFIGURED
        )

    @property
    def configured(self) -> bool:
        """Whether any grid limit is set up: a server, a subscription, a schedule or an export limit."""
        policy = self.policy
        return bool(
            self.server
            or policy.subscription_w is not None
            or policy.daily
            or policy.export_limit_w is not None
        )

    # ------------------------------------------------------------- lifecycle

    async def async_load(self) -> None:
        """Take back the reservations and the last subscription the server announced."""
        stored = await self._store.async_load()
        reservations: list[Reservation] = []
        heard = Heard()
        if isinstance(stored, dict):
            for raw in stored.get("reservations") or ():
                reservation = Reservation.from_dict(raw)
                if reservation is not None:
                    reservations.append(reservation)
            if self.server is not None:
                # After a restart (perhaps a power outage) cached envelopes are not trusted:
                # only the last subscriptions the server announced hold until it is read again.
                heard = Heard(
                    subscription_w=_watts(stored.get("server_subscription_w")),
                    export_subscription_w=_watts(stored.get("server_export_subscription_w")),
                )
        self.data = replace(self.data, reservations=reservations, heard=heard)

    @callback
    def async_shutdown_timers(self) -> None:
        """Cancel the boundary timer."""
        if self._boundary_unsub is not None:
            self._boundary_unsub()
            self._boundary_unsub = None

    def _stored(self) -> StoredGrid:
        return {
            "reservations": [reservation.as_dict() for reservation in self.data.reservations],
            "server_subscription_w": self.data.heard.subscription_w,
            "server_export_subscription_w": self.data.heard.export_subscription_w,
        }

    async def async_unload(self) -> None:
        """Stop the timers and write what must survive a restart now."""
        self.async_shutdown_timers()
        await self._store.async_save(self._stored())

    @callback
    def _save(self) -> None:
        """Write soon, when something worth keeping changed."""
        stored = self._stored()
        if stored != self._saved:
            self._saved = stored
            self._store.async_delay_save(self._stored, STORAGE_SAVE_DELAY_S)

    @staticmethod
    def _make_store(hass: HomeAssistant, entry: ConfigEntry[Any]) -> Store[StoredGrid]:
        return Store(hass, GRID_STORAGE_VERSION, f"{DOMAIN}.{entry.entry_id}.grid")

    @classmethod
    async def async_remove_store(cls, hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
        """Forget what a removed panel stored about the grid."""
        await cls._make_store(hass, entry).async_remove()

    # ----------------------------------------------------------------- terms

    def state_at(self, now: datetime) -> GridState:
        """The grid's state at ``now``: the terms in force, decided by ``grid_state``.

        They only change when what the server said, what this home asked or
        the settings change, or at a window's start or end: they are worked out
        once per stretch between two such moments, not at every step.
        """
        cached = self._state
        data = self.data
        if cached is not None and cached[0] is data and cached[1] is self.policy and cached[2].holds_at(now):
            return cached[2]
        state = grid_state(data.heard, data.reservations, self.policy, now, dt_util.as_local(now))
        self._state = (data, self.policy, state)
        return state

    def terms_at(self, now: datetime) -> GridTerms:
        """The grid's limit terms in force at ``now`` (W)."""
        return self.state_at(now).terms

    @callback
    def async_track_boundaries(self) -> None:
        """Wake the panel when a window starts or ends, to the second."""
        self.async_shutdown_timers()
        until = self.state_at(dt_util.utcnow()).until
        if until < FOREVER:
            self._boundary_unsub = async_track_point_in_utc_time(self.hass, self._on_boundary, until)

    @callback
    def _on_boundary(self, _now: datetime) -> None:
        self._boundary_unsub = None
        self._notify()
        self.async_track_boundaries()

    @callback
    def _notify(self) -> None:
        if self.on_change is not None:
            self.on_change()

    # --------------------------------------------------------------- polling

    async def _async_update_data(self) -> GridData:
        """Read the events; never raises, so the grid's entities keep their last values."""
        if self.client is None or self.server is None:
            return self.data
        now = dt_util.utcnow()
        try:
            if self._program_id is None:
                self._program_id = (await self.client.find_program(self.server.program)).program_id
            ven = await self._check_ven(self.client, self.server.ven_name, now)
            raw_events = await self.client.events(self._program_id)
        except OpenAdrAuthError as err:
            return self._auth_failed(str(err), now)
        except OpenAdrNotSupportedError as err:
            if self._program_id is None:
                return self._failed(GridConnection.PROGRAM_NOT_FOUND, str(err), now)
            return self._failed(GridConnection.UNREACHABLE, str(err), now)
        except ProgramNotFoundError as err:
            return self._failed(GridConnection.PROGRAM_NOT_FOUND, str(err), now)
        except OpenAdrResponseError as err:
            return self._failed(GridConnection.BAD_ANSWER, str(err), now)
        except OpenAdrError as err:
            return self._failed(GridConnection.UNREACHABLE, str(err), now)
        try:
            return self._succeeded(raw_events, now, ven)
        except Exception as err:  # noqa: BLE001
            # Whatever the server sent, the loop goes on: the answer counts as unusable.
            # Not its traceback: the text of an error about the server's data may echo what it sent.
            LOGGER.debug("Grid data could not be used: %s", self._redact(_safe_repr(err, 4000))[:200])
            return self._failed(GridConnection.BAD_ANSWER, f"unusable data ({type(err).__name__})", now)

    async def _check_ven(self, client: OpenAdrClient, name: str, now: datetime) -> Ven | None:
        """Find the ven object of this VEN, or create it where the server lets a VEN do it.

        Read at the first poll, then hourly, and at every poll while the server
        answers with nothing for this home (waiting for the utility to grant it
        targets, or a server that lost its data); created at most hourly, or
        again at once when the one known is gone. A server that does not show a
        VEN its ven objects, or does not let it create one, is not an error.
        """
        known = self.data.ven
        waiting = self._ven_readable and self._nothing_for_us
        if (
            self._ven_checked is not None
            and not waiting
            and now - self._ven_checked < timedelta(seconds=VEN_CHECK_S)
        ):
            return known
        self._ven_checked = now
        try:
            ven = await client.find_ven(name)
        except OpenAdrResponseError as err:
            LOGGER.debug("The grid server shows no ven objects: %s", err)
            self._ven_readable = False
            return known
        self._ven_readable = True
        last = self._registered_at
        if ven is None and (
            known is not None or last is None or now - last >= timedelta(seconds=VEN_CHECK_S)
        ):
            self._registered_at = now
            try:
                ven = await client.register_ven(name)
                LOGGER.info("Registered this VEN (%s) with the grid server", name)
            except OpenAdrResponseError as err:
                # Not allowed, or the name is another client's: the utility has to register it.
                LOGGER.info("The grid server did not register this VEN (%s): %s", name, err)
        return ven

    def _parse(self, raw_events: list[Any], now: datetime, ven: Ven | None) -> GridSchedule:
        events = []
        seen: dict[tuple[str, str], datetime] = {}
        for raw in raw_events:
            try:
                key = (str(raw.get("id"))[:128], str(raw.get("modificationDateTime"))[:64])
                first_seen = self._first_seen.get(key, now)
                event = parse_event(raw, now, first_seen)
                seen[key] = first_seen
            except Exception as err:  # noqa: BLE001 - a malformed event is skipped, whatever is wrong with it
                message = (
                    self._redact(str(err))[:200] if isinstance(err, GridDataError) else type(err).__name__
                )
                self._log_bad(_safe_repr(raw), f"an event was left out: {message}")
                continue
            if event.skipped:
                self._log_bad(
                    f"{event.event_id}:{event.modified}", f"event {event.event_id}: {event.skipped}"
                )
            if event.program_id is not None and event.program_id != self._program_id:
                continue
            if not self._for_us(event.targets, ven):
                continue
            events.append(event)
        self._first_seen = seen  # forget events the server no longer lists
        return build_schedule(events)

    def _for_us(self, targets: tuple[str, ...], ven: Ven | None) -> bool:
        """Untargeted events, and those targeted at this VEN, an extra target or one it was granted."""
        if not targets or self.server is None:
            return True
        granted = ven.targets if ven is not None else ()
        return bool({self.server.ven_name, *self.server.targets, *granted} & set(targets))

    def _log_bad(self, key: str, message: str) -> None:
        if key not in self._logged_bad:
            self._logged_bad.add(key)
            LOGGER.warning("Ignoring part of the grid server's data: %s", self._redact(message))

    def _redact(self, text: str) -> str:
        """A text from or about the server, without the secret or a token (a server may echo them)."""
        return self.client.redact(text) if self.client is not None else text

    def _succeeded(self, raw_events: list[Any], now: datetime, ven: Ven | None = None) -> GridData:
        if self._failures:
            LOGGER.info(
                "The grid server %s is reachable again", shown_url(self.server.url) if self.server else ""
            )
        self._failures = 0
        if self._refusals:
            self._refusals = 0
            self._end_reauth()
        ven = ven or self.data.ven
        answer = self._parse(raw_events, now, ven)
        heard = heard_answer(self.data.heard, answer, now)
        program_id = self._program_id or self.data.program_id
        self._nothing_for_us = answer.events == 0
        if self._nothing_for_us:
            self._program_id = None  # a server that lost its data may have made the program again
        # The answers are read from the server's list as it stands for this home (less what it cancelled).
        reservations = self._answer(in_force(heard, self.data.reservations), self.data.reservations, now)
        self._set_interval(reservations)
        # Nothing for this home, and the server shows it has not granted this VEN any target.
        unregistered = answer.events == 0 and self._ven_readable and (ven is None or not ven.targets)
        data = GridData(
            connection=GridConnection.NOT_REGISTERED if unregistered else GridConnection.CONNECTED,
            heard=heard,
            reservations=reservations,
            last_success=now,
            program_id=program_id,
            ven=ven,
        )
        self._after_update(data)
        return data

    def _failed(self, connection: str, message: str, now: datetime) -> GridData:
        """A poll that failed: what the server said holds as it was (each limit to its own end)."""
        message = self._redact(message)
        self._failures += 1
        if self._failures == 1:
            LOGGER.warning(
                "Cannot read the grid server %s: %s",
                shown_url(self.server.url) if self.server else "",
                message,
            )
        self._program_id = None  # look it up again: the server may have made it again
        self._set_interval(self.data.reservations)
        data = replace(
            self.data, connection=connection, last_error=message[:200], heard=heard_nothing(self.data.heard)
        )
        self._after_update(data)
        return data

    def _auth_failed(self, message: str, now: datetime) -> GridData:
        """Credentials refused: polled again on the back-off; new ones asked for if it lasts."""
        message = self._redact(message)
        self._refusals += 1
        if self._refusals == 1:
            LOGGER.warning("The grid server refused the credentials: %s", message)
        if self._refusals == AUTH_REFUSALS_BEFORE_REAUTH and self.config_entry is not None:
            self.config_entry.async_start_reauth(self.hass)
        return self._failed(GridConnection.AUTH_FAILED, message, now)

    def _end_reauth(self) -> None:
        """The credentials work again: a request for new ones still open is withdrawn."""
        if self.config_entry is None:
            return
        for flow in self.config_entry.async_get_active_flows(self.hass, {SOURCE_REAUTH}):
            self.hass.config_entries.flow.async_abort(flow["flow_id"])

    @callback
    def async_resume(self) -> None:
        """Poll now and at the normal pace (the credentials or the settings were confirmed)."""
        if self.server is None:
            return
        self._failures = 0
        self._refusals = 0
        self._set_interval(self.data.reservations)
        self.hass.async_create_task(self.async_refresh(), f"{DOMAIN} grid poll")

    def _after_update(self, data: GridData) -> None:
        now = dt_util.utcnow()
        old_terms = self.terms_at(now)
        self.data = data
        self._save()
        self.async_track_boundaries()
        if self.terms_at(now) != old_terms:
            self._notify()

    def _set_interval(self, reservations: list[Reservation]) -> None:
        if self.server is None:
            return
        interval = self.server.poll_interval_s
        if self._failures:
            # Back off, but notice a returning server within two poll intervals (five minutes at most).
            longest = max(interval, min(2 * interval, MAX_BACKOFF_S))
            interval = min(interval * 2 ** min(self._failures, 16), longest)
        elif any(self._waiting(reservation) for reservation in reservations):
            interval = min(interval, PENDING_POLL_S)
        self.update_interval = timedelta(seconds=interval)

    @staticmethod
    def _waiting(reservation: Reservation) -> bool:
        age = dt_util.utcnow() - reservation.posted_at
        return reservation.status is ReservationStatus.PENDING and age < timedelta(seconds=PENDING_TIMEOUT_S)

    def _answer(
        self, schedule: GridSchedule, reservations: list[Reservation], now: datetime
    ) -> list[Reservation]:
        """Read the server's answers to our requests; fire an event for each change."""
        answered: list[Reservation] = []
        for reservation in reservations:  # in the order they were made: earlier grants come first
            if reservation.end <= now - timedelta(days=1):
                continue  # long over: forget it
            new = infer_answer(reservation, schedule, answered, now)
            if new.status is not reservation.status:
                self._fire(new)
            answered.append(new)
        return answered

    @callback
    def _fire(self, reservation: Reservation) -> None:
        entry_id = self.config_entry.entry_id if self.config_entry else None
        LOGGER.info(
            "Reservation of %.1f kW from %s: %s",
            reservation.requested_w / 1000,
            reservation.start,
            reservation.status,
        )
        self.hass.bus.async_fire(
            EVENT_RESERVATION, {"entry_id": entry_id} | reservation_response(reservation)
        )

    # ---------------------------------------------------------- reservations

    async def async_request_reservation(
        self, start: datetime, duration: timedelta, power_w: float, max_fee: float, wait: timedelta
    ) -> Reservation:
        """Ask the server for extra import capacity; wait up to ``wait`` for its answer."""
        if self.client is None or self.server is None:
            raise HomeAssistantError(translation_domain=DOMAIN, translation_key="no_grid_server")
        now = dt_util.utcnow()
        # Whole seconds, as the report carries them: the server's grant then matches exactly.
        start = start.replace(microsecond=0)
        duration = timedelta(seconds=round(duration.total_seconds()))
        check_request(start, duration, power_w, max_fee, now)
        try:
            if self._program_id is None:
                self._program_id = (await self.client.find_program(self.server.program)).program_id
            # Fresh events: the answer is read from how they change after the request.
            self.async_set_updated_data(self._succeeded(await self.client.events(self._program_id), now))
            schedule = self.data.heard.answer or GridSchedule()
            if schedule.request_event_id is None:
                raise HomeAssistantError(translation_domain=DOMAIN, translation_key="no_reservation_program")
            reservation = Reservation(
                request_id=uuid.uuid4().hex[:12],
                start=start,
                end=start + duration,
                requested_w=power_w,
                max_fee=max_fee,
                posted_at=now,
                event_id=schedule.request_event_id,
                reservation_fp=fingerprint(schedule.reservation_fingerprint),
                availability_fp=fingerprint(schedule.availability_fingerprint),
            )
            report = request_report(
                reservation,
                schedule.request_event_id,
                self.server.ven_name,
                self._program_id if self.server.version == VERSION_301 else None,
                f"{self.hass.config.currency}_PER_KW",
            )
            created = await self.client.post_report(report)
        except OpenAdrAuthError as err:
            self.async_set_updated_data(self._auth_failed(str(err), now))
            raise HomeAssistantError(translation_domain=DOMAIN, translation_key="grid_auth_failed") from err
        except OpenAdrError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="grid_request_failed",
                translation_placeholders={"error": self._redact(str(err))[:200]},
            ) from err
        report_id = created.get("id")
        reservation = replace(reservation, report_id=str(report_id) if report_id is not None else None)
        self._fire(reservation)
        reservations = [*self.data.reservations, reservation]
        self._set_interval(reservations)  # before the update, which schedules the next poll
        self.async_set_updated_data(replace(self.data, reservations=reservations))
        self._save()
        return await self._await_answer(reservation.request_id, wait)

    async def _await_answer(self, request_id: str, wait: timedelta) -> Reservation:
        """Poll fast until the request is answered or ``wait`` is over."""
        deadline = dt_util.utcnow() + wait
        while True:
            current = self.reservation(request_id)
            if current is None or current.status is not ReservationStatus.PENDING:
                break
            if dt_util.utcnow() >= deadline:
                break
            await self.async_refresh()
            current = self.reservation(request_id)
            if current is None or current.status is not ReservationStatus.PENDING:
                break
            remaining = (deadline - dt_util.utcnow()).total_seconds()
            if remaining <= 0:
                break
            await asyncio.sleep(min(2.0, remaining))
        result = self.reservation(request_id)
        assert result is not None  # noqa: S101 - requests are only dropped a day after they end
        return result

    def reservation(self, request_id: str) -> Reservation | None:
        """One of our requests by its id."""
        for reservation in self.data.reservations:
            if reservation.request_id == request_id:
                return reservation
        return None

    async def async_cancel_reservation(self, request_id: str) -> Reservation:
        """Withdraw a request; HomeAssistantError when the server does not allow it.

        An id that names no request of ours (or one already cancelled) is the
        caller's mistake: a ServiceValidationError, which Home Assistant answers
        without logging it as an error of the integration.
        """
        reservation = self.reservation(request_id)
        if reservation is None or reservation.status is ReservationStatus.CANCELLED:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="unknown_reservation",
                translation_placeholders={"request_id": shown_id(request_id)},
            )
        if self.client is None or reservation.report_id is None:
            raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_grid_server")
        try:
            await self.client.delete_report(reservation.report_id)
        except OpenAdrNotSupportedError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN, translation_key="cancel_not_supported"
            ) from err
        except OpenAdrAuthError as err:
            raise HomeAssistantError(translation_domain=DOMAIN, translation_key="grid_auth_failed") from err
        except OpenAdrError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="grid_request_failed",
                translation_placeholders={"error": self._redact(str(err))[:200]},
            ) from err
        # It stops raising the limit at once, whether or not the server withdraws the grant.
        listed = self.data.heard.answer.reservation_fingerprint if self.data.heard.answer else ()
        cancelled = replace(
            reservation,
            status=ReservationStatus.CANCELLED,
            granted_w=0.0,
            cancelled_w=reservation.granted_w if reservation.status is ReservationStatus.GRANTED else 0.0,
            reservation_fp=fingerprint(listed),
            decided_at=dt_util.utcnow(),
        )
        self._fire(cancelled)
        reservations = [cancelled if r.request_id == request_id else r for r in self.data.reservations]
        self._after_update(replace(self.data, reservations=reservations))
        self.async_update_listeners()
        await self.async_request_refresh()
        return cancelled

    # ---------------------------------------------------------------- views

    def upcoming_availability(self, now: datetime) -> list[dict[str, Any]]:
        """The capacity the server offers from now on, with its price."""
        return [
            {
                "start": window.start.isoformat(),
                "end": window.end.isoformat(),
                "available_kw": round(window.value_w / 1000, 3),
                "price_per_kw": window.price,
            }
            for window in upcoming(self.state_at(now).schedule.availability, now)
        ]

    def available_w(self, now: datetime) -> float | None:
        """The capacity on offer in the first window not yet over (W)."""
        coming = upcoming(self.state_at(now).schedule.availability, now, 1)
        return coming[0].value_w if coming else None

    def next_reservation(self, now: datetime) -> Reservation | None:
        """The granted reservation in force now, or the next one to start."""
        granted = [r for r in self.data.reservations if r.status is ReservationStatus.GRANTED and r.end > now]
        return min(granted, key=lambda r: r.start) if granted else None

    def last_reservation(self) -> Reservation | None:
        """The request made most recently (they are kept in the order they were made)."""
        return self.data.reservations[-1] if self.data.reservations else None

    def fees_committed(self, now: datetime) -> float:
        """What the granted reservations not yet over cost (fee per kW x kW)."""
        return round(sum(r.committed_fee for r in self.data.reservations if r.end > now), 2)


def async_resume_polling(entry: ConfigEntry[Any]) -> None:
    """Poll a loaded panel's server now: its settings were saved unchanged, so nothing reloads."""
    runtime = getattr(entry, "runtime_data", None)
    grid = getattr(runtime, "grid", None)
    if entry.state is ConfigEntryState.LOADED and isinstance(grid, GridCoordinator):
        grid.async_resume()


def shown_id(request_id: str) -> str:
    """A request id as an error message shows it: ours are 12 characters, anything longer is cut."""
    return request_id if len(request_id) <= SHOWN_ID_CHARS else f"{request_id[:SHOWN_ID_CHARS]}…"


def reservation_response(reservation: Reservation) -> dict[str, Any]:
    """A reservation as services and events report it."""
    return {
        "request_id": reservation.request_id,
        "status": reservation.status.value,
        "start": reservation.start.isoformat(),
        "end": reservation.end.isoformat(),
        "requested_kw": round(reservation.requested_w / 1000, 3),
        "granted_kw": round(reservation.granted_w / 1000, 3),
        "fee_per_kw": reservation.fee,
        "required_fee_per_kw": reservation.required_fee,
        "max_fee_per_kw": reservation.max_fee,
        "report_id": reservation.report_id,
    }
