"""Per-load state: what is held, what was seen, what was commanded, and what follows from them.

Each load has one ``LoadSlot`` with four parts, each of one kind: the ``Hold``
(what the controller holds it at, kept across restarts), the ``Seen`` readings
of the last step, the ``Command`` in flight (see ``ledger``), and a cache for
the quiet band. The functions here answer questions about one load: is it on,
what does it draw, may it be switched now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
import math
from typing import TYPE_CHECKING, Any

from .config import LoadConfig, LoadKind
from .model import LoadInput

if TYPE_CHECKING:
    from .config import ControlSettings

# A load drawing less than this (W) counts as idle: its relay may be on while
# its thermostat is satisfied. Its remembered draw is kept from when it ran.
IDLE_W = 20.0
UNAVAILABLE = LoadInput(available=False)


class Held(StrEnum):
    """What the controller is holding a load at."""

    NONE = "none"
    SHED = "shed"  # turned off by us
    REDUCED = "reduced"  # modulated, turned down by us


@dataclass(slots=True)
class Hold:
    """What the controller holds a load at and remembers of it (persisted)."""

    held: Held = Held.NONE
    restore_level_w: float | None = None  # modulated: the level to give back
    remembered_w: float | None = None  # last real draw while running
    changed_at: float | None = None  # last on/off transition (None: long ago)
    manual_since: float | None = None  # when a person changed it (a manual override)
    manual_until: float | None = None  # until when it is left alone: manual_since + the hold time
    actions: int = 0

    def release(self) -> None:
        """Hold it no more."""
        self.held = Held.NONE
        self.restore_level_w = None


@dataclass(slots=True)
class Seen:
    """What the load's entities showed at the last step."""

    available: bool = False
    on: bool | None = None
    level_w: float | None = None
    measured_w: float | None = None
    last_input: LoadInput | None = None  # the reading itself, to skip an unchanged one


@dataclass(slots=True)
class Command:
    """The last command, until the readings show it (see ``ledger``)."""

    at: float | None = None  # when it was given; None: nothing in flight
    on: bool | None = None
    level_w: float | None = None
    pending_delta_w: float = 0.0  # expected change of site power not yet seen
    site_at_command: float | None = None  # the site reading the command was based on
    retries: int = 0
    unresponsive_until: float | None = None  # gave up commanding it until then

    def clear(self) -> None:
        """Nothing in flight any more."""
        self.at = None
        self.on = None
        self.level_w = None
        self.pending_delta_w = 0.0
        self.site_at_command = None
        self.retries = 0


@dataclass(slots=True)
class MeterLag:
    """Commands not yet seen by the meters below the root that the load draws on (legs, subpanels).

    The site's meter settles a command for the root's total (see ``ledger``);
    another meter may report later (a subpanel's clamp every few seconds while
    the main meter reports every second). Until each measured constraint has
    moved by half the change expected on it, or a response time has passed,
    its projected flow counts the change. ``base`` holds each one's flow when
    the first of these commands was given.
    """

    delta_w: float = 0.0
    at: float = 0.0
    base: dict[int, float] = field(default_factory=dict)

    def clear(self) -> None:
        """Every meter shows it."""
        self.delta_w = 0.0
        self.base = {}


