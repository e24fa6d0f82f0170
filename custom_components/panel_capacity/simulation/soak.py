"""A soak: days of a house on the real engine, with faults in its sensors and actuators, and restarts.

Plain Python, no Home Assistant imports. The plant is the simulator's (the
recording, thermostats, cars, every conductor's true flow); the engine is
stepped as the coordinator steps it in Home Assistant: at every meter report
(every few seconds, irregularly), at a watchdog tick every 5 s, and when an
actuator's state changes (folded within half a second, as its debouncer
does). It is handed what the coordinator would hand it:

- a sensor that drops out (unavailable) gives no value and a ``no_number`` fault;
- a stale sensor keeps its value and its time: once older than the staleness
  time the coordinator says ``stale``; the service's total still goes in with
  its old time (so the engine goes fail-safe), a leg or a subpanel is left out;
- a NaN or an infinity goes to the engine as it is (its screen must refuse it);
- a spike (1e9 W and the like) goes as it is (refused as implausible);
- a unit change the coordinator cannot tell (a W sensor reporting kW or A, a
  kW one reporting W) goes as the value scaled wrongly.

Actuators: an error (the service call raises: ``action_failed``), a timeout
(the command lands late, commands to one actuator in order), an ignored
command (its state does not follow), a person fighting it (a shed load turned
back on by hand, again each time it is shed). Restarts: the memory exported,
through JSON as the store keeps it, and a new engine built from it, sometimes
after minutes with nothing.

At every step the invariants are checked (``Invariants``) and every violation
is collected; an exception in a step is one, and the soak goes on.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
import heapq
import json
import math
from pathlib import Path
import random
import time
import traceback
from typing import TYPE_CHECKING, Any

from ..engine import (
    ROOT,
    TERM_USER_CAP,
    Action,
    ActionKind,
    ActionReason,
    CapacityEngine,
    LoadInput,
    LoadKind,
    LoadReason,
    LoadState,
    NodeReading,
    ReadingFault,
    SiteReading,
    StepInput,
)
from .scenario import KIND_SWITCH, ScenarioError, parse_scenario, parse_time, read_json
from .simulator import (
    HOUR_S,
    LoadMetrics,
    Prepared,
    RunMetrics,
    TreeFlows,
    _CarLoad,  # the simulator's plant, shared
    _Load,
    _SwitchLoad,
    load_config,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from ..engine import (
        Conductor,
        ConstraintStatus,
        ControlSettings,
        LoadConfig,
        LoadStatus,
        NodeConfig,
        PanelConfig,
        Status,
        StepResult,
    )

DAY_S = 86400.0
TICK_S = 5.0  # the coordinator's watchdog
FOLD_S = 0.5  # the coordinator's debouncer: state changes within this are one step
# A held load's reason must be true; one that is not may stay so this long (the engine
# acts at its next step with room, after its hold-off; commands take their response time).
GRACE_S = 300.0
LIMIT_TOLERANCE_W = 1e-6
HELD = frozenset({LoadState.SHED, LoadState.REDUCED, LoadState.HELD_OFF})
MAX_DETAILS = 100  # violations described in full; all are counted


class FaultKind(StrEnum):
    """What goes wrong."""

    DROPOUT = "dropout"  # a sensor unavailable
    STALE = "stale"  # a sensor silent: its value and time frozen
    NAN = "nan"  # a sensor giving NaN or infinity
    SPIKE = "spike"  # a sensor giving an absurd value
    UNIT = "unit"  # a sensor's unit changed under the coordinator: the value scaled wrongly
    ERROR = "error"  # an actuator's command fails
    TIMEOUT = "timeout"  # an actuator's command lands late
    IGNORED = "ignored"  # an actuator accepts a command and does not follow it
    FIGHT = "fight"  # a person turning a shed load back on, again and again


SENSOR_KINDS = (FaultKind.DROPOUT, FaultKind.STALE, FaultKind.NAN, FaultKind.SPIKE, FaultKind.UNIT)
ACTUATOR_KINDS = (FaultKind.ERROR, FaultKind.TIMEOUT, FaultKind.IGNORED)
# How long a fault lasts (s): drawn log-uniformly between these.
DURATIONS: dict[FaultKind, tuple[float, float]] = {
    FaultKind.DROPOUT: (5.0, 300.0),
    FaultKind.STALE: (10.0, 600.0),
    FaultKind.NAN: (5.0, 180.0),
    FaultKind.SPIKE: (1.0, 30.0),
    FaultKind.UNIT: (60.0, 1800.0),
    FaultKind.ERROR: (60.0, 1800.0),
    FaultKind.TIMEOUT: (300.0, 1800.0),
    FaultKind.IGNORED: (120.0, 1800.0),
    FaultKind.FIGHT: (3600.0, 4 * 3600.0),
}
SPIKES = (1e9, -1e9, 1e12, 3e7)
NOT_NUMBERS = (math.nan, math.inf, -math.inf)
LATE_S = (15.0, 90.0)  # a timed-out command lands this much later
REACTION_S = (20.0, 300.0)  # a person notices a shed load and turns it back on
QUICK_RESTART_S = (5.0, 30.0)
LONG_RESTART_SHARE = 0.5  # of restarts, those after minutes down
LONG_RESTART_S = (120.0, 600.0)
METER_PERIOD_S = (1.0, 6.0)

DEFAULT_RATES: dict[FaultKind, float] = {
    FaultKind.DROPOUT: 0.5,
    FaultKind.STALE: 0.5,
    FaultKind.NAN: 0.5,
    FaultKind.SPIKE: 0.5,
    FaultKind.UNIT: 0.25,
    FaultKind.ERROR: 0.25,
    FaultKind.TIMEOUT: 0.25,
    FaultKind.IGNORED: 0.25,
    FaultKind.FIGHT: 0.05,
}


# ------------------------------------------------------------------ the plan


@dataclass(frozen=True, slots=True, kw_only=True)
class SoakPlan:
    """A soak file: its scenario, the loads never shed, each load's longest off time, the fault rates."""

    name: str
    scenario: dict[str, Any]  # the scenario file's content, its window set by the soak
    base_dir: Path
    never_shed: tuple[str, ...] = ()
    max_off_s: Mapping[str, float] = field(default_factory=dict)
    default_max_off_s: float = 7200.0
    rates_per_h: Mapping[FaultKind, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    restarts_per_h: float = 0.1


def _positive(value: Any, where: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ScenarioError(f"{where}: expected a number of at least 0")
    return float(value)


def parse_plan(data: Any, base_dir: Path, name: str = "soak") -> SoakPlan:
    """Check a soak file (already read from JSON): ``scenario`` names a scenario file beside it."""
    if not isinstance(data, dict):
        raise ScenarioError("a soak file is a JSON object")
    known = {"name", "scenario", "never_shed", "max_off_s", "default_max_off_s", "faults_per_hour"}
    unknown = set(data) - known - {"restarts_per_hour"}
    if unknown:
        raise ScenarioError(f"soak: unknown key(s) {', '.join(sorted(unknown))}")
    source = data.get("scenario")
    if not isinstance(source, str):
        raise ScenarioError("scenario: expected the name of a scenario file")
    path = base_dir / source
    scenario = read_json(path)
    never = data.get("never_shed", [])
    if not isinstance(never, list) or not all(isinstance(item, str) for item in never):
        raise ScenarioError("never_shed: expected a list of load names")
    max_off = data.get("max_off_s", {})
    if not isinstance(max_off, dict):
        raise ScenarioError("max_off_s: expected an object of load names and seconds")
    rates = dict(DEFAULT_RATES)
    given = data.get("faults_per_hour", {})
    if not isinstance(given, dict):
        raise ScenarioError("faults_per_hour: expected an object of fault kinds and rates")
    for kind, rate in given.items():
        if kind not in FaultKind.__members__.values():
            raise ScenarioError(f"faults_per_hour: unknown fault kind {kind!r}")
        rates[FaultKind(kind)] = _positive(rate, f"faults_per_hour.{kind}")
    return SoakPlan(
        name=str(data.get("name", name)),
        scenario=scenario,
        base_dir=path.parent,
        never_shed=tuple(never),
        max_off_s={str(load): _positive(value, f"max_off_s.{load}") for load, value in max_off.items()},
        default_max_off_s=_positive(data.get("default_max_off_s", 7200.0), "default_max_off_s"),
        rates_per_h=rates,
        restarts_per_h=_positive(data.get("restarts_per_hour", 0.1), "restarts_per_hour"),
    )


def load_plan(path: Path) -> SoakPlan:
    """Read and check a soak file."""
    return parse_plan(read_json(path), path.parent, path.stem)


def prepare(plan: SoakPlan, *, days: float, start: str | None = None) -> Prepared:
    """The plan's scenario over ``days`` from ``start`` (default: its own start), read and prepared."""
    data = json.loads(json.dumps(plan.scenario))
    base = data.get("base_load")
    if not isinstance(base, dict) or not isinstance(base.get("start", start), str):
        raise ScenarioError("base_load.start: the soak needs a scenario with a start time")
    begin = parse_time(start if start is not None else base["start"], "start")
    base["start"] = _iso(begin)
    base["end"] = _iso(begin + days * DAY_S)
    names = {load.get("name") for load in data.get("loads", []) if isinstance(load, dict)}
    for name in plan.never_shed:
        if name not in names:
            raise ScenarioError(f"never_shed: no load named {name!r}")
    for load in data.get("loads", []):
        if isinstance(load, dict) and load.get("name") in plan.never_shed:
            load["never_shed"] = True
    scenario = parse_scenario(data, plan.base_dir, plan.name)
    if scenario.wiring is None:
        raise ScenarioError("the soak needs a scenario with a tree (nodes, or panel.metering)")
    return Prepared(scenario)


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).replace(tzinfo=None).isoformat()


# ---------------------------------------------------------------- violations


@dataclass(frozen=True, slots=True)
class Violation:
    """An invariant found broken."""

    time: float
    invariant: str
    detail: str


@dataclass(frozen=True, slots=True)
class _Placed:
    """Where a load draws: (node, conductor or None) and its share there."""

    key: tuple[str, Conductor | None]
    share: float


class Invariants:
    """The invariants, checked at every step from what the engine says and what the plant does.

    - ``limit_above_rating``: no limit of any node's total or conductor above
      rating x continuous factor (from the configuration, not the engine), none
      not a number; ``constraint_missing``: every one of them is in the status.
    - ``never_shed_touched``: no action on a load configured never shed.
    - ``off_past_max``: a load the plant wants power for and does not get it
      (off, or a charger turned down) for longer than its maximum off time must
      have a reason in the status that holds: held with a true reason (fail-safe
      while fail-safe; room short where it draws, from the status's own flows
      and limits; a more important load held; its minimum off time; the
      hold-off after an action), not responding, unavailable, or changed by
      hand. ``running`` or ``off by user`` (nobody turned it off) do not hold;
      a reason that does not hold may last ``GRACE_S``.
    - ``step_raised``, ``status_raised``: the loop never raises.
    """

    def __init__(
        self,
        panel: PanelConfig,
        settings: ControlSettings,
        loads: Sequence[LoadConfig],
        nodes: Sequence[NodeConfig],
        max_off_s: Mapping[str, float],
    ) -> None:
        """From the configuration the engine was given, and each load's longest allowed off time."""
        self.settings = settings
        self.loads = {cfg.load_id: cfg for cfg in loads}
        self.order = [cfg.load_id for cfg in loads]
        self.max_off_s = dict(max_off_s)
        volts = panel.conductor_voltage_v
        conductors: dict[str, tuple[Conductor, ...]] = {ROOT: panel.conductors}
        parents: dict[str, str | None] = {ROOT: None}
        self.bounds: dict[tuple[str, Conductor | None], float] = {}
        rated = [(ROOT, panel.rating_a, panel.continuous_factor)]
        for node in nodes:
            conductors[node.node_id] = node.conductors or conductors[node.parent_id]
            parents[node.node_id] = node.parent_id
            rated.append((node.node_id, node.rating_a, node.continuous_factor))
        for node_id, rating_a, factor in rated:
            per = rating_a * factor * volts
            on = conductors[node_id]
            self.bounds[node_id, None] = per * len(on)
            if len(on) > 1:
                self.bounds.update(((node_id, conductor), per) for conductor in on)
        self.placement: dict[str, tuple[_Placed, ...]] = {}
        for cfg in loads:
            on = cfg.conductors or conductors[cfg.node_id]
            placed: list[_Placed] = []
            at: str | None = cfg.node_id
            while at is not None:
                placed.append(_Placed((at, None), 1.0))
                placed.extend(_Placed((at, c), 1.0 / len(on)) for c in on if (at, c) in self.bounds)
                at = parents[at]
            self.placement[cfg.load_id] = tuple(placed)
        self.counts: Counter[str] = Counter()
        self.details: list[Violation] = []
        self.last_action_at: float | None = None
        self._unheld_since: dict[str, float] = {}  # a denied load past its maximum whose reason does not hold
        self._reported: set[str] = set()

    def violate(self, now: float, invariant: str, detail: str) -> None:
        """Record one violation."""
        self.counts[invariant] += 1
        if len(self.details) < MAX_DETAILS:
            self.details.append(Violation(now, invariant, detail))

    def raised(self, now: float, where: str, error: BaseException) -> None:
        """The step or the status raised: the loop would have stopped."""
        last = traceback.format_exception_only(error)[-1].strip()
        self.violate(now, f"{where}_raised", last)

    def actions(self, now: float, actions: Iterable[Action]) -> None:
        """No action on a never-shed load; the time of the last action (for the hold-off)."""
        for action in actions:
            cfg = self.loads.get(action.load_id)
            if cfg is not None and cfg.never_shed:
                self.violate(now, "never_shed_touched", f"{action.kind.value} {action.load_id}")
            if cfg is None or not cfg.export:
                self.last_action_at = now

    def status(self, now: float, status: Status, denied_since: Mapping[str, float | None]) -> None:
        """The limits in the status, and every load denied past its maximum off time."""
        self._limits(now, status)
        for load_id, since in denied_since.items():
            if since is None or now - since <= self.max_off_s.get(load_id, math.inf):
                self._unheld_since.pop(load_id, None)
                self._reported.discard(load_id)
                continue
            load = status.loads.get(load_id)
            why = "not in the status" if load is None else self._why_not(now, status, load)
            if why is None:
                self._unheld_since.pop(load_id, None)
                continue
            first = self._unheld_since.setdefault(load_id, now)
            if now - first > GRACE_S and load_id not in self._reported:
                self._reported.add(load_id)
                self.violate(
                    now,
                    "off_past_max",
                    f"{load_id} denied power for {now - since:.0f} s (maximum "
                    f"{self.max_off_s[load_id]:.0f} s); for {now - first:.0f} s {why}",
                )

    def _limits(self, now: float, status: Status) -> None:
        for key, bound in self.bounds.items():
            node_id, conductor = key
            node = status.nodes.get(node_id)
            constraint = None
            if node is not None:
                constraint = node.total if conductor is None else node.conductors.get(conductor)
            if constraint is None:
                self.violate(now, "constraint_missing", f"{_name(key)} not in the status")
                continue
            limit = constraint.limit.effective_w
            if not math.isfinite(limit) or limit > bound + LIMIT_TOLERANCE_W:
                self.violate(now, "limit_above_rating", f"{_name(key)}: limit {limit} W above {bound:.1f} W")

    def _why_not(self, now: float, status: Status, load: LoadStatus) -> str | None:
        """Why the status's reason for a denied load does not hold; None when it does."""
        state, reason = load.state, load.reason
        if state in {LoadState.NOT_RESPONDING, LoadState.UNAVAILABLE, LoadState.MANUAL}:
            return None
        if state not in HELD:
            return f"shown {state.value} ({reason.value}), not held"
        holds = {
            LoadReason.FAIL_SAFE: lambda: status.fail_safe,
            LoadReason.OVER_LIMIT: lambda: status.over_limit,
            LoadReason.MIN_OFF_TIME: lambda: self.loads[load.load_id].min_off_s > 0,
            LoadReason.RESTORE_HOLDOFF: lambda: (
                self.last_action_at is not None
                and now - self.last_action_at < self.settings.restore_holdoff_s
            ),
            LoadReason.HIGHER_PRIORITY_FIRST: lambda: self._more_important_held(status, load.load_id),
            LoadReason.WAITING_FOR_HEADROOM: lambda: self._short_of_room(status, load),
        }
        check = holds.get(reason)
        if check is not None and check():
            return None
        return f"held ({reason.value}) though that does not hold"

    def _more_important_held(self, status: Status, load_id: str) -> bool:
        for other in self.order[: self.order.index(load_id)]:
            seen = status.loads.get(other)
            if seen is not None and seen.state in HELD:
                return True
        return False

    def _short_of_room(self, status: Status, load: LoadStatus) -> bool:
        """Some constraint the load draws on lacks the room it needs to come back (as the engine restores)."""
        settings = self.settings
        if settings.reserve_idle:
            return True  # room kept for idle appliances is not in the status
        cfg = self.loads[load.load_id]
        raising = cfg.kind is LoadKind.MODULATED and load.level_w is not None and load.level_w > 0
        if cfg.kind is LoadKind.SWITCH:
            need = load.expected_w
        elif raising:
            need = cfg.min_raise_w
        else:
            need = max(cfg.min_w, cfg.min_raise_w)
        for placed in self.placement[load.load_id]:
            constraint = _constraint(status, placed.key)
            flow = None if constraint is None else constraint.projected_w
            if constraint is None or flow is None:
                continue
            target = max(0.0, constraint.limit.effective_w - settings.margin_w)
            threshold = max(0.0, target - settings.hysteresis_w)
            if flow >= threshold:
                return True
            fill = target if raising else threshold
            if (fill - flow) / placed.share < need:
                return True
        return False


def _constraint(status: Status, key: tuple[str, Conductor | None]) -> ConstraintStatus | None:
    node = status.nodes.get(key[0])
    if node is None:
        return None
    return node.total if key[1] is None else node.conductors.get(key[1])


def _name(key: tuple[str, Conductor | None]) -> str:
    return key[0] if key[1] is None else f"{key[0]}.{key[1].value}"


# -------------------------------------------------------------------- faults


@dataclass(slots=True)
class Fault:
    """One fault, its window and what came of it."""

    kind: FaultKind
    start: float
    end: float
    target: str  # a sensor's or a load's name; a fight picks a held load when it first bites
    value: float = 0.0  # NaN or a spike: what the sensor gives; a unit change: the factor
    late_s: float = 0.0  # a timeout: how late its commands land
    injected: int = 0  # readings or commands it changed
    effect: bool = False  # the engine showed it (a sensor fault in the status, a retry, ...)

    def active(self, now: float) -> bool:
        """In force at ``now``."""
        return self.start <= now < self.end


@dataclass(slots=True)
class _Sensor:
    """A meter the coordinator reads: a constraint's (by its flow index) or a load's own."""

    name: str
    key: tuple[str, Conductor | None] | None  # None: a load's own meter
    index: int | None
    load: _Load | None
    value: float | None = None  # what it shows; None: unavailable
    reported: float | None = None
    fault: Fault | None = None

    def truth(self, flows: list[float]) -> float:
        """What it should read."""
        if self.index is not None:
            return flows[self.index]
        return self.load.draw_w if self.load is not None else 0.0


def _span(rng: random.Random, low: float, high: float) -> float:
    """Log-uniform between ``low`` and ``high``."""
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def schedule(
    rng: random.Random,
    plan: SoakPlan,
    end: float,
    sensors: Sequence[_Sensor],
    volts: float,
) -> list[Fault]:
    """A seeded fault schedule: for each kind a Poisson process; one fault at a time on a sensor.

    An actuator's fault is bound to the first load commanded in its window
    (one without a fault of its own); a fight to the first load held.
    """
    faults: list[Fault] = []
    busy: dict[str, list[tuple[float, float]]] = {}
    constraint_sensors = [sensor.name for sensor in sensors if sensor.key is not None]
    all_sensors = [sensor.name for sensor in sensors]
    for kind in FaultKind:
        rate = plan.rates_per_h.get(kind, 0.0) / HOUR_S
        if rate <= 0:
            continue
        if kind is FaultKind.SPIKE:
            targets = all_sensors
        elif kind in SENSOR_KINDS:
            targets = constraint_sensors
        else:
            targets = [""]  # bound to the first load it bites (see Soak)
        moment = rng.expovariate(rate)
        while moment < end and targets:
            target = rng.choice(targets)
            low, high = DURATIONS[kind]
            fault = Fault(kind, moment, min(end, moment + _span(rng, low, high)), target)
            if kind is FaultKind.SPIKE:
                fault.value = rng.choice(SPIKES)
            elif kind is FaultKind.NAN:
                fault.value = rng.choice(NOT_NUMBERS)
            elif kind is FaultKind.UNIT:
                fault.value = rng.choice((0.001, 1.0 / volts, 1000.0))
            elif kind is FaultKind.TIMEOUT:
                fault.late_s = rng.uniform(*LATE_S)
            group = "sensor" if kind in SENSOR_KINDS else kind.value  # one person, one fault a kind
            windows = busy.setdefault(f"{group}:{target}", [])
            if all(fault.end <= start or fault.start >= stop for start, stop in windows):
                windows.append((fault.start, fault.end))
                faults.append(fault)
            moment += rng.expovariate(rate)
    faults.sort(key=lambda fault: (fault.start, fault.kind.value, fault.target))
    return faults


# ----------------------------------------------------------------------- run


type EngineFactory = Callable[[dict[str, Any] | None], CapacityEngine]

# Event kinds, in the order they are taken at one instant.
_FAULT_START, _FAULT_END, _SHOWN, _EFFECT, _METER, _TICK, _STEP, _PERSON, _RESTART, _RESTARTED = range(10)


@dataclass(slots=True)
class _LoadRecord:
    """What the soak keeps of one load."""

    actions: int = 0
    denied_since: float | None = None  # wanted power and did not get (all of) it, since
    longest_denied_s: float = 0.0
    queue_at: float = 0.0  # its actuator takes commands in order: the last one lands then
    manual: bool = False  # a person changed it since the last step
    failed_at: float | None = None  # a command of it failed (an error fault)
    late: int = 0  # commands of it still to land (a timeout)


@dataclass(slots=True)
class _Restart:
    at: float
    gap_s: float
    held: frozenset[str] = frozenset()
    kept: bool | None = None


class Soak:
    """One soak run: the plant, the coordinator's part and the engine, step by step."""

    def __init__(
        self,
        plan: SoakPlan,
        prepared: Prepared,
        *,
        seed: int,
        engine_factory: EngineFactory | None = None,
    ) -> None:
        """Lay out the plant, the meters and the fault schedule."""
        scenario = prepared.scenario
        wiring = scenario.wiring
        assert wiring is not None  # noqa: S101 - prepare() requires a tree
        self.plan, self.prepared, self.scenario = plan, prepared, scenario
        self.rng = random.Random(seed)  # noqa: S311 - a simulation, not a secret
        self.seed = seed
        self.configs = [load_config(spec) for spec in scenario.loads]
        self.nodes = [node.config() for node in wiring.nodes]
        self.terms = (
            {TERM_USER_CAP: scenario.limit_w} if scenario.limit_w < scenario.panel.continuous_limit_w else {}
        )
        self.factory = engine_factory or self._engine
        self.metrics = RunMetrics(limit_w=scenario.limit_w, rating_w=scenario.panel.rating_w)
        self.loads: list[_Load] = []
        for spec in scenario.loads:
            delay = scenario.actuator_delay_s if spec.actuator_delay_s is None else spec.actuator_delay_s
            metrics = self.metrics.loads.setdefault(spec.name, LoadMetrics())
            if spec.kind == KIND_SWITCH:
                self.loads.append(_SwitchLoad(spec, delay, metrics, None))
            else:
                self.loads.append(_CarLoad(spec, delay, metrics, None, prepared.origin))
        self.by_name = {load.spec.name: load for load in self.loads}
        self.records = {load.spec.name: _LoadRecord() for load in self.loads}
        self.tree = TreeFlows(prepared, self.metrics, self.loads)
        self.sensors = self._sensors()
        volts = scenario.panel.conductor_voltage_v
        self.faults = schedule(self.rng, plan, prepared.end, self.sensors, volts)
        max_off = {name: plan.max_off_s.get(name, plan.default_max_off_s) for name in self.by_name}
        self.invariants = Invariants(scenario.panel, scenario.settings, self.configs, self.nodes, max_off)
        self.engine: CapacityEngine | None = None
        self.status: Status | None = None
        self.actuator_faults: dict[str, Fault] = {}  # by the load it is bound to
        self.unbound: list[Fault] = []  # actuator faults in force, not bound to a load yet
        self.fights: list[Fault] = []
        self.person_due: str | None = None
        self.restarts: list[_Restart] = []
        self.events: list[tuple[float, int, int, Any]] = []
        self.sequence = 0
        self.cooldown_until = -math.inf
        self.step_queued = False
        self.tick_generation = 0
        self.steps = 0
        self.active = 0  # faults (and restarts) in force
        self.over_in_faults = [0.0] * len(self.tree.flows)

    def _engine(self, memory: dict[str, Any] | None) -> CapacityEngine:
        scenario = self.scenario
        return CapacityEngine(
            scenario.panel, scenario.settings, self.configs, nodes=self.nodes, memory=memory
        )

    def _sensors(self) -> list[_Sensor]:
        layout = self.prepared.layout
        assert layout is not None  # noqa: S101
        sensors = [_Sensor(ROOT, (ROOT, None), layout.index[ROOT, None], None)]
        sensors.extend(
            _Sensor(f"{ROOT}.{conductor.value}", (ROOT, conductor), index, None)
            for conductor, index in self.tree.root_legs
        )
        for node_id, total, legs in self.tree.meters:
            if total is not None:
                sensors.append(_Sensor(node_id, (node_id, None), total, None))
            sensors.extend(
                _Sensor(f"{node_id}.{conductor.value}", (node_id, conductor), index, None)
                for conductor, index in legs
            )
        sensors.extend(_Sensor(load.spec.name, None, None, load) for load in self.loads if load.spec.metered)
        return sensors

    # ------------------------------------------------------------ events

    def _push(self, moment: float, kind: int, payload: Any = None) -> None:
        self.sequence += 1
        heapq.heappush(self.events, (moment, kind, self.sequence, payload))

    def run(self) -> dict[str, Any]:
        """Run the soak to the end of the recording; the report."""
        started = time.perf_counter()
        prepared = self.prepared
        end = prepared.end
        for fault in self.faults:
            self._push(fault.start, _FAULT_START, fault)
        moment = self.rng.expovariate(self.plan.restarts_per_h / HOUR_S) if self.plan.restarts_per_h else end
        while moment < end:
            long_gap = self.rng.random() < LONG_RESTART_SHARE
            gap = self.rng.uniform(*(LONG_RESTART_S if long_gap else QUICK_RESTART_S))
            self._push(moment, _RESTART, gap)
            moment += gap + self.rng.expovariate(self.plan.restarts_per_h / HOUR_S)
        for load in self.loads:
            load.command = load.effective = 1.0 if load.kind is LoadKind.SWITCH else load.spec.max_w
            if isinstance(load, _CarLoad):
                load.start(0.0, end)
        self.engine = self.factory(None)
        self._push(0.0, _METER)
        self._push(TICK_S, _TICK, self.tick_generation)
        self._loop(end)
        for load in self.loads:
            load.finish(end)
        return self._report(time.perf_counter() - started)

    def _loop(self, end: float) -> None:
        prepared, tree = self.prepared, self.tree
        times, durations = prepared.times, prepared.durations
        demand_rows = [
            (load, prepared.demand[load.spec.name])
            for load in self.loads
            if isinstance(load, _SwitchLoad) and load.spec.name in prepared.demand
        ]
        row, rows = -1, len(times)
        next_row_at = 0.0
        now = 0.0
        next_load = min(load.next_event for load in self.loads)
        while True:
            upcoming = min(next_row_at, next_load, self.events[0][0] if self.events else math.inf, end)
            upcoming = max(upcoming, now)
            if upcoming > now:
                self._account(upcoming - now)
            now = upcoming
            if now >= end:
                break
            if now >= next_row_at and row + 1 < rows:
                row += 1
                next_row_at = times[row + 1] if row + 1 < rows else math.inf
                for switched, column in demand_rows:
                    if column[row] > 0:
                        switched.demand(now, column[row] * durations[row] / HOUR_S)
                tree.row(row)
            elif next_load <= now:
                for load in self.loads:
                    if load.next_event <= now:
                        before = load.draw_w
                        load.on_event(now)
                        tree.change(load, load.draw_w - before)
            else:
                moment, kind, _, payload = heapq.heappop(self.events)
                self._event(moment, kind, payload)
            next_load = min(load.next_event for load in self.loads)

    def _account(self, seconds: float) -> None:
        tree = self.tree
        tree.add(seconds)
        if self.active:
            for index, (flow, figures) in enumerate(zip(tree.flows, tree.figures, strict=True)):
                if flow > figures.limit_w:
                    self.over_in_faults[index] += seconds

    def _event(self, now: float, kind: int, payload: Any) -> None:
        if kind == _FAULT_START:
            self._fault_start(now, payload)
        elif kind == _FAULT_END:
            self._fault_end(payload)
        elif kind == _SHOWN:
            load, value = payload
            load.command = value
            self.records[load.spec.name].late -= 1
            self._want_step(now)
        elif kind == _EFFECT:
            load, value = payload
            before = load.draw_w
            load.set_effective(now, value)
            self.tree.change(load, load.draw_w - before)
        elif kind == _METER:
            self._meter(now)
            self._push(now + self.rng.uniform(*METER_PERIOD_S), _METER)
            self._want_step(now)
        elif kind == _TICK:
            if payload == self.tick_generation:
                self._push(now + TICK_S, _TICK, payload)
                self._want_step(now)
        elif kind == _STEP:
            self.step_queued = False
            self._step(now)
        elif kind == _PERSON:
            self._person(now, payload)
        elif kind == _RESTART:
            self._restart(now, payload)
        elif kind == _RESTARTED:
            self._restarted(now, payload)

    def _want_step(self, now: float) -> None:
        """The coordinator's debouncer: a step at once, or once at the end of the cooldown."""
        if self.engine is None:
            return
        if now >= self.cooldown_until:
            self._step(now)
        elif not self.step_queued:
            self.step_queued = True
            self._push(self.cooldown_until, _STEP)

    # ------------------------------------------------------------ faults

    def _fault_start(self, now: float, fault: Fault) -> None:
        self.active += 1
        self._push(fault.end, _FAULT_END, fault)
        if fault.kind in SENSOR_KINDS:
            sensor = next(sensor for sensor in self.sensors if sensor.name == fault.target)
            sensor.fault = fault
        elif fault.kind is FaultKind.FIGHT:
            self.fights.append(fault)
        else:
            self.unbound.append(fault)

    def _fault_end(self, fault: Fault) -> None:
        self.active -= 1
        if fault.kind in SENSOR_KINDS:
            for sensor in self.sensors:
                if sensor.fault is fault:
                    sensor.fault = None
        elif fault.kind is FaultKind.FIGHT:
            self.fights.remove(fault)
        elif self.actuator_faults.get(fault.target) is fault:
            del self.actuator_faults[fault.target]
        elif fault in self.unbound:
            self.unbound.remove(fault)

    def _meter(self, now: float) -> None:
        """Every meter reports what it shows."""
        flows = self.tree.flows
        for sensor in self.sensors:
            fault = sensor.fault
            if fault is None:
                sensor.value, sensor.reported = sensor.truth(flows), now
                continue
            fault.injected += 1
            kind = fault.kind
            if kind is FaultKind.STALE:
                continue
            sensor.reported = now
            if kind is FaultKind.DROPOUT:
                sensor.value = None
            elif kind is FaultKind.UNIT:
                sensor.value = sensor.truth(flows) * fault.value
            else:
                sensor.value = fault.value

    # ------------------------------------------------------- what the coordinator reads

    def _measure(self, sensor: _Sensor, now: float) -> tuple[float | None, ReadingFault | None]:
        if sensor.value is None:
            return None, ReadingFault.NO_NUMBER if sensor.reported is not None else None
        reported = sensor.reported if sensor.reported is not None else now
        if now - reported > self.scenario.settings.staleness_s:
            return sensor.value, ReadingFault.STALE
        return sensor.value, None

    def _readings(self, now: float) -> tuple[SiteReading, dict[str, NodeReading]]:
        """The service's reading and every node's, as the coordinator builds them."""
        site: SiteReading | None = None
        parts: dict[
            str, tuple[float | None, dict[Conductor, float], dict[Conductor | None, ReadingFault]]
        ] = {}
        for sensor in self.sensors:
            if sensor.key is None:
                continue
            node_id, conductor = sensor.key
            value, fault = self._measure(sensor, now)
            total, per, faults = parts.setdefault(node_id, (None, {}, {}))
            if fault is not None:
                faults[conductor] = fault
            if conductor is None:
                fresh = value if node_id == ROOT or fault is not ReadingFault.STALE else None
                parts[node_id] = (fresh, per, faults)
            elif value is not None and fault is not ReadingFault.STALE:
                per[conductor] = value
        nodes: dict[str, NodeReading] = {}
        for node_id, (total, per, faults) in parts.items():
            if node_id == ROOT:
                root = self.sensors[0]
                when = root.reported if total is not None else None
                site = SiteReading(total, when, per or None, faults or None)
            elif total is not None or per or faults:
                nodes[node_id] = NodeReading(total, per or None, faults or None)
        return site or SiteReading(None), nodes

    def _inputs(self) -> dict[str, LoadInput]:
        meters = {sensor.name: sensor.value for sensor in self.sensors if sensor.key is None}
        inputs = {}
        for load in self.loads:
            name = load.spec.name
            command = load.command
            level = command if load.kind is LoadKind.MODULATED else None
            measured = meters.get(name)
            inputs[name] = LoadInput(
                is_on=command > 0, level_w=level, measured_w=measured, manual=self.records[name].manual
            )
        return inputs

    # -------------------------------------------------------------- a step

    def _step(self, now: float) -> None:
        engine = self.engine
        if engine is None:
            return
        self.cooldown_until = now + FOLD_S
        self.steps += 1
        site, nodes = self._readings(now)
        inp = StepInput(
            now=now,
            site=site,
            nodes=nodes,
            loads=self._inputs(),
            limit_terms=self.terms,
            day=int((self.prepared.origin + now) // DAY_S),
        )
        for record in self.records.values():
            record.manual = False
        invariants = self.invariants
        result: StepResult | None = None
        try:
            result = engine.step(inp)
        except Exception as err:  # noqa: BLE001 - the loop must not stop: it is recorded
            invariants.raised(now, "step", err)
        if result is not None:
            invariants.actions(now, result.actions)
            for action in result.actions:
                self._carry_out(now, action)
            self._note_given_up(result)
        try:
            status = engine.status()
        except Exception as err:  # noqa: BLE001
            invariants.raised(now, "status", err)
            return
        self.status = status
        denied = self._denied(now)
        invariants.status(now, status, denied)
        self._effects(now, status, result)
        self._fight(now, status)
        self._check_restart(status)

    def _denied(self, now: float) -> dict[str, float | None]:
        denied: dict[str, float | None] = {}
        for load in self.loads:
            record = self.records[load.spec.name]
            if not load.wants_power():
                wanting = False
            elif isinstance(load, _CarLoad):
                wanting = load.effective < min(load.spec.max_w, load.car_max_w) - 1e-6
            else:
                wanting = load.effective <= 0
            if not wanting:
                record.denied_since = None
            elif record.denied_since is None:
                record.denied_since = now
            else:
                record.longest_denied_s = max(record.longest_denied_s, now - record.denied_since)
            denied[load.spec.name] = record.denied_since
        return denied

    def _carry_out(self, now: float, action: Action) -> None:
        """An action through the actuator, as its fault (if any) lets it."""
        load = self.by_name.get(action.load_id)
        if load is None:
            return
        record = self.records[action.load_id]
        record.actions += 1
        self.metrics.actions_total += 1
        load.metrics.actions += 1
        if record.failed_at is not None and now - record.failed_at < HOUR_S:
            fault = self.actuator_faults.get(action.load_id)
            if fault is not None and fault.kind is FaultKind.ERROR:
                fault.effect = True  # decided again after its failure
        if action.kind is ActionKind.TURN_OFF:
            value = 0.0
        elif action.kind is ActionKind.TURN_ON:
            value = 1.0 if load.kind is LoadKind.SWITCH else load.spec.max_w
        else:
            value = float(action.level_w or 0.0)
        fault = self.actuator_faults.get(action.load_id)
        if fault is None and self.unbound:
            fault = self.unbound.pop(0)
            fault.target = action.load_id
            self.actuator_faults[action.load_id] = fault
        late = 0.0
        if fault is not None:
            fault.injected += 1
            if fault.kind is FaultKind.ERROR:
                record.failed_at = now
                assert self.engine is not None  # noqa: S101 - in a step
                self.engine.action_failed(action)
                return
            if fault.kind is FaultKind.IGNORED:
                return
            late = fault.late_s
        self._command(now, load, value, late)

    def _command(self, now: float, load: _Load, value: float, late: float = 0.0) -> None:
        """The actuator shows ``value`` (now, or late, after the commands before it) and its load follows."""
        record = self.records[load.spec.name]
        shown_at = max(now + late, record.queue_at)
        record.queue_at = shown_at
        if shown_at > now:
            record.late += 1
            self._push(shown_at, _SHOWN, (load, value))
        else:
            load.command = value
            self._want_step(now)
        self._push(shown_at + load.delay_s, _EFFECT, (load, value))

    def _note_given_up(self, result: StepResult) -> None:
        for given_up in result.not_responding:
            fault = self.actuator_faults.get(given_up.load_id)
            if fault is not None and fault.kind is FaultKind.IGNORED:
                fault.effect = True

    def _effects(self, now: float, status: Status, result: StepResult | None) -> None:
        """Whether the engine shows the faults in force."""
        faults = status.faults
        expected = {
            FaultKind.DROPOUT: ReadingFault.NO_NUMBER,
            FaultKind.NAN: ReadingFault.NO_NUMBER,
            FaultKind.SPIKE: ReadingFault.IMPLAUSIBLE,
            FaultKind.STALE: ReadingFault.STALE,
        }
        for sensor in self.sensors:
            fault = sensor.fault
            if fault is None or fault.effect or not fault.injected:
                continue
            if sensor.key is None:
                fault.effect = status.load_faults.get(sensor.name) is ReadingFault.IMPLAUSIBLE
            elif fault.kind is FaultKind.UNIT:
                constraint = _constraint(status, sensor.key)
                shown = None if constraint is None else constraint.flow_w
                wrong = sensor.value
                fault.effect = faults.get(sensor.key) is ReadingFault.IMPLAUSIBLE or (
                    shown is not None
                    and wrong is not None
                    and shown == wrong
                    and abs(wrong - wrong / fault.value) > 1.0
                )
            else:
                fault.effect = faults.get(sensor.key) is expected[fault.kind]
        for load_id, fault in self.actuator_faults.items():
            seen = status.loads.get(load_id)
            if fault.kind is FaultKind.IGNORED and seen is not None:
                fault.effect |= seen.state is LoadState.NOT_RESPONDING
            if fault.kind is FaultKind.TIMEOUT and result is not None and self.records[load_id].late:
                fault.effect |= any(
                    action.load_id == load_id and action.reason is ActionReason.RETRY
                    for action in result.actions
                )

    # ------------------------------------------------------------ the person

    def _fight(self, now: float, status: Status) -> None:
        """A person in a fight notices a held load and will turn it back on; the engine shows it manual."""
        for fault in self.fights:
            seen = status.loads.get(fault.target) if fault.injected else None
            fault.effect |= seen is not None and seen.state is LoadState.MANUAL
        if not self.fights or self.person_due is not None:
            return
        fault = self.fights[0]
        held = sorted(
            load_id
            for load_id, seen in status.loads.items()
            if seen.state in HELD and not self.by_name[load_id].spec.never_shed
        )
        if not held or (fault.target and fault.target not in held):
            return
        fault.target = fault.target or self.rng.choice(held)
        self.person_due = fault.target
        self._push(now + self.rng.uniform(*REACTION_S), _PERSON, fault)

    def _person(self, now: float, fault: Fault) -> None:
        target = self.person_due
        self.person_due = None
        status = self.status
        if target is None or self.engine is None or status is None or not fault.active(now):
            return
        seen = status.loads.get(target)
        if seen is None or seen.state not in HELD:
            return  # given back meanwhile: the coordinator would not call it manual
        load = self.by_name[target]
        fault.injected += 1
        self.records[target].manual = True
        self._command(now, load, 1.0 if load.kind is LoadKind.SWITCH else load.spec.max_w)

    # ----------------------------------------------------------- restarts

    def _restart(self, now: float, gap: float) -> None:
        engine = self.engine
        if engine is None:
            return
        status = self.status
        held = frozenset(
            load_id for load_id, seen in (status.loads.items() if status else ()) if seen.state in HELD
        )
        restart = _Restart(now, gap, held)
        self.restarts.append(restart)
        memory = json.loads(json.dumps(engine.export_memory()))  # as the store keeps it
        self.engine = None
        self.person_due = None
        self.active += 1
        self._push(now + gap, _RESTARTED, memory)

    def _restarted(self, now: float, memory: dict[str, Any]) -> None:
        self.active -= 1
        self.tick_generation += 1
        self.cooldown_until = -math.inf
        self.step_queued = False
        try:
            self.engine = self.factory(memory)
        except Exception as err:  # noqa: BLE001 - recorded; a fresh engine carries on
            self.invariants.raised(now, "restart", err)
            self.engine = self.factory(None)
        self._push(now + TICK_S, _TICK, self.tick_generation)
        self._want_step(now)

    def _check_restart(self, status: Status) -> None:
        """After a restart: the loads held before are held still (or were given back by something else)."""
        if not self.restarts or self.restarts[-1].kept is not None:
            return
        restart = self.restarts[-1]
        kept = True
        for load_id in restart.held:
            seen = status.loads.get(load_id)
            running = self.by_name[load_id].command > 0
            if seen is not None and seen.state not in HELD and not running:
                kept = False
        restart.kept = kept

    # ------------------------------------------------------------- report

    def _report(self, wall_s: float) -> dict[str, Any]:
        prepared = self.prepared
        days = prepared.days
        layout = prepared.layout
        assert layout is not None  # noqa: S101
        constraints: dict[str, dict[str, Any]] = {}
        for index, figures in enumerate(self.tree.figures):
            node_id, part = layout.name(index)
            constraints.setdefault(node_id, {})[part] = {
                "limit_w": round(figures.limit_w, 1),
                "max_w": round(figures.max_w, 1),
                **figures.over_limit(),
                "seconds_over_limit_during_faults": round(self.over_in_faults[index], 3),
            }
        loads = {}
        for name, record in self.records.items():
            metrics = self.metrics.loads[name]
            loads[name] = {
                "actions": record.actions,
                "longest_off_s": round(metrics.max_off_s, 1),
                "longest_denied_s": round(record.longest_denied_s, 1),
                "requested_kwh": round(metrics.requested_wh / 1000, 3),
                "delivered_kwh": round(metrics.delivered_wh / 1000, 3),
                "never_shed": self.by_name[name].spec.never_shed,
            }
        faults: dict[str, dict[str, int]] = {}
        for kind in FaultKind:
            mine = [fault for fault in self.faults if fault.kind is kind]
            faults[kind.value] = {
                "scheduled": len(mine),
                "injected": sum(1 for fault in mine if fault.injected),
                "with_effect": sum(1 for fault in mine if fault.effect),
                "readings_or_commands": sum(fault.injected for fault in mine),
            }
        invariants = self.invariants
        return {
            "soak": self.plan.name,
            "scenario": self.scenario.name,
            "seed": self.seed,
            "start": _iso(prepared.origin),
            "days": round(days, 3),
            "steps": self.steps,
            "wall_s": round(wall_s, 2),
            "constraints": constraints,
            "loads": loads,
            "faults": faults,
            "restarts": {
                "count": len(self.restarts),
                "after_a_gap": sum(1 for restart in self.restarts if restart.gap_s >= LONG_RESTART_S[0]),
                "down_s": round(sum(restart.gap_s for restart in self.restarts), 1),
                "holds_kept": sum(1 for restart in self.restarts if restart.kept is not False),
            },
            "violations": {
                "count": sum(invariants.counts.values()),
                "by_invariant": dict(sorted(invariants.counts.items())),
                "first": [
                    {"time_s": round(v.time, 1), "invariant": v.invariant, "detail": v.detail}
                    for v in invariants.details
                ],
            },
        }


def run_soak(
    plan: SoakPlan,
    *,
    days: float = 7.0,
    seed: int = 1,
    start: str | None = None,
    engine_factory: EngineFactory | None = None,
) -> dict[str, Any]:
    """Soak the plan's scenario for ``days`` with faults drawn from ``seed``; the report."""
    prepared = prepare(plan, days=days, start=start)
    return Soak(plan, prepared, seed=seed, engine_factory=engine_factory).run()
