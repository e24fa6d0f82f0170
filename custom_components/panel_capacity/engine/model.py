"""Types that cross the engine's boundary at each step: readings in, actions and status out.

Plain Python, no Home Assistant imports. Power is in watts, time in seconds
(the caller's clock: epoch seconds in Home Assistant, simulated seconds in the
simulator). Power is positive when importing, negative when exporting; a
conductor's power is its current times its voltage to neutral.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from .config import ROOT, Conductor

if TYPE_CHECKING:
    from collections.abc import Mapping


class ActionKind(StrEnum):
    """What the engine asks the actuator of a load to do."""

    TURN_OFF = "turn_off"
    TURN_ON = "turn_on"
    SET_LEVEL = "set_level"


class ActionReason(StrEnum):
    """Why an action was taken."""

    OVER_LIMIT = "over_limit"  # site power above the limit (or export beyond its limit): shed
    FAIL_SAFE = "fail_safe"  # no fresh site reading: go to the safe state
    HEADROOM = "headroom"  # room under the limit (or the export limit) again: restore
    RETRY = "retry"  # the actuator did not follow an earlier command
    RELEASED = "released"  # management stopped: give the load back


class ControllerState(StrEnum):
    """What the controller as a whole is doing."""

    NORMAL = "normal"
    SHEDDING = "shedding"
    RESTORING = "restoring"
    FAIL_SAFE = "fail_safe"
    MONITORING = "monitoring"


class LoadState(StrEnum):
    """What a load is doing, from the controller's point of view."""

    ON = "on"
    OFF = "off"  # off, but not because of us
    REDUCED = "reduced"  # a modulated load turned down by us
    SHED = "shed"  # turned off by us, waiting for headroom
    HELD_OFF = "held_off"  # turned off or down by us, waiting for a timer
    MANUAL = "manual"  # changed by hand: left alone for a while
    NEVER_SHED = "never_shed"
    UNAVAILABLE = "unavailable"
    NOT_RESPONDING = "not_responding"  # ignored repeated commands: left alone for a while


class LoadReason(StrEnum):
    """The reason shown next to a load's state."""

    RUNNING = "running"
    OFF_BY_USER = "off_by_user"
    OVER_LIMIT = "over_limit"
    FAIL_SAFE = "fail_safe"
    WAITING_FOR_HEADROOM = "waiting_for_headroom"
    MIN_OFF_TIME = "min_off_time"
    RESTORE_HOLDOFF = "restore_holdoff"
    HIGHER_PRIORITY_FIRST = "higher_priority_first"
    MANUAL_OVERRIDE = "manual_override"
    CONFIGURED = "configured"
    ACTUATOR_UNAVAILABLE = "actuator_unavailable"
    NOT_RESPONDING = "not_responding"  # ignored repeated commands
    MONITORING = "monitoring"


class Alert(StrEnum):
    """Conditions worth an event when they begin or end."""

    INSUFFICIENT = "insufficient"  # shedding everything allowed cannot reach the limit
    FAIL_SAFE = "fail_safe"  # site readings missing or stale
    RECOVERED = "recovered"  # fresh site readings are back
    NOT_RESPONDING = "not_responding"  # a load ignored repeated commands (StepResult.not_responding)


class ReadingFault(StrEnum):
    """Why a sensor that is there gave no flow the engine could use: a sensor problem."""

    NO_NUMBER = "no_number"  # unavailable, unknown, not a number, or not power or current
    STALE = "stale"  # it has not reported for longer than the staleness time
    IMPLAUSIBLE = "implausible"  # far beyond what its conductors could carry (see engine.screen)


# What a reading's sensors were at fault with: by conductor, None for the total.
type Faults = Mapping[Conductor | None, ReadingFault]


@dataclass(frozen=True, slots=True)
class SiteReading:
    """Power at the service (the root). ``power_w`` None means no total measured.

    ``conductors_w`` holds the conductors measured on their own (a leg's or a
    phase's current times its voltage to neutral); a conductor that is not in
    it is not measured now. Without a total, the sum of every conductor is the
    total. ``faults`` says which of its sensors are there but gave nothing
    usable (the caller left their values out); the engine adds the readings it
    refuses as implausible.
    """

    power_w: float | None
    time: float | None = None  # when the reading was last reported
    conductors_w: Mapping[Conductor, float] | None = None
    faults: Faults | None = None


