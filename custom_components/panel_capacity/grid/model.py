"""OpenADR 3 objects as the grid code sees them, parsed leniently.

Plain Python, no Home Assistant imports. Servers differ in small ways
(timezone-less timestamps, legacy payload names, two target formats), so the
parsers here accept what the specification and real servers send, and drop an
object or a value they cannot trust instead of failing: a malformed event must
never stop the control loop, and a value that makes no sense (negative, not a
number, absurdly large) must never reach the limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import json
import math
import re
from typing import Any

# The greatest power (W) a value may claim before it is treated as nonsense.
# A house, even a large one, is far below 10 MW.
MAX_POWER_W = 10_000_000.0
# A price or fee per kW above this is nonsense too.
MAX_PRICE = 1_000_000.0
# "P9999Y" and anything longer than this is forever.
FOREVER = timedelta(days=365 * 1000)
# Payload type names are at most this long (OpenAPI).
MAX_NAME_LENGTH = 128
# The start "0001-01-01" means "now".
NOW_SENTINEL_YEAR = 1

# Event payload types (enumerated names).
IMPORT_SUBSCRIPTION = "IMPORT_CAPACITY_SUBSCRIPTION"
IMPORT_RESERVATION = "IMPORT_CAPACITY_RESERVATION"
IMPORT_RESERVATION_FEE = "IMPORT_CAPACITY_RESERVATION_FEE"
IMPORT_AVAILABLE = "IMPORT_CAPACITY_AVAILABLE"
IMPORT_AVAILABLE_PRICE = "IMPORT_CAPACITY_AVAILABLE_PRICE"
EXPORT_SUBSCRIPTION = "EXPORT_CAPACITY_SUBSCRIPTION"
EXPORT_RESERVATION = "EXPORT_CAPACITY_RESERVATION"
IMPORT_LIMIT = "IMPORT_CAPACITY_LIMIT"
EXPORT_LIMIT = "EXPORT_CAPACITY_LIMIT"
ALERT_GRID_EMERGENCY = "ALERT_GRID_EMERGENCY"
ALERT_BLACK_START = "ALERT_BLACK_START"
SIMPLE = "SIMPLE"
# Report payload types the VEN sends to ask for a reservation.
REQUEST_CAPACITY = "IMPORT_RESERVATION_CAPACITY"
REQUEST_FEE = "IMPORT_RESERVATION_FEE"

# Other spellings found in the User Guide's examples and in servers, mapped to
# the enumerated names. Short "CAPACITY_X" names mean the import side.
PAYLOAD_ALIASES = {
    "CAPACITY_SUBSCRIPTION": IMPORT_SUBSCRIPTION,
    "CAPACITY_RESERVATION": IMPORT_RESERVATION,
    "CAPACITY_RESERVATION_FEE": IMPORT_RESERVATION_FEE,
    "CAPACITY_AVAILABLE": IMPORT_AVAILABLE,
    "CAPACITY_AVAILABLE_FEE": IMPORT_AVAILABLE_PRICE,
    "CAPACITY_AVAILABLE_PRICE": IMPORT_AVAILABLE_PRICE,
    "IMPORT_CAPACITY_AVAILABLE_FEE": IMPORT_AVAILABLE_PRICE,
    "EXPORT_CAPACITY_AVAILABLE_FEE": "EXPORT_CAPACITY_AVAILABLE_PRICE",
    "CAPACITY_LIMIT": IMPORT_LIMIT,
}
# Payloads that are powers (scaled by the descriptor's units) and prices.
POWER_PAYLOADS = frozenset(
    {
        IMPORT_SUBSCRIPTION,
        IMPORT_RESERVATION,
        IMPORT_AVAILABLE,
        EXPORT_SUBSCRIPTION,
        EXPORT_RESERVATION,
        "EXPORT_CAPACITY_AVAILABLE",
        IMPORT_LIMIT,
        EXPORT_LIMIT,
    }
)
PRICE_PAYLOADS = frozenset(
    {
        IMPORT_RESERVATION_FEE,
        IMPORT_AVAILABLE_PRICE,
        "EXPORT_CAPACITY_RESERVATION_FEE",
        "EXPORT_CAPACITY_AVAILABLE_PRICE",
    }
)
# Watts per unit named in a payload descriptor; capacity payloads default to kW.
UNIT_SCALE = {"W": 1.0, "KW": 1000.0, "MW": 1_000_000.0, "KVA": 1000.0, "VA": 1.0}
DEFAULT_UNITS = "KW"

_DURATION = re.compile(
    r"^(?P<sign>[-+])?P(?!$)(?:(?P<years>\d+(?:[.,]\d+)?)Y)?(?:(?P<months>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<weeks>\d+(?:[.,]\d+)?)W)?(?:(?P<days>\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+(?:[.,]\d+)?)H)?(?:(?P<minutes>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?$"
)
_DURATION_SECONDS = {
    "years": 365.25 * 86400,
    "months": 30.4375 * 86400,
    "weeks": 7 * 86400,
    "days": 86400,
    "hours": 3600,
    "minutes": 60,
    "seconds": 1,
}


class GridDataError(ValueError):
    """A value from the server that cannot be used."""


def parse_datetime(value: Any, now: datetime) -> datetime:
    """An RFC 3339 time, leniently: naive means UTC, a space may separate date and time.

    The specification's "0001-01-01" (any time on that day) means ``now``.
    """
    if not isinstance(value, str) or not value.strip():
        raise GridDataError(f"not a timestamp: {value!r}")
    text = value.strip().replace(" ", "T", 1)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as err:
        raise GridDataError(f"not a timestamp: {value!r}") from err
    if parsed.year == NOW_SENTINEL_YEAR:
        return now
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError as err:
        raise GridDataError(f"timestamp out of range: {value!r}") from err


def parse_duration(value: Any) -> timedelta:
    """An ISO 8601 duration; years and months at their average length; P9999Y is forever."""
    if not isinstance(value, str):
        raise GridDataError(f"not a duration: {value!r}")
    match = _DURATION.match(value.strip().upper())
    if match is None:
        raise GridDataError(f"not a duration: {value!r}")
    seconds = 0.0
    for name, scale in _DURATION_SECONDS.items():
        part = match.group(name)
        if part:
            seconds += float(part.replace(",", ".")) * scale
    if match.group("sign") == "-":
        raise GridDataError(f"negative duration: {value!r}")
    if seconds >= FOREVER.total_seconds():
        return FOREVER
    return timedelta(seconds=seconds)


def format_duration(duration: timedelta) -> str:
    """An ISO 8601 duration in hours, minutes and seconds (PT1H30M)."""
    total = round(duration.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    text = "PT"
    if hours:
        text += f"{hours}H"
    if minutes:
        text += f"{minutes}M"
    if seconds or text == "PT":
        text += f"{seconds}S"
    return text


def format_datetime(moment: datetime) -> str:
    """An RFC 3339 UTC time with a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def canonical_payload(name: Any) -> str | None:
    """The enumerated name of a payload type, mapping the legacy and short spellings."""
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH:
        return None
    upper = name.strip().upper()
    return PAYLOAD_ALIASES.get(upper, upper)


