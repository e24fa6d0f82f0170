"""Reservations of extra import capacity: the request report and the answer to it.

Plain Python, no Home Assistant imports. OpenADR 3.1 has no status field for a
reservation: the VEN posts a report asking for capacity, and the server answers
by changing two events, the list of granted reservations and the list of
capacity still available with its price. ``infer_answer`` reads the answer
from them (User Guide 8.10.2):

* granted: the reservations in force over the whole request add up to what
  was asked, on top of the ones granted to earlier requests;
* denied, fee required: not granted, and the server asks more than the fee
  offered: in its availability (enough capacity over the whole request, at a
  price above the fee), or in its reservation list (an interval over the
  request that reserves nothing but names a fee, or one that reserves what was
  asked at a fee above the one offered: never accepted as a grant);
* denied, no capacity: not granted, and not enough available (or none listed);
* pending: neither event has changed since the request was posted (for two
  minutes at most: a server whose business logic leaves its events as they
  are when it refuses is then read from the availability as it stands).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
import math
from typing import TYPE_CHECKING, Any

from .model import REQUEST_CAPACITY, REQUEST_FEE, format_datetime, format_duration
from .schedule import Window

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from .schedule import GridSchedule

# Differences smaller than this (W) are rounding.
POWER_TOLERANCE_W = 1.0
# And this, for fees per kW.
FEE_TOLERANCE = 1e-9
# How long an unchanged pair of events means "not answered yet".
ANSWER_TIMEOUT = timedelta(minutes=2)
# Capacity listed at an acceptable price but no grant: how long to wait for the
# reservation event (a server may post it after the availability one).
ANSWER_GRACE = timedelta(minutes=2)
# Requests may start a little in the past (clock differences) and last this long at most.
MAX_DURATION = timedelta(days=7)
MAX_REQUEST_W = 1_000_000.0


class ReservationStatus(StrEnum):
    """The answer to a reservation request."""

    PENDING = "pending"
    GRANTED = "granted"
    DENIED_FEE_REQUIRED = "denied_fee_required"
    DENIED_NO_CAPACITY = "denied_no_capacity"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True, kw_only=True)
class Reservation:
    """One request for extra import capacity and what became of it."""

    request_id: str  # ours
    start: datetime
    end: datetime
    requested_w: float
    max_fee: float  # per kW, the most the customer will pay
    posted_at: datetime
    report_id: str | None = None  # the server's id of the report that asked
    event_id: str | None = None
    status: ReservationStatus = ReservationStatus.PENDING
    granted_w: float = 0.0
    fee: float | None = None  # per kW, charged when granted
    required_fee: float | None = None  # per kW, asked for when denied for the fee
    reservation_fp: str = ""  # the reservation list as it was when posted (when cancelled, then)
    availability_fp: str = ""
    decided_at: datetime | None = None
    cancelled_w: float = 0.0  # what had been granted when the request was cancelled

    @property
    def committed_fee(self) -> float:
        """What a granted reservation costs: fee per kW times kW."""
        if self.status is not ReservationStatus.GRANTED or self.fee is None:
            return 0.0
        return self.fee * self.granted_w / 1000.0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly form, for storage and for service responses."""
        data = asdict(self)
        for key in ("start", "end", "posted_at", "decided_at"):
            value = getattr(self, key)
            data[key] = value.isoformat() if value is not None else None
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Reservation | None:
        """Read back ``as_dict``; None when the data is damaged."""
        if not isinstance(data, dict):
            return None
        try:
            times = {
                key: datetime.fromisoformat(data[key]) if data.get(key) else None
                for key in ("start", "end", "posted_at", "decided_at")
            }
            if times["start"] is None or times["end"] is None or times["posted_at"] is None:
                return None
            fee = data.get("fee")
            required = data.get("required_fee")
            return cls(
                request_id=str(data["request_id"]),
                start=times["start"],
                end=times["end"],
                requested_w=_finite(data["requested_w"]),
                max_fee=_finite(data["max_fee"]),
                posted_at=times["posted_at"],
                report_id=str(data["report_id"]) if data.get("report_id") is not None else None,
                event_id=str(data["event_id"]) if data.get("event_id") is not None else None,
                status=ReservationStatus(data.get("status", ReservationStatus.PENDING)),
                granted_w=_finite(data.get("granted_w", 0.0)),
                fee=_finite(fee) if fee is not None else None,
                required_fee=_finite(required) if required is not None else None,
                reservation_fp=str(data.get("reservation_fp", "")),
                availability_fp=str(data.get("availability_fp", "")),
                decided_at=times["decided_at"],
                cancelled_w=_finite(data.get("cancelled_w", 0.0)),
            )
        except KeyError, TypeError, ValueError:
            return None


