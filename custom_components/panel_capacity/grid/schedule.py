"""The grid's limits over time: subscription, reservations, envelopes, emergencies.

Plain Python, no Home Assistant imports. ``build_schedule`` reduces the events
read from the server to windows of time; ``grid_terms`` says which limits are
in force at a moment, as named terms for the engine, which takes the minimum of
them and the panel's own terms: the grid can lower the limit, never raise it
above what the panel carries.

The fallback follows the OpenADR 3 User Guide (8.10.1): when an envelope's
schedule runs out, the subscription holds. Without a server, the subscription
and a daily schedule entered by the user play the same part.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
import math
import re
from typing import TYPE_CHECKING

from ..engine.terms import LimitTerm
from .model import (
    ALERT_BLACK_START,
    ALERT_GRID_EMERGENCY,
    EXPORT_LIMIT,
    EXPORT_RESERVATION,
    EXPORT_SUBSCRIPTION,
    IMPORT_AVAILABLE,
    IMPORT_AVAILABLE_PRICE,
    IMPORT_LIMIT,
    IMPORT_RESERVATION,
    IMPORT_RESERVATION_FEE,
    IMPORT_SUBSCRIPTION,
    MAX_POWER_W,
    SIMPLE,
    GridEvent,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

# Import limit terms (the engine's enum, shared with the sensors and the translations).
TERM_SUBSCRIPTION = LimitTerm.SUBSCRIPTION.value
TERM_RESERVATION = LimitTerm.RESERVATION.value
TERM_ENVELOPE = LimitTerm.ENVELOPE.value
TERM_SCHEDULE = LimitTerm.SCHEDULE.value
TERM_EMERGENCY = LimitTerm.EMERGENCY.value
# The SIMPLE level that the User Guide's example maps to an emergency load shed.
SIMPLE_EMERGENCY_LEVEL = 3
EMERGENCY_FLAGS = frozenset({ALERT_GRID_EMERGENCY, ALERT_BLACK_START})
FAR_FUTURE = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Window:
    """A value in force from ``start`` to ``end`` (W), with a price per kW where there is one."""

    start: datetime
    end: datetime
    value_w: float
    price: float | None = None
    event_id: str = ""
    rank: int = 0  # the newer its event, the higher
    kept: bool = False  # from what the server said before, not from its present answer

    def covers(self, moment: datetime) -> bool:
        """In force at ``moment`` (start included, end excluded)."""
        return self.start <= moment < self.end


@dataclass(frozen=True, slots=True)
class GridSchedule:
    """What the server's events say, as windows of time."""

    subscriptions: tuple[Window, ...] = ()
    export_subscriptions: tuple[Window, ...] = ()
    export_reservations: tuple[Window, ...] = ()
    reservations: tuple[Window, ...] = ()
    availability: tuple[Window, ...] = ()
    import_limits: tuple[Window, ...] = ()
    export_limits: tuple[Window, ...] = ()
    # value_w is NaN when the emergency gives no number: the configured one applies.
    emergencies: tuple[Window, ...] = ()
    request_event_id: str | None = None  # the event to which reservation requests answer
    reservation_fingerprint: tuple[object, ...] = ()
    availability_fingerprint: tuple[object, ...] = ()
    events: int = 0  # how many of the server's events these windows come from

    def boundaries(self) -> list[datetime]:
        """Every moment at which something starts or ends, in order."""
        moments: set[datetime] = set()
        for windows in (
            self.subscriptions,
            self.export_subscriptions,
            self.export_reservations,
            self.reservations,
            self.import_limits,
            self.export_limits,
            self.emergencies,
        ):
            for window in windows:
                moments.add(window.start)
                if window.end < FAR_FUTURE:
                    moments.add(window.end)
        return sorted(moments)


def _emergency(flags: frozenset[str], simple: float | None) -> bool:
    return bool(flags & EMERGENCY_FLAGS) or (simple is not None and simple >= SIMPLE_EMERGENCY_LEVEL)