def target_names(targets: Any) -> tuple[str, ...]:
    """Target values in either format: strings (3.1) or {type, values} maps (3.0.1)."""
    if not isinstance(targets, list):
        return ()
    names: list[str] = []
    for target in targets:
        if isinstance(target, str):
            names.append(target)
        elif isinstance(target, dict) and isinstance(target.get("values"), list):
            names.extend(value for value in target["values"] if isinstance(value, str))
    return tuple(name[:128] for name in names)


def _number(values: Any) -> float | None:
    """The one number of a payload's ``values`` list, or None."""
    if not isinstance(values, list) or not values:
        return None
    value = values[0]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None  # an integer too large for a float
    return number if math.isfinite(number) else None


@dataclass(frozen=True, slots=True)
class Slot:
    """One interval of an event: when it is in force and what it says (W for powers)."""

    start: datetime
    end: datetime
    values: dict[str, float]
    flags: frozenset[str] = frozenset()  # payloads without a number (alerts)

    def covers(self, moment: datetime) -> bool:
        """Whether the slot is in force at ``moment`` (start included, end excluded)."""
        return self.start <= moment < self.end


@dataclass(frozen=True, slots=True)
class GridEvent:
    """An event reduced to what capacity management needs."""

    event_id: str
    name: str
    program_id: str | None
    priority: int | None
    modified: str  # the server's modification time as sent (only compared, never parsed)
    targets: tuple[str, ...]
    slots: tuple[Slot, ...]
    report_requested: bool = False  # carries a report descriptor for reservation requests
    skipped: tuple[str, ...] = field(default=())  # what could not be used, for the log
    content: str = ""  # the event as sent, canonical JSON: changes when the server changes it
    declared: frozenset[str] = frozenset()  # payload types its descriptors announce
    recency: tuple[float, float, int, str] = (0.0, 0.0, 0, "")  # sorts older events first

    @property
    def fingerprint(self) -> tuple[str, str]:
        """What changes when the server changes the event."""
        return (self.event_id, self.content)


