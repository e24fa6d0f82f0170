"""Benchmark: the capacity engine's cost per step with 10 loads.

Three figures, each the median of several runs:
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
    ActionKind,
    CapacityEngine,
    ControlSettings,
    LoadConfig,
    LoadInput,
    LoadKind,
    PanelConfig,
    SiteReading,
    StepInput,
    Supply,
)

PANEL = PanelConfig(rating_a=100, voltage_v=240, supply=Supply.SPLIT_PHASE)  # 24 kW, limit 19.2 kW


def ten_loads() -> list[LoadConfig]:
    loads = []
    for index in range(6):
        loads.append(LoadConfig(load_id=f"switch{index}", kind=LoadKind.SWITCH, nominal_w=800 + 300 * index))
    for index in range(4):
        loads.append(
            LoadConfig(load_id=f"level{index}", kind=LoadKind.MODULATED, min_w=1440, max_w=7680, step_w=240)
        )
    return loads


def run(steps: int, *, busy: bool, seed: int = 1) -> tuple[float, int]:
    """Seconds per step, and how many actions were taken."""
    rng = random.Random(seed)
    loads = ten_loads()
    engine = CapacityEngine(PANEL, ControlSettings(restore_holdoff_s=5, response_s=2), loads)
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
        site = base + sum(
            (cfg.nominal_w * state[cfg.load_id]) if cfg.kind is LoadKind.SWITCH else state[cfg.load_id]
            for cfg in loads
        )
        start = time.perf_counter()
        result = engine.step(StepInput(now=float(now), site=SiteReading(site, float(now)), loads=inputs))
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


def status_cost(repeat: int) -> float:
    engine = CapacityEngine(PANEL, ControlSettings(), ten_loads())
    engine.step(
        StepInput(
            now=1.0,
            site=SiteReading(10000.0, 1.0),
            loads={cfg.load_id: LoadInput(is_on=True, level_w=3000.0) for cfg in engine.loads},
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
    quiet_runs = [run(args.steps, busy=False) for _ in range(args.repeat)]
    busy_runs = [run(args.steps, busy=True, seed=seed) for seed in range(args.repeat)]
    quiet = statistics.median(cost for cost, _ in quiet_runs)
    busy = statistics.median(cost for cost, _ in busy_runs)
    busy_actions = statistics.median(count for _, count in busy_runs)
    snapshot = statistics.median(status_cost(args.steps // 10) for _ in range(args.repeat))
    print(f"engine step, 10 loads, quiet : {quiet * 1e6:8.1f} us/step ({1 / quiet:,.0f} steps/s)")
    print(
        f"engine step, 10 loads, busy  : {busy * 1e6:8.1f} us/step ({1 / busy:,.0f} steps/s,"
        f" {busy_actions:,.0f} actions in {args.steps} steps)"
    )
    print(f"status snapshot, 10 loads    : {snapshot * 1e6:8.1f} us")
    print(f"(median of {args.repeat} runs of {args.steps} steps, Python {sys.version.split()[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
