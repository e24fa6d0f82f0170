"""What the engine knows between steps, shared by the policies that read and change it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
import math
from typing import TYPE_CHECKING

from .accounting import Accounting
from .config import ROOT
from .limits import effective_limit
from .loads import LoadSlot
from .model import Action, ActionKind, ActionReason, FlowSource, LimitSnapshot, ReadingFault, SiteReading
from .screen import bounds_of
from .tree import ROOT_INDEX, Key, Tree
from .unmanaged import HeldPart, Unexplained, hold_s

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from .config import ControlSettings, LoadConfig, NodeConfig, PanelConfig
    from .model import NodeReading


@dataclass(slots=True)
class EngineState:
    """The configuration, the loads' slots, the last readings and the timers."""

    panel: PanelConfig
    settings: ControlSettings
    tree: Tree
    slots: tuple[LoadSlot, ...]  # most important first
    by_id: dict[str, LoadSlot]
    importers: tuple[LoadSlot, ...]  # take part in import shedding and restoring
    exporters: tuple[LoadSlot, ...]  # export actuators
    never_shed: frozenset[str]
    limit: LimitSnapshot  # the root total's
    rating_w: float  # the panel's, worked out once
    continuous_w: float
    bounds: dict[str, tuple[float, float]]  # per node, the most a reading may be (see screen)
    acc: Accounting = field(default_factory=Accounting)
    terms: dict[str, float] = field(default_factory=dict)
    export_terms: dict[str, float] = field(default_factory=dict)
    export_limit: LimitSnapshot | None = None
    now: float | None = None
    started_at: float | None = None
    site_w: float | None = None  # the root's total now, None when missing
    site_time: float | None = None  # when the last valid reading was taken
    site: SiteReading | None = None  # the last reading itself, with its conductors
    readings: dict[str, NodeReading] = field(default_factory=dict)
    faults: dict[Key, ReadingFault] = field(default_factory=dict)  # sensors with a problem, this step
    load_faults: dict[str, ReadingFault] = field(default_factory=dict)  # loads' own sensors
    flows: list[float | None] = field(default_factory=list)
    sources: list[FlowSource] = field(default_factory=list)
    # Per constraint below the root measured in this run (or remembered): what its loads do not explain.
    unexplained: dict[Key, Unexplained] = field(default_factory=dict)
    held: dict[Key, HeldPart] = field(default_factory=dict)  # what the estimates hold of it, this step
    last_action_at: float | None = None  # of the last import action
    last_export_action_at: float | None = None  # of the last action of an export actuator
    enabled: bool = True
    fail_safe: bool = False
    insufficient: bool = False
    shed_this_step: bool = False
    planned: tuple[Action, ...] = ()
    _unmeasured: tuple[None, ...] = ()  # the root's conductors, when only its total is measured
    _aggregate_sources: list[FlowSource] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        panel: PanelConfig,
        settings: ControlSettings,
        loads: Sequence[LoadConfig],
        nodes: Sequence[NodeConfig],
    ) -> EngineState:
        """A new state for a validated configuration."""
        tree = Tree(panel, nodes, loads)
        bounds = bounds_of(tree)
        slots = tuple(LoadSlot(cfg, bound_w=bounds[cfg.node_id][0]) for cfg in loads)
        extra = len(tree.constraints) - 1
        return cls(
            panel=panel,
            settings=settings,
            tree=tree,
            slots=slots,
            by_id={slot.cfg.load_id: slot for slot in slots},
            importers=tuple(slot for slot in slots if not slot.cfg.export),
            exporters=tuple(slot for slot in slots if slot.cfg.export),
            never_shed=frozenset(slot.cfg.load_id for slot in slots if slot.cfg.never_shed),
            limit=effective_limit(panel, settings, {}),
            rating_w=panel.rating_w,
            bounds=bounds,
            continuous_w=panel.continuous_limit_w,
            _unmeasured=(None,) * extra,
            _aggregate_sources=[FlowSource.MEASURED] + [FlowSource.NOT_MEASURED] * extra,
        )

    # ---------------------------------------------------------- thresholds

    @property
    def shed_target_w(self) -> float:
        """Shedding brings the root's total down to this."""
        return max(0.0, self.limit.effective_w - self.settings.margin_w)

    @property
    def restore_threshold_w(self) -> float:
        """A load comes back only if the root's total stays under this with it."""
        return max(0.0, self.shed_target_w - self.settings.hysteresis_w)

    def limit_of(self, index: int) -> float:
        """A constraint's limit in W."""
        if index == ROOT_INDEX:
            return self.limit.effective_w
        return self.tree.constraints[index].limit.effective_w

    def shed_target_of(self, index: int) -> float:
        """Shedding brings a constraint down to this."""
        return max(0.0, self.limit_of(index) - self.settings.margin_w)

    def restore_threshold_of(self, index: int) -> float:
        """Restoring keeps a constraint under this."""
        return max(0.0, self.shed_target_of(index) - self.settings.hysteresis_w)

    # --------------------------------------------------------------- flows

    @property
    def projected_w(self) -> float | None:
        """The root's total once the commands not yet shown in the reading take effect."""
        if self.site_w is None:
            return None
        projected = self.site_w
        for slot in self.slots:
            projected += slot.cmd.pending_delta_w
        return projected

    def projected(self) -> list[float | None]:
        """Every constraint's flow once the commands not yet shown take effect.

        A measured flow gets the pending changes of the loads drawing on it; an
        estimated one already counts them (it is made of the loads' draws).
        """
        if len(self.flows) <= 1:  # the root's total alone
            return [self.projected_w, *self._unmeasured]
        projected = list(self.flows)
        drawn_by = self.tree.drawn_by
        for index, source in enumerate(self.sources):
            value = projected[index]
            if source is not FlowSource.MEASURED or value is None:
                continue
            for load_id, share in drawn_by[index]:
                # The root's total is settled by the site's meter; the rest by their own meters.
                slot = self.by_id[load_id]
                pending = slot.cmd.pending_delta_w if index == ROOT_INDEX else slot.lag.delta_w
                if pending:
                    value += pending * share
            projected[index] = value
        if projected[ROOT_INDEX] is not None:
            projected[ROOT_INDEX] = self.projected_w  # the same sum, in the same order, as without a tree
        return projected

    def note_lag(self, slot: LoadSlot, delta_w: float, now: float) -> None:
        """A command given: until they show it, the measured constraints it draws on count it."""
        lag = slot.lag
        if lag.delta_w == 0.0:
            lag.base = {
                index: flow
                for index, _ in self.tree.placement[slot.cfg.load_id]
                if index != ROOT_INDEX
                and index < len(self.flows)
                and (flow := self.flows[index]) is not None
                and self.sources[index] is FlowSource.MEASURED
            }
        lag.delta_w += delta_w
        lag.at = now

    def settle_lags(self, now: float) -> None:
        """Stop counting commands that the meters below the root now show (see ``MeterLag``)."""
        response = self.settings.response_s
        for slot in self.slots:
            lag = slot.lag
            if lag.delta_w == 0.0:
                continue
            if now - lag.at >= response or not lag.base:
                lag.clear()
                continue
            shown = True
            for index, share in self.tree.placement[slot.cfg.load_id]:
                base = lag.base.get(index)
                flow = self.flows[index] if index < len(self.flows) else None
                if base is None or flow is None or self.sources[index] is not FlowSource.MEASURED:
                    continue
                expected = lag.delta_w * share
                if (flow - base) * math.copysign(1.0, expected) < abs(expected) / 2:
                    shown = False
                    break
            if shown:
                lag.clear()

    def update_flows(self) -> None:
        """Work out what every constraint carries now (the root's total alone without a tree).

        A node whose sensor has failed keeps in its estimate the unmanaged part
        that sensor last showed (see ``unmanaged``); one seen only before a
        restart, while its sensor is reported faulty.
        """
        if self.tree.simple and (self.site is None or not self.site.conductors_w):
            # The root's total alone; its legs or phases, if any, are not measured.
            self.flows = [self.site_w]
            self.sources = self._aggregate_sources
            return
        draws = {slot.cfg.load_id: -slot.draw if slot.cfg.export else slot.draw for slot in self.slots}
        site = self.site if self.site is not None else SiteReading(None)
        now = self.now if self.now is not None else 0.0
        window = hold_s(self.settings)
        parts = _HeldParts(self, now, window)
        self.flows, self.sources, kept = self.tree.flows(site, self.site_w, self.readings, draws, parts)
        held: dict[Key, HeldPart] = {}
        for key, watts in kept.items():
            basis = parts.found.get(key) or parts.found.get((key[0], None)) or _any_part(parts.found, key[0])
            if basis is not None:
                held[key] = HeldPart(watts, basis.since, basis.basis)
        self.held = held
        if len(self.tree.nodes) > 1:
            busy = {
                index
                for slot in self.slots
                if slot.cmd.at is not None or slot.lag.delta_w != 0.0  # not shown by every meter yet
                for index, _ in self.tree.placement[slot.cfg.load_id]
            }
            for key, value in self.tree.unexplained(self.flows, self.sources, draws, busy).items():
                seen = self.unexplained.get(key)
                if seen is None:
                    self.unexplained[key] = Unexplained.first(value, now)
                else:
                    seen.observe(value, now, window)

    @property
    def measured_conductors(self) -> bool:
        """Some conductor or node below the root's total is known: the tree takes part."""
        return not self.tree.simple or bool(self.site is not None and self.site.conductors_w)

    # ------------------------------------------------------------- actions

    def action(
        self,
        slot: LoadSlot,
        kind: ActionKind,
        reason: ActionReason,
        delta: float,
        level: float | None = None,
        *,
        limit: float | None = None,  # the limit it answers to, when not the root's total
        index: int = ROOT_INDEX,  # the constraint it answers to
    ) -> Action:
        """An action on one load, with the flow and the limit it answers to."""
        if index == ROOT_INDEX:
            site, node_id, conductor = self.site_w, ROOT, None
        else:
            constraint = self.tree.constraints[index]
            site = self.flows[index]
            node_id, conductor = constraint.node.node_id, constraint.conductor
        return Action(
            load_id=slot.cfg.load_id,
            kind=kind,
            reason=reason,
            level_w=level,
            delta_w=delta,
            site_w=site,
            limit_w=self.limit_of(index) if limit is None else limit,
            node_id=node_id,
            conductor=conductor,
        )

    def stale(self, now: float) -> bool:
        """No valid site reading for longer than the staleness time."""
        since = self.site_time if self.site_time is not None else self.started_at
        return since is not None and now - since > self.settings.staleness_s