@dataclass(slots=True)
class LoadSlot:
    """One load: its configuration and the four parts of its state."""

    cfg: LoadConfig
    hold: Hold = field(default_factory=Hold)
    seen: Seen = field(default_factory=Seen)
    cmd: Command = field(default_factory=Command)
    lag: MeterLag = field(default_factory=MeterLag)
    # The quiet band's threshold, and the state it was found for.
    min_room: tuple[tuple[Any, ...], float | None] | None = None
    # Its own sensor reads no more than this (W), the most its node could carry (see screen).
    bound_w: float = math.inf

    # -------------------------------------------------------------- questions

    @property
    def is_on(self) -> bool:
        """On, counting a command that has not shown yet."""
        if self.cmd.on is not None:
            return self.cmd.on
        return bool(self.seen.on)

    @property
    def level(self) -> float:
        """Current level of a modulated load, counting a command not shown yet."""
        if self.cmd.level_w is not None:
            return self.cmd.level_w
        if self.seen.level_w is not None:
            return self.seen.level_w
        return self.cfg.max_w

    @property
    def expected(self) -> float:
        """What the load will draw when it runs: remembered, else nominal."""
        if self.hold.remembered_w is not None and self.cfg.kind is LoadKind.SWITCH:
            return self.hold.remembered_w
        return self.cfg.expected_w

    @property
    def draw(self) -> float:
        """What the load draws now, as best known (an export actuator: what it produces)."""
        if not self.is_on:
            return 0.0
        measured = self.seen.measured_w
        if self.cfg.kind is LoadKind.MODULATED:
            level = self.level
            if measured is not None and self.cmd.at is None:
                return min(measured, level) if level > 0 else measured
            return level
        if measured is not None and self.cmd.at is None:
            return measured
        return self.expected

    @property
    def goal(self) -> float:
        """The level a modulated load is given back to."""
        return self.hold.restore_level_w if self.hold.restore_level_w is not None else self.cfg.max_w

    @property
    def idle(self) -> bool:
        """Its own meter shows it drawing (or producing) next to nothing, with nothing in flight."""
        return self.cmd.at is None and self.seen.measured_w is not None and self.seen.measured_w <= IDLE_W

    def manual(self, now: float) -> bool:
        """Changed by hand, and still left alone."""
        return self.hold.manual_until is not None and now < self.hold.manual_until

    def controllable(self, now: float) -> bool:
        """The controller may command it now."""
        return (
            not self.cfg.never_shed
            and self.seen.available
            and self.cmd.unresponsive_until is None
            and not self.manual(now)
        )

    def min_on_ok(self, now: float) -> bool:
        """It has been on for its minimum on time."""
        changed = self.hold.changed_at
        return changed is None or now - changed >= self.cfg.min_on_s

    def min_off_ok(self, now: float) -> bool:
        """It has been off for its minimum off time."""
        changed = self.hold.changed_at
        return changed is None or now - changed >= self.cfg.min_off_s

    # ------------------------------------------------------------ observation

    def observe(self, inp: LoadInput, now: float, settings: ControlSettings) -> bool:
        """Take in this step's reading; False when it is the very reading seen last step."""
        seen, hold = self.seen, self.hold
        if inp is seen.last_input and self.cmd.at is None and not inp.manual:
            if hold.manual_until is not None or self.cmd.unresponsive_until is not None:
                self.expire(now)
            return False
        seen.last_input = inp
        level = inp.level_w if inp.level_w is not None and math.isfinite(inp.level_w) else None
        on = inp.is_on
        if on is None and self.cfg.kind is LoadKind.MODULATED and level is not None:
            on = level > 0
        seen.available = inp.available and on is not None
        if on is not None and seen.on is None:
            self._reconcile(on, level)
        if on is not None and seen.on is not None and on != seen.on:
            hold.changed_at = now
            self.cmd.unresponsive_until = None
        seen.on = on
        seen.level_w = level
        measured = inp.measured_w
        seen.measured_w = max(0.0, measured) if measured is not None and math.isfinite(measured) else None
        if on and seen.measured_w is not None and seen.measured_w > IDLE_W:
            hold.remembered_w = seen.measured_w
        if inp.manual:
            hold.manual_since = now
            hold.manual_until = now + settings.manual_hold_s
            hold.release()
            self.cmd.clear()
        self.expire(now)
        return True

    def expire(self, now: float) -> None:
        """End a manual hold or an unresponsive spell whose time is up."""
        if self.cmd.unresponsive_until is not None and now >= self.cmd.unresponsive_until:
            self.cmd.unresponsive_until = None
        if self.hold.manual_until is not None and now >= self.hold.manual_until:
            self.end_manual()

    def end_manual(self) -> None:
        """Manage it again: the manual override is over."""
        self.hold.manual_since = None
        self.hold.manual_until = None

    def _reconcile(self, on: bool, level: float | None) -> None:
        """First sight of a load held in remembered memory (after a restart).

        A load remembered as shed that is on again, or as reduced that is back at
        its setting, was given back by something else while we were not
        watching: it is simply running now, and is managed like any other.
        """
        hold = self.hold
        if (hold.held is Held.SHED and on) or (
            hold.held is Held.REDUCED
            and level is not None
            and (hold.restore_level_w is None or level >= hold.restore_level_w)
        ):
            hold.release()
