"""The capacity controller: one step reads the tree, sheds or restores, and records what it did.

Deterministic and free of I/O: the caller passes the time and what it measured,
and gets back the commands to carry out. The same object runs inside Home
Assistant's coordinator and inside the offline simulator. Each concern lives
in its own module: the tree of limits (``tree``), per-load state (``loads``),
commands in flight (``ledger``), the import policy (``shedding``), the export
policy (``export``), status and explanations (``status``), the quiet band
(``quiet``), the memory codec (``memory``), what a failed subpanel sensor
last showed unexplained (``unmanaged``) and validation (``validation``).
"""

from __future__ import annotations

from dataclasses import replace
import math
from typing import TYPE_CHECKING, Any

from . import export, ledger, memory, quiet, screen, shedding, status
from .config import LoadKind
from .limits import effective_export_limit, effective_limit
from .loads import UNAVAILABLE, Held
from .model import Action, ActionKind, ActionReason, Alert, GivenUp, ReadingFault, StepResult
from .state import EngineState
from .tree import ROOT_INDEX, Key
from .validation import validate

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from .config import ControlSettings, LoadConfig, NodeConfig, PanelConfig
    from .model import LimitSnapshot, QuietBand, Status, StepInput


class CapacityEngine:
    """One house's controller. Loads are given most important first."""

    def __init__(
        self,
        panel: PanelConfig,
        settings: ControlSettings,
        loads: Sequence[LoadConfig],
        *,
        nodes: Sequence[NodeConfig] = (),
        memory: dict[str, Any] | None = None,
    ) -> None:
        """Build a controller; ``memory`` is what ``export_memory`` returned earlier."""
        validate(panel, settings, loads, nodes)
        self.panel = panel
        self.settings = settings
        self.loads: tuple[LoadConfig, ...] = tuple(loads)
        self.nodes: tuple[NodeConfig, ...] = tuple(nodes)
        self._state = EngineState.build(panel, settings, self.loads, self.nodes)
        if memory:
            self._load_memory(memory)

    # ----------------------------------------------------------------- step

    def step(self, inp: StepInput) -> StepResult:
        """Advance to ``inp.now``, take in the readings, decide what to do."""
        state = self._state
        now = inp.now
        self._advance(now, inp)
        self._read(now, inp)
        state.shed_this_step = False
        state.planned = ()
        if not inp.enabled:
            actions = self._release() if state.enabled else []
            state.enabled = False
            state.fail_safe = False
            state.insufficient = False
            state.planned = self._dry_run(now)
            return StepResult(actions=tuple(actions))
        if not state.enabled:
            # Management turned back on: a fresh start, for loads a person had taken over too.
            for slot in state.slots:
                slot.end_manual()
        state.enabled = True
        alerts: list[Alert] = []
        given_up: list[GivenUp] = []
        actions = self._decide(now, alerts, given_up)
        for action in actions:
            self._commit(now, action)
        return StepResult(actions=tuple(actions), alerts_raised=tuple(alerts), not_responding=tuple(given_up))

    def _advance(self, now: float, inp: StepInput) -> None:
        """Account for the time since the last step; take the limits in force now."""
        state = self._state
        if state.started_at is None:
            state.started_at = now
        if state.now is not None and now > state.now:
            exp = state.export_limit
            state.acc.advance(
                state.now,
                now,
                state.site_w,
                state.limit.effective_w,
                state.rating_w,
                state.continuous_w,
                export_limit_w=None if exp is None else exp.effective_w,
            )
        state.now = now if state.now is None else max(now, state.now)
        state.acc.new_day(inp.day)
        if inp.limit_terms != state.terms:
            state.terms = dict(inp.limit_terms)
            state.limit = effective_limit(self.panel, self.settings, state.terms)
        if (inp.export_terms or state.export_terms) and inp.export_terms != state.export_terms:
            state.export_terms = dict(inp.export_terms)
            state.export_limit = effective_export_limit(state.export_terms)

    def _read(self, now: float, inp: StepInput) -> None:
        """Take in the site's, the nodes' and the loads' readings, refusing what no panel could carry."""
        state = self._state
        bounds = state.bounds
        faults: dict[Key, ReadingFault] = {}
        site = screen.screen_site(bounds, inp.site, faults)
        state.site = site
        power = site.power_w
        if power is None:
            power = _sum_of_conductors(site.conductors_w, self.panel.conductors)
        if power is not None and math.isfinite(power):
            state.site_w = float(power)
            state.site_time = site.time if site.time is not None else now
        else:
            state.site_w = None
        state.readings = screen.screen_nodes(bounds, inp.nodes, faults) if inp.nodes else {}
        state.faults = faults
        settings = self.settings
        get = inp.loads.get
        load_faults: dict[str, ReadingFault] = {}
        for slot in state.slots:
            seen = get(slot.cfg.load_id, UNAVAILABLE)
            measured = seen.measured_w
            if measured is not None and abs(measured) > slot.bound_w:
                # Its own sensor reads more than its node could carry: not measured (see screen).
                load_faults[slot.cfg.load_id] = ReadingFault.IMPLAUSIBLE
                seen = replace(seen, measured_w=None)
            if slot.observe(seen, now, settings) and slot.cmd.at is not None:
                ledger.confirm(slot)
        state.load_faults = load_faults
        ledger.settle(state.slots, state.site_w, state.site_time, now, settings)
        state.update_flows()
        state.settle_lags(now)

    def _decide(self, now: float, alerts: list[Alert], given_up: list[GivenUp] | None = None) -> list[Action]:
        """Choose this step's actions; _commit records the ones taken (and the loads given up on)."""
        state = self._state
        if state.stale(now):
            if not state.fail_safe:
                state.fail_safe = True
                alerts.append(Alert.FAIL_SAFE)
            state.insufficient = False
            return shedding.fail_safe(state, now)
        if state.fail_safe and state.site_w is not None:
            state.fail_safe = False
            alerts.append(Alert.RECOVERED)
        repeated, gone = ledger.retries(state.slots, now, self.settings)
        if given_up is not None:
            given_up.extend(gone)
        actions = [
            replace(action, site_w=state.site_w, limit_w=state.limit.effective_w) for action in repeated
        ]
        if state.site_w is None:
            return actions  # no measurement: hold still until one comes or it goes stale
        projected = state.projected()
        before: float = state.site_w if (root := projected[ROOT_INDEX]) is None else root
        over = shedding.over_limit(state, projected)
        if over:
            shed = shedding.shed(state, now, projected, over)
            actions.extend(shed)
            state.shed_this_step = bool(shed)
            # With no load configured (a panel just added, its loads not yet) there is nothing
            # to be short of: the over-limit flag tells, and no alarm is raised.
            insufficient = bool(state.slots) and any(
                projected[index] > state.limit_of(index)  # type: ignore[operator]
                for index in over
            )
            if insufficient and not state.insufficient:
                alerts.append(Alert.INSUFFICIENT)
            state.insufficient = insufficient
        else:
            state.insufficient = False
        if before > state.limit.effective_w:
            if state.exporters:
                # More production lowers import: give back what export control holds. Shedding
                # does not count on it (the sun may not give it), so it fits with the shedding done.
                remaining = projected[ROOT_INDEX]
                actions.extend(export.relieve(state, now, (remaining or before) - export.room_floor(state)))
            return actions
        if not actions:
            actions.extend(shedding.restore(state, now, projected))
        if state.exporters:
            actions.extend(export.control(state, now, before, actions))
        return actions

    def _commit(self, now: float, action: Action) -> None:
        """Record an action as taken."""
        state = self._state
        slot = state.by_id[action.load_id]
        ledger.record(slot, action, now, state.site_w)
        if len(state.flows) > 1:
            state.note_lag(slot, action.delta_w, now)
        state.acc.count_action()
        if slot.cfg.export:
            state.last_export_action_at = now
        else:
            state.last_action_at = now

    # ------------------------------------------------------------- release

    def _release(self, keep: Collection[str] = ()) -> list[Action]:
        """Give back every load held off or down (except ``keep``), whatever the headroom."""
        state = self._state
        actions: list[Action] = []
        for slot in state.slots:
            cfg, hold = slot.cfg, slot.hold
            if hold.held is Held.NONE or not slot.seen.available or cfg.load_id in keep:
                continue  # an unavailable load stays held: it is given back when it returns
            if cfg.kind is LoadKind.SWITCH:
                action = state.action(slot, ActionKind.TURN_ON, ActionReason.RELEASED, slot.expected)
            else:
                level = slot.goal
                delta = level - slot.draw  # more production lowers the site
                action = state.action(
                    slot, ActionKind.SET_LEVEL, ActionReason.RELEASED, -delta if cfg.export else delta, level
                )
            actions.append(action)
            self._commit(state.now or 0.0, action)
            hold.release()
        return actions

    def release(self, now: float, keep: Collection[str] = ()) -> tuple[Action, ...]:
        """Stop managing: the actions that give back every load the controller holds.

        Loads in ``keep`` stay held (their memory is exported as before), for a
        controller that is replaced by a new one with the same loads.
        """
        state = self._state
        state.now = now if state.now is None else max(now, state.now)
        return tuple(self._release(keep))

    def carry_on(self, previous: CapacityEngine, load_ids: Collection[str]) -> None:
        """Take over the commands of the controller this one replaces (a reload), for ``load_ids``.

        What is held comes with the memory; what was commanded and is not shown
        yet, or given up on as not responding, is known only to the running
        controller. Without it a command the meter does not show yet is taken
        for none, and another load is shed for the same excess.
        """
        for load_id in load_ids:
            old, new = previous._state.by_id.get(load_id), self._state.by_id.get(load_id)
            if old is not None and new is not None:
                new.cmd = replace(old.cmd)

    def _dry_run(self, now: float) -> tuple[Action, ...]:
        """Monitor mode: what the controller would do now, without doing it."""
        state = self._state
        saved = [(slot, replace(slot.hold), replace(slot.cmd)) for slot in state.slots]
        flags = (state.fail_safe, state.insufficient, state.last_action_at, state.last_export_action_at)
        try:
            return tuple(self._decide(now, []))
        finally:
            for slot, hold, cmd in saved:
                slot.hold, slot.cmd = hold, cmd
            state.fail_safe, state.insufficient, state.last_action_at, state.last_export_action_at = flags

    # --------------------------------------------------------- caller's news

    def resume(self, load_id: str) -> bool:
        """A person hands the load back: its manual override, or its not-responding spell, ends.

        False when there was neither. From the next step it is managed like any other.
        """
        slot = self._state.by_id.get(load_id)
        if slot is None or (slot.hold.manual_until is None and slot.cmd.unresponsive_until is None):
            return False
        slot.end_manual()
        slot.cmd.unresponsive_until = None
        slot.seen.last_input = None  # the next reading is taken in anew
        return True

    def adjust_level(self, action: Action, level_w: float) -> None:
        """The actuator was given ``level_w`` instead of ``action.level_w`` (its own grid).

        Callers round down to what the actuator accepts; the engine then expects
        that level and counts its real effect on the site.
        """
        slot = self._state.by_id.get(action.load_id)
        if slot is not None:
            ledger.adjust_level(slot, action, level_w)

    def action_failed(self, action: Action) -> None:
        """The caller could not carry out ``action``: forget that it was taken."""
        slot = self._state.by_id.get(action.load_id)
        if slot is not None:
            ledger.failed(slot, action)

    # --------------------------------------------------------------- status

    @property
    def limit(self) -> LimitSnapshot:
        """The root total's effective limit at the last step."""
        return self._state.limit

    @property
    def shed_target_w(self) -> float:
        """Shedding brings the site down to this."""
        return self._state.shed_target_w

    @property
    def restore_threshold_w(self) -> float:
        """A load comes back only if the site stays under this with it."""
        return self._state.restore_threshold_w

    @property
    def projected_w(self) -> float | None:
        """Site power once the commands not yet shown in the reading take effect."""
        return self._state.projected_w

    def shown_key(self) -> tuple[object, ...]:
        """What, besides the readings' values, a status shows: when it differs, the status is news.

        The limits in force, the controller's mode and the sensor problems; the
        caller publishes a status at once when this changes, and readings alone
        at a measured pace.
        """
        state = self._state
        limits = tuple(constraint.limit.effective_w for constraint in state.tree.constraints)
        return (
            state.limit.effective_w,
            limits,
            state.enabled,
            state.fail_safe,
            state.insufficient,
            tuple(state.faults.items()),
            tuple(state.load_faults.items()),
        )

    def quiet_band(self) -> QuietBand | None:
        """Where and until when the next steps are sure to take no action (see QuietBand)."""
        return quiet.quiet_band(self._state)

    def status(self) -> Status:
        """A snapshot of everything worth showing."""
        return status.snapshot(self._state)

    # --------------------------------------------------------------- memory

    def export_memory(self) -> dict[str, Any]:
        """What to persist so a restarted controller knows what it holds."""
        return memory.encode(self._state)

    def _load_memory(self, data: dict[str, Any]) -> None:
        memory.decode(self._state, data)


def _sum_of_conductors(conductors_w: Any, wanted: tuple[Any, ...]) -> float | None:
    """The total of a reading that has every conductor but no total of its own."""
    if not conductors_w or not all(c in conductors_w for c in wanted):
        return None
    total = 0.0
    for conductor in wanted:
        value = conductors_w[conductor]
        if value is None or not math.isfinite(value):
            return None
        total += value
    return total
