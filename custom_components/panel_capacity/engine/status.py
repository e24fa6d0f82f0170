"""Status and explanations: the snapshot after a step, each load's state and the reason for it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import export, shedding
from .config import LoadKind
from .loads import Held
from .model import (
    Binding,
    ConstraintStatus,
    ControllerState,
    FlowSource,
    LoadReason,
    LoadState,
    LoadStatus,
    NodeStatus,
    Status,
    tightest,
)
from .tree import ROOT_INDEX

if TYPE_CHECKING:
    from .loads import LoadSlot
    from .state import EngineState


def snapshot(state: EngineState) -> Status:
    """A snapshot of everything worth showing."""
    now = state.now if state.now is not None else 0.0
    limit = state.limit.effective_w
    site = state.site_w
    projected = state.projected_w
    nodes = _nodes(state)
    exp = state.export_limit
    return Status(
        time=now,
        state=controller_state(state, projected),
        site_w=site,
        projected_w=projected,
        limit=state.limit,
        rating_w=state.rating_w,
        shed_target_w=state.shed_target_w,
        restore_threshold_w=state.restore_threshold_w,
        headroom_w=None if site is None else limit - site,
        utilisation_pct=None if site is None or limit <= 0 else 100.0 * site / limit,
        over_limit=site is not None and site > limit,
        over_rating=site is not None and site > state.rating_w,
        insufficient=state.insufficient,
        fail_safe=state.fail_safe,
        reading_age_s=None if state.site_time is None else max(0.0, now - state.site_time),
        reading_time=state.site_time,
        loads=_loads(state, now, projected),
        accounting=state.acc.snapshot(),
        planned=state.planned,
        export_limit=exp,
        export_headroom_w=None if site is None or exp is None else site + exp.effective_w,
        over_export_limit=site is not None and exp is not None and site < -exp.effective_w,
        nodes=nodes,
        binding=_binding(state, nodes),
        load_faults=dict(state.load_faults),
    )


def _nodes(state: EngineState) -> dict[str, NodeStatus]:
    tree = state.tree
    flows = state.flows or [state.site_w]
    projected = state.projected()
    count = len(flows)
    constraints: list[ConstraintStatus] = []
    for constraint in tree.constraints:
        index = constraint.index
        source = state.sources[index] if index < len(state.sources) else None
        flow = flows[index] if index < count else None
        held = state.held.get((constraint.node.node_id, constraint.conductor))
        constraints.append(
            ConstraintStatus(
                node_id=constraint.node.node_id,
                conductor=constraint.conductor,
                source=source if source is not None else FlowSource.NOT_MEASURED,
                flow_w=flow,
                projected_w=projected[index] if index < count else None,
                limit=state.limit if index == ROOT_INDEX else constraint.limit,
                volts=tree.volts,
                fault=state.faults.get((constraint.node.node_id, constraint.conductor)),
                unmanaged_w=None if held is None else held.watts,
                unmanaged_since=None if held is None else held.since,
                unmanaged_basis=None if held is None else held.basis,
            )
        )
    nodes: dict[str, NodeStatus] = {}
    for node in tree.nodes.values():
        total = constraints[tree.index[node.node_id, None]]
        per = {
            conductor: constraints[tree.index[node.node_id, conductor]]
            for conductor in node.conductors
            if (node.node_id, conductor) in tree.index
        }
        nodes[node.node_id] = NodeStatus(
            node_id=node.node_id,
            name=node.name,
            parent_id=node.parent_id,
            total=total,
            conductors=per,
            conductors_measured=all(c.flow_w is not None for c in per.values()) if per else True,
        )
    return nodes


def _binding(state: EngineState, nodes: dict[str, NodeStatus]) -> Binding:
    best = tightest(tuple(c for node in nodes.values() for c in (node.total, *node.conductors.values())))
    if best is None:
        return Binding(
            node_id=next(iter(nodes)), conductor=None, term=state.limit.binding, utilisation_pct=None
        )
    return Binding(
        node_id=best.node_id,
        conductor=best.conductor,
        term=best.limit.binding,
        utilisation_pct=best.utilisation_pct,
    )


def _loads(state: EngineState, now: float, projected: float | None) -> dict[str, LoadStatus]:
    """Each load's state; a held one waits first in line unless a more important one holds it back."""
    held_back = {
        slot.cfg.load_id
        for slot, behind, _ in shedding.walk(state, now, state.projected(), stop=False)
        if behind
    }
    loads: dict[str, LoadStatus] = {}
    for slot in state.slots:
        cfg = slot.cfg
        first = cfg.load_id not in held_back
        load_state, reason = load_state_of(state, slot, now, projected, first_in_line=first)
        on = slot.is_on
        if cfg.kind is LoadKind.MODULATED:
            allocated = slot.level if on else 0.0
            level: float | None = slot.level
        else:
            allocated = slot.expected if on else 0.0
            level = None
        loads[cfg.load_id] = LoadStatus(
            load_id=cfg.load_id,
            state=load_state,
            reason=reason,
            allocated_w=allocated,
            expected_w=slot.expected,
            level_w=level,
            manual_until=slot.hold.manual_until if slot.manual(now) else None,
            actions=slot.hold.actions,
            node_id=cfg.node_id,
            conductors=cfg.conductors or state.tree.nodes[cfg.node_id].conductors,
        )
    return loads


