"""The grid's state, decided in one place.

Plain Python, no Home Assistant imports. What the utility's server has said is
kept as one ``Heard``; what this home asked for is its list of reservations.
``grid_state`` decides from the two (and the user's settings) the grid terms in
force at a moment, in W, and until when they hold; the coordinator, the
engine's inputs and the sensors all read its result, and nothing else decides
which of the server's limits applies.

The rules:

* The server's present answer applies. Where several of its events say the
  same thing, the newest in force applies (``schedule.grid_terms``).
* A limit the utility set is kept until the utility states a new one, or its
  own intervals end. While the server cannot be reached (or answers with
  something unusable), its last answer holds as it was: an envelope to the end
  of its intervals, the subscription until the server announces another. An
  answer with no event for this home at all (a server that restarted and lost
  its data) is read the same way for the limits: what the earlier answers set
  is kept, each to its own end. An event that disappears from an answer that
  still lists others was deleted, which cancels it (User Guide 7.9), except the
  subscription: the utility changes it by announcing a new one (8.10.2), so the
  last one announced holds until then (kept across restarts too).
* What is kept rather than heard now is marked: ``GridTerms.retained`` names
  the terms, and the subscription's source is ``retained``.
* Reservations raise the limit as the server lists them, less what this home
  cancelled (``reservations.listed_for_us``). Before any answer since start
  (the server down at start), the grants this home stored hold.
* Only the subscription survives a restart: after one (perhaps a power
  outage) cached envelopes are not trusted (User Guide 8.10.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .reservations import ReservationStatus, fingerprint, listed_for_us
from .schedule import (
    GridSchedule,
    GridTerms,
    Window,
    announced_subscriptions,
    grid_terms,
    next_change,
    next_daily_boundary,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from .reservations import Reservation
    from .schedule import GridPolicy

SINCE_EVER = datetime.min.replace(tzinfo=UTC)
FOREVER = datetime.max.replace(tzinfo=UTC)
# Windows kept from what the server said before rank below every window of its present answer.
KEPT_RANK = 1 << 40


@dataclass(frozen=True, slots=True)
class Heard:
    """What the utility's server has said, as far as it still holds."""

    answer: GridSchedule | None = None  # its newest usable answer since start (None: none yet)
    current: bool = False  # that answer is the server's present word (the last poll succeeded)
    kept: GridSchedule = field(default_factory=GridSchedule)  # limits of earlier answers, still held
    subscription_w: float | None = None  # the last import subscription it announced
    export_subscription_w: float | None = None  # and export


def _keep(window: Window) -> Window:
    return window if window.kept else replace(window, kept=True, rank=window.rank - KEPT_RANK)


def _unfinished(windows: Iterable[Window], now: datetime) -> tuple[Window, ...]:
    return tuple(_keep(window) for window in windows if window.end > now)


def heard_answer(heard: Heard, answer: GridSchedule, now: datetime) -> Heard:
    """``heard`` after a usable answer from the server, read at ``now``."""
    subscription, export_subscription = announced_subscriptions(answer, now)
    kept = GridSchedule()
    if answer.events == 0:
        # Nothing at all for this home: a server that lost its data, not a utility that
        # withdrew every limit at once. What it set before holds, each to its own end.
        before = heard.answer or GridSchedule()
        kept = GridSchedule(
            import_limits=_unfinished((*before.import_limits, *heard.kept.import_limits), now),
            export_limits=_unfinished((*before.export_limits, *heard.kept.export_limits), now),
            emergencies=_unfinished((*before.emergencies, *heard.kept.emergencies), now),
        )
    return Heard(
        answer=answer,
        current=True,
        kept=kept,
        subscription_w=subscription if subscription is not None else heard.subscription_w,
        export_subscription_w=(
            export_subscription if export_subscription is not None else heard.export_subscription_w
        ),
    )


def heard_nothing(heard: Heard) -> Heard:
    """``heard`` after a poll that failed: what it said before holds, as it was."""
    return heard if not heard.current else replace(heard, current=False)


def _forever(value: float | None) -> tuple[Window, ...]:
    return () if value is None else (Window(SINCE_EVER, FOREVER, value, rank=-2 * KEPT_RANK, kept=True),)


def in_force(heard: Heard, asked: Sequence[Reservation]) -> GridSchedule:
    """Every window that can be in force, from what the server said and what this home asked.

    The present answer's windows; then those kept (marked ``kept``, ranked
    below): the whole answer while the server cannot be reached, the limits
    an empty answer did not restate, and the last subscriptions announced.
    """
    answer = heard.answer or GridSchedule()
    mark = (lambda windows: windows) if heard.current else (lambda windows: tuple(map(_keep, windows)))
    if heard.answer is None:
        # No answer since start: the grants this home stored hold (the server said so before).
        reservations: tuple[Window, ...] = tuple(
            Window(r.start, r.end, r.granted_w, r.fee, kept=True)
            for r in asked
            if r.status is ReservationStatus.GRANTED
        )
    else:
        listed = fingerprint(answer.reservation_fingerprint)
        reservations = mark(listed_for_us(answer.reservations, asked, listed))
    kept = heard.kept
    return replace(
        answer,
        subscriptions=(*mark(answer.subscriptions), *_forever(heard.subscription_w)),
        export_subscriptions=(*mark(answer.export_subscriptions), *_forever(heard.export_subscription_w)),
        export_reservations=mark(answer.export_reservations),
        reservations=reservations,
        import_limits=(*mark(answer.import_limits), *kept.import_limits),
        export_limits=(*mark(answer.export_limits), *kept.export_limits),
        emergencies=(*mark(answer.emergencies), *kept.emergencies),
    )


@dataclass(frozen=True, slots=True)
class GridState:
    """The grid terms in force at a moment, and what they were decided from."""

    terms: GridTerms
    schedule: GridSchedule  # every window that can be in force (``in_force``)
    since: datetime  # the terms hold from this moment...
    until: datetime  # ...to this one, when a window or a daily limit may start or end

    def holds_at(self, moment: datetime) -> bool:
        """Whether the terms still hold at ``moment``."""
        return self.since <= moment < self.until


def grid_state(
    heard: Heard, asked: Sequence[Reservation], policy: GridPolicy, moment: datetime, local: datetime
) -> GridState:
    """The grid terms in force at ``moment`` (``local``: the same moment on the local clock).

    The one decision of which grid limits apply: see the module's notes.
    """
    schedule = in_force(heard, asked)
    terms = grid_terms(schedule, policy, moment, local.time())
    changes = [next_change(schedule, moment), next_daily_boundary(policy.daily, local)]
    until = min((change for change in changes if change is not None), default=FOREVER)
    return GridState(terms=terms, schedule=schedule, since=moment, until=until)
