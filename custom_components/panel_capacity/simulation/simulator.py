"""The simulator: the capacity engine driving a model house over recorded base load.

Event-driven and exact. Power is piecewise constant between events (a new row
of the recording, a thermostat or a car starting or stopping, an actuator
following a command), so every metric is integrated exactly over the true
power, not over what the meter saw. The meter samples the true power every
``sensor_period_s`` at a phase that does not line up with the recording's
minute boundaries, and the engine is stepped at those samples exactly as the
Home Assistant coordinator steps it. A sample is skipped only where the engine
itself promises that a step could not act (its quiet band), so the decisions
are those of stepping at every sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import heapq
import math
import random
import time
from typing import TYPE_CHECKING, Any

from ..engine import (
    ROOT,
    TERM_USER_CAP,
    ActionKind,
    CapacityEngine,
    Conductor,
    LoadConfig,
    LoadInput,
    LoadKind,
    NodeReading,
    QuietBand,
    SiteReading,
    StepInput,
)
from .dataset import Series, load_series
from .scenario import KIND_SWITCH, LoadSpec, Scenario
from .wiring import METERING_CONDUCTORS, METERING_NONE, Layout, Limit

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .wiring import BasePart, Placement

HOUR_S = 3600.0
# A switched load's thermostat closes once this many seconds of its rated
# power are waiting (a water heater's deadband: some litres cooled by a few
# degrees), and opens when nothing is. A scenario can set it per load.
THERMOSTAT_START_S = 300.0
EPSILON_S = 1e-9
# A car this close (in seconds of charging) to its target counts as full.
FULL_TOLERANCE_S = 1e-6
EPSILON_WH = 1e-9


# ------------------------------------------------------------------ metrics


@dataclass(slots=True)
class LoadMetrics:
    """Service of one load over a run."""

    requested_wh: float = 0.0
    delivered_wh: float = 0.0
    unmet_wh: float = 0.0
    actions: int = 0
    max_off_s: float = 0.0  # longest time it wanted power and got none
    off_run_s: float = 0.0  # the current stretch without power while wanted

    def as_dict(self, days: float) -> dict[str, float]:
        """The public figures (kWh, counts, seconds)."""
        return {
            "requested_kwh": round(self.requested_wh / 1000, 4),
            "delivered_kwh": round(self.delivered_wh / 1000, 4),
            "unmet_kwh": round(self.unmet_wh / 1000, 4),
            "actions": self.actions,
            "actions_per_day": round(self.actions / days, 3) if days > 0 else 0.0,
            "max_off_s": round(self.max_off_s, 1),
        }


@dataclass(slots=True)
class FlowMetrics:
    """Time and energy over a limit, for the site's total or one constraint of the tree."""

    limit_w: float
    rating_w: float
    max_w: float = 0.0
    seconds_over_limit: float = 0.0
    energy_over_limit_wh: float = 0.0
    longest_over_limit_s: float = 0.0
    seconds_over_rating: float = 0.0
    seconds_over_limit_preventable: float = 0.0
    longest_preventable_excursion_s: float = 0.0
    _over_run: float = 0.0
    _preventable_run: float = 0.0

    def add(self, seconds: float, flow_w: float, uncontrolled_w: float) -> None:
        """Account ``seconds`` at true flow ``flow_w`` (of which ``uncontrolled_w`` cannot be shed)."""
        if flow_w > self.max_w:  # noqa: PLR1730 - a comparison, not max(): this runs at every event
            self.max_w = flow_w
        if flow_w > self.limit_w:
            self.seconds_over_limit += seconds
            self.energy_over_limit_wh += (flow_w - self.limit_w) * seconds / HOUR_S
            self._over_run += seconds
            self.longest_over_limit_s = max(self.longest_over_limit_s, self._over_run)
            if uncontrolled_w <= self.limit_w:
                self.seconds_over_limit_preventable += seconds
                self._preventable_run += seconds
                self.longest_preventable_excursion_s = max(
                    self.longest_preventable_excursion_s, self._preventable_run
                )
            else:
                self._preventable_run = 0.0
            if flow_w > self.rating_w:
                self.seconds_over_rating += seconds
        else:
            self._over_run = 0.0
            self._preventable_run = 0.0

    def over_limit(self) -> dict[str, float]:
        """The public figures of time and energy over the limit."""
        return {
            "seconds_over_limit": round(self.seconds_over_limit, 3),
            "energy_over_limit_wh": round(self.energy_over_limit_wh, 3),
            "longest_over_limit_s": round(self.longest_over_limit_s, 3),
            "seconds_over_rating": round(self.seconds_over_rating, 3),
            "seconds_over_limit_preventable": round(self.seconds_over_limit_preventable, 3),
            "longest_preventable_excursion_s": round(self.longest_preventable_excursion_s, 3),
        }