def controller_state(state: EngineState, projected: float | None) -> ControllerState:
    """What the controller as a whole is doing."""
    if not state.enabled:
        return ControllerState.MONITORING
    if state.fail_safe:
        return ControllerState.FAIL_SAFE
    if state.shed_this_step or (projected is not None and projected > state.limit.effective_w):
        return ControllerState.SHEDDING
    exp = state.export_limit
    if exp is not None and state.exporters and projected is not None and projected < -exp.effective_w:
        return ControllerState.SHEDDING
    if any(slot.hold.held is not Held.NONE for slot in state.slots):
        return ControllerState.RESTORING
    return ControllerState.NORMAL


def load_state_of(
    state: EngineState, slot: LoadSlot, now: float, projected: float | None, *, first_in_line: bool
) -> tuple[LoadState, LoadReason]:
    """A load's state and the reason shown next to it."""
    cfg, hold = slot.cfg, slot.hold
    if cfg.never_shed:
        return LoadState.NEVER_SHED, LoadReason.CONFIGURED
    if not slot.seen.available:
        return LoadState.UNAVAILABLE, LoadReason.ACTUATOR_UNAVAILABLE
    if slot.cmd.unresponsive_until is not None:
        return LoadState.NOT_RESPONDING, LoadReason.NOT_RESPONDING
    if slot.manual(now):
        return LoadState.MANUAL, LoadReason.MANUAL_OVERRIDE
    if hold.held is Held.NONE:
        if not state.enabled:
            reason = LoadReason.MONITORING
        else:
            reason = LoadReason.RUNNING if slot.is_on else LoadReason.OFF_BY_USER
        return (LoadState.ON if slot.is_on else LoadState.OFF), reason
    held_state = LoadState.REDUCED if hold.held is Held.REDUCED else LoadState.SHED
    if state.fail_safe:
        return held_state, LoadReason.FAIL_SAFE
    if cfg.export:
        return held_state, _export_reason(state, slot, now, projected)
    return _held_reason(state, slot, now, projected, first_in_line=first_in_line, held_state=held_state)


def _held_reason(
    state: EngineState,
    slot: LoadSlot,
    now: float,
    projected: float | None,
    *,
    first_in_line: bool,
    held_state: LoadState,
) -> tuple[LoadState, LoadReason]:
    """Why a load held off or down is not given back yet."""
    if not first_in_line:
        return held_state, LoadReason.HIGHER_PRIORITY_FIRST
    if not slot.is_on and not slot.min_off_ok(now):
        return LoadState.HELD_OFF, LoadReason.MIN_OFF_TIME
    if projected is None or projected >= state.restore_threshold_w:
        return held_state, LoadReason.WAITING_FOR_HEADROOM
    if not shedding.holdoff_passed(state, now):
        return (
            LoadState.HELD_OFF if held_state is LoadState.SHED else held_state
        ), LoadReason.RESTORE_HOLDOFF
    return held_state, LoadReason.WAITING_FOR_HEADROOM


def _export_reason(state: EngineState, slot: LoadSlot, now: float, projected: float | None) -> LoadReason:
    """Why a held export actuator is not raised yet."""
    exp = state.export_limit
    if exp is None or projected is None:
        return LoadReason.WAITING_FOR_HEADROOM  # given back at the next step with a reading
    if projected < -exp.effective_w:
        return LoadReason.OVER_LIMIT
    first = export.first_in_line(state, now)
    # Held ones before the first in line (passed over) only wait for headroom.
    if first is not None and state.exporters.index(slot) > state.exporters.index(first):
        return LoadReason.HIGHER_PRIORITY_FIRST
    last = state.last_export_action_at
    if projected > export.threshold(state, exp.effective_w) and (
        last is not None and now - last < state.settings.restore_holdoff_s
    ):
        return LoadReason.RESTORE_HOLDOFF
    return LoadReason.WAITING_FOR_HEADROOM
