"""The export policy: keep export under the export limit with the export actuators.

Mirrored import control, at the root only: export actuators (a PV inverter's
or a battery's power limit) are turned down from the least important when the
site exports too much, and raised again, most important first, once there is
room to export.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .loads import IDLE_W, Held
from .model import ActionKind, ActionReason

if TYPE_CHECKING:
    from .loads import LoadSlot
    from .model import Action
    from .state import EngineState


def target(state: EngineState, export_w: float) -> float:
    """Turning export actuators down brings the site up to this (export limit less the margin)."""
    return -max(0.0, export_w - state.settings.margin_w)


def threshold(state: EngineState, export_w: float) -> float:
    """An export actuator is raised only while the site stays above this with it."""
    return -max(0.0, export_w - state.settings.margin_w - state.settings.hysteresis_w)


def room_floor(state: EngineState) -> float:
    """The export restore threshold, or no floor at all without an export limit."""
    export = state.export_limit
    return -math.inf if export is None else threshold(state, export.effective_w)


def control(state: EngineState, now: float, projected: float, actions: list[Action]) -> list[Action]:
    """Keep export under the export limit (import is under its limit).

    The actions of one step all move the site the same way, so that the reading
    can show them as one batch (see ledger.settle): turning down goes with
    import restores, raising waits for a step with no other action.
    """
    for action in actions:
        projected += action.delta_w
    export = state.export_limit
    if export is None:
        # No export limit: nothing is held back for it any more.
        return [] if actions else relieve(state, now, math.inf)
    if projected < -export.effective_w:
        curtailed = curtail(state, now, projected, export.effective_w)
        state.shed_this_step = bool(curtailed)
        return curtailed
    room = projected - threshold(state, export.effective_w)
    if actions or room <= 0:
        return []
    return restore(state, now, room, export.effective_w)


def curtail(state: EngineState, now: float, projected: float, export_w: float) -> list[Action]:
    """Turn export actuators down, least important first, until the site is back up to the target."""
    goal = target(state, export_w)
    actions: list[Action] = []
    for slot in reversed(state.exporters):
        if projected >= goal:
            break
        if not slot.controllable(now):
            continue
        cfg = slot.cfg
        production = slot.draw
        new_level = cfg.quantize_down(production - (goal - projected))
        if new_level >= production or new_level >= slot.level:
            continue  # a lower limit would not lower what it produces
        cut = production - new_level
        actions.append(
            state.action(slot, ActionKind.SET_LEVEL, ActionReason.OVER_LIMIT, cut, new_level, limit=export_w)
        )
        projected += cut
    return actions


def first_in_line(state: EngineState, now: float) -> LoadSlot | None:
    """The most important held export actuator that a restore would raise next.

    One producing nothing under a limit it does not reach (a PV inverter at
    night) is passed over: a higher limit would change nothing for it.
    """
    for slot in state.exporters:
        if slot.hold.held is Held.NONE or not slot.controllable(now):
            continue
        if slot.idle and slot.level > IDLE_W:
            continue
        return slot
    return None


def restore(state: EngineState, now: float, room: float, export_w: float) -> list[Action]:
    """Raise the most important held export actuator by one ramp step, within ``room`` W of export."""
    last = state.last_export_action_at
    if last is not None and now - last < state.settings.restore_holdoff_s:
        return []
    slot = first_in_line(state, now)
    if slot is None or slot.cmd.at is not None:
        return []
    action = raise_export(state, slot, room, slot.cfg.ramp_limit_w, export_w)
    return [action] if action is not None else []


def relieve(state: EngineState, now: float, room: float) -> list[Action]:
    """Give every held export actuator back at once, within ``room`` W of export.

    For a site over its import limit (more production lowers it) and for an
    export limit that is gone: no hold-off, no ramp.
    """
    actions: list[Action] = []
    for slot in state.exporters:
        if slot.hold.held is Held.NONE or slot.cmd.at is not None or not slot.controllable(now):
            continue
        action = raise_export(state, slot, room, math.inf)
        if action is not None:
            actions.append(action)
            room += action.delta_w
    return actions


def raise_export(
    state: EngineState, slot: LoadSlot, room: float, ramp: float, limit: float | None = None
) -> Action | None:
    """Raise an export actuator's limit by up to ``ramp``, taking the site down by at most ``room``.

    It is assumed to produce up to its new limit. ``limit`` is the limit shown
    in the action (the export limit; by default the import limit).
    """
    cfg = slot.cfg
    goal = slot.goal
    production = slot.draw
    level = slot.level
    new_level = cfg.quantize_down(min(goal, production + room, level + ramp))
    if new_level <= level or new_level - production > room:
        return None
    if new_level - level < cfg.min_raise_w and new_level < goal:
        return None  # not worth an action yet
    delta = -max(0.0, new_level - production)
    return state.action(slot, ActionKind.SET_LEVEL, ActionReason.HEADROOM, delta, new_level, limit=limit)