@dataclass(slots=True)
class RunMetrics(FlowMetrics):
    """What one run (controller or a baseline) did to the panel: its total, and each constraint of a tree."""

    actions_total: int = 0
    loads: dict[str, LoadMetrics] = field(default_factory=dict)
    # With a tree: (node id, "total" or a conductor, figures) per constraint, the service's first.
    constraints: list[tuple[str, str, FlowMetrics]] = field(default_factory=list)

    @property
    def max_site_w(self) -> float:
        """The highest true site power seen."""
        return self.max_w

    def as_dict(self, days: float) -> dict[str, Any]:
        """The public figures."""
        figures: dict[str, Any] = {
            "max_site_w": round(self.max_w, 1),
            **self.over_limit(),
            "actions_total": self.actions_total,
            "loads": {name: load.as_dict(days) for name, load in self.loads.items()},
        }
        if self.constraints:
            nodes: dict[str, dict[str, Any]] = {}
            for node, part, flow in self.constraints:
                nodes.setdefault(node, {})[part] = {
                    "limit_w": round(flow.limit_w, 1),
                    "rating_w": round(flow.rating_w, 1),
                    "max_w": round(flow.max_w, 1),
                    **flow.over_limit(),
                }
            figures["nodes"] = nodes
        return figures


# ------------------------------------------------------------------- plant


class _Load:
    """A load of the model house. ``command`` is what its actuator shows; ``effective`` what it obeys.

    Its state is integrated lazily: ``sync`` brings it up to a time, and every
    change of the load syncs first, so between changes nothing is computed.
    """

    kind: LoadKind

    def __init__(
        self, spec: LoadSpec, delay_s: float, metrics: LoadMetrics, changes: list[tuple[float, float]] | None
    ) -> None:
        self.spec = spec
        self.delay_s = delay_s
        self.metrics = metrics
        self.draw_w = 0.0
        self.next_event = math.inf
        self.synced = 0.0
        self.command = 0.0
        self.effective = 0.0
        self.changes = changes  # (time, draw) at every change, for the plot

    def wants_power(self) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    def advance(self, seconds: float) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def set_effective(self, now: float, value: float) -> None:  # pragma: no cover - overridden
        """The actuator follows a command."""
        raise NotImplementedError

    def on_event(self, now: float) -> None:  # pragma: no cover - overridden
        """The load's own next event has come."""
        raise NotImplementedError

    def finish(self, now: float) -> None:  # pragma: no cover - overridden
        """The end of the run."""
        raise NotImplementedError

    def sync(self, now: float) -> None:
        """Integrate energy, interruptions and the load's own state up to ``now``."""
        seconds = now - self.synced
        if seconds <= 0:
            return
        metrics = self.metrics
        if self.draw_w > 0:
            metrics.delivered_wh += self.draw_w * seconds / HOUR_S
            metrics.off_run_s = 0.0
            self.advance(seconds)
        elif self.wants_power():
            metrics.off_run_s += seconds
            metrics.max_off_s = max(metrics.max_off_s, metrics.off_run_s)
        else:
            metrics.off_run_s = 0.0
        self.synced = now

    def _set_draw(self, now: float, watts: float) -> None:
        if watts != self.draw_w and self.changes is not None:
            self.changes.append((now, watts))
        self.draw_w = watts


