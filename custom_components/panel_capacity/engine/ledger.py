"""The command ledger: commands in flight until the readings show them, retries, not responding.

A command is counted as in flight from the step that gives it until the
actuator shows it and the site reading shows its effect. Meanwhile its expected
change is added to the readings (projected power), so a slow actuator is not
mistaken for one that failed, and other loads are not shed for the same excess.
An actuator that ignores a command is asked again; after ``MAX_RETRIES`` it is
left alone for ``UNRESPONSIVE_S`` and said not to respond.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .config import LoadKind
from .loads import IDLE_W, Held
from .model import Action, ActionKind, ActionReason, GivenUp

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .config import ControlSettings
    from .loads import LoadSlot

# An actuator that ignores a command this many times in a row is given up on
# until it shows a change of its own, or for this long.
MAX_RETRIES = 3
UNRESPONSIVE_S = 600.0
# Two levels closer than this (W) are the same level.
LEVEL_TOLERANCE_W = 1e-6


def obeyed(slot: LoadSlot) -> bool:
    """Whether the actuator shows the last command.

    An export actuator's level is a limit: only the level counts (at 0 W Home
    Assistant may show it as off).
    """
    cmd, seen, cfg = slot.cmd, slot.seen, slot.cfg
    if cmd.on is not None and seen.on != cmd.on and not cfg.export:
        return False
    if cfg.kind is LoadKind.MODULATED and cmd.on and cmd.level_w is not None:
        return seen.level_w is not None and abs(seen.level_w - cmd.level_w) < LEVEL_TOLERANCE_W
    return True


def meter_shows_cut(slot: LoadSlot) -> bool:
    """A load's own meter shows that a cut has taken effect.

    Only cuts can be confirmed this way: a load given more room may well not
    use it (a full battery, a satisfied thermostat), nor an inverter given a
    higher limit (a cloud). Cutting an export actuator's production raises
    site power, so its cut is a positive change.
    """
    cmd, measured = slot.cmd, slot.seen.measured_w
    if measured is None or (cmd.pending_delta_w <= 0 if slot.cfg.export else cmd.pending_delta_w >= 0):
        return False
    if cmd.on is False:
        return measured <= IDLE_W
    level = cmd.level_w
    return level is not None and measured <= level + max(IDLE_W, 0.02 * level)


def confirm(slot: LoadSlot) -> None:
    """After a reading: a command the actuator and the load's own meter both show is done."""
    cmd = slot.cmd
    if cmd.at is not None and obeyed(slot):
        if meter_shows_cut(slot):
            cmd.pending_delta_w = 0.0
        if cmd.pending_delta_w == 0.0:
            cmd.clear()


def batches(slots: Iterable[LoadSlot]) -> dict[float, list[LoadSlot]]:
    """Commands not yet shown, grouped by the step that gave them."""
    grouped: dict[float, list[LoadSlot]] = {}
    for slot in slots:
        cmd = slot.cmd
        if cmd.pending_delta_w != 0.0 and cmd.at is not None:
            grouped.setdefault(cmd.at, []).append(slot)
    return grouped


def shown(  # noqa: PLR0917 - the reading, its time and the clock
    commanded_at: float,
    batch: list[LoadSlot],
    site_w: float | None,
    site_time: float | None,
    now: float,
    settings: ControlSettings,
) -> bool:
    """Whether the current reading shows a batch of commands (see ``settle``)."""
    if site_time is not None and site_time >= commanded_at + settings.response_s:
        return True
    if now >= commanded_at + settings.response_s + settings.staleness_s:
        return True
    base = batch[0].cmd.site_at_command
    if site_w is None or base is None:
        return False
    delta = sum(slot.cmd.pending_delta_w for slot in batch)
    change = site_w - base
    return change <= delta / 2 if delta < 0 else change >= delta / 2


def settle(
    slots: tuple[LoadSlot, ...],
    site_w: float | None,
    site_time: float | None,
    now: float,
    settings: ControlSettings,
) -> None:
    """Stop counting commands that the site reading now shows.

    Commands given at the same step form a batch. The reading shows a batch
    once the site power has moved by at least half the batch's expected change
    since the reading it was based on (timestamps alone cannot tell: a reading
    may be stamped the same instant as the command), or once a reading taken a
    full response time after the command arrives.
    """
    for slot in slots:
        if slot.cmd.pending_delta_w != 0.0:
            break
    else:
        return
    for commanded_at, batch in batches(slots).items():
        if shown(commanded_at, batch, site_w, site_time, now, settings):
            for slot in batch:
                slot.cmd.pending_delta_w = 0.0
                if obeyed(slot):
                    slot.cmd.clear()


