"""What a subpanel's sensor showed that no known load explains, kept for when the sensor fails.

A node with a sensor of its own carries its known loads and something more: a
space heater, tools, whatever Panel Capacity does not manage. When the sensor
stops giving a usable reading (no number, stale, implausible) the node is
estimated from its known loads, and that unmanaged part would be forgotten:
the node would look emptier than it is, and a charger in it could be raised
into an overload of its breaker. So every step that a node's constraint is
measured, its unexplained part (the reading less what its loads and child
nodes explain) is noted, and while the sensor fails the estimate keeps it:

- for ``hold_s`` after the last good reading (ten staleness times, at least
  ten minutes), the largest unexplained part seen over the ``hold_s`` before
  it: never less than the last one, and a heater cycling off just before the
  fault is not taken as gone;
- after that, the largest seen over the last day as well: the longer nothing
  is known, the more likely the unmanaged load has come back on.

It is never dropped to nothing while the fault lasts (that was the defect),
and never taken below zero (unmanaged production may stop). Known loads come
back as the room left beside it allows. What is kept survives a restart
(``memory``) and is used then only while the node's sensor is reported
faulty.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import TYPE_CHECKING, Any

from .model import UnmanagedBasis

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .config import ControlSettings

HOLD_MIN_S = 600.0
HOLD_STALENESS_FACTOR = 10.0
DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class HeldPart:
    """The unmanaged part a faulty constraint's estimate holds, and why."""

    watts: float
    since: float  # the sensor's last good reading
    basis: UnmanagedBasis


def hold_s(settings: ControlSettings) -> float:
    """How long after the last good reading the recent peak alone is held."""
    return max(HOLD_MIN_S, HOLD_STALENESS_FACTOR * settings.staleness_s)


@dataclass(slots=True)
class Unexplained:
    """One constraint's unexplained part as its sensor showed it: the last one and two running peaks.

    A peak is replaced by the current value once it is older than its window,
    so it is at least the last value and at most the largest of its window.
    """

    last_w: float
    seen_at: float
    recent_w: float
    recent_at: float
    day_w: float
    day_at: float
    restored: bool = False  # from the memory of an earlier run, not seen in this one

    @classmethod
    def first(cls, value: float, now: float) -> Unexplained:
        """The first reading of a constraint."""
        return cls(value, now, value, now, value, now)

    def observe(self, value: float, now: float, window_s: float) -> None:
        """A good reading's unexplained part."""
        self.last_w, self.seen_at, self.restored = value, now, False
        if value >= self.recent_w or now - self.recent_at > window_s:
            self.recent_w, self.recent_at = value, now
        if value >= self.day_w or now - self.day_at > DAY_S:
            self.day_w, self.day_at = value, now

    def held(self, now: float, window_s: float) -> HeldPart:
        """What a faulty sensor's estimate keeps of it now."""
        if now - self.seen_at <= window_s:
            return HeldPart(max(0.0, self.recent_w), self.seen_at, UnmanagedBasis.RECENT_PEAK)
        return HeldPart(max(0.0, self.recent_w, self.day_w), self.seen_at, UnmanagedBasis.DAY_PEAK)

    def encode(self) -> dict[str, float]:
        """For the memory."""
        return {
            "last_w": self.last_w,
            "seen_at": self.seen_at,
            "recent_w": self.recent_w,
            "recent_at": self.recent_at,
            "day_w": self.day_w,
            "day_at": self.day_at,
        }

    @classmethod
    def decode(cls, data: Mapping[str, Any]) -> Unexplained | None:
        """From the memory; None when anything is missing or not a finite number."""
        values: list[float] = []
        for key in ("last_w", "seen_at", "recent_w", "recent_at", "day_w", "day_at"):
            value = data.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                return None
            values.append(float(value))
        last_w, seen_at, recent_w, recent_at, day_w, day_at = values
        return cls(last_w, seen_at, recent_w, recent_at, day_w, day_at, restored=True)