def _objects(value: Any) -> list[dict[str, Any]]:
    """The objects of a list field; anything else (missing, wrong type) is empty."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _descriptor_units(event: dict[str, Any]) -> dict[str, str]:
    units: dict[str, str] = {}
    for descriptor in _objects(event.get("payloadDescriptors")):
        if isinstance(descriptor, dict):
            name = canonical_payload(descriptor.get("payloadType"))
            unit = descriptor.get("units")
            if name and isinstance(unit, str):
                units[name] = unit.strip().upper()
    return units


def _interval_period(period: Any, now: datetime) -> tuple[datetime | None, timedelta | None]:
    if not isinstance(period, dict):
        return None, None
    start = parse_datetime(period["start"], now) if "start" in period else None
    duration = parse_duration(period["duration"]) if "duration" in period else None
    if start is not None and duration is not None and duration < FOREVER:
        try:
            start + duration
        except OverflowError as err:
            raise GridDataError("interval ends beyond the calendar") from err
    return start, duration


def _payload_values(
    payloads: Any, units: dict[str, str], skipped: list[str]
) -> tuple[dict[str, float], set[str]]:
    values: dict[str, float] = {}
    flags: set[str] = set()
    for payload in payloads if isinstance(payloads, list) else ():
        if not isinstance(payload, dict):
            skipped.append("payload is not an object")
            continue
        name = canonical_payload(payload.get("type"))
        if name is None:
            skipped.append("payload without a type")
            continue
        if name in POWER_PAYLOADS:
            number = _number(payload.get("values"))
            scale = UNIT_SCALE.get(units.get(name, DEFAULT_UNITS))
            if number is None or scale is None:
                skipped.append(f"{name}: unusable value or units")
                continue
            watts = number * scale
            if watts < 0 or watts > MAX_POWER_W:
                skipped.append(f"{name}: {number} out of range")
                continue
            values[name] = watts
        elif name in PRICE_PAYLOADS:
            number = _number(payload.get("values"))
            if number is None or number < 0 or number > MAX_PRICE:
                skipped.append(f"{name}: unusable price")
                continue
            values[name] = number
        elif name == SIMPLE:
            number = _number(payload.get("values"))
            if number is not None:
                values[name] = number
        else:
            flags.add(name)
    return values, flags


def _object_id(value: Any) -> str | None:
    """An object's id: a string (objectID), or a number from a lenient server; None otherwise."""
    if isinstance(value, str) and value:
        return value[:128]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**18:
        return str(value)
    return None


# Report descriptor names that ask for reservation requests (the enumerated one and the User Guide's).
REQUEST_NAMES = frozenset({REQUEST_CAPACITY, IMPORT_RESERVATION})


def _stamp(value: Any) -> float:
    """A server timestamp as seconds, for ordering only (0 when it cannot be read)."""
    try:
        return parse_datetime(value, datetime.min.replace(tzinfo=UTC)).timestamp()
    except GridDataError, OverflowError, ValueError:
        return 0.0


def _recency(raw: dict[str, Any], event_id: str) -> tuple[float, float, int, str]:
    numeric = int(event_id) if event_id.isdigit() and len(event_id) < 18 else -1  # noqa: PLR2004
    return (_stamp(raw.get("modificationDateTime")), _stamp(raw.get("createdDateTime")), numeric, event_id)


