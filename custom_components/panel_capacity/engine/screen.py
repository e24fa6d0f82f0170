"""Readings no panel could carry are a sensor's problem, not a flow: they are refused before use.

A reading (W; negative when exporting) is implausible when its size is more
than ``PLAUSIBLE_FACTOR`` times what its conductors are rated for: the
rating of the breaker feeding them, per conductor times its voltage to
neutral, and for a total times the number of conductors. The factor is the
magnetic (instantaneous) trip of a standard breaker: about 10 x its rating for
the thermal-magnetic breakers of North American panels (UL 489), 5 to 10 x for
an IEC 60898 type C miniature breaker. A current that large flows for a few
cycles at most before the breaker opens; a meter that averages over a second or
more cannot show it as a steady flow. So a 100 A split-phase service (24 kW)
reads at most 240 kW, a leg of it at most 120 kW, and a 60 A subpanel on both
legs at most 144 kW: a reading of 1 GW is a sensor's fault (a wrong unit, a
glitch, a counter read as power).

A refused reading is treated exactly as a missing one (the engine holds still,
and goes fail-safe once the last good reading of the service is stale; a node
is estimated from its loads; a conductor beside a total is not measured), is
never accounted, and is reported in the status as the sensor's fault. A value
that is not a finite number is refused the same way, as no number.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .config import ROOT
from .model import NodeReading, ReadingFault, SiteReading

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .config import Conductor
    from .tree import Key, Tree

PLAUSIBLE_FACTOR = 10.0

# Per node: the most its total and each of its conductors can plausibly read (W).
type Bounds = Mapping[str, tuple[float, float]]


def bounds_of(tree: Tree) -> dict[str, tuple[float, float]]:
    """Every node's bounds: ``PLAUSIBLE_FACTOR`` x its rating, per conductor and for its total."""
    bounds: dict[str, tuple[float, float]] = {}
    for node_id, node in tree.nodes.items():
        per = PLAUSIBLE_FACTOR * node.rating_a * tree.volts
        bounds[node_id] = (per * len(node.conductors), per)
    return bounds


def _fault(value: float) -> ReadingFault:
    """Why a value outside its bound is refused: too large, or not a number at all."""
    return ReadingFault.IMPLAUSIBLE if math.isfinite(value) else ReadingFault.NO_NUMBER


def _screen(
    bounds: Bounds, node_id: str, reading: SiteReading | NodeReading, faults: dict[Key, ReadingFault]
) -> tuple[float | None, Mapping[Conductor, float] | None, bool]:
    """A node's readings without the ones refused, each recorded in ``faults``; and whether any was."""
    if reading.faults:
        faults.update(((node_id, conductor), given) for conductor, given in reading.faults.items())
    total, per = reading.power_w, reading.conductors_w
    total_bound, conductor_bound = bounds[node_id]
    refused = False
    if total is not None and not -total_bound <= total <= total_bound:  # NaN is in no range
        faults[node_id, None] = _fault(total)
        total, refused = None, True
    if per:
        kept: dict[Conductor, float] | None = None
        for conductor, value in per.items():
            if not -conductor_bound <= value <= conductor_bound:
                faults[node_id, conductor] = _fault(value)
                kept = dict(per) if kept is None else kept
                del kept[conductor]
        if kept is not None:
            per, refused = kept or None, True
    return total, per, refused


def screen_site(bounds: Bounds, site: SiteReading, faults: dict[Key, ReadingFault]) -> SiteReading:
    """The service's reading without what it could not carry (the same object when nothing is refused)."""
    total = site.power_w
    if (
        site.faults is None
        and site.conductors_w is None
        and total is not None
        and abs(total) <= bounds[ROOT][0]
    ):
        return site  # the common case: a plausible total alone
    total, per, refused = _screen(bounds, ROOT, site, faults)
    return SiteReading(total, site.time, per, site.faults) if refused else site


def screen_nodes(
    bounds: Bounds, readings: Mapping[str, NodeReading], faults: dict[Key, ReadingFault]
) -> dict[str, NodeReading]:
    """The nodes' readings without what they could not carry; a node left with nothing is estimated."""
    screened: dict[str, NodeReading] = {}
    for node_id, reading in readings.items():
        if node_id not in bounds:
            continue
        total, per, refused = _screen(bounds, node_id, reading, faults)
        if total is None and not per:
            continue  # nothing usable: estimated, as a node without a sensor
        screened[node_id] = NodeReading(total, per, reading.faults) if refused else reading
    return screened
