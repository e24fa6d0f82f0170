"""Benchmark: the capacity engine's cost per step with 10 loads.

Figures, each the median of several runs, for a house that measures only its
total and for a tree of 5 split-phase nodes (the service and 4 subpanels,
each measuring both legs) with the 10 loads spread over them, on L1, L2 or
both:
- step (quiet): readings that need no action, the common case at home;
- step (busy): a base load that moves every step across the limit, with a
  closed loop applying every action (shedding and restoring all the time);
- status(): building the snapshot the Home Assistant entities read.

Usage: python scripts/bench_engine.py [--steps N] [--repeat R]
"""

from __future__ import annotations

import argparse
from pathlib import Path
import random
import statistics
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from custom_components.panel_capacity.engine import (
    ROOT,
    ActionKind,
    CapacityEngine,
    Conductor,
    ControlSettings,
    LoadConfig,
    LoadInput,
    LoadKind,
    NodeConfig,
    NodeReading,
    PanelConfig,
    SiteReading,
    StepInput,
    Supply,
)

PANEL = PanelConfig(rating_a=100, voltage_v=240, supply=Supply.SPLIT_PHASE)  # 24 kW, limit 19.2 kW


L1, L2 = Conductor.L1, Conductor.L2
# Four subpanels: two under the service, one under each of those.
NODES = (
    NodeConfig(node_id="garage", rating_a=60),
    NodeConfig(node_id="kitchen", rating_a=50),
    NodeConfig(node_id="shop", rating_a=40, parent_id="garage"),
    NodeConfig(node_id="laundry", rating_a=30, parent_id="kitchen"),
)
NODE_IDS = (ROOT, *(node.node_id for node in NODES))
PARENT = {node.node_id: node.parent_id for node in NODES}
# Where each of the ten loads hangs, and on which legs (both: 240 V).
PLACES = [(NODE_IDS[index % 5], ((L1,), (L2,), ())[index % 3]) for index in range(10)]


def ten_loads(*, tree: bool = False) -> list[LoadConfig]:
    loads = []
    for index in range(6):
        node, conductors = PLACES[index] if tree else (ROOT, ())
        loads.append(
            LoadConfig(
                load_id=f"switch{index}",
                kind=LoadKind.SWITCH,
                nominal_w=800 + 300 * index,
                node_id=node,
                conductors=conductors,
            )
        )
    for index in range(4):
        node, conductors = PLACES[6 + index] if tree else (ROOT, ())
        loads.append(
            LoadConfig(
                load_id=f"level{index}",
                kind=LoadKind.MODULATED,
                min_w=1440,
                max_w=7680,
                step_w=240,
                node_id=node,
                conductors=conductors,
            )
        )
    return loads


def tree_readings(
    loads: list[LoadConfig], state: dict[str, float], base: float, now: float
) -> tuple[SiteReading, dict[str, NodeReading]]:
    """Every node's legs: its loads' draws, shared over their legs, plus the base load at the service."""
    legs = {node: {L1: 0.0, L2: 0.0} for node in NODE_IDS}
    legs[ROOT][L1] += base * 0.6
    legs[ROOT][L2] += base * 0.4
    for cfg in loads:
        draw = (cfg.nominal_w * state[cfg.load_id]) if cfg.kind is LoadKind.SWITCH else state[cfg.load_id]
        wires = cfg.conductors or (L1, L2)
        node = cfg.node_id
        while True:  # the load's node and every node above it, up to the service
            for wire in wires:
                legs[node][wire] += draw / len(wires)
            if node == ROOT:
                break
            node = PARENT[node]
    return (
        SiteReading(None, now, legs[ROOT]),
        {node: NodeReading(None, legs[node]) for node in NODE_IDS if node != ROOT},
    )