def retries(
    slots: tuple[LoadSlot, ...], now: float, settings: ControlSettings
) -> tuple[list[Action], list[GivenUp]]:
    """Repeat a command that the actuator has not followed within the response time.

    The actions come without the site reading and limit they answer to; the
    caller fills those in. With them, the loads given up on now.
    """
    repeated: list[Action] = []
    given_up: list[GivenUp] = []
    for slot in slots:
        cmd, cfg = slot.cmd, slot.cfg
        if cmd.at is None or now - cmd.at < settings.response_s or not slot.controllable(now) or obeyed(slot):
            continue
        if cmd.retries >= MAX_RETRIES:
            # Give up: leave the load as it is and stop holding it for a while.
            given_up.append(_given_up(slot, now + UNRESPONSIVE_S))
            hold_as_left(slot)
            cmd.clear()
            cmd.unresponsive_until = now + UNRESPONSIVE_S
            continue
        cmd.retries += 1
        kind, level = _command(slot)
        repeated.append(Action(load_id=cfg.load_id, kind=kind, reason=ActionReason.RETRY, level_w=level))
    return repeated, given_up


def hold_as_left(slot: LoadSlot) -> None:
    """Given up on a command: what the load is held at now.

    A cut stays held: the load may still follow it (late), and it is given back
    once there is room, as any load shed. A restore (or a raise) that did not
    happen leaves the load held at what it shows. An export actuator is given
    up on as it shows.
    """
    cmd, shown = slot.cmd, slot.seen.level_w
    if slot.cfg.export:
        slot.hold.release()
    elif not (cmd.on is False or (cmd.on and cmd.level_w is not None and cmd.level_w < (shown or 0.0))):
        hold_at_shown(slot)


def hold_at_shown(slot: LoadSlot) -> None:
    """Held at what the load shows: off, or below the level it is given back to, or not at all.

    So a load a command did not reach is given back later, not taken for one
    switched off or turned down by someone else (or forgotten as held before).
    """
    hold, seen = slot.hold, slot.seen
    if not seen.on:
        hold.held = Held.SHED
    elif slot.cfg.kind is LoadKind.MODULATED and (seen.level_w or 0.0) < slot.goal:
        hold.held = Held.REDUCED
    else:
        hold.release()


def _command(slot: LoadSlot) -> tuple[ActionKind, float | None]:
    """The command in flight, as an action's kind and level."""
    cmd = slot.cmd
    if cmd.on is False:
        return ActionKind.TURN_OFF, None
    if slot.cfg.kind is LoadKind.MODULATED:
        return ActionKind.SET_LEVEL, cmd.level_w
    return ActionKind.TURN_ON, None


def _given_up(slot: LoadSlot, until: float) -> GivenUp:
    kind, level = _command(slot)
    return GivenUp(
        load_id=slot.cfg.load_id, kind=kind, level_w=level, commands=slot.cmd.retries + 1, until=until
    )


def record(slot: LoadSlot, action: Action, now: float, site_w: float | None) -> None:
    """Record an action as taken: what the load is now held at, and the command in flight."""
    cfg, hold, cmd = slot.cfg, slot.hold, slot.cmd
    retried = cmd.retries
    was_on = slot.is_on
    if action.kind is ActionKind.TURN_OFF:
        if hold.held is Held.NONE and cfg.kind is LoadKind.MODULATED:
            hold.restore_level_w = slot.level
        hold.held = Held.SHED
        cmd.on, cmd.level_w = False, None
    else:
        if action.kind is ActionKind.SET_LEVEL and action.reason in (
            ActionReason.OVER_LIMIT,
            ActionReason.FAIL_SAFE,
        ):
            if hold.held is Held.NONE:
                hold.restore_level_w = slot.level
            hold.held = Held.REDUCED
        elif action.reason is ActionReason.HEADROOM:
            if cfg.kind is LoadKind.SWITCH or (action.level_w is not None and action.level_w >= slot.goal):
                hold.release()
            else:
                hold.held = Held.REDUCED
        cmd.on, cmd.level_w = True, action.level_w
    if was_on != cmd.on:
        hold.changed_at = now
    if cmd.pending_delta_w == 0.0 or cmd.site_at_command is None:
        cmd.site_at_command = site_w
    cmd.at = now
    cmd.pending_delta_w += action.delta_w
    cmd.retries = retried if action.reason is ActionReason.RETRY else 0
    hold.actions += 1


def adjust_level(slot: LoadSlot, action: Action, level_w: float) -> None:
    """The actuator was given ``level_w`` instead of ``action.level_w`` (its own grid)."""
    cmd = slot.cmd
    if action.level_w is None or cmd.level_w != action.level_w:
        return
    change = level_w - action.level_w  # an export actuator's change moves the site the other way
    cmd.pending_delta_w += -change if slot.cfg.export else change
    cmd.level_w = level_w


def failed(slot: LoadSlot, action: Action) -> None:
    """The caller could not carry out ``action``: forget that it was taken."""
    slot.cmd.clear()
    if slot.cfg.export:
        if action.reason in (ActionReason.OVER_LIMIT, ActionReason.FAIL_SAFE) and slot.hold.actions:
            # It did not happen, so nothing is held because of it.
            slot.hold.release()
    elif action.reason is not ActionReason.RELEASED:
        # Nothing it asked happened: the load is held at what it shows (a cut of a load already
        # turned down keeps it held; a restore that failed keeps it held to be tried again).
        hold_at_shown(slot)