@dataclass(frozen=True, slots=True)
class NodeReading:
    """What a subpanel's or circuit's own sensors read now; nothing read: estimated from its loads.

    ``faults`` as for SiteReading: a node whose sensor has a problem is
    estimated as one without, and its status says why.
    """

    power_w: float | None = None
    conductors_w: Mapping[Conductor, float] | None = None
    faults: Faults | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadInput:
    """What is known of one load at a step."""

    available: bool = True  # the actuator exists and answers
    is_on: bool | None = None  # None: unknown
    level_w: float | None = None  # modulated: current setpoint in W
    measured_w: float | None = None  # from the load's own power sensor
    manual: bool = False  # changed by hand (not by us) since the last step


@dataclass(frozen=True, slots=True, kw_only=True)
class StepInput:
    """Everything the engine sees at one step."""

    now: float
    site: SiteReading
    loads: Mapping[str, LoadInput]
    limit_terms: Mapping[str, float] = field(default_factory=dict)
    # Named caps on export in W (>= 0), e.g. an operating envelope. Empty: no export limit.
    export_terms: Mapping[str, float] = field(default_factory=dict)
    enabled: bool = True
    day: int | None = None  # calendar day, for the daily counters
    # Readings of the nodes below the root, by node id (none: estimated).
    nodes: Mapping[str, NodeReading] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """A command for one load's actuator."""

    load_id: str
    kind: ActionKind
    reason: ActionReason
    level_w: float | None = None  # for SET_LEVEL
    delta_w: float = 0.0  # expected change of site power (negative when shedding)
    site_w: float | None = None  # the flow the decision was based on (site power at the root)
    limit_w: float = 0.0  # the limit it answers to
    # Where the flow and the limit are: a node, and one of its conductors (None: its total).
    node_id: str = ROOT
    conductor: Conductor | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LimitSnapshot:
    """The effective limit and the named terms it is the minimum of."""

    effective_w: float
    binding: str
    terms: Mapping[str, float]
    rejected: tuple[str, ...] = ()  # terms ignored as invalid (NaN, negative)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadStatus:
    """One load as the status snapshot shows it."""

    load_id: str
    state: LoadState
    reason: LoadReason
    allocated_w: float  # power the controller currently allows the load
    expected_w: float  # power it is believed to draw when on (measured or remembered)
    level_w: float | None
    manual_until: float | None
    actions: int
    node_id: str = ROOT
    conductors: tuple[Conductor, ...] = ()  # the conductors it draws on


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountingSnapshot:
    """Counters kept by the engine."""

    seconds_over_limit: float
    energy_over_limit_wh: float
    longest_over_limit_s: float
    seconds_over_rating: float
    continuous_s: float  # current run above the continuous threshold (80 % of rating)
    longest_continuous_s: float
    continuous_exceeded: bool  # the current run has lasted 3 h or more
    actions_total: int
    day: int | None
    day_seconds_over_limit: float
    day_seconds_over_rating: float
    day_actions: int
    demand_15min_w: float | None  # average import over the last complete clock quarter hour
    demand_block_start: float | None
    peak_15min_w: float
    seconds_over_export_limit: float = 0.0
    energy_over_export_limit_wh: float = 0.0


class FlowSource(StrEnum):
    """Where a flow in the tree comes from."""

    MEASURED = "measured"  # a sensor of its own
    ESTIMATED = "estimated"  # the sum of the known loads' measured or remembered draw
    NOT_MEASURED = "not_measured"  # a leg or phase of a node that measures only its total


class UnmanagedBasis(StrEnum):
    """Which remembered unmanaged part a node's estimate holds while its sensor fails (engine.unmanaged)."""

    RECENT_PEAK = "recent_peak"  # the largest seen shortly before the sensor failed
    DAY_PEAK = "day_peak"  # the sensor has failed for long: the largest seen over the last day