def run(steps: int, *, busy: bool, seed: int = 1, tree: bool = False) -> tuple[float, int]:
    """Seconds per step, and how many actions were taken."""
    rng = random.Random(seed)
    loads = ten_loads(tree=tree)
    engine = CapacityEngine(
        PANEL, ControlSettings(restore_holdoff_s=5, response_s=2), loads, nodes=NODES if tree else ()
    )
    state: dict[str, float] = {cfg.load_id: (1.0 if cfg.kind is LoadKind.SWITCH else 3000.0) for cfg in loads}
    base = 6000.0
    inputs = {
        cfg.load_id: LoadInput(
            is_on=True, level_w=state[cfg.load_id] if cfg.kind is LoadKind.MODULATED else None
        )
        for cfg in loads
    }
    elapsed = 0.0
    actions = 0
    for now in range(1, steps + 1):
        if busy:
            base = min(22000.0, max(0.0, base + rng.uniform(-1500, 1500)))
            inputs = {
                cfg.load_id: LoadInput(is_on=state[cfg.load_id] > 0, level_w=state[cfg.load_id])
                if cfg.kind is LoadKind.MODULATED
                else LoadInput(is_on=state[cfg.load_id] > 0)
                for cfg in loads
            }
        if tree:
            site, nodes = tree_readings(loads, state, base, float(now))
        else:
            total = base + sum(
                (cfg.nominal_w * state[cfg.load_id]) if cfg.kind is LoadKind.SWITCH else state[cfg.load_id]
                for cfg in loads
            )
            site, nodes = SiteReading(total, float(now)), {}
        start = time.perf_counter()
        result = engine.step(StepInput(now=float(now), site=site, loads=inputs, nodes=nodes))
        elapsed += time.perf_counter() - start
        actions += len(result.actions)
        for action in result.actions:
            if action.kind is ActionKind.TURN_OFF:
                state[action.load_id] = 0.0
            elif action.kind is ActionKind.TURN_ON:
                state[action.load_id] = 1.0
            else:
                state[action.load_id] = float(action.level_w or 0)
    return elapsed / steps, actions


def status_cost(repeat: int, *, tree: bool = False) -> float:
    loads = ten_loads(tree=tree)
    engine = CapacityEngine(PANEL, ControlSettings(), loads, nodes=NODES if tree else ())
    state = {cfg.load_id: (1.0 if cfg.kind is LoadKind.SWITCH else 3000.0) for cfg in loads}
    site, nodes = tree_readings(loads, state, 4000.0, 1.0) if tree else (SiteReading(10000.0, 1.0), {})
    engine.step(
        StepInput(
            now=1.0,
            site=site,
            loads={cfg.load_id: LoadInput(is_on=True, level_w=3000.0) for cfg in engine.loads},
            nodes=nodes,
        )
    )
    start = time.perf_counter()
    for _ in range(repeat):
        engine.status()
    return (time.perf_counter() - start) / repeat


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for tree, label in ((False, "total only"), (True, "5-node tree")):
        quiet_runs = [run(args.steps, busy=False, tree=tree) for _ in range(args.repeat)]
        busy_runs = [run(args.steps, busy=True, seed=seed, tree=tree) for seed in range(args.repeat)]
        quiet = statistics.median(cost for cost, _ in quiet_runs)
        busy = statistics.median(cost for cost, _ in busy_runs)
        busy_actions = statistics.median(count for _, count in busy_runs)
        snapshot = statistics.median(status_cost(args.steps // 10, tree=tree) for _ in range(args.repeat))
        print(f"{label:12} step, 10 loads, quiet : {quiet * 1e6:8.1f} us/step ({1 / quiet:,.0f} steps/s)")
        print(
            f"{label:12} step, 10 loads, busy  : {busy * 1e6:8.1f} us/step ({1 / busy:,.0f} steps/s,"
            f" {busy_actions:,.0f} actions in {args.steps} steps)"
        )
        print(f"{label:12} status snapshot      : {snapshot * 1e6:8.1f} us")
    print(f"(median of {args.repeat} runs of {args.steps} steps, Python {sys.version.split()[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