class _SwitchLoad(_Load):
    """On/off at a rated power, with a thermostat serving an energy demand from the recording."""

    kind = LoadKind.SWITCH

    def __init__(
        self, spec: LoadSpec, delay_s: float, metrics: LoadMetrics, changes: list[tuple[float, float]] | None
    ) -> None:
        super().__init__(spec, delay_s, metrics, changes)
        self.power_w = spec.power_w
        self.start_wh = (
            spec.thermostat_wh
            if spec.thermostat_wh is not None
            else spec.power_w * THERMOSTAT_START_S / HOUR_S
        )
        self.backlog_wh = 0.0
        self.heating = False

    def wants_power(self) -> bool:
        return self.backlog_wh >= self.start_wh or self.heating

    def demand(self, now: float, energy_wh: float) -> None:
        """Energy asked for at a row of the recording."""
        if energy_wh <= 0:
            return
        self.sync(now)
        self.metrics.requested_wh += energy_wh
        if self.effective <= 0 and not self.spec.deferrable:
            self.metrics.unmet_wh += energy_wh  # nobody will want it later
            return
        self.backlog_wh += energy_wh
        self._update(now)

    def set_effective(self, now: float, value: float) -> None:
        """The relay follows a command."""
        self.sync(now)
        self.effective = value
        if value <= 0 and not self.spec.deferrable:
            self.metrics.unmet_wh += self.backlog_wh
            self.backlog_wh = 0.0
        self._update(now)

    def advance(self, seconds: float) -> None:
        """Heat for ``seconds``."""
        self.backlog_wh = max(0.0, self.backlog_wh - self.power_w * seconds / HOUR_S)

    def on_event(self, now: float) -> None:
        """The backlog has been served: the thermostat opens."""
        self.sync(now)
        self.backlog_wh = 0.0
        self._update(now)

    def _update(self, now: float) -> None:
        if self.effective <= 0:
            self.heating = False
        elif self.heating:
            self.heating = self.backlog_wh > EPSILON_WH
        else:
            self.heating = self.backlog_wh >= self.start_wh
        self._set_draw(now, self.power_w if self.heating else 0.0)
        self.next_event = now + self.backlog_wh * HOUR_S / self.power_w if self.heating else math.inf

    def finish(self, now: float) -> None:
        """End of the run: what is still waiting was not delivered."""
        self.sync(now)
        self.metrics.unmet_wh += self.backlog_wh
        self.backlog_wh = 0.0


class _CarLoad(_Load):
    """An EV charger: charges at its setting while a car is plugged in and wants energy."""

    kind = LoadKind.MODULATED

    def __init__(
        self,
        spec: LoadSpec,
        delay_s: float,
        metrics: LoadMetrics,
        changes: list[tuple[float, float]] | None,
        origin: float,
    ) -> None:
        super().__init__(spec, delay_s, metrics, changes)
        self.sessions = [(s.arrive - origin, s.depart - origin, s.energy_wh, s.max_w) for s in spec.sessions]
        self.index = 0
        self.plugged = False
        self.remaining_wh = 0.0
        self.car_max_w = spec.max_w

    def wants_power(self) -> bool:
        return self.plugged and self.remaining_wh > EPSILON_WH

    def start(self, now: float, end: float) -> None:
        """Skip sessions that ended before the run; a car already there is plugged in at the start."""
        self.sessions = [
            (max(arrive, now), depart, energy, car_max)
            for arrive, depart, energy, car_max in self.sessions
            if depart > now and arrive < end
        ]
        self.metrics.requested_wh += sum(energy for _, _, energy, _ in self.sessions)
        self._update(now)

    def set_effective(self, now: float, value: float) -> None:
        """The charger follows a new setting."""
        self.sync(now)
        self.effective = value
        self._update(now)

    def advance(self, seconds: float) -> None:
        """Charge for ``seconds``."""
        self.remaining_wh = max(0.0, self.remaining_wh - self.draw_w * seconds / HOUR_S)

    def on_event(self, now: float) -> None:
        """A car arrives, leaves, or is full."""
        self.sync(now)
        if self.plugged:
            depart = self.sessions[self.index][1]
            if now >= depart - EPSILON_S:
                self.metrics.unmet_wh += self.remaining_wh
                self.remaining_wh = 0.0
                self.plugged = False
                self.index += 1
            elif self.draw_w > 0 and self.remaining_wh * HOUR_S / self.draw_w <= FULL_TOLERANCE_S:
                self.remaining_wh = 0.0
        elif self.index < len(self.sessions) and now >= self.sessions[self.index][0] - EPSILON_S:
            _, _, energy, car_max = self.sessions[self.index]
            self.plugged = True
            self.remaining_wh = energy
            self.car_max_w = min(self.spec.max_w, car_max) if car_max else self.spec.max_w
        self._update(now)

    def _update(self, now: float) -> None:
        if self.plugged and self.remaining_wh > EPSILON_WH and self.effective > 0:
            self._set_draw(now, min(self.effective, self.car_max_w))
        else:
            self._set_draw(now, 0.0)
        if self.plugged:
            depart = self.sessions[self.index][1]
            full = now + self.remaining_wh * HOUR_S / self.draw_w if self.draw_w > 0 else math.inf
            self.next_event = min(depart, full)
        elif self.index < len(self.sessions):
            self.next_event = self.sessions[self.index][0]
        else:
            self.next_event = math.inf

    def finish(self, now: float) -> None:
        """End of the run: what a car still plugged in wanted was not delivered."""
        self.sync(now)
        self.metrics.unmet_wh += self.remaining_wh
        self.remaining_wh = 0.0