@dataclass(frozen=True, slots=True, kw_only=True)
class ConstraintStatus:
    """One limit of the tree: a node's total, or one of its conductors."""

    node_id: str
    conductor: Conductor | None  # None: the node's total
    source: FlowSource
    flow_w: float | None  # None: not measured
    projected_w: float | None  # with the commands not yet shown
    limit: LimitSnapshot
    volts: float  # turns flow into current (the conductor's voltage to neutral; the node's total: none)
    fault: ReadingFault | None = None  # its sensor is there but gave nothing usable
    # Estimated while its sensor fails: the unmanaged part that sensor last showed, kept in the flow,
    # when it was last read (the sensor's last good reading) and which part is kept.
    unmanaged_w: float | None = None
    unmanaged_since: float | None = None
    unmanaged_basis: UnmanagedBasis | None = None

    @property
    def headroom_w(self) -> float | None:
        """How much more it may carry."""
        return None if self.flow_w is None else self.limit.effective_w - self.flow_w

    @property
    def utilisation_pct(self) -> float | None:
        """Its flow as a share of its limit."""
        if self.flow_w is None or self.limit.effective_w <= 0:
            return None
        return 100.0 * self.flow_w / self.limit.effective_w

    @property
    def current_a(self) -> float | None:
        """A conductor's current (its flow over its voltage to neutral)."""
        if self.flow_w is None or self.conductor is None or self.volts <= 0:
            return None
        return self.flow_w / self.volts

    @property
    def over_limit(self) -> bool:
        """Carrying more than its limit."""
        return self.flow_w is not None and self.flow_w > self.limit.effective_w


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeStatus:
    """A node of the tree: its total and its conductors against their limits."""

    node_id: str
    name: str
    parent_id: str | None
    total: ConstraintStatus
    conductors: Mapping[Conductor, ConstraintStatus]
    conductors_measured: bool  # each leg or phase is measured (or, without sensors, estimated)

    @property
    def binding(self) -> ConstraintStatus:
        """Its tightest limit: the highest utilisation (the total when nothing is known)."""
        return tightest((self.total, *self.conductors.values())) or self.total


def tightest(constraints: tuple[ConstraintStatus, ...]) -> ConstraintStatus | None:
    """The constraint with the highest utilisation; None when no flow is known."""
    best: ConstraintStatus | None = None
    best_pct = 0.0
    for constraint in constraints:
        pct = constraint.utilisation_pct
        if pct is not None and (best is None or pct > best_pct):
            best, best_pct = constraint, pct
    return best


@dataclass(frozen=True, slots=True, kw_only=True)
class Binding:
    """The binding constraint of the house: a node, a conductor (None: its total) and a term."""

    node_id: str
    conductor: Conductor | None
    term: str
    utilisation_pct: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Status:
    """The status snapshot after a step."""

    time: float
    state: ControllerState
    site_w: float | None  # measured site power, None when unknown
    projected_w: float | None  # site power once pending commands take effect
    limit: LimitSnapshot
    rating_w: float
    shed_target_w: float
    restore_threshold_w: float
    headroom_w: float | None
    utilisation_pct: float | None
    over_limit: bool
    over_rating: bool
    insufficient: bool
    fail_safe: bool
    reading_age_s: float | None
    reading_time: float | None = None  # when the site reading in use was taken
    loads: Mapping[str, LoadStatus]
    accounting: AccountingSnapshot
    planned: tuple[Action, ...] = ()  # monitor mode: what it would have done
    export_limit: LimitSnapshot | None = None  # None: no valid export term
    export_headroom_w: float | None = None  # how much more may be exported (site + export limit)
    over_export_limit: bool = False  # exporting more than the export limit
    nodes: Mapping[str, NodeStatus] = field(default_factory=dict)  # the tree, root first
    binding: Binding | None = None  # the tightest constraint anywhere in the tree
    load_faults: Mapping[str, ReadingFault] = field(default_factory=dict)  # loads' own sensors

    @property
    def faults(self) -> dict[tuple[str, Conductor | None], ReadingFault]:
        """Every constraint whose sensor has a problem: (node, conductor or None for its total)."""
        return {
            (constraint.node_id, constraint.conductor): constraint.fault
            for node in self.nodes.values()
            for constraint in (node.total, *node.conductors.values())
            if constraint.fault is not None
        }


@dataclass(frozen=True, slots=True)
class QuietBand:
    """A promise that a step takes no action.

    It holds while the site reading stays above ``low_w`` and at or below
    ``high_w``, the inputs of the loads (except those in ``ignores``) and the
    limit terms (import and export) do not change, and time is before
    ``until``. Lets a caller skip steps that could not do anything (the
    simulator does, over long stretches of data).
    """

    low_w: float
    high_w: float
    until: float
    # Loads whose readings cannot change a decision (never shed).
    ignores: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class StepResult:
    """What one step produced: commands to carry out and conditions that changed."""

    actions: tuple[Action, ...]
    alerts_raised: tuple[Alert, ...] = ()
    not_responding: tuple[GivenUp, ...] = ()  # loads given up on at this step


@dataclass(frozen=True, slots=True, kw_only=True)
class GivenUp:
    """A load whose actuator did not follow a command however often it was asked."""

    load_id: str
    kind: ActionKind  # what it was asked to do
    level_w: float | None  # the level it was asked for (set_level)
    commands: int  # how many times it was asked
    until: float  # left alone until then (or until it changes of its own)
