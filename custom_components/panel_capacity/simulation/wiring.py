"""How a simulated house is wired: subpanels and circuits, legs and phases, and what each one carries.

A scenario may describe its tree (its ``nodes``, what each node's meter
measures, the node and conductors each load draws on) and how the recorded
base load is spread over the conductors (``base_load.split``). This module
reads that and lays out the house's constraints for the simulator's own
bookkeeping: each node's total and, on a node with more than one conductor,
each conductor, with its limit (rating x continuous factor, lowered by the
node's cap) and its rating.

The simulator keeps its own account of what every constraint truly carries,
from the plant's true power; it does not use the engine's tree, whose flows
are what the engine believes from its meters.

A load's power is shared equally among the conductors it draws on (half on
each leg for a 240 V load, all of it on its leg for a 120 V load), and it
counts, with that share, on its node and on every node above it.

The base load: every ``split`` part is a column of the recording (a UCI
sub-meter, say) placed on a node and some of its conductors; what the parts
do not explain (the recorded total less the controlled loads' demand less
the parts) is spread equally over the service's conductors. Parts that would
add up to more than that total are scaled down to it, so the house's total
stays what was recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import TYPE_CHECKING, Any

from ..engine import ROOT, Conductor, NodeConfig, PanelConfig, rules

if TYPE_CHECKING:
    from collections.abc import Sequence

METERING_TOTAL = "total"  # one sensor for the node's total
METERING_CONDUCTORS = "conductors"  # one per leg or phase (the service also keeps its total)
METERING_NONE = "none"  # no meter: the engine estimates the node from its loads
METERINGS = (METERING_TOTAL, METERING_CONDUCTORS, METERING_NONE)

Key = tuple[str, Conductor | None]  # a node, and one of its conductors (None: its total)
Placement = tuple[tuple[int, float], ...]  # (constraint index, share of the power)


class WiringError(ValueError):
    """A tree that cannot be simulated, with the field at fault (the scenario reports it)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeSpec:
    """A subpanel or circuit of the scenario."""

    node_id: str
    name: str
    parent_id: str = ROOT
    rating_a: float
    continuous_factor: float = 0.8
    cap_a: float | None = None
    conductors: tuple[Conductor, ...] = ()  # empty: all of its parent's
    metering: str = METERING_TOTAL

    def config(self) -> NodeConfig:
        """The engine's view of the node."""
        return NodeConfig(
            node_id=self.node_id,
            name=self.name,
            parent_id=self.parent_id,
            rating_a=self.rating_a,
            continuous_factor=self.continuous_factor,
            cap_a=self.cap_a,
            conductors=self.conductors,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class BasePart:
    """A column of the recording that is part of the base load, placed on a node's conductors."""

    column: str
    unit: str
    node_id: str = ROOT
    conductors: tuple[Conductor, ...] = ()  # empty: all of the node's


@dataclass(frozen=True, slots=True, kw_only=True)
class WiringSpec:
    """The tree of a scenario."""

    root_metering: str = METERING_TOTAL
    nodes: tuple[NodeSpec, ...] = ()
    base_parts: tuple[BasePart, ...] = ()
    compare_aggregate: bool = True  # also run the controller that sees only the total


# ------------------------------------------------------------------ parsing


def _number(value: Any, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise WiringError(f"{where}: expected a number, got {value!r}")
    if not low <= value <= high:
        raise WiringError(f"{where}: {value!r} is out of range (from {low:g} to {high:g})")
    return float(value)


def parse_conductors(value: Any, where: str, available: Sequence[Conductor]) -> tuple[Conductor, ...]:
    """A list like ["l1"] of conductors among ``available`` (missing or empty: all of them)."""
    if value is None:
        return ()
    names = [item.value for item in available]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise WiringError(f"{where}: expected a list of {', '.join(names)}")
    if rules.conductors_error(value, names):
        raise WiringError(f"{where}: {value!r} must be distinct ones of {', '.join(names)}")
    return tuple(Conductor(item) for item in value)


def _metering(value: Any, where: str) -> str:
    if value not in METERINGS:
        raise WiringError(f"{where}: expected one of {', '.join(METERINGS)}, got {value!r}")
    return str(value)


def _listed_nodes(data: Any) -> list[tuple[str, dict[str, Any]]]:
    """The nodes listed, each with its id (checked to be new and not the service's)."""
    if not isinstance(data, list):
        raise WiringError("nodes: expected a list")
    listed: list[tuple[str, dict[str, Any]]] = []
    for index, item in enumerate(data):
        where = f"nodes[{index}]"
        if not isinstance(item, dict):
            raise WiringError(f"{where}: expected an object")
        node_id = item.get("id")
        if not isinstance(node_id, str) or not node_id:
            raise WiringError(f"{where}.id: expected a name for the node")
        if node_id == ROOT or node_id in dict(listed):
            raise WiringError(f"{where}.id: {node_id!r} is taken (the service is {ROOT!r})")
        listed.append((node_id, item))
    return listed


def parse_nodes(
    data: Any, panel: PanelConfig
) -> tuple[tuple[NodeSpec, ...], dict[str, tuple[Conductor, ...]]]:
    """The scenario's ``nodes``, and every node's conductors (the root's included)."""
    if data is None:
        return (), {ROOT: panel.conductors}
    raw = _listed_nodes(data)
    parent_of = {node_id: item.get("parent", ROOT) for node_id, item in raw}
    for index, (node_id, _) in enumerate(raw):
        parent = parent_of[node_id]
        error = None if not isinstance(parent, str) else rules.parent_error(node_id, parent, parent_of, ROOT)
        if not isinstance(parent, str) or error == "parent_not_found":
            raise WiringError(f"nodes[{index}].parent: no node {parent!r}")
        if error:
            raise WiringError(f"nodes[{index}].parent: the nodes' parents form a loop")
    conductors: dict[str, tuple[Conductor, ...]] = {ROOT: panel.conductors}
    specs: dict[str, NodeSpec] = {}
    while len(specs) < len(raw):  # every parent before its children (there is no loop)
        for index, (node_id, item) in enumerate(raw):
            if node_id in specs or parent_of[node_id] not in conductors:
                continue
            specs[node_id] = spec = _node(item, index, node_id, parent_of[node_id], conductors)
            conductors[node_id] = spec.conductors or conductors[spec.parent_id]
    return tuple(specs[node_id] for node_id, _ in raw), conductors


def _node(
    item: dict[str, Any], index: int, node_id: str, parent: str, conductors: dict[str, tuple[Conductor, ...]]
) -> NodeSpec:
    where = f"nodes[{index}] ({node_id})"
    if "rating_a" not in item:
        raise WiringError(f"{where}: 'rating_a' is required")
    rating = _number(item["rating_a"], f"{where}.rating_a", *rules.RATING_RANGE)
    low, high = rules.CONTINUOUS_RANGE
    factor = _number(item.get("continuous_factor", 0.8), f"{where}.continuous_factor", low / 100, high / 100)
    cap = item.get("cap_a")
    cap_a = None if cap is None else _number(cap, f"{where}.cap_a", 0, rating)
    name = item.get("name", node_id)
    if not isinstance(name, str):
        raise WiringError(f"{where}.name: expected a name")
    return NodeSpec(
        node_id=node_id,
        name=name,
        parent_id=parent,
        rating_a=rating,
        continuous_factor=factor,
        cap_a=cap_a,
        conductors=parse_conductors(item.get("conductors"), f"{where}.conductors", conductors[parent]),
        metering=_metering(item.get("metering", METERING_TOTAL), f"{where}.metering"),
    )


def parse_split(
    data: Any, conductors: dict[str, tuple[Conductor, ...]], units: Sequence[str]
) -> tuple[BasePart, ...]:
    """``base_load.split``: the recording's columns placed on nodes and conductors."""
    if data is None:
        return ()
    if not isinstance(data, list):
        raise WiringError("base_load.split: expected a list")
    parts: list[BasePart] = []
    for index, item in enumerate(data):
        where = f"base_load.split[{index}]"
        if not isinstance(item, dict):
            raise WiringError(f"{where}: expected an object")
        column = item.get("column")
        if not isinstance(column, str) or not column:
            raise WiringError(f"{where}.column: expected a column of the recording")
        if column in {part.column for part in parts}:
            raise WiringError(f"{where}.column: {column!r} is placed twice")
        unit = item.get("unit", "Wh_per_min")
        if unit not in units:
            raise WiringError(f"{where}.unit: expected one of {', '.join(units)}")
        node_id = item.get("node", ROOT)
        if node_id not in conductors:
            raise WiringError(f"{where}.node: no node {node_id!r}")
        placed = parse_conductors(item.get("conductors"), f"{where}.conductors", conductors[node_id])
        parts.append(BasePart(column=column, unit=unit, node_id=node_id, conductors=placed))
    return tuple(parts)


# ------------------------------------------------------------------- layout


@dataclass(frozen=True, slots=True)
class Limit:
    """One constraint as the simulator accounts for it."""

    key: Key
    limit_w: float
    rating_w: float
    volts: float  # turns a conductor's flow into current


class Layout:
    """The constraints of a simulated house, and where loads and base-load parts draw on them."""

    def __init__(self, panel: PanelConfig, wiring: WiringSpec, root_limit_w: float) -> None:
        """Lay out every node's total and conductors; ``root_limit_w`` is the service's total limit."""
        volts = panel.conductor_voltage_v
        self.volts = volts
        root = NodeSpec(
            node_id=ROOT,
            name=panel.name or "Service",
            parent_id="",
            rating_a=panel.rating_a,
            continuous_factor=panel.continuous_factor,
            metering=wiring.root_metering,
        )
        self.nodes: dict[str, NodeSpec] = {ROOT: root}
        self.node_conductors: dict[str, tuple[Conductor, ...]] = {ROOT: panel.conductors}
        self.path: dict[str, tuple[str, ...]] = {ROOT: (ROOT,)}
        for node in wiring.nodes:  # parents come first (parse_nodes orders them)
            self.nodes[node.node_id] = node
            self.node_conductors[node.node_id] = node.conductors or self.node_conductors[node.parent_id]
            self.path[node.node_id] = (node.node_id, *self.path[node.parent_id])
        self.limits: list[Limit] = []
        self.index: dict[Key, int] = {}
        for node_id, node in self.nodes.items():
            conductors = self.node_conductors[node_id]
            keys: list[Key] = [(node_id, None)]
            if len(conductors) > 1:
                keys.extend((node_id, conductor) for conductor in conductors)
            for key in keys:
                count = len(conductors) if key[1] is None else 1
                limit = node.rating_a * node.continuous_factor * volts * count
                if node.cap_a is not None:
                    limit = min(limit, node.cap_a * volts * count)
                if key == (ROOT, None):
                    limit = min(limit, root_limit_w)
                self.index[key] = len(self.limits)
                self.limits.append(Limit(key, limit, node.rating_a * volts * count, volts))
        self.root_metering = wiring.root_metering

    def place(self, node_id: str, conductors: tuple[Conductor, ...]) -> Placement:
        """Where power drawn at ``node_id`` on ``conductors`` (empty: all of the node's) counts."""
        on = conductors or self.node_conductors[node_id]
        share = 1.0 / len(on)
        placed: list[tuple[int, float]] = []
        for node in self.path[node_id]:
            placed.append((self.index[node, None], 1.0))
            placed.extend(
                (self.index[node, conductor], share) for conductor in on if (node, conductor) in self.index
            )
        return tuple(placed)

    def name(self, index: int) -> tuple[str, str]:
        """A constraint's node id and its part ("total", "l1", ...)."""
        node, conductor = self.limits[index].key
        return node, "total" if conductor is None else conductor.value
