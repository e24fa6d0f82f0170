"""A soak: the real engine over days of recorded load, with faults and restarts, invariants at every step.

Prints the report and writes it as JSON (default out/soak-SEED.json). Exits 1
when an invariant was violated.

Usage: python scripts/soak.py [SOAK.json] [--days 7] [--seed 1] [--start ISO] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from custom_components.panel_capacity.simulation import ScenarioError
from custom_components.panel_capacity.simulation.soak import load_plan, run_soak

REPO = Path(__file__).resolve().parent.parent


def describe(report: dict[str, Any]) -> list[str]:
    lines = [
        f"{report['soak']}",
        (
            f"{report['days']} days from {report['start']}, seed {report['seed']}: "
            f"{report['steps']} steps in {report['wall_s']} s"
        ),
        "",
        "time over the limit (true flow), s: in all / while a fault or restart was in force; longest",
    ]
    for node_id, parts in report["constraints"].items():
        for part, figures in parts.items():
            over, during = figures["seconds_over_limit"], figures["seconds_over_limit_during_faults"]
            lines.append(
                f"  {node_id:>8} {part:<5} limit {figures['limit_w']:>8.0f} W  "
                f"max {figures['max_w']:>8.0f} W  {over:>8.1f} / {during:>8.1f}  "
                f"longest {figures['longest_over_limit_s']:.1f}"
            )
    lines.append("loads: actions, longest off while wanted, longest off or turned down while wanted, energy")
    for name, load in report["loads"].items():
        note = " (never shed)" if load["never_shed"] else ""
        lines.append(
            f"  {name:>12}{note}: {load['actions']} actions, off {load['longest_off_s']:.0f} s, "
            f"denied {load['longest_denied_s']:.0f} s, {load['delivered_kwh']:.1f} of "
            f"{load['requested_kwh']:.1f} kWh"
        )
    lines.append("faults: scheduled, injected (changed a reading or a command), shown by the engine")
    for kind, counts in report["faults"].items():
        lines.append(
            f"  {kind:>8}: {counts['scheduled']}, {counts['injected']}, {counts['with_effect']} "
            f"({counts['readings_or_commands']} readings or commands)"
        )
    restarts = report["restarts"]
    lines.append(
        f"restarts: {restarts['count']} ({restarts['after_a_gap']} after minutes down, "
        f"{restarts['down_s']:.0f} s down in all); held loads kept by {restarts['holds_kept']}"
    )
    violations = report["violations"]
    lines.append(f"invariant violations: {violations['count']} {violations['by_invariant'] or ''}".rstrip())
    lines.extend(
        f"  {item['time_s']:>10.1f} s {item['invariant']}: {item['detail']}"
        for item in violations["first"][:20]
    )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plan", nargs="?", type=Path, default=REPO / "examples" / "soak.json")
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", help="start of the run (ISO time; default the scenario's)")
    parser.add_argument("--out", type=Path, help="where to write the JSON report")
    args = parser.parse_args()
    if not 0 < args.days <= 366:
        parser.error("--days: from more than 0 to 366")
    try:
        report = run_soak(load_plan(args.plan), days=args.days, seed=args.seed, start=args.start)
    except ScenarioError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("\n".join(describe(report)))
    out = args.out or REPO / "out" / f"soak-{args.seed}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 1 if report["violations"]["count"] else 0


if __name__ == "__main__":
    sys.exit(main())