# Which payload goes to which kind of window, with its price where there is one.
_KINDS = (
    ("sub", IMPORT_SUBSCRIPTION, None),
    ("export_sub", EXPORT_SUBSCRIPTION, None),
    ("res", IMPORT_RESERVATION, IMPORT_RESERVATION_FEE),
    ("export_res", EXPORT_RESERVATION, None),
    ("avail", IMPORT_AVAILABLE, IMPORT_AVAILABLE_PRICE),
    ("export", EXPORT_LIMIT, None),
)
# Lists that the server restates in full each time: only the newest event carrying one counts.
_RESTATED = {"res": IMPORT_RESERVATION, "export_res": EXPORT_RESERVATION, "avail": IMPORT_AVAILABLE}


def _carries(event: GridEvent, name: str) -> bool:
    return name in event.declared or any(name in slot.values for slot in event.slots)


def _carries_reservations(event: GridEvent) -> bool:
    """The event lists reservations, or only the fees they cost."""
    return _carries(event, IMPORT_RESERVATION) or _carries(event, IMPORT_RESERVATION_FEE)


def _newest_carrying(ordered: list[GridEvent], name: str) -> GridEvent | None:
    carries = _carries_reservations if name == IMPORT_RESERVATION else lambda event: _carries(event, name)
    carrying = [event for event in ordered if carries(event)]
    return carrying[-1] if carrying else None


def build_schedule(events: Iterable[GridEvent]) -> GridSchedule:
    """Sort the events' intervals into the kinds of limit they carry.

    An IMPORT_CAPACITY_LIMIT is an envelope, unless its interval is an
    emergency (it also carries ALERT_GRID_EMERGENCY or ALERT_BLACK_START, or
    a SIMPLE level of 3): then it is the emergency limit. An emergency without
    a number lowers the limit to the configured emergency limit.

    The server restates the list of granted reservations, and the capacity
    available, in full each time (User Guide 8.10.2): only the newest event
    carrying each is read, so a grant listed again in a new event is not
    counted twice. Subscriptions and envelopes from several events are ranked
    by age, and at any moment the newest one in force applies.
    """
    kinds: dict[str, list[Window]] = {
        name: []
        for name in ("sub", "export_sub", "res", "export_res", "avail", "import", "export", "emergency")
    }
    ordered = sorted(events, key=lambda event: event.recency)  # oldest first
    newest = {kind: _newest_carrying(ordered, name) for kind, name in _RESTATED.items()}
    for rank, event in enumerate(ordered):
        for slot in event.slots:
            values = slot.values
            for kind, name, price in _KINDS:
                if kind in newest and newest[kind] is not event:
                    continue
                cost = values.get(price) if price else None
                if name in values:
                    kinds[kind].append(Window(slot.start, slot.end, values[name], cost, event.event_id, rank))
                elif kind == "res" and cost is not None:
                    # A fee without a power: what reserving then costs, nothing reserved (User Guide 8.10.2).
                    kinds[kind].append(Window(slot.start, slot.end, 0.0, cost, event.event_id, rank))
            if _emergency(slot.flags, values.get(SIMPLE)):
                value = values.get(IMPORT_LIMIT, math.nan)
                kinds["emergency"].append(Window(slot.start, slot.end, value, None, event.event_id, rank))
            elif IMPORT_LIMIT in values:
                kinds["import"].append(
                    Window(slot.start, slot.end, values[IMPORT_LIMIT], None, event.event_id, rank)
                )
    requesting = [event for event in ordered if event.report_requested]
    request_event = requesting[-1].event_id if requesting else None
    if request_event is None and kinds["sub"]:
        # No event asks for reservation requests explicitly (it should): answer the subscription's.
        request_event = max(kinds["sub"], key=lambda window: window.rank).event_id
    return GridSchedule(
        subscriptions=tuple(kinds["sub"]),
        export_subscriptions=tuple(kinds["export_sub"]),
        export_reservations=tuple(kinds["export_res"]),
        reservations=tuple(kinds["res"]),
        availability=tuple(kinds["avail"]),
        import_limits=tuple(kinds["import"]),
        export_limits=tuple(kinds["export"]),
        emergencies=tuple(kinds["emergency"]),
        request_event_id=request_event,
        reservation_fingerprint=tuple(e.fingerprint for e in ordered if _carries_reservations(e)),
        availability_fingerprint=tuple(e.fingerprint for e in ordered if _carries(e, IMPORT_AVAILABLE)),
        events=len(ordered),
    )


# ----------------------------------------------------------- the user's schedule

