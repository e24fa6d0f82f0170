"""A house with a tree of panels for engine tests: base load per node and conductor, loads that follow commands.

The true flow of every node and conductor is recomputed here from the tree
itself (not from the engine's own bookkeeping), and the engine is fed only the
readings each node is said to meter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math

from custom_components.panel_capacity.engine import (
    ROOT,
    Action,
    CapacityEngine,
    Conductor,
    LoadInput,
    LoadKind,
    NodeReading,
    SiteReading,
    StepInput,
)

from .plant import Driver, inputs_of, setting_after

TOTAL = "total"
CONDUCTORS = "conductors"
NONE = "none"


@dataclass
class TreePlant(Driver):
    """Drives an engine over a house with nodes; ``metered`` says what each node's sensors read."""

    engine: CapacityEngine
    base: dict[tuple[str, Conductor], float] = field(default_factory=dict)  # unmanaged load where it is wired
    metered: dict[str, str] = field(default_factory=dict)  # node id -> total, conductors or none
    # Sensors that fail: node id -> the conductor (None: every sensor of the node) that reads NaN.
    broken: dict[str, Conductor | None] = field(default_factory=dict)
    setting: dict[str, float] = field(default_factory=dict)  # switch: 0/1, modulated: W
    now: float = 0.0
    actions: list[tuple[float, Action]] = field(default_factory=list)

    def __post_init__(self) -> None:
        panel = self.engine.panel
        self.conductors: dict[str, tuple[Conductor, ...]] = {ROOT: panel.conductors}
        self.parent: dict[str, str | None] = {ROOT: None}
        for node in self.engine.nodes:
            self.parent[node.node_id] = node.parent_id
        for node in self.engine.nodes:  # nodes are given parents first
            self.conductors[node.node_id] = node.conductors or self.conductors[node.parent_id]
        self.volts = panel.conductor_voltage_v
        for cfg in self.engine.loads:
            self.setting.setdefault(cfg.load_id, 1.0 if cfg.kind is LoadKind.SWITCH else cfg.max_w)
        self.metered.setdefault(ROOT, TOTAL)

    def under(self, node_id: str, ancestor: str) -> bool:
        """Whether a node is the ancestor itself or hangs below it."""
        current: str | None = node_id
        while current is not None:
            if current == ancestor:
                return True
            current = self.parent[current]
        return False

    def draw(self, load_id: str) -> float:
        cfg = next(c for c in self.engine.loads if c.load_id == load_id)
        value = self.setting[load_id]
        return cfg.nominal_w * value if cfg.kind is LoadKind.SWITCH else value

    def load_conductors(self, load_id: str) -> tuple[Conductor, ...]:
        cfg = next(c for c in self.engine.loads if c.load_id == load_id)
        return cfg.conductors or self.conductors[cfg.node_id]

    def flow(self, node_id: str, conductor: Conductor | None = None) -> float:
        """The true flow through a node (one conductor, or its total)."""
        total = 0.0
        for (where, wire), watts in self.base.items():
            if self.under(where, node_id) and (conductor is None or wire == conductor):
                total += watts
        for cfg in self.engine.loads:
            if not self.under(cfg.node_id, node_id):
                continue
            conductors = self.load_conductors(cfg.load_id)
            if conductor is None:
                total += self.draw(cfg.load_id)
            elif conductor in conductors:
                total += self.draw(cfg.load_id) / len(conductors)
        return total

    def reading(self, node_id: str) -> tuple[float | None, dict[Conductor, float] | None]:
        mode = self.metered.get(node_id, NONE)
        whole = node_id in self.broken and self.broken[node_id] is None
        if mode == TOTAL:
            return (math.nan if whole else self.flow(node_id)), None
        if mode == CONDUCTORS:
            return None, {
                c: math.nan if whole or self.broken.get(node_id) == c else self.flow(node_id, c)
                for c in self.conductors[node_id]
            }
        return None, None

    def inputs(self) -> dict[str, LoadInput]:
        return inputs_of(self.engine.loads, self.setting)

    def step_input(self) -> StepInput:
        total, per = self.reading(ROOT)
        nodes = {}
        for node in self.engine.nodes:
            node_total, node_per = self.reading(node.node_id)
            if node_total is not None or node_per:
                nodes[node.node_id] = NodeReading(node_total, node_per)
        return StepInput(
            now=self.now, site=SiteReading(total, self.now, per), loads=self.inputs(), nodes=nodes
        )

    def apply(self, action: Action) -> None:
        self.setting[action.load_id] = setting_after(self.engine.loads, action)
