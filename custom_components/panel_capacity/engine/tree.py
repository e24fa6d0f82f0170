"""The tree of limits: the service at the root, subpanels and circuits below, conductors in each.

Every node has a total and, when it has more than one conductor, one limit per
conductor (a leg, a phase). These are the constraints; each has a key, an index
into the flat lists the policies work on. A load draws on the constraints of
its node and of every node above it: the totals with all of its power, its
conductors with an equal share of it (half on each leg for a 240 V load, a
third on each phase for a three-phase load).

What a constraint carries comes from a sensor where there is one. A node with
no sensor is estimated from its known loads' draw; one whose sensor has
failed, from its known loads' draw and the unmanaged part that sensor last
showed (``unmanaged``). A node that measures only its total on several
conductors is held to its total alone: its legs or phases are not measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .config import ROOT, Conductor, NodeConfig, PanelConfig
from .model import FlowSource, LimitSnapshot
from .terms import TERM_PANEL, TERM_USER_CAP

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence

    from .config import LoadConfig
    from .model import NodeReading, SiteReading

Key = tuple[str, Conductor | None]  # a node, and one of its conductors (None: its total)
ROOT_INDEX = 0  # the root's total is always the first constraint


@dataclass(frozen=True, slots=True)
class TreeNode:
    """A node as the engine uses it, its conductors resolved."""

    node_id: str
    name: str
    parent_id: str | None
    conductors: tuple[Conductor, ...]
    rating_a: float
    continuous_factor: float
    cap_a: float | None
    path: tuple[str, ...]  # itself, then every node above it up to the root


@dataclass(frozen=True, slots=True)
class Constraint:
    """One limit of the tree."""

    index: int
    node: TreeNode
    conductor: Conductor | None
    limit: LimitSnapshot  # static below the root's total (that one follows the grid and the cap)


def resolve_nodes(panel: PanelConfig, nodes: Sequence[NodeConfig]) -> dict[str, TreeNode]:
    """The nodes, root first and every parent before its children (the input is validated)."""
    root = TreeNode(
        node_id=ROOT,
        name=panel.name,
        parent_id=None,
        conductors=panel.conductors,
        rating_a=panel.rating_a,
        continuous_factor=panel.continuous_factor,
        cap_a=None,
        path=(ROOT,),
    )
    resolved: dict[str, TreeNode] = {ROOT: root}
    waiting = list(nodes)
    while waiting:
        progress = False
        for node in list(waiting):
            parent = resolved.get(node.parent_id)
            if parent is None:
                continue
            resolved[node.node_id] = TreeNode(
                node_id=node.node_id,
                name=node.name,
                parent_id=node.parent_id,
                conductors=node.conductors or parent.conductors,
                rating_a=node.rating_a,
                continuous_factor=node.continuous_factor,
                cap_a=node.cap_a,
                path=(node.node_id, *parent.path),
            )
            waiting.remove(node)
            progress = True
        if not progress:
            break  # validation reports it; nothing hangs off a missing parent here
    return resolved


@dataclass(frozen=True, slots=True)
class _Estimating:
    """What the estimates of one step work on (see ``Tree.flows``)."""

    flow: list[float | None]
    source: list[FlowSource]
    draws: Mapping[str, float]
    held: Mapping[Key, float]
    kept: dict[Key, float]


class Tree:
    """The constraints of the house and where each load draws on them."""

    def __init__(self, panel: PanelConfig, nodes: Sequence[NodeConfig], loads: Sequence[LoadConfig]) -> None:
        """Lay out the constraints and every load's share of each."""
        self.volts = panel.conductor_voltage_v
        self.nodes = resolve_nodes(panel, nodes)
        self.simple = len(self.nodes) == 1  # the root alone: today's aggregate control
        self.constraints: list[Constraint] = []
        self.index: dict[Key, int] = {}
        for node in self.nodes.values():
            self._add(node, None)
            if len(node.conductors) > 1:
                for conductor in node.conductors:
                    self._add(node, conductor)
        # Per node below the root: its constraints' keys and indices.
        self.below_root: list[tuple[TreeNode, list[tuple[Key, int]]]] = [
            (node, [(key, index) for key, index in self.index.items() if key[0] == node.node_id])
            for node in self.nodes.values()
            if node.parent_id is not None
        ]
        # Per load: (constraint index, share of its power), root total first.
        self.placement: dict[str, tuple[tuple[int, float], ...]] = {}
        for load in loads:
            node = self.nodes[load.node_id]
            conductors = load.conductors or node.conductors
            share = 1.0 / len(conductors)
            on: list[tuple[int, float]] = []
            for node_id in reversed(node.path):
                on.append((self.index[node_id, None], 1.0))
                on.extend(
                    (self.index[node_id, conductor], share)
                    for conductor in conductors
                    if (node_id, conductor) in self.index
                )
            self.placement[load.load_id] = tuple(on)
        # Per node: its own loads (with the conductors they draw on) and its child nodes.
        self.direct: dict[str, list[tuple[str, tuple[Conductor, ...]]]] = {
            node_id: [] for node_id in self.nodes
        }
        for load in loads:
            self.direct[load.node_id].append(
                (load.load_id, load.conductors or self.nodes[load.node_id].conductors)
            )
        self.children: dict[str, list[TreeNode]] = {node_id: [] for node_id in self.nodes}
        for node in self.nodes.values():
            if node.parent_id is not None:
                self.children[node.parent_id].append(node)
        # Per constraint: the loads drawing on it and their shares.
        self.drawn_by: list[list[tuple[str, float]]] = [[] for _ in self.constraints]
        for load_id, placed in self.placement.items():
            for index, share in placed:
                self.drawn_by[index].append((load_id, share))

    def _add(self, node: TreeNode, conductor: Conductor | None) -> None:
        index = len(self.constraints)
        self.index[node.node_id, conductor] = index
        self.constraints.append(Constraint(index, node, conductor, self._static_limit(node, conductor)))

    def _static_limit(self, node: TreeNode, conductor: Conductor | None) -> LimitSnapshot:
        """Rating x continuous factor, lowered by the node's cap: per conductor, or for the total."""
        count = 1 if conductor is not None else len(node.conductors)
        terms: dict[str, float] = {TERM_PANEL: node.rating_a * node.continuous_factor * self.volts * count}
        if node.cap_a is not None:
            terms[TERM_USER_CAP] = node.cap_a * self.volts * count
        binding = min(terms, key=terms.__getitem__)
        return LimitSnapshot(effective_w=terms[binding], binding=binding, terms=terms)

    # ---------------------------------------------------------------- flows

    def flows(
        self,
        site: SiteReading,
        site_w: float | None,
        readings: Mapping[str, NodeReading],
        draws: Mapping[str, float],
        held: Mapping[Key, float] | None = None,
    ) -> tuple[list[float | None], list[FlowSource], dict[Key, float]]:
        """What each constraint carries now, where that comes from, and what of it is remembered.

        ``site_w`` is the root's total as the engine took it; ``draws`` each
        load's draw as best known (an export actuator's production negative).
        A node with a sensor of its own uses it. A node with none is estimated
        from what hangs below it: its own loads' draws and its child nodes'
        flows (measured where they are, estimated where not; a child that
        measures only its total is taken as balanced over its conductors).
        ``held`` is, per constraint whose sensor has failed, the unmanaged part
        its sensor last showed (see ``unmanaged``): its estimate counts it (a
        node that measured only its total shares it equally over its
        conductors, a node measured per conductor adds up its conductors'),
        and so does every estimate above it. The third result says, per
        constraint, what its flow holds of it. The root is measured (or the
        engine goes fail-safe): what its meter reads already counts every node.
        """
        count = len(self.constraints)
        flow: list[float | None] = [None] * count
        source = [FlowSource.NOT_MEASURED] * count
        held = held or {}
        holding = bool(held)
        kept: dict[Key, float] = {}
        estimated: list[tuple[TreeNode, bool]] = []  # and whether it is estimated whole
        for node in self.nodes.values():
            if node.parent_id is None:
                total, per = site_w, site.conductors_w
            else:
                reading = readings.get(node.node_id)
                total = reading.power_w if reading is not None else None
                per = reading.conductors_w if reading is not None else None
            if total is None and not per:
                if node.parent_id is not None:
                    estimated.append((node, True))
                continue
            measured = self._measured(node, total, per or {}, flow, source)
            gaps = len(node.conductors) > 1 and measured < len(node.conductors)
            if holding and gaps and node.parent_id is not None:
                estimated.append((node, False))  # a conductor's sensor failed: estimate it, maybe the total
        work = _Estimating(flow, source, draws, held, kept)
        for node, whole in reversed(estimated):  # children before their parents
            (self._estimate_whole if whole else self._fill_gaps)(node, work)
        return flow, source, kept

    def _measured(
        self,
        node: TreeNode,
        total: float | None,
        per: Mapping[Conductor, float],
        flow: list[float | None],
        source: list[FlowSource],
    ) -> int:
        """Take in a node's readings (the total from its conductors when it has none); how many conductors."""
        if total is None and all(c in per for c in node.conductors):
            total = sum(per[c] for c in node.conductors)
        total_index = self.index[node.node_id, None]
        if total is not None:
            flow[total_index], source[total_index] = total, FlowSource.MEASURED
        for conductor in node.conductors:
            index = self.index.get((node.node_id, conductor))
            if index is not None and conductor in per:
                flow[index], source[index] = per[conductor], FlowSource.MEASURED
        return len(per)

    def _estimate_whole(self, node: TreeNode, work: _Estimating) -> None:
        """A node with no reading: its loads and children, and what its sensor last showed unexplained."""
        flow, source, draws, held, kept = work.flow, work.source, work.draws, work.held, work.kept
        node_id = node.node_id
        several = len(node.conductors) > 1
        per_held = {c: held[node_id, c] for c in node.conductors if (node_id, c) in held} if several else {}
        total_held = held.get((node_id, None))
        if total_held is None and per_held:
            total_held = sum(per_held.values())
        total_index = self.index[node_id, None]
        flow[total_index] = self._estimate(node, None, flow, draws) + (total_held or 0.0)
        source[total_index] = FlowSource.ESTIMATED
        if total_held is not None:
            kept[node_id, None] = total_held
        if several:
            for conductor in node.conductors:
                part = per_held.get(conductor)
                if part is None and total_held is not None:
                    part = total_held / len(node.conductors)
                index = self.index[node_id, conductor]
                flow[index] = self._estimate(node, conductor, flow, draws) + (part or 0.0)
                source[index] = FlowSource.ESTIMATED
                if part is not None:
                    kept[node_id, conductor] = part

    def _fill_gaps(self, node: TreeNode, work: _Estimating) -> None:
        """A node measured per conductor with one sensor failed: that conductor from its loads and memory.

        Once every conductor is known, a node without a total sensor of its
        own has its total too (estimated: part of it is).
        """
        flow, source, draws, held, kept = work.flow, work.source, work.draws, work.held, work.kept
        node_id = node.node_id
        for conductor in node.conductors:
            index = self.index[node_id, conductor]
            part = held.get((node_id, conductor))
            if flow[index] is None and part is not None:
                flow[index] = self._estimate(node, conductor, flow, draws) + part
                source[index] = FlowSource.ESTIMATED
                kept[node_id, conductor] = part
        total_index = self.index[node_id, None]
        if flow[total_index] is None:
            values = [flow[self.index[node_id, c]] for c in node.conductors]
            if all(value is not None for value in values):
                flow[total_index] = sum(value for value in values if value is not None)
                source[total_index] = FlowSource.ESTIMATED
                kept[node_id, None] = sum(kept.get((node_id, c), 0.0) for c in node.conductors)

    def unexplained(
        self,
        flow: list[float | None],
        source: list[FlowSource],
        draws: Mapping[str, float],
        busy: Collection[int] = (),
    ) -> dict[Key, float]:
        """Per measured constraint below the root: its reading less what its loads and children explain.

        Constraints in ``busy`` (a command to a load on them is not shown yet)
        are left out: their reading and their loads' draws do not match yet.
        """
        found: dict[Key, float] = {}
        for node, keys in self.below_root:
            wanted = [
                (key, index)
                for key, index in keys
                if index not in busy and source[index] is FlowSource.MEASURED
            ]
            if not wanted:
                continue
            total, per = self._known(node, flow, draws)
            for key, index in wanted:
                value = flow[index]
                if value is not None:
                    found[key] = value - (total if key[1] is None else per[key[1]])
        return found

    def _known(
        self, node: TreeNode, flow: list[float | None], draws: Mapping[str, float]
    ) -> tuple[float, dict[Conductor, float]]:
        """Its total and each conductor as its loads and children explain them (``_estimate`` in one pass)."""
        total = 0.0
        per = dict.fromkeys(node.conductors, 0.0) if len(node.conductors) > 1 else {}
        for load_id, conductors in self.direct[node.node_id]:
            draw = draws[load_id]
            total += draw
            if per:
                share = draw / len(conductors)
                for conductor in conductors:
                    per[conductor] += share
        for child in self.children[node.node_id]:
            known = self._child_flow(child, None, flow, draws)
            total += known if known is not None else self._estimate(child, None, flow, draws)
            for conductor in child.conductors:
                if conductor in per:
                    known = self._child_flow(child, conductor, flow, draws)
                    per[conductor] += (
                        known if known is not None else self._estimate(child, conductor, flow, draws)
                    )
        return total, per

    def _estimate(
        self,
        node: TreeNode,
        conductor: Conductor | None,
        flow: list[float | None],
        draws: Mapping[str, float],
    ) -> float:
        """A node's total (or one conductor's share) from its own loads and its children's flows."""
        total = 0.0
        for load_id, conductors in self.direct[node.node_id]:
            if conductor is None:
                total += draws[load_id]
            elif conductor in conductors:
                total += draws[load_id] / len(conductors)
        for child in self.children[node.node_id]:
            if conductor is not None and conductor not in child.conductors:
                continue
            known = self._child_flow(child, conductor, flow, draws)
            total += known if known is not None else self._estimate(child, conductor, flow, draws)
        return total

    def _child_flow(
        self,
        child: TreeNode,
        conductor: Conductor | None,
        flow: list[float | None],
        draws: Mapping[str, float],
    ) -> float | None:
        """What a child carries (on one conductor): its reading, else None.

        A child that measures only its total is taken, per conductor, as its
        known loads' draw there plus an equal share of what its loads do not
        explain: a 120 V load on it stays on its own leg.
        """
        total = flow[self.index[child.node_id, None]]
        if conductor is None or len(child.conductors) == 1:
            return total
        own = flow[self.index[child.node_id, conductor]]
        if own is not None or total is None:
            return own
        unexplained = max(0.0, total - self._estimate(child, None, flow, draws))
        return self._estimate(child, conductor, flow, draws) + unexplained / len(child.conductors)
