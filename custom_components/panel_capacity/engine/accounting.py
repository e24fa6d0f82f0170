"""Counters: time and energy over the limit and the rating, continuous load, actions."""

from __future__ import annotations

from dataclasses import dataclass

from .model import AccountingSnapshot

CONTINUOUS_S = 3 * 3600.0  # NEC: a continuous load runs for 3 hours or more


@dataclass(slots=True)
class Accounting:
    """Integrates site power over time, holding each reading until the next one."""

    seconds_over_limit: float = 0.0
    energy_over_limit_wh: float = 0.0
    longest_over_limit_s: float = 0.0
    current_over_limit_s: float = 0.0
    seconds_over_rating: float = 0.0
    continuous_s: float = 0.0
    longest_continuous_s: float = 0.0
    actions_total: int = 0
    day: int | None = None
    day_seconds_over_limit: float = 0.0
    day_seconds_over_rating: float = 0.0
    day_actions: int = 0

    def advance(
        self,
        dt: float,
        site_w: float | None,
        limit_w: float,
        rating_w: float,
        continuous_w: float,
    ) -> None:
        """Account for ``dt`` seconds at ``site_w`` (the previous reading)."""
        if dt <= 0 or site_w is None:
            return
        if site_w > limit_w:
            self.seconds_over_limit += dt
            self.day_seconds_over_limit += dt
            self.energy_over_limit_wh += (site_w - limit_w) * dt / 3600.0
            self.current_over_limit_s += dt
            self.longest_over_limit_s = max(self.longest_over_limit_s, self.current_over_limit_s)
        else:
            self.current_over_limit_s = 0.0
        if site_w > rating_w:
            self.seconds_over_rating += dt
            self.day_seconds_over_rating += dt
        if site_w > continuous_w:
            self.continuous_s += dt
            self.longest_continuous_s = max(self.longest_continuous_s, self.continuous_s)
        else:
            self.continuous_s = 0.0

    def new_day(self, day: int | None) -> None:
        """Start the daily counters over when the calendar day changes."""
        if day is not None and day != self.day:
            if self.day is not None:
                self.day_seconds_over_limit = 0.0
                self.day_seconds_over_rating = 0.0
                self.day_actions = 0
            self.day = day

    def count_action(self) -> None:
        """Count one action."""
        self.actions_total += 1
        self.day_actions += 1

    def snapshot(self) -> AccountingSnapshot:
        """A frozen copy for the status."""
        return AccountingSnapshot(
            seconds_over_limit=self.seconds_over_limit,
            energy_over_limit_wh=self.energy_over_limit_wh,
            longest_over_limit_s=self.longest_over_limit_s,
            seconds_over_rating=self.seconds_over_rating,
            continuous_s=self.continuous_s,
            longest_continuous_s=self.longest_continuous_s,
            continuous_exceeded=self.continuous_s >= CONTINUOUS_S,
            actions_total=self.actions_total,
            day=self.day,
            day_seconds_over_limit=self.day_seconds_over_limit,
            day_seconds_over_rating=self.day_seconds_over_rating,
            day_actions=self.day_actions,
        )
