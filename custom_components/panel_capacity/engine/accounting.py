"""Counters: time and energy over the limit, the export limit and the rating, continuous load, actions."""

from __future__ import annotations

from dataclasses import dataclass

from .model import AccountingSnapshot

CONTINUOUS_S = 3 * 3600.0  # NEC: a continuous load runs for 3 hours or more
DEMAND_BLOCK_S = 900.0  # demand is the average import over clock-aligned 15-minute blocks
DEMAND_COVERAGE = 0.5  # a block counts only if readings covered at least this share of it


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
    block_start: float | None = None  # the 15-minute block being filled
    block_energy_wh: float = 0.0  # import in it so far
    block_seconds: float = 0.0  # seconds of it with a reading
    demand_15min_w: float | None = None  # average import of the last complete block
    demand_block_start: float | None = None  # when that block began
    peak_15min_w: float = 0.0  # the highest block since the start
    seconds_over_export_limit: float = 0.0
    energy_over_export_limit_wh: float = 0.0  # export beyond the export limit

    def advance(  # noqa: PLR0917 - called once, from the step
        self,
        start: float,
        end: float,
        site_w: float | None,
        limit_w: float,
        rating_w: float,
        continuous_w: float,
        *,
        export_limit_w: float | None = None,
    ) -> None:
        """Account for the time from ``start`` to ``end`` at ``site_w`` (the previous reading).

        ``export_limit_w`` is the export limit then in force (None: there was none).
        """
        dt = end - start
        if dt <= 0:
            return
        self._demand(start, end, site_w)
        if site_w is None:
            return
        if site_w > limit_w:
            self.seconds_over_limit += dt
            self.day_seconds_over_limit += dt
            self.energy_over_limit_wh += (site_w - limit_w) * dt / 3600.0
            self.current_over_limit_s += dt
            self.longest_over_limit_s = max(self.longest_over_limit_s, self.current_over_limit_s)
        else:
            self.current_over_limit_s = 0.0
            if export_limit_w is not None and site_w < -export_limit_w:
                self.seconds_over_export_limit += dt
                self.energy_over_export_limit_wh += (-site_w - export_limit_w) * dt / 3600.0
        if site_w > rating_w:
            self.seconds_over_rating += dt
            self.day_seconds_over_rating += dt
        if site_w > continuous_w:
            self.continuous_s += dt
            self.longest_continuous_s = max(self.longest_continuous_s, self.continuous_s)
        else:
            self.continuous_s = 0.0

    def _demand(self, start: float, end: float, site_w: float | None) -> None:
        """Import energy into clock-aligned 15-minute blocks; close each block as time passes it."""
        moment = start
        while moment < end:
            block = moment - moment % DEMAND_BLOCK_S
            if self.block_start != block:
                self._close_block()
                self.block_start = block
            stop = min(end, block + DEMAND_BLOCK_S)
            if site_w is not None:
                self.block_energy_wh += max(0.0, site_w) * (stop - moment) / 3600.0
                self.block_seconds += stop - moment
            if stop >= block + DEMAND_BLOCK_S:
                self._close_block()
                self.block_start = None
            moment = stop

    def _close_block(self) -> None:
        if self.block_start is not None and self.block_seconds >= DEMAND_COVERAGE * DEMAND_BLOCK_S:
            # Rounded to a milliwatt: summing seconds of energy leaves float dust.
            self.demand_15min_w = round(self.block_energy_wh * 3600.0 / self.block_seconds, 3)
            self.demand_block_start = self.block_start
            self.peak_15min_w = max(self.peak_15min_w, self.demand_15min_w)
        self.block_energy_wh = 0.0
        self.block_seconds = 0.0

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
            demand_15min_w=self.demand_15min_w,
            demand_block_start=self.demand_block_start,
            peak_15min_w=self.peak_15min_w,
            seconds_over_export_limit=self.seconds_over_export_limit,
            energy_over_export_limit_wh=self.energy_over_export_limit_wh,
        )
