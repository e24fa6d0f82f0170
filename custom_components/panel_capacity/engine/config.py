"""What the engine is configured with: the supply, the tree of nodes, the loads and the tuning.

Plain Python, no Home Assistant imports. Power is in watts, current in amperes,
time in seconds.

The tree: the service (main panel) is the root; subpanels and circuits hang
below it, any depth, each on some or all of its parent's conductors. A
conductor is a phase of the supply: one for single-phase, the legs L1 and L2
for split-phase, L1 to L3 for three-phase. Every load draws on conductors of
the node it is wired to.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
import math

# The root node's id: the service, the main panel.
ROOT = "main"


class Supply(StrEnum):
    """How the panel is fed."""

    SINGLE_PHASE = "single_phase"
    SPLIT_PHASE = "split_phase"
    THREE_PHASE = "three_phase"

    @property
    def conductors(self) -> tuple[Conductor, ...]:
        """The phases (legs) of this supply."""
        return _CONDUCTORS[self]


class Conductor(StrEnum):
    """A phase of the supply (a leg of a split-phase supply)."""

    L1 = "l1"
    L2 = "l2"
    L3 = "l3"


_CONDUCTORS = {
    Supply.SINGLE_PHASE: (Conductor.L1,),
    Supply.SPLIT_PHASE: (Conductor.L1, Conductor.L2),
    Supply.THREE_PHASE: (Conductor.L1, Conductor.L2, Conductor.L3),
}


class LoadKind(StrEnum):
    """How a load can be controlled."""

    SWITCH = "switch"  # on or off
    MODULATED = "modulated"  # a level between a minimum and a maximum


@dataclass(frozen=True, slots=True, kw_only=True)
class PanelConfig:
    """The service and main panel: the root of the tree.

    ``voltage_v`` is the line-to-line voltage for split-phase (240 V) and the
    line-to-neutral voltage for three-phase (230 V); ``rating_a`` is the main
    breaker's rating per conductor.
    """

    rating_a: float
    voltage_v: float
    supply: Supply = Supply.SPLIT_PHASE
    continuous_factor: float = 0.8
    name: str = ""

    @property
    def node_id(self) -> str:
        """The root's id in the tree."""
        return ROOT

    @property
    def conductors(self) -> tuple[Conductor, ...]:
        """The phases or legs of the supply."""
        return self.supply.conductors

    @property
    def phase_count(self) -> int:
        """Number of phases (or legs) the rating applies to."""
        return len(self.supply.conductors)

    @property
    def conductor_voltage_v(self) -> float:
        """Voltage from one conductor to neutral: what turns a conductor's current into power."""
        if self.supply is Supply.SPLIT_PHASE:
            return self.voltage_v / 2
        return self.voltage_v

    @property
    def watts_per_amp(self) -> float:
        """Site power per ampere of (balanced) phase current."""
        return self.conductor_voltage_v * self.phase_count

    @property
    def rating_w(self) -> float:
        """The panel's full rating in watts."""
        return self.rating_a * self.watts_per_amp

    @property
    def continuous_limit_w(self) -> float:
        """The most the panel may carry continuously (NEC: 80 % of the rating)."""
        return self.rating_w * self.continuous_factor


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeConfig:
    """A subpanel or a circuit below the root (or below another node).

    ``rating_a`` is its feeder breaker's rating per conductor; ``cap_a`` an
    optional lower limit per conductor set by the person; ``conductors`` the
    parent's conductors it is fed from (empty: all of them; a 120 V circuit is
    on one leg).
    """

    node_id: str
    rating_a: float
    parent_id: str = ROOT
    name: str = ""
    continuous_factor: float = 0.8
    cap_a: float | None = None
    conductors: tuple[Conductor, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ControlSettings:
    """Tuning of the control loop.

    Thresholds, from the top, for every limit in the tree: the limit L (shed
    when the flow is above it); the shed target L - margin (shed down to it);
    the restore threshold L - margin - hysteresis (restore only while the flow
    stays under it, counting the load coming back).
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
    """A load the engine may control. Priority is the order of the list it is in.

    ``node_id`` is the node it is wired to; ``conductors`` the ones it draws
    on (empty: all of its node's: a 240 V load on both legs, a three-phase
    load on all three). Its power is shared equally among them.
    """

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
    node_id: str = ROOT
    conductors: tuple[Conductor, ...] = ()
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