_DAILY = re.compile(
    r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*[=:]?\s*(\d+(?:[.,]\d+)?)\s*(kw|w)?\s*$", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class DailyWindow:
    """A limit in force every day between two local clock times (may run past midnight)."""

    start: time
    end: time
    value_w: float

    def covers(self, moment: time) -> bool:
        """In force at the local clock time ``moment`` (all day when start equals end)."""
        if self.start == self.end:
            return True
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


class ScheduleError(ValueError):
    """A line of the user's schedule that cannot be read; ``line`` is 1-based."""

    def __init__(self, line: int, text: str) -> None:
        """Remember where the error is."""
        super().__init__(f"line {line}: {text!r}")
        self.line = line
        self.text = text


def parse_daily_schedule(text: str) -> tuple[DailyWindow, ...]:
    """Lines such as ``17:00-21:00 5`` (kW unless ``W`` follows); separated by lines or commas."""
    windows: list[DailyWindow] = []
    parts = [part for line in text.splitlines() for part in line.split(",")]
    for number, part in enumerate(parts, start=1):
        if not part.strip():
            continue
        match = _DAILY.match(part)
        if match is None:
            raise ScheduleError(number, part.strip())
        h1, m1, h2, m2 = (int(match.group(index)) for index in range(1, 5))
        value = float(match.group(5).replace(",", "."))
        scale = 1.0 if (match.group(6) or "kw").lower() == "w" else 1000.0
        if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):  # noqa: PLR2004
            raise ScheduleError(number, part.strip())
        whole_day = (h1, m1, h2) == (0, 0, 24)
        if (h1, m1) == (h2, m2) or not math.isfinite(value * scale) or value * scale > MAX_POWER_W:
            raise ScheduleError(number, part.strip())
        watts = value * scale
        end = time(0, 0) if h2 == 24 else time(h2, m2)  # noqa: PLR2004
        if whole_day:
            end = time(0, 0)
        windows.append(DailyWindow(time(h1, m1), end, watts))
    return tuple(windows)


def next_daily_boundary(windows: Sequence[DailyWindow], local_now: datetime) -> datetime | None:
    """The next local moment after ``local_now`` at which a daily window starts or ends."""
    best: datetime | None = None
    for window in windows:
        for clock in (window.start, window.end):
            candidate = local_now.replace(hour=clock.hour, minute=clock.minute, second=0, microsecond=0)
            if candidate <= local_now:
                candidate += timedelta(days=1)
            if best is None or candidate < best:
                best = candidate
    return best


# ------------------------------------------------------------------ the terms