def parse_event(raw: Any, now: datetime, first_seen: datetime | None = None) -> GridEvent:
    """An event object from the server; raises GridDataError when it is unusable as a whole.

    Intervals without their own period follow one another from the event's
    start, each lasting the event's duration. The start "0001-01-01" ("now")
    is taken as ``first_seen``, when this client first saw the event (so an
    event that starts "now" and lasts half an hour does end, whatever the
    server's clock says), or ``now``. An interval that cannot be placed in
    time, or a payload that cannot be trusted, is left out and noted in
    ``skipped``. An event without intervals (one that only asks for reports)
    has no slots.
    """
    if not isinstance(raw, dict):
        raise GridDataError("event is not an object")
    event_id = raw.get("id")
    event_key = _object_id(event_id)
    if event_key is None:
        raise GridDataError("event without an id")
    anchor = first_seen or now
    skipped: list[str] = []
    try:
        default_start, default_duration = _interval_period(raw.get("intervalPeriod"), anchor)
    except (GridDataError, KeyError) as err:
        raise GridDataError(f"event {event_id}: bad intervalPeriod ({err})") from err
    units = _descriptor_units(raw)
    slots: list[Slot] = []
    cursor = default_start
    intervals = raw.get("intervals", [])
    if not isinstance(intervals, list):
        raise GridDataError(f"event {event_id}: intervals is not a list")
    for interval in intervals:
        if not isinstance(interval, dict):
            skipped.append("interval is not an object")
            continue
        try:
            start, duration = _interval_period(interval.get("intervalPeriod"), anchor)
            start = start or cursor
            duration = duration if duration is not None else default_duration
            if start is None or duration is None:
                skipped.append(f"interval {interval.get('id')}: no period")
                continue
            end = start + duration if duration < FOREVER else datetime.max.replace(tzinfo=UTC)
        except (GridDataError, KeyError, OverflowError) as err:
            skipped.append(f"interval {interval.get('id')}: {err}")
            continue
        cursor = end
        values, flags = _payload_values(interval.get("payloads"), units, skipped)
        if values or flags:
            slots.append(Slot(start, end, values, frozenset(flags)))
    priority = raw.get("priority")
    report_requested = any(
        canonical_payload(descriptor.get("payloadType")) in REQUEST_NAMES
        for descriptor in _objects(raw.get("reportDescriptors"))
    )
    program_id = raw.get("programID")
    declared = frozenset(
        name
        for descriptor in _objects(raw.get("payloadDescriptors"))
        if (name := canonical_payload(descriptor.get("payloadType"))) is not None
    )
    try:
        content = json.dumps(raw, sort_keys=True, default=str)
    except TypeError, ValueError, RecursionError:
        content = f"{event_key}@{raw.get('modificationDateTime')!s:.64}"  # unserialisable: its version only
    return GridEvent(
        event_id=event_key,
        name=str(raw.get("eventName") or "")[:128],
        program_id=str(program_id) if isinstance(program_id, (str, int)) else None,
        priority=priority if isinstance(priority, int) and not isinstance(priority, bool) else None,
        modified=str(raw.get("modificationDateTime") or "")[:64],
        targets=target_names(raw.get("targets")),
        slots=tuple(slots),
        report_requested=report_requested,
        skipped=tuple(skipped),
        content=content,
        declared=declared,
        recency=_recency(raw, event_key),
    )


@dataclass(frozen=True, slots=True)
class Program:
    """A program on the server."""

    program_id: str
    name: str


def _with_id(raw: Any, kind: str) -> tuple[dict[str, Any], str]:
    """An object from the server and its id; raises GridDataError when it is not one or has none."""
    if not isinstance(raw, dict):
        raise GridDataError(f"{kind} is not an object")
    object_id = _object_id(raw.get("id"))
    if object_id is None:
        raise GridDataError(f"{kind} without an id")
    return raw, object_id


def parse_program(raw: Any) -> Program:
    """A program object; raises GridDataError when it has no id."""
    raw, program_id = _with_id(raw, "program")
    name = raw.get("programName")
    return Program(program_id, name[:128] if isinstance(name, str) else "")


@dataclass(frozen=True, slots=True)
class Ven:
    """A ven object: the server's record of a VEN, with the targets the utility granted it."""

    ven_id: str
    name: str
    client_id: str | None
    targets: tuple[str, ...]


def parse_ven(raw: Any) -> Ven:
    """A ven object; raises GridDataError when it has no id."""
    raw, ven_id = _with_id(raw, "ven")
    name = raw.get("venName")
    client_id = raw.get("clientID")
    return Ven(
        ven_id=ven_id,
        name=name[:128] if isinstance(name, str) else "",
        client_id=client_id[:128] if isinstance(client_id, str) else None,
        targets=target_names(raw.get("targets")),
    )
