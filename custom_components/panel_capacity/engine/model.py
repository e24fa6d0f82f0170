"""Types of the capacity engine: configuration in, readings in, actions and status out.

Plain Python, no Home Assistant imports. Power is in watts, time in seconds
(the caller's clock: epoch seconds in Home Assistant, simulated seconds in the
simulator). Site power is positive when importing, negative when exporting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping


class Supply(StrEnum):
    """How the panel is fed."""

    SINGLE_PHASE = "single_phase"
    SPLIT_PHASE = "split_phase"
    THREE_PHASE = "three_phase"


class LoadKind(StrEnum):
    """How a load can be controlled."""

    SWITCH = "switch"  # on or off
    MODULATED = "modulated"  # a level between a minimum and a maximum


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


# Names of the limit terms the engine itself adds. Callers add more (user cap, grid).
TERM_PANEL = "panel"  # rating x continuous factor (NEC 80 %)
TERM_LARGEST_STEP = "largest_step"  # 100 % rating minus the largest unmanaged step
TERM_USER_CAP = "user_cap"


@dataclass(frozen=True, slots=True, kw_only=True)
class PanelConfig:
    """A panel (main or sub) and its rating.

    ``voltage_v`` is the line-to-line voltage for split-phase (240 V) and the
    line-to-neutral voltage for three-phase (230 V); ``rating_a`` is the main
    breaker's rating per phase. ``parent_id`` places a subpanel in a tree of
    panels; the main panel has none.
    """

    rating_a: float
    voltage_v: float
    supply: Supply = Supply.SPLIT_PHASE
    continuous_factor: float = 0.8
    panel_id: str = "main"
    parent_id: str | None = None

    @property
    def phase_count(self) -> int:
        """Number of phases (or legs) the rating applies to."""
        return {Supply.SINGLE_PHASE: 1, Supply.SPLIT_PHASE: 2, Supply.THREE_PHASE: 3}[self.supply]

    @property
    def watts_per_amp(self) -> float:
        """Site power per ampere of (balanced) phase current."""
        if self.supply is Supply.THREE_PHASE:
            return 3 * self.voltage_v
        return self.voltage_v

    @property
    def rating_w(self) -> float:
        """The panel's full rating in watts."""
        return self.rating_a * self.watts_per_amp

    @property
    def continuous_limit_w(self) -> float:
        """The most the panel may carry continuously (NEC: 80 % of the rating)."""
        return self.rating_w * self.continuous_factor


@dataclass(frozen=True, slots=True, kw_only=True)
class ControlSettings:
    """Tuning of the control loop.

    Thresholds, from the top: the effective limit L (shed when site power is
    above it); the shed target L - margin (shed down to it); the restore
    threshold L - margin - hysteresis (restore only while the site stays under
    it, counting the load coming back).
    """

    margin_w: float = 100.0
    hysteresis_w: float = 150.0
    restore_holdoff_s: float = 30.0  # between an action and the next restore
    response_s: float = 10.0  # how long an actuator may take to show a command
    staleness_s: float = 60.0  # site reading older than this: fail-safe
    manual_hold_s: float = 3600.0  # a load changed by hand is left alone this long
    largest_step_w: float = 0.0  # largest unmanaged load that may switch on at once
    reserve_idle: bool = False  # keep room for the largest switched load that is on but idle


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadConfig:
    """A load the engine may control. Priority is the order of the list it is in."""

    load_id: str
    name: str = ""
    kind: LoadKind = LoadKind.SWITCH
    nominal_w: float = 0.0  # draw when on (switch); ignored for modulated loads
    min_w: float = 0.0  # modulated: lowest level while on
    max_w: float = 0.0  # modulated: highest level
    step_w: float = 0.0  # modulated: level granularity (0 = continuous)
    ramp_w: float = 0.0  # modulated: largest raise at a time (0 = a quarter of the range)
    allow_off: bool = True  # modulated: may be turned off below its minimum
    never_shed: bool = False
    min_on_s: float = 0.0
    min_off_s: float = 0.0
    panel_id: str = "main"
    # An export actuator (modulated only): its level caps production or discharge
    # (a PV inverter's power limit, a battery's discharge limit). Raising it can
    # lower site power; it is turned down only to keep export under the export
    # limit. Its measured power is what it produces, as a positive number.
    # With never_shed it is never turned down.
    export: bool = False

    @property
    def expected_w(self) -> float:
        """The draw assumed when nothing better is known."""
        return self.max_w if self.kind is LoadKind.MODULATED else self.nominal_w

    @property
    def ramp_limit_w(self) -> float:
        """Largest raise of a modulated load in one restore action."""
        if self.ramp_w > 0:
            return self.ramp_w
        return max(self.step_w, (self.max_w - self.min_w) / 4, 1.0)

    @property
    def min_raise_w(self) -> float:
        """Smallest raise worth an action: one step, or 1 % of the range for a continuous load."""
        if self.step_w > 0:
            return self.step_w
        return max(1.0, 0.01 * (self.max_w - self.min_w))

    def quantize_down(self, level_w: float) -> float:
        """The highest allowed level at or below ``level_w`` (never below min)."""
        if level_w >= self.max_w:
            return self.max_w
        if level_w <= self.min_w:
            return self.min_w
        if self.step_w <= 0:
            return level_w
        steps = math.floor((level_w - self.min_w) / self.step_w + 1e-9)
        return self.min_w + steps * self.step_w


@dataclass(frozen=True, slots=True)
class SiteReading:
    """Power at the panel's main feed. ``power_w`` None means no measurement."""

    power_w: float | None
    time: float | None = None  # when the reading was last reported
    legs_w: tuple[float, ...] | None = None  # per phase or leg, where measured


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


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """A command for one load's actuator."""

    load_id: str
    kind: ActionKind
    reason: ActionReason
    level_w: float | None = None  # for SET_LEVEL
    delta_w: float = 0.0  # expected change of site power (negative when shedding)
    site_w: float | None = None  # site power the decision was based on
    limit_w: float = 0.0


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
    loads: Mapping[str, LoadStatus]
    accounting: AccountingSnapshot
    planned: tuple[Action, ...] = ()  # monitor mode: what it would have done
    export_limit: LimitSnapshot | None = None  # None: no valid export term
    export_headroom_w: float | None = None  # how much more may be exported (site + export limit)
    over_export_limit: bool = False  # exporting more than the export limit


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
