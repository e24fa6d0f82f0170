"""The import policy over the tree: shed the least important loads, bring back the most important.

Following Nordman, Gerber et al. (LBNL/NREL), "Building electrical capacity
management": when a constraint (the root's total, a leg or phase, a subpanel)
is above its limit, drop or turn down loads from the end of the priority list,
only loads that draw on it, until it is under its shed target; when there is
room again below a second, lower threshold, bring them back one at a time,
most important first, each only where every constraint it draws on has room.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .config import LoadKind
from .loads import Held
from .model import ActionKind, ActionReason
from .tree import ROOT_INDEX

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .loads import LoadSlot
    from .model import Action
    from .state import EngineState


def over_limit(state: EngineState, projected: list[float | None]) -> list[int]:
    """The constraints above their limit."""
    return [
        index for index, flow in enumerate(projected) if flow is not None and flow > state.limit_of(index)
    ]


def shed(state: EngineState, now: float, projected: list[float | None], over: list[int]) -> list[Action]:
    """Shed, from the least important load up, until every constraint over its limit is at its target.

    Only loads that draw on a constraint still above its target are touched,
    each cut by what the worst of those needs. ``projected`` is updated with
    the cuts.
    """
    targets = {index: state.shed_target_of(index) for index in over}
    above = {index for index in over if projected[index] > targets[index]}  # type: ignore[operator]
    actions: list[Action] = []
    placement = state.tree.placement
    for slot in reversed(state.importers):
        if not above:
            break
        if not slot.controllable(now) or not slot.is_on:
            continue
        placed = placement[slot.cfg.load_id]
        need = 0.0
        worst = ROOT_INDEX
        for index, share in placed:
            if index in above:
                wanted = (projected[index] - targets[index]) / share  # type: ignore[operator]
                if wanted > need:
                    need, worst = wanted, index
        if need <= 0:
            continue  # it does not draw on what is over
        action = reduce(state, slot, now, need, ActionReason.OVER_LIMIT, index=worst)
        if action is None:
            continue
        actions.append(action)
        for index, share in placed:
            flow = projected[index]
            if flow is not None:
                projected[index] = flow = flow + action.delta_w * share
                if index in above and flow <= targets[index]:
                    above.discard(index)
    return actions


def reduce(
    state: EngineState,
    slot: LoadSlot,
    now: float,
    need: float,
    reason: ActionReason,
    *,
    index: int = ROOT_INDEX,
) -> Action | None:
    """The smallest cut of one load that frees ``need`` W (or as much as it can)."""
    cfg = slot.cfg
    draw = slot.draw
    can_turn_off = slot.min_on_ok(now) and (cfg.kind is LoadKind.SWITCH or cfg.allow_off)
    if cfg.kind is LoadKind.SWITCH:
        if draw <= 0 or not can_turn_off:
            return None
        return state.action(slot, ActionKind.TURN_OFF, reason, -draw, index=index)
    level = slot.level
    wanted = draw - need
    if wanted < cfg.min_w and can_turn_off:
        return state.action(slot, ActionKind.TURN_OFF, reason, -draw, index=index)
    new_level = cfg.quantize_down(wanted)
    if new_level >= level:
        return None
    return state.action(
        slot, ActionKind.SET_LEVEL, reason, -max(0.0, draw - new_level), new_level, index=index
    )


def holdoff_passed(state: EngineState, now: float) -> bool:
    """The restore hold-off since the last import action is over."""
    last = state.last_action_at
    return last is None or now - last >= state.settings.restore_holdoff_s


def restore(state: EngineState, now: float, projected: list[float | None]) -> list[Action]:
    """Bring back the most important held load that fits wherever it draws."""
    if not holdoff_passed(state, now):
        return []
    for _, _, action in walk(state, now, projected):
        if action is not None:
            return [action]
    return []


def walk(
    state: EngineState, now: float, projected: list[float | None], *, stop: bool = True
) -> Iterator[tuple[LoadSlot, bool, Action | None]]:
    """The held loads in order of importance: whether a more important one holds them back, and their restore.

    A held load waiting for room keeps the constraints it is short of for
    itself: no less important load is given that room. One waiting for a
    timer, or for its last command to show, keeps every constraint it draws
    on. Without a tree every load draws on the root's total, so only the first
    load in line can come back. The walk ends at the first restore (unless
    ``stop`` is false: then that load keeps every constraint it draws on).
    Loads that cannot be given back now (see ``candidates``) keep nothing.
    """
    placement = state.tree.placement
    blocked: set[int] = set()
    for slot in state.importers:
        if slot.hold.held is Held.NONE:
            continue
        placed = placement[slot.cfg.load_id]
        behind = bool(blocked) and any(index in blocked for index, _ in placed)
        if behind or not eligible(slot, now):
            yield slot, behind, None
            continue
        action = None
        short: set[int] | None = None
        if slot.cmd.at is None:
            rooms = rooms_for(state, slot, placed, projected)
            action = raise_load(state, slot, now, min(rooms.values(), default=math.inf))
            short = None if action is not None else _short_of(slot, rooms, now)
        yield slot, False, action
        if action is not None and stop:
            return
        blocked.update(short or (index for index, _ in placed))
        if stop and ROOT_INDEX in blocked:
            return  # every load draws on the root's total: none can come back now


def _short_of(slot: LoadSlot, rooms: dict[int, float], now: float) -> set[int] | None:
    """The constraints that lack the room a load needs to come back; None when it waits for a timer."""
    if not slot.is_on and not slot.min_off_ok(now):
        return None
    cfg = slot.cfg
    if cfg.kind is LoadKind.SWITCH:
        need = slot.expected
    elif slot.is_on:
        need = cfg.min_raise_w
    else:
        need = max(cfg.min_w, cfg.min_raise_w)
    short = {index for index, room in rooms.items() if room < need}
    if not short and rooms:
        tightest = min(rooms.values())
        short = {index for index, room in rooms.items() if room == tightest}
    return short


def rooms_for(
    state: EngineState, slot: LoadSlot, placed: tuple[tuple[int, float], ...], projected: list[float | None]
) -> dict[int, float]:
    """How much more the load may draw as each constraint it draws on sees it (its room over its share).

    None at all (minus infinity) on a constraint not under its restore
    threshold. A leg or phase that is not measured has no say: its node's
    total stands for it.
    """
    jump = not (slot.cfg.kind is LoadKind.MODULATED and slot.is_on)
    reserve = idle_reserve(state)
    rooms: dict[int, float] = {}
    for index, share in placed:
        flow = projected[index]
        if flow is None:
            continue
        threshold = state.restore_threshold_of(index)
        if flow >= threshold:
            rooms[index] = -math.inf
            continue
        fill = threshold if jump else state.shed_target_of(index)
        rooms[index] = (fill - flow - reserve.get(index, 0.0)) / share
    return rooms


def fill_to(state: EngineState, slot: LoadSlot) -> float:
    """How high a load coming back may take the root's total.

    A switched load, or a charger starting from off, makes a jump: it must fit
    under the restore threshold, so that it is not shed again at once. A
    charger already running is raised step by step: it may fill up to the shed
    target (the margin under the limit still stands), since what flaps is a
    jump, not a step.
    """
    if slot.cfg.kind is LoadKind.MODULATED and slot.is_on:
        return state.shed_target_w
    return state.restore_threshold_w


def candidates(state: EngineState, now: float) -> list[LoadSlot]:
    """The held loads a restore may give back, most important first.

    A charger turned down but not using even that (no car drawing) is passed
    over: more room would change nothing for it, and if its car comes back and
    takes the site over, the less important loads restored meanwhile are shed
    first.
    """
    return [slot for slot in state.importers if slot.hold.held is not Held.NONE and eligible(slot, now)]


def eligible(slot: LoadSlot, now: float) -> bool:
    """A held load that a restore may give back now (see ``candidates``)."""
    return slot.controllable(now) and not (
        slot.cfg.kind is LoadKind.MODULATED and slot.hold.held is Held.REDUCED and slot.idle
    )


def first_in_line(state: EngineState, now: float) -> LoadSlot | None:
    """The most important held load that a restore would give back next."""
    found = candidates(state, now)
    return found[0] if found else None


def idle_reserve(state: EngineState) -> dict[int, float]:
    """Room kept, per constraint, for the largest switched load on it that is on but idle (if so set).

    A water heater whose thermostat is satisfied reads 0 W on its own meter,
    yet may start at any moment: what comes back leaves room for it, so its
    start does not take the site over the limit. Room is kept for one such
    load, the largest (as the paper keeps a margin for one unexpected load),
    not for all of them at once.
    """
    reserve: dict[int, float] = {}
    if not state.settings.reserve_idle:
        return reserve
    for slot in state.slots:
        if slot.cfg.kind is not LoadKind.SWITCH:
            continue
        if slot.hold.held is Held.NONE and slot.seen.available and slot.seen.on and slot.idle:
            expected = slot.expected
            for index, share in state.tree.placement[slot.cfg.load_id]:
                reserve[index] = max(reserve.get(index, 0.0), expected * share)
    return reserve


def raise_load(state: EngineState, slot: LoadSlot, now: float, room: float) -> Action | None:
    """Give back part or all of what was taken from one load, within ``room`` W."""
    cfg = slot.cfg
    off = not slot.is_on
    if off and not slot.min_off_ok(now):
        return None
    if cfg.kind is LoadKind.SWITCH:
        need = slot.expected
        if need > room:
            return None
        return state.action(slot, ActionKind.TURN_ON, ActionReason.HEADROOM, need)
    goal = slot.goal
    draw = slot.draw
    start = 0.0 if off else slot.level
    ceiling = min(goal, draw + room, max(start + cfg.ramp_limit_w, cfg.min_w))
    if ceiling < cfg.min_w:
        return None
    new_level = cfg.quantize_down(ceiling)
    if new_level <= start or new_level - draw > room:
        return None
    if new_level - start < cfg.min_raise_w and new_level < goal:
        return None  # not worth an action yet
    return state.action(slot, ActionKind.SET_LEVEL, ActionReason.HEADROOM, new_level - draw, new_level)


def fail_safe(state: EngineState, now: float) -> list[Action]:
    """Without a trustworthy reading, put every managed load in its safe state.

    Export actuators are left where they are: turning them down could take the
    site over its import limit, turning them up over its export limit.
    """
    actions: list[Action] = []
    for slot in state.importers:
        cfg = slot.cfg
        if not slot.controllable(now) or not slot.is_on:
            continue
        if cfg.kind is LoadKind.MODULATED and (not cfg.allow_off or not slot.min_on_ok(now)):
            if slot.level > cfg.min_w:
                delta = -max(0.0, slot.draw - cfg.min_w)
                actions.append(
                    state.action(slot, ActionKind.SET_LEVEL, ActionReason.FAIL_SAFE, delta, cfg.min_w)
                )
            continue
        if slot.min_on_ok(now):
            actions.append(state.action(slot, ActionKind.TURN_OFF, ActionReason.FAIL_SAFE, -slot.draw))
    return actions
