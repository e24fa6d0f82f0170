"""The quiet band: where and until when the next steps are sure to take no action.

Lets a caller skip steps that could not do anything (the simulator does, over
long stretches of data). The promise is made for the root's total alone: with
conductors or nodes measured or estimated, there is none.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from . import ledger, shedding
from .config import LoadKind
from .loads import Held
from .model import QuietBand
from .screen import PLAUSIBLE_FACTOR

if TYPE_CHECKING:
    from .loads import LoadSlot
    from .state import EngineState

# How finely the quiet band's lower edge is checked against raise_load (W).
ROOM_TOLERANCE_W = 1e-3
# While a command is in flight, a reading within this of the last one is unchanged (W).
READING_TOLERANCE_W = 1e-9


def quiet_band(state: EngineState) -> QuietBand | None:
    """Where and until when the next steps are sure to take no action (see QuietBand).

    With a command in flight, only an unchanged reading is quiet, and only
    until the command is due to show. None when no promise can be made:
    management off, fail-safe, no reading, a tree, or a step that would act
    now. Readings are assumed to keep coming (staleness is not part of it).
    With export actuators, the band ends at the export limit, and there is
    none while one is held (raising it again depends on its own readings).
    """
    site = state.site_w
    if not state.enabled or state.fail_safe or site is None or state.now is None or state.measured_conductors:
        return None
    now = state.now
    deadlines = _deadlines(state, now)
    if deadlines is None:
        return None
    until, pending, in_flight = deadlines
    low = -PLAUSIBLE_FACTOR * state.rating_w  # beyond it a reading is refused (screen), a change
    if state.exporters:
        if any(slot.hold.held is not Held.NONE for slot in state.exporters):
            return None
        if state.export_limit is not None:
            low = -state.export_limit.effective_w  # turned down only below it
    slot = shedding.first_in_line(state, now)
    if slot is not None and slot.cmd.at is None:
        last = state.last_action_at
        holdoff_end = last + state.settings.restore_holdoff_s if last is not None else now
        changed = slot.hold.changed_at
        min_off_end = changed + slot.cfg.min_off_s if not slot.is_on and changed is not None else now
        if holdoff_end > now or min_off_end > now:
            until = min(until, max(holdoff_end, min_off_end))
        else:
            room = _min_room(state, slot, now)
            if room is None:
                return None
            # A restore needs the site under the restore threshold and the room to fit.
            reserve = shedding.idle_reserve(state).get(0, 0.0)
            edge = _room_edge(shedding.fill_to(state, slot), reserve, room)
            low = max(low, min(math.nextafter(state.restore_threshold_w, -math.inf), edge))
    high = state.limit.effective_w
    if not in_flight:
        return QuietBand(low, high, until, state.never_shed)
    # The same reading, taken again, may show a command that was given earlier.
    settings = state.settings
    if any(
        ledger.shown(at, batch, site, state.site_time, now, settings)
        for at, batch in ledger.batches(state.slots).items()
    ):
        return None
    # Decisions follow the projected power, fixed while the reading does not move.
    if not low < site + pending <= high:
        return None
    return QuietBand(site - READING_TOLERANCE_W, site, until, state.never_shed)


def _room_edge(fill: float, reserve: float, room: float) -> float:
    """The reading above which the room that restore computes falls short of ``room``.

    ``fill - reading - reserve`` against ``room``, moved up where rounding would still give the full room.
    """
    edge = fill - reserve - room
    while (fill - math.nextafter(edge, math.inf)) - reserve >= room:
        edge = math.nextafter(edge, math.inf)
    return edge


def _deadlines(state: EngineState, now: float) -> tuple[float, float, bool] | None:
    """The next timer of any load, the change still in flight, and whether any is.

    None when a command in flight has nothing left to show: the next step
    clears it, and may then decide otherwise.
    """
    until = math.inf
    pending = 0.0
    in_flight = False
    for slot in state.slots:
        cmd, hold = slot.cmd, slot.hold
        if cmd.at is not None:
            if cmd.pending_delta_w == 0.0:
                return None
            in_flight = True
            pending += cmd.pending_delta_w
            until = min(until, cmd.at + state.settings.response_s)
        for deadline in (hold.manual_until, cmd.unresponsive_until):
            if deadline is not None:
                until = min(until, deadline)
        if hold.changed_at is not None and slot.is_on and now < hold.changed_at + slot.cfg.min_on_s:
            until = min(until, hold.changed_at + slot.cfg.min_on_s)
    return until, pending, in_flight


def _min_room(state: EngineState, slot: LoadSlot, now: float) -> float | None:
    """The least headroom (W) with which raise_load would act; None if it cannot be found exactly."""
    if slot.cfg.kind is LoadKind.SWITCH:
        return slot.expected
    # What raise_load depends on, once the hold-off and minimum off time have passed.
    seen = slot.seen
    key = (seen.on, seen.level_w, seen.measured_w, slot.hold.restore_level_w, slot.cmd.at)
    if slot.min_room is not None and slot.min_room[0] == key:
        return slot.min_room[1]
    room = _find_min_room(state, slot, now)
    slot.min_room = (key, room)
    return room


def _find_min_room(state: EngineState, slot: LoadSlot, now: float) -> float | None:
    cfg = slot.cfg
    goal = slot.goal
    start = slot.level if slot.is_on else 0.0
    target = cfg.quantize_down(max(cfg.min_w, start + cfg.min_raise_w))
    if target < start + cfg.min_raise_w:  # off the grid: one more step
        target = cfg.quantize_down(target + cfg.min_raise_w)
    target = min(target, goal)
    room = max(0.0, target - slot.draw)
    # Check the threshold against raise_load itself: it acts at room, and not just below it.
    if shedding.raise_load(state, slot, now, room) is None:
        return math.inf if shedding.raise_load(state, slot, now, 1e12) is None else None
    if room > 0 and shedding.raise_load(state, slot, now, room - ROOM_TOLERANCE_W) is not None:
        return None
    return room