# ---------------------------------------------------------------- policies


class Policy:
    """What drives the actuators: the engine, or a fixed baseline."""

    samples = False

    def initial(self, load: _Load) -> float:
        """The actuator setting at the start."""
        return 1.0 if load.kind is LoadKind.SWITCH else load.spec.max_w


class FixedPolicy(Policy):
    """Baselines: every actuator stays where it is set at the start."""

    def __init__(self, settings: dict[str, float]) -> None:
        """``settings``: per load, 1/0 for a switch, a level in W for a charger."""
        self.settings = settings

    def initial(self, load: _Load) -> float:
        """The fixed setting."""
        return self.settings[load.spec.name]


class EnginePolicy(Policy):
    """The capacity engine, stepped at the meter's samples.

    On a scenario with a tree, the engine is given the tree and the readings
    of every meter in it; with ``aggregate`` it is given the site's total
    alone, as a controller that knows one number for the house would be.
    """

    samples = True

    def __init__(self, scenario: Scenario, *, aggregate: bool = False) -> None:
        """Build the engine the scenario describes."""
        wiring = scenario.wiring
        self.tree = wiring is not None and not aggregate
        self.loads = [load_config(spec, placed=self.tree) for spec in scenario.loads]
        nodes = [node.config() for node in wiring.nodes] if self.tree and wiring is not None else []
        self.engine = CapacityEngine(scenario.panel, scenario.settings, self.loads, nodes=nodes)
        self.terms = (
            {TERM_USER_CAP: scenario.limit_w} if scenario.limit_w < scenario.panel.continuous_limit_w else {}
        )
        self.calls = 0


def load_config(spec: LoadSpec, *, placed: bool = True) -> LoadConfig:
    """The engine's view of a scenario load (``placed``: with its node and conductors)."""
    wired: dict[str, Any] = {"node_id": spec.node_id, "conductors": spec.conductors} if placed else {}
    if spec.kind == KIND_SWITCH:
        return LoadConfig(
            **wired,
            load_id=spec.name,
            name=spec.name,
            kind=LoadKind.SWITCH,
            nominal_w=spec.power_w,
            never_shed=spec.never_shed,
            min_on_s=spec.min_on_s,
            min_off_s=spec.min_off_s,
        )
    return LoadConfig(
        load_id=spec.name,
        name=spec.name,
        kind=LoadKind.MODULATED,
        min_w=spec.min_w,
        max_w=spec.max_w,
        step_w=spec.step_w,
        ramp_w=spec.ramp_w,
        allow_off=spec.allow_off,
        never_shed=spec.never_shed,
        min_on_s=spec.min_on_s,
        min_off_s=spec.min_off_s,
        **wired,
    )


# ----------------------------------------------------------------- the run