def finite(value: float | None) -> float | None:
    """The value when it is a finite number, else None."""
    return float(value) if value is not None and math.isfinite(value) else None


class _HeldParts(Mapping[Key, float]):
    """What each constraint's estimate would hold of its unexplained part, worked out when asked for.

    Only a constraint whose sensor fails is asked for (most steps: none). One
    remembered from before a restart counts only while its node's sensor is
    reported faulty.
    """

    def __init__(self, state: EngineState, now: float, window: float) -> None:
        self._noted = state.unexplained
        self._faults = state.faults
        self._now = now
        self._window = window
        self.found: dict[Key, HeldPart] = {}

    def __getitem__(self, key: Key) -> float:
        part = self.found.get(key)
        if part is None:
            noted = self._noted[key]
            if noted.restored and not any(node_id == key[0] for node_id, _ in self._faults):
                raise KeyError(key)
            part = self.found[key] = noted.held(self._now, self._window)
        return part.watts

    def __iter__(self) -> Iterator[Key]:
        return iter(self._noted)

    def __len__(self) -> int:
        return len(self._noted)


def _any_part(parts: dict[Key, HeldPart], node_id: str) -> HeldPart | None:
    """One of a node's held parts (its conductors'), for when and why its total holds their sum."""
    return next((part for key, part in parts.items() if key[0] == node_id), None)