def _finite(value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(value)
    return float(value)


class RequestError(ValueError):
    """A reservation request that cannot be sent; ``key`` names the reason."""

    def __init__(self, key: str) -> None:
        """Keep the reason's key (a translation key)."""
        super().__init__(key)
        self.key = key


def check_request(
    start: datetime, duration: timedelta, requested_w: float, max_fee: float, now: datetime
) -> None:
    """Raise RequestError unless the request makes sense."""
    if not math.isfinite(requested_w) or requested_w <= 0 or requested_w > MAX_REQUEST_W:
        raise RequestError("invalid_power")
    if not math.isfinite(max_fee) or max_fee < 0:
        raise RequestError("invalid_fee")
    if duration <= timedelta(0) or duration > MAX_DURATION:
        raise RequestError("invalid_duration")
    if start + duration <= now:
        raise RequestError("in_the_past")


def fingerprint(parts: Sequence[object]) -> str:
    """A short stable text for comparing two states of the server's events."""
    return repr(parts)


def request_report(
    reservation: Reservation, event_id: str, client_name: str, program_id: str | None, currency_units: str
) -> dict[str, Any]:
    """The report that asks for a reservation (POST /reports), with the enumerated payload names.

    ``program_id`` is given for OpenADR 3.0.1, which requires it in reports.
    """
    report: dict[str, Any] = {
        "eventID": event_id,
        "clientName": client_name,
        "reportName": f"capacity_reservation_{reservation.request_id}",
        "payloadDescriptors": [
            {"objectType": "REPORT_PAYLOAD_DESCRIPTOR", "payloadType": REQUEST_CAPACITY, "units": "KW"},
            {"objectType": "REPORT_PAYLOAD_DESCRIPTOR", "payloadType": REQUEST_FEE, "units": currency_units},
        ],
        "resources": [
            {
                "resourceName": "AGGREGATED_REPORT",
                "intervalPeriod": {
                    "start": format_datetime(reservation.start),
                    "duration": format_duration(reservation.end - reservation.start),
                },
                "intervals": [
                    {
                        "id": 0,
                        "payloads": [
                            {
                                "type": REQUEST_CAPACITY,
                                "values": [round(reservation.requested_w / 1000.0, 3)],
                            },
                            {"type": REQUEST_FEE, "values": [reservation.max_fee]},
                        ],
                    }
                ],
            }
        ],
    }
    if program_id is not None:
        report["programID"] = program_id
    return report


def _segments(windows: Iterable[Window], start: datetime, end: datetime) -> list[datetime]:
    """The moments in [start, end) at which the set of windows in force can change."""
    moments = {start}
    for window in windows:
        for moment in (window.start, window.end):
            if start < moment < end:
                moments.add(moment)
    return sorted(moments)


def least_over(
    windows: Sequence[Window], start: datetime, end: datetime, *, add: bool, minus: Sequence[Window] = ()
) -> float:
    """The lowest value over [start, end): windows in force summed (``add``) or their largest.

    Parts not covered by any window count as 0; ``minus`` is subtracted (summed).
    """
    lowest = math.inf
    for moment in _segments([*windows, *minus], start, end):
        values = [window.value_w for window in windows if window.covers(moment)]
        value = (sum(values) if add else max(values)) if values else 0.0
        value -= sum(window.value_w for window in minus if window.covers(moment))
        lowest = min(lowest, value)
    return lowest if lowest is not math.inf else 0.0


def _highest_price(windows: Sequence[Window], start: datetime, end: datetime) -> float | None:
    prices = [
        window.price
        for window in windows
        if window.price is not None and window.start < end and window.end > start
    ]
    return max(prices) if prices else None


def _granted(
    reservation: Reservation, schedule: GridSchedule, others: Sequence[Reservation], start: datetime
) -> bool:
    """The reservations listed from ``start`` to the request's end cover it, beyond the earlier grants."""
    held = [
        _window_of(other)
        for other in others
        if other.request_id != reservation.request_id and other.status is ReservationStatus.GRANTED
    ]
    covered = least_over(schedule.reservations, start, reservation.end, add=True, minus=held)
    return covered >= reservation.requested_w - POWER_TOLERANCE_W


def _same_period(window: Window, reservation: Reservation) -> bool:
    return window.start == reservation.start and window.end == reservation.end


def _grant(reservation: Reservation, schedule: GridSchedule, now: datetime) -> Reservation:
    """Granted, at the fee listed for it; listed at a fee above the one offered, the fee is required."""
    exact = [
        window.price
        for window in schedule.reservations
        if _same_period(window, reservation) and window.price is not None and window.value_w > 0
    ]
    if exact and min(exact) > reservation.max_fee + FEE_TOLERANCE:
        # The User Guide charges at most what was offered: this is the price asked, not a grant.
        return replace(
            reservation,
            status=ReservationStatus.DENIED_FEE_REQUIRED,
            required_fee=min(exact),
            decided_at=now,
        )
    fee = min(exact) if exact else _highest_price(schedule.reservations, reservation.start, reservation.end)
    return replace(
        reservation,
        status=ReservationStatus.GRANTED,
        granted_w=reservation.requested_w,
        fee=fee if fee is not None else 0.0,
        required_fee=None,
        decided_at=now,
    )


def _fee_asked(reservation: Reservation, schedule: GridSchedule) -> float | None:
    """A fee above the one offered, named in the reservation list over the request with nothing reserved.

    The reservation fee is "the cost per unit of power of extra import capacity
    available for reservation" (the enumeration): an interval of the list that
    reserves nothing (0 kW, or only the fee) but names a fee is the price asked.
    """
    prices = [
        window.price
        for window in schedule.reservations
        if window.price is not None
        and window.price > reservation.max_fee + FEE_TOLERANCE
        and window.value_w <= POWER_TOLERANCE_W
        and window.start < reservation.end
        and window.end > reservation.start
    ]
    return max(prices) if prices else None


def infer_answer(
    reservation: Reservation,
    schedule: GridSchedule,
    others: Sequence[Reservation],
    now: datetime,
) -> Reservation:
    """The request with its answer read from the server's events (see the module's notes).

    ``others`` are the customer's requests made before this one, with their
    answers: capacity the server lists for their grants is not an answer to
    this request. An answer only moves forward: a denial can still turn into
    a grant (a slow server), never back to pending; a grant is withdrawn
    only when the server no longer lists it for the time still to come. A
    request that is over keeps its answer.
    """
    status = reservation.status
    if status is ReservationStatus.CANCELLED or now >= reservation.end:
        return reservation
    changed_res = fingerprint(schedule.reservation_fingerprint) != reservation.reservation_fp
    changed_avail = fingerprint(schedule.availability_fingerprint) != reservation.availability_fp
    if status is ReservationStatus.GRANTED:
        if _granted(reservation, schedule, others, max(reservation.start, now)):
            return reservation
        # No longer listed for the time to come: the server took it back.
        return replace(
            reservation, status=ReservationStatus.DENIED_NO_CAPACITY, granted_w=0.0, decided_at=now
        )
    if changed_res and _granted(reservation, schedule, others, reservation.start):
        answered = _grant(reservation, schedule, now)
        if answered.status is ReservationStatus.GRANTED or status is ReservationStatus.PENDING:
            return answered
    if status is not ReservationStatus.PENDING:
        return reservation  # denied, unless granted later (above)
    if not changed_res and not changed_avail and now - reservation.posted_at < ANSWER_TIMEOUT:
        return reservation  # the server has not answered yet
    fee_asked = _fee_asked(reservation, schedule) if changed_res else None
    if fee_asked is not None:
        return replace(
            reservation, status=ReservationStatus.DENIED_FEE_REQUIRED, required_fee=fee_asked, decided_at=now
        )
    available = least_over(schedule.availability, reservation.start, reservation.end, add=False)
    price = _highest_price(schedule.availability, reservation.start, reservation.end)
    if available >= reservation.requested_w - POWER_TOLERANCE_W:
        if price is not None and price > reservation.max_fee:
            return replace(
                reservation, status=ReservationStatus.DENIED_FEE_REQUIRED, required_fee=price, decided_at=now
            )
        # Capacity at an acceptable price, yet no grant: wait for the reservation
        # event (a server may post it after the availability one, or be slow).
        if now - reservation.posted_at < ANSWER_GRACE:
            return reservation
    return replace(
        reservation, status=ReservationStatus.DENIED_NO_CAPACITY, required_fee=None, decided_at=now
    )


def _window_of(reservation: Reservation) -> Window:
    return Window(reservation.start, reservation.end, reservation.granted_w)


def listed_for_us(
    windows: Sequence[Window], asked: Sequence[Reservation], listed_fingerprint: str
) -> tuple[Window, ...]:
    """The server's reservation list, without what this home no longer holds.

    A request we cancelled stops raising the limit at once, even while the
    server still lists it (a server whose business logic does not withdraw a
    grant when its report is deleted): the interval listed for it (the same
    period and power) is left out; where none matches (a server that merges
    grants) and the list has not changed since the cancellation, its power is
    taken off over its period instead (a negative window). Once the server has
    restated its list without it, there is nothing to take off. A grant listed
    at a fee above the one offered (read as the fee required) is left out the
    same way. The intervals of our grants are set aside first, then those of
    our cancelled grants left out, then those of requests still waiting for an
    answer at a fee they offered set aside: what is left out is never a grant
    of ours, and a request is never answered by the grant of one cancelled.
    """
    remaining = list(windows)
    kept = _set_aside(remaining, asked, ReservationStatus.GRANTED)
    withdrawals = _take_off_cancelled(remaining, asked, listed_fingerprint)
    kept += _set_aside(remaining, asked, ReservationStatus.PENDING)
    for reservation in asked:
        if reservation.status is ReservationStatus.DENIED_FEE_REQUIRED:
            for window in [w for w in remaining if _same_period(w, reservation)]:
                if window.price is not None and window.price > reservation.max_fee + FEE_TOLERANCE:
                    remaining.remove(window)
    return (*kept, *remaining, *withdrawals)


def _set_aside(
    remaining: list[Window], asked: Sequence[Reservation], status: ReservationStatus
) -> list[Window]:
    """Take out of ``remaining`` the intervals listed for our requests in ``status``, at fees they offered."""
    held: list[Window] = []
    for reservation in asked:
        if reservation.status is not status:
            continue
        power = reservation.granted_w if status is ReservationStatus.GRANTED else reservation.requested_w
        match = _matching(remaining, reservation, power)
        if match is not None and (match.price or 0.0) <= reservation.max_fee + FEE_TOLERANCE:
            remaining.remove(match)
            held.append(match)
    return held


def _take_off_cancelled(
    remaining: list[Window], asked: Sequence[Reservation], listed_fingerprint: str
) -> list[Window]:
    """Leave out of ``remaining`` what we cancelled; the withdrawals where it cannot be found."""
    withdrawals: list[Window] = []
    for reservation in asked:
        if reservation.status is not ReservationStatus.CANCELLED or reservation.cancelled_w <= 0:
            continue
        match = _matching(remaining, reservation, reservation.cancelled_w)
        if match is not None:
            remaining.remove(match)
        elif reservation.reservation_fp == listed_fingerprint:
            withdrawals.append(Window(reservation.start, reservation.end, -reservation.cancelled_w))
    return withdrawals


def _matching(windows: Sequence[Window], reservation: Reservation, power_w: float) -> Window | None:
    return next(
        (
            window
            for window in windows
            if _same_period(window, reservation) and abs(window.value_w - power_w) <= POWER_TOLERANCE_W
        ),
        None,
    )