@dataclass(slots=True)
class Trace:
    """Power over time, for the plot: the base per row, each load at every change."""

    times: list[float] = field(default_factory=list)
    base_w: list[float] = field(default_factory=list)
    end: float = 0.0
    loads: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def row_averages(self) -> tuple[dict[str, list[float]], list[float]]:
        """Each load's average power over each row of the recording, and the total."""
        averages: dict[str, list[float]] = {}
        bounds = [*self.times[1:], self.end]
        for name, changes in self.loads.items():
            values: list[float] = []
            position = 0
            level = 0.0
            for start, stop in zip(self.times, bounds, strict=True):
                energy = 0.0
                moment = start
                while position < len(changes) and changes[position][0] < stop:
                    at, watts = changes[position]
                    if at > moment:
                        energy += level * (at - moment)
                        moment = at
                    level = watts
                    position += 1
                energy += level * (stop - moment)
                values.append(energy / (stop - start) if stop > start else level)
            averages[name] = values
        total = [
            base + sum(values[index] for values in averages.values())
            for index, base in enumerate(self.base_w)
        ]
        return averages, total

    def binned(self, max_points: int) -> tuple[list[float], list[float], dict[str, list[float]], list[float]]:
        """At most ``max_points`` averages of whole rows: bin starts, base, each load and total.

        A year of 1-minute rows is too many points to draw; averaging whole rows
        keeps each bin's energy.
        """
        loads, total = self.row_averages()
        starts, out = self.bin_rows([self.base_w, *loads.values(), total], max_points)
        return starts, out[0], dict(zip(loads, out[1:-1], strict=True)), out[-1]

    def bin_rows(self, series: list[list[float]], max_points: int) -> tuple[list[float], list[list[float]]]:
        """Bin starts, and each series of per-row values averaged over at most ``max_points`` bins."""
        size = max(1, -(-len(self.times) // max(1, max_points)))
        bounds = [*self.times[1:], self.end]
        starts: list[float] = []
        out: list[list[float]] = [[] for _ in series]
        for first in range(0, len(self.times), size):
            last = min(first + size, len(self.times))
            span = bounds[last - 1] - self.times[first]
            starts.append(self.times[first])
            for values, binned in zip(series, out, strict=True):
                if span > 0:
                    energy = sum(
                        values[index] * (bounds[index] - self.times[index]) for index in range(first, last)
                    )
                    binned.append(energy / span)
                else:
                    binned.append(values[first])
        return starts, out


def constraint_rows(prepared: Prepared, trace: Trace) -> list[tuple[str, str, Limit, list[float]]]:
    """Each constraint of the tree, its limit and its average flow over each row of the recording.

    From the trace's loads (their average power in each row) and the base
    load's parts, placed as the simulator places them. Empty without a tree.
    """
    layout = prepared.layout
    if layout is None:
        return []
    loads, _ = trace.row_averages()
    places = {spec.name: layout.place(spec.node_id, spec.conductors) for spec in prepared.scenario.loads}
    rows = [prepared.base_flows(row) for row in range(len(prepared.times))]
    for name, values in loads.items():
        for row, watts in enumerate(values):
            if watts:
                for index, share in places[name]:
                    rows[row][index] += watts * share
    return [
        (*layout.name(index), limit, [flows[index] for flows in rows])
        for index, limit in enumerate(layout.limits)
    ]


@dataclass(slots=True)
class RunResult:
    """What a run produced."""

    metrics: RunMetrics
    steps: int  # meter samples covered
    engine_calls: int
    wall_s: float
    trace: Trace | None = None


class Prepared:
    """A scenario with its recording read and split into base and controlled demand."""

    def __init__(self, scenario: Scenario, series: Series | None = None) -> None:
        """Read the recording unless given."""
        self.scenario = scenario
        demand = {
            spec.demand_column: spec.demand_unit for spec in scenario.loads if spec.demand_column is not None
        }
        wiring = scenario.wiring
        parts = wiring.base_parts if wiring is not None else ()
        wanted = demand | {part.column: part.unit for part in parts}
        self.series = series if series is not None else load_series(scenario.base, wanted)
        origin = self.series.times[0]
        self.origin = origin
        self.times = [moment - origin for moment in self.series.times]
        self.end = self.series.end - origin
        columns = [self.series.columns[column] for column in demand]
        # The controlled loads' demand is taken out of the recorded total: it is now controlled.
        self.base_w = [
            max(0.0, total - sum(column[index] for column in columns))
            for index, total in enumerate(self.series.total_w)
        ]
        self.durations = [
            (self.times[index + 1] if index + 1 < len(self.times) else self.end) - self.times[index]
            for index in range(len(self.times))
        ]
        # Each switched load's demand per row, in W: its column, or its steady average.
        self.demand: dict[str, list[float]] = {}
        for spec in scenario.loads:
            if spec.demand_column is not None:
                self.demand[spec.name] = self.series.columns[spec.demand_column]
            elif spec.demand_w is not None:
                self.demand[spec.name] = [spec.demand_w] * len(self.times)
        self.layout: Layout | None = None
        # With a tree: each part of the base load, where it counts and its power per row.
        self.base_parts: list[tuple[Placement, list[float]]] = []
        if wiring is not None:
            self.layout = layout = Layout(scenario.panel, wiring, scenario.limit_w)
            self.base_parts = _split_base(layout, parts, self.base_w, self.series.columns)

    def base_flows(self, row: int) -> list[float]:
        """What the base load puts on each constraint of the tree in ``row``."""
        assert self.layout is not None  # noqa: S101 - only called with a tree
        flows = [0.0] * len(self.layout.limits)
        for placement, values in self.base_parts:
            watts = values[row]
            if watts:
                for index, share in placement:
                    flows[index] += watts * share
        return flows

    @property
    def days(self) -> float:
        """Length of the run in days."""
        return self.end / 86400.0


class TreeFlows:
    """What every constraint of a simulated tree truly carries, its figures, and its meters' readings."""

    def __init__(self, prepared: Prepared, metrics: RunMetrics, loads: Sequence[_Load]) -> None:
        """Lay out the flows; each load's placement is kept on it."""
        layout = prepared.layout
        assert layout is not None  # noqa: S101 - built only for a tree
        self.prepared = prepared
        self.flows = [0.0] * len(layout.limits)
        self.uncontrolled = [0.0] * len(layout.limits)
        self.figures = [FlowMetrics(limit.limit_w, limit.rating_w) for limit in layout.limits]
        metrics.constraints = [(*layout.name(index), figures) for index, figures in enumerate(self.figures)]
        self.places = {
            load.spec.name: layout.place(load.spec.node_id, load.spec.conductors) for load in loads
        }
        self.loads = loads
        # The meters: the service's legs or phases (when measured), and every node's.
        self.root_legs = (
            [(conductor, layout.index[ROOT, conductor]) for conductor in layout.node_conductors[ROOT]]
            if layout.root_metering == METERING_CONDUCTORS and len(layout.node_conductors[ROOT]) > 1
            else []
        )
        self.meters: list[tuple[str, int | None, list[tuple[Conductor, int]]]] = []
        for node_id, node in layout.nodes.items():
            if node_id == ROOT or node.metering == METERING_NONE:
                continue
            total = layout.index[node_id, None]
            if node.metering == METERING_CONDUCTORS:
                conductors = layout.node_conductors[node_id]
                legs = [(c, layout.index.get((node_id, c), total)) for c in conductors]
                self.meters.append((node_id, None, legs))
            else:
                self.meters.append((node_id, total, []))

    def change(self, load: _Load, delta_w: float) -> None:
        """A load's draw changed by ``delta_w``."""
        flows, uncontrolled = self.flows, self.uncontrolled
        protected = load.spec.never_shed
        for index, share in self.places[load.spec.name]:
            flows[index] += delta_w * share
            if protected:
                uncontrolled[index] += delta_w * share

    def row(self, row: int) -> None:
        """A new row of the recording: every flow summed afresh, so rounding cannot build up."""
        self.flows = self.prepared.base_flows(row)
        self.uncontrolled = list(self.flows)
        for load in self.loads:
            if load.draw_w:
                self.change(load, load.draw_w)

    def add(self, seconds: float) -> None:
        """Account ``seconds`` at the present flows."""
        for figures, flow, uncontrolled in zip(self.figures, self.flows, self.uncontrolled, strict=True):
            figures.add(seconds, flow, uncontrolled)

    def readings(self, site_w: float, now: float) -> tuple[SiteReading, dict[str, NodeReading]]:
        """What the meters show now."""
        flows = self.flows
        legs = {conductor: flows[index] for conductor, index in self.root_legs} if self.root_legs else None
        nodes = {
            node_id: NodeReading(power_w=flows[total])
            if total is not None
            else NodeReading(conductors_w={conductor: flows[index] for conductor, index in legs_of})
            for node_id, total, legs_of in self.meters
        }
        return SiteReading(site_w, now, conductors_w=legs), nodes


def _split_base(
    layout: Layout, parts: Sequence[BasePart], base_w: list[float], columns: dict[str, list[float]]
) -> list[tuple[Placement, list[float]]]:
    """The base load in parts placed on the tree: the listed columns, and the rest over the service.

    Parts that add up to more than the base are scaled down to it, so the
    parts and the rest always sum to the base load.
    """
    values = [[max(0.0, watts) for watts in columns[part.column]] for part in parts]
    rest: list[float] = []
    for row, base in enumerate(base_w):
        total = sum(column[row] for column in values)
        if total > base:
            scale = base / total if total > 0 else 0.0
            for column in values:
                column[row] *= scale
            rest.append(0.0)
        else:
            rest.append(base - total)
    placed = [
        (layout.place(part.node_id, part.conductors), column)
        for part, column in zip(parts, values, strict=True)
    ]
    placed.append((layout.place(ROOT, ()), rest))
    return placed


def simulate(  # noqa: C901, PLR0912, PLR0915 - one hot loop, kept whole: calls cost time here
    prepared: Prepared,
    policy: Policy,
    *,
    trace: bool = False,
    progress: Callable[[float], None] | None = None,
    skip_quiet: bool = True,
) -> RunResult:
    """Run one policy over the prepared scenario.

    ``skip_quiet=False`` steps the engine at every meter sample instead of
    trusting its quiet band: slower, and (as the tests check) the same.
    """
    scenario = prepared.scenario
    started = time.perf_counter()
    metrics = RunMetrics(limit_w=scenario.limit_w, rating_w=scenario.panel.rating_w)
    record = Trace(times=prepared.times, base_w=prepared.base_w, end=prepared.end) if trace else None
    loads: list[_Load] = []
    for spec in scenario.loads:
        load_metrics = metrics.loads.setdefault(spec.name, LoadMetrics())
        delay = scenario.actuator_delay_s if spec.actuator_delay_s is None else spec.actuator_delay_s
        changes: list[tuple[float, float]] | None = None
        if record is not None:
            changes = record.loads[spec.name] = [(0.0, 0.0)]
        if spec.kind == KIND_SWITCH:
            loads.append(_SwitchLoad(spec, delay, load_metrics, changes))
        else:
            loads.append(_CarLoad(spec, delay, load_metrics, changes, prepared.origin))
    for load in loads:
        load.command = load.effective = policy.initial(load)
        if isinstance(load, _CarLoad):
            load.start(0.0, prepared.end)
    by_name = {load.spec.name: load for load in loads}
    protected = [load for load in loads if load.spec.never_shed]
    demand_rows = [
        (load, prepared.demand[load.spec.name])
        for load in loads
        if isinstance(load, _SwitchLoad) and load.spec.name in prepared.demand
    ]

    engine = policy.engine if isinstance(policy, EnginePolicy) else None
    terms = policy.terms if isinstance(policy, EnginePolicy) else {}
    period = scenario.sensor_period_s
    phase = (
        scenario.sensor_phase_s
        if scenario.sensor_phase_s is not None
        else random.Random(scenario.seed).uniform(0.05, 0.95) * period  # noqa: S311 - a phase, not a secret
    )
    effects: list[tuple[float, int, _Load, float]] = []
    sequence = 0
    times, base_rows, durations, end = prepared.times, prepared.base_w, prepared.durations, prepared.end
    rows = len(times)
    row = -1
    base = 0.0
    site = sum(load.draw_w for load in loads)
    uncontrolled = sum(load.draw_w for load in protected)
    next_row_at = 0.0
    now = 0.0
    band: QuietBand | None = None
    site_changed = True
    loads_changed = True
    last_index = -1  # the meter sample of the last step
    calls = 0
    report_every = max(1, rows // 200)
    readings: dict[str, tuple[float, float | None, LoadInput]] = {}

    ignored: frozenset[str] = frozenset()  # loads whose readings the engine's promise does not depend on
    tree = TreeFlows(prepared, metrics, loads) if prepared.layout is not None else None
    tree_readings = tree is not None and isinstance(policy, EnginePolicy) and policy.tree

    def changed(load: _Load, before: float) -> None:
        nonlocal site, uncontrolled, site_changed, loads_changed
        if load.draw_w != before:
            if tree is not None:
                tree.change(load, load.draw_w - before)
            site += load.draw_w - before
            if load.spec.never_shed:
                uncontrolled += load.draw_w - before
            site_changed = True
            if load.spec.metered and load.spec.name not in ignored:
                loads_changed = True

    # The soonest of the loads' own events, worked out again whenever a load has moved.
    next_load = min((load.next_event for load in loads), default=math.inf)
    while True:
        # When is the next thing to happen?
        upcoming = next_row_at if next_row_at < next_load else next_load  # noqa: FURB136 - no call
        if effects and effects[0][0] < upcoming:
            upcoming = effects[0][0]
        sample_at = math.inf
        if engine is not None:
            if not skip_quiet:
                band = None
            if (
                site_changed
                and not loads_changed
                and band is not None
                and now < band.until
                and band.low_w < site <= band.high_w
            ):
                site_changed = False  # the next sample is sure to be quiet: no need to take it
            if loads_changed or band is None or site_changed:
                sample = math.ceil((now - phase) / period - 1e-9)
                if sample <= last_index:
                    sample = last_index + 1
                sample_at = phase + sample * period
            elif band.until < math.inf:
                sample = max(last_index + 1, math.ceil((max(now, band.until) - phase) / period - 1e-9))
                sample_at = phase + sample * period
            # A sample time already passed by rounding is taken now.
            # (Comparisons, not min and max: this runs at every event, and a call costs more.)
            if sample_at < now:  # noqa: PLR1730
                sample_at = now
            if sample_at < upcoming:  # noqa: PLR1730
                upcoming = sample_at
        if upcoming > end:  # noqa: PLR1730
            upcoming = end
        if upcoming < now:  # noqa: PLR1730
            upcoming = now

        # The site carries what it carries until then.
        if upcoming > now:
            metrics.add(upcoming - now, site, base + uncontrolled)
            if tree is not None:
                tree.add(upcoming - now)
        now = upcoming
        if now >= end:
            break

        # The plant moves: actuators follow commands, a new row, thermostats and cars.
        moved = False
        while effects and effects[0][0] <= now:
            _, _, load, value = heapq.heappop(effects)
            before = load.draw_w
            load.set_effective(now, value)
            changed(load, before)
            moved = True
        if now >= next_row_at and row + 1 < rows:
            row += 1
            base = base_rows[row]
            next_row_at = times[row + 1] if row + 1 < rows else math.inf
            for load, column in demand_rows:
                energy = column[row]
                if energy > 0:
                    before = load.draw_w
                    moved = True
                    load.demand(now, energy * durations[row] / HOUR_S)
                    if load.draw_w != before and load.spec.metered and load.spec.name not in ignored:
                        loads_changed = True
            site = base  # summed afresh every row, so rounding cannot build up
            for load in loads:
                site += load.draw_w
            uncontrolled = 0.0
            for load in protected:
                uncontrolled += load.draw_w
            if tree is not None:
                tree.row(row)
            site_changed = True
            if progress is not None and row % report_every == 0:
                progress(now / end)
        if moved:
            next_load = min([load.next_event for load in loads], default=math.inf)
        if next_load <= now:
            for load in loads:
                if load.next_event <= now:
                    before = load.draw_w
                    load.on_event(now)
                    changed(load, before)
            next_load = min([load.next_event for load in loads], default=math.inf)

        # The meter is read, and the engine asked, unless it has promised to stay quiet.
        if engine is not None and now == sample_at:
            last_index = sample
            quiet = (
                not loads_changed
                and band is not None
                and now < band.until
                and band.low_w < site <= band.high_w
            )
            site_changed = False
            if quiet:
                continue
            calls += 1
            loads_changed = False
            inputs = {}
            for load in loads:
                measured = load.draw_w if load.spec.metered else None
                cached = readings.get(load.spec.name)
                if cached is None or cached[0] != load.command or cached[1] != measured:
                    cached = (load.command, measured, _reading(load, measured))
                    readings[load.spec.name] = cached
                inputs[load.spec.name] = cached[2]
            if tree_readings:
                assert tree is not None  # noqa: S101 - tree_readings implies it
                reading, nodes = tree.readings(site, now)
                step = StepInput(now=now, site=reading, loads=inputs, limit_terms=terms, nodes=nodes)
            else:
                step = StepInput(now=now, site=SiteReading(site, now), loads=inputs, limit_terms=terms)
            result = engine.step(step)
            for action in result.actions:
                load = by_name[action.load_id]
                if action.kind is ActionKind.TURN_OFF:
                    value = 0.0
                elif action.kind is ActionKind.TURN_ON:
                    value = policy.initial(load)
                else:
                    value = float(action.level_w or 0.0)
                load.command = value
                load.metrics.actions += 1
                metrics.actions_total += 1
                sequence += 1
                heapq.heappush(effects, (now + load.delay_s, sequence, load, value))
            band = engine.quiet_band()
            ignored = band.ignores if band is not None else frozenset()

    for load in loads:
        load.finish(end)
    steps = int(end / period) if engine is not None else rows
    if isinstance(policy, EnginePolicy):
        policy.calls = calls
    return RunResult(
        metrics=metrics,
        steps=steps,
        engine_calls=calls,
        wall_s=time.perf_counter() - started,
        trace=record,
    )


def _reading(load: _Load, measured: float | None) -> LoadInput:
    command = load.command
    if load.kind is LoadKind.SWITCH:
        return LoadInput(is_on=command > 0, measured_w=measured)
    return LoadInput(is_on=command > 0, level_w=command, measured_w=measured)