@dataclass(frozen=True, slots=True, kw_only=True)
class GridPolicy:
    """The user's grid settings."""

    subscription_w: float | None = None  # used until (and unless) the server announces one
    export_limit_w: float | None = None  # a fixed export limit of the user's own
    emergency_limit_w: float = 0.0  # an emergency without a number lowers the limit to this
    daily: tuple[DailyWindow, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class GridTerms:
    """The grid's limits at one moment (W)."""

    import_terms: dict[str, float] = field(default_factory=dict)
    export_terms: dict[str, float] = field(default_factory=dict)
    subscription_w: float | None = None  # the subscription in force (server or configured)
    subscription_source: str | None = None  # SOURCE_SERVER, SOURCE_RETAINED or SOURCE_CONFIGURED
    reserved_w: float = 0.0  # extra capacity granted and in force
    # Terms held from what the server said before, not from its present answer (it cannot be
    # reached, or it no longer lists them): import terms by name, export ones as "export_<name>".
    retained: tuple[str, ...] = ()


# Where the subscription in force comes from.
SOURCE_SERVER = "server"  # the server's present answer
SOURCE_RETAINED = "retained"  # what the server announced before (it cannot be reached, or no longer says)
SOURCE_CONFIGURED = "configured"  # the options


def _in_force(windows: Iterable[Window], moment: datetime) -> list[Window]:
    return [window for window in windows if window.covers(moment)]


def _newest_in_force(windows: Iterable[Window], moment: datetime) -> list[Window]:
    """The windows in force at ``moment`` from the newest event that has any."""
    active = _in_force(windows, moment)
    if not active:
        return []
    rank = max(window.rank for window in active)
    return [window for window in active if window.rank == rank]


def _lowest(windows: Iterable[Window], moment: datetime) -> tuple[float | None, bool]:
    """The lowest value of the newest windows in force, and whether it was kept from before."""
    newest = _newest_in_force(windows, moment)
    if not newest:
        return None, False
    lowest = min(newest, key=lambda window: window.value_w)
    return lowest.value_w, lowest.kept


def _reserved(windows: Iterable[Window], moment: datetime) -> tuple[float, bool]:
    """Reservations in force, summed (a withdrawal is a negative window; never below 0)."""
    active = _in_force(windows, moment)
    return max(sum(window.value_w for window in active), 0.0), any(window.kept for window in active)


def _emergency_w(schedule: GridSchedule, policy: GridPolicy, moment: datetime) -> tuple[float | None, bool]:
    active = _in_force(schedule.emergencies, moment)
    if not active:
        return None, False
    values = [policy.emergency_limit_w if math.isnan(w.value_w) else w.value_w for w in active]
    return min(values), any(window.kept for window in active)


def grid_terms(
    schedule: GridSchedule | None, policy: GridPolicy, moment: datetime, local_clock: time | None = None
) -> GridTerms:
    """The named limit terms in force at ``moment`` (``local_clock`` for the daily schedule).

    Where several windows of a kind are in force, the newest event's apply;
    windows kept from what the server said before count only where its
    present answer has none (their ranks are below every present one).
    """
    schedule = schedule or GridSchedule()
    import_terms: dict[str, float] = {}
    export_terms: dict[str, float] = {}
    retained: set[str] = set()

    def put(terms: dict[str, float], name: str, value: float | None, kept: bool, prefix: str = "") -> None:
        if value is not None:
            terms[name] = value
            if kept:
                retained.add(prefix + name)

    subscription, sub_kept = _lowest(schedule.subscriptions, moment)
    source = None if subscription is None else SOURCE_RETAINED if sub_kept else SOURCE_SERVER
    if subscription is None and policy.subscription_w is not None:
        subscription, source = policy.subscription_w, SOURCE_CONFIGURED
    reserved, reserved_kept = _reserved(schedule.reservations, moment)
    if subscription is not None:
        if reserved > 0:
            put(import_terms, TERM_RESERVATION, subscription + reserved, sub_kept or reserved_kept)
        else:
            put(import_terms, TERM_SUBSCRIPTION, subscription, sub_kept)
    put(import_terms, TERM_ENVELOPE, *_lowest(schedule.import_limits, moment))
    if local_clock is not None:
        daily = [window.value_w for window in policy.daily if window.covers(local_clock)]
        if daily:
            import_terms[TERM_SCHEDULE] = min(daily)
    put(import_terms, TERM_EMERGENCY, *_emergency_w(schedule, policy, moment))
    put(export_terms, TERM_ENVELOPE, *_lowest(schedule.export_limits, moment), prefix="export_")
    export_sub, export_kept = _lowest(schedule.export_subscriptions, moment)
    if export_sub is not None:
        export_reserved, reserved_kept = _reserved(schedule.export_reservations, moment)
        kept = export_kept or reserved_kept
        put(export_terms, TERM_SUBSCRIPTION, export_sub + export_reserved, kept, "export_")
    if policy.export_limit_w is not None:
        export_terms[TERM_SCHEDULE] = policy.export_limit_w
    return GridTerms(
        import_terms=import_terms,
        export_terms=export_terms,
        subscription_w=subscription,
        subscription_source=source,
        reserved_w=reserved,
        retained=tuple(sorted(retained)),
    )


def announced_subscriptions(schedule: GridSchedule, moment: datetime) -> tuple[float | None, float | None]:
    """The import and export subscriptions the server's newest events announce at ``moment`` (W)."""
    return _lowest(schedule.subscriptions, moment)[0], _lowest(schedule.export_subscriptions, moment)[0]


def next_change(schedule: GridSchedule | None, moment: datetime) -> datetime | None:
    """The first moment after ``moment`` at which a server window starts or ends."""
    if schedule is None:
        return None
    for boundary in schedule.boundaries():
        if boundary > moment:
            return boundary
    return None


def upcoming(windows: Iterable[Window], moment: datetime, count: int = 12) -> list[Window]:
    """Windows not yet over at ``moment``, soonest first."""
    return sorted((window for window in windows if window.end > moment), key=lambda window: window.start)[
        :count
    ]
