"""The capacity controller: shed loads when the site nears its limit, restore them after.

Deterministic and free of I/O: the caller passes the time and what it measured,
and gets back the commands to carry out. The same object runs inside Home
Assistant's coordinator and inside the offline simulator.

The algorithm follows Nordman, Gerber et al. (LBNL/NREL), "Building electrical
capacity management": above a threshold, drop or turn down loads from the end
of a priority list until the site is safely under the limit; below a second,
lower threshold, bring them back one at a time, most important first.

Export is kept under an export limit (an operating envelope) the same way,
mirrored: export actuators (a PV inverter's or a battery's power limit) are
turned down from the least important when the site exports too much, and
raised again, most important first, once there is room to export.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from enum import StrEnum
import math
from typing import TYPE_CHECKING, Any

from .accounting import Accounting
from .limits import effective_export_limit, effective_limit
from .model import (
    Action,
    ActionKind,
    ActionReason,
    Alert,
    ControllerState,
    ControlSettings,
    LimitSnapshot,
    LoadConfig,
    LoadInput,
    LoadKind,
    LoadReason,
    LoadState,
    LoadStatus,
    PanelConfig,
    QuietBand,
    Status,
    StepInput,
    StepResult,
)

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence

# A load drawing less than this (W) counts as idle: its relay may be on while
# its thermostat is satisfied. Its remembered draw is kept from when it ran.
IDLE_W = 20.0
# An actuator that ignores a command this many times in a row is given up on
# until it shows a change of its own, or for this long.
MAX_RETRIES = 3
UNRESPONSIVE_S = 600.0
# Two levels closer than this (W) are the same level.
LEVEL_TOLERANCE_W = 1e-6
# How finely the quiet band's lower edge is checked against _raise (W).
ROOM_TOLERANCE_W = 1e-3
# While a command is in flight, a reading within this of the last one is unchanged (W).
READING_TOLERANCE_W = 1e-9
MEMORY_VERSION = 1
_UNAVAILABLE = LoadInput(available=False)


class Held(StrEnum):
    """What the controller is holding a load at."""

    NONE = "none"
    SHED = "shed"  # turned off by us
    REDUCED = "reduced"  # modulated, turned down by us


@dataclass(slots=True)
class _Memory:
    """What the controller remembers about one load between steps."""

    held: Held = Held.NONE
    restore_level_w: float | None = None  # modulated: the level to give back
    remembered_w: float | None = None  # last real draw while running
    changed_at: float | None = None  # last on/off transition (None: long ago)
    manual_until: float | None = None
    actions: int = 0
    # Observed at the last step (not persisted).
    available: bool = False
    on: bool | None = None
    level_w: float | None = None
    measured_w: float | None = None
    # The last command, until the site reading shows it (not persisted).
    commanded_at: float | None = None
    commanded_on: bool | None = None
    commanded_level_w: float | None = None
    pending_delta_w: float = 0.0  # expected change of site power not yet seen
    site_at_command: float | None = None  # the site reading the command was based on
    retries: int = 0
    unresponsive_until: float | None = None  # gave up commanding it until then
    last_input: LoadInput | None = None  # the reading of the last step
    min_room: tuple[tuple[Any, ...], float | None] | None = None  # quiet band's threshold, and for what


_PERSISTED = ("held", "restore_level_w", "remembered_w", "changed_at", "manual_until", "actions")


class ConfigError(ValueError):
    """The engine was given a configuration it cannot run safely."""


def validate(panel: PanelConfig, settings: ControlSettings, loads: Sequence[LoadConfig]) -> None:
    """Raise ConfigError when the configuration is unsafe or inconsistent."""

    def finite(*values: float) -> bool:
        return all(math.isfinite(value) for value in values)

    if not finite(panel.rating_a, panel.voltage_v, panel.continuous_factor):
        raise ConfigError("panel values must be finite")
    if panel.rating_a <= 0 or panel.voltage_v <= 0:
        raise ConfigError("panel rating and voltage must be positive")
    if not 0 < panel.continuous_factor <= 1:
        raise ConfigError("continuous factor must be in (0, 1]")
    for setting in fields(settings):
        number = getattr(settings, setting.name)
        if isinstance(number, bool):
            continue
        if not math.isfinite(number) or number < 0:
            raise ConfigError(f"{setting.name} must be a finite, non-negative number")
    seen: set[str] = set()
    for load in loads:
        if load.load_id in seen:
            raise ConfigError(f"duplicate load {load.load_id}")
        seen.add(load.load_id)
        _validate_load(load)


def _validate_load(load: LoadConfig) -> None:
    numbers = (load.nominal_w, load.min_w, load.max_w, load.step_w, load.ramp_w)
    if (
        not all(math.isfinite(value) for value in (*numbers, load.min_on_s, load.min_off_s))
        or min(numbers) < 0
    ):
        raise ConfigError(f"load {load.load_id}: values must be finite and non-negative")
    if load.kind is LoadKind.MODULATED:
        if not 0 <= load.min_w <= load.max_w:
            raise ConfigError(f"load {load.load_id}: need 0 <= min <= max")
        if load.max_w <= 0:
            raise ConfigError(f"load {load.load_id}: max must be positive")
        if 0 < load.ramp_w < load.step_w:
            raise ConfigError(f"load {load.load_id}: a ramp smaller than the step could never raise it")
    elif load.export:
        raise ConfigError(f"load {load.load_id}: an export actuator must be modulated")


class CapacityEngine:
    """One panel's controller. Loads are given most important first."""

    def __init__(
        self,
        panel: PanelConfig,
        settings: ControlSettings,
        loads: Sequence[LoadConfig],
        *,
        memory: Mapping[str, Any] | None = None,
    ) -> None:
        """Build a controller; ``memory`` is what ``export_memory`` returned earlier."""
        validate(panel, settings, loads)
        self.panel = panel
        self.settings = settings
        self.loads: tuple[LoadConfig, ...] = tuple(loads)
        self._cfgs: dict[str, LoadConfig] = {load.load_id: load for load in self.loads}
        # Export actuators take no part in import shedding and restoring, and the other loads none in export.
        self._exporters = tuple(load for load in self.loads if load.export)
        self._importers = tuple(load for load in self.loads if not load.export)
        # Never-shed loads are only watched: nothing they read can change a decision.
        self._never_shed = frozenset(load.load_id for load in self.loads if load.never_shed)
        self._mem: dict[str, _Memory] = {load.load_id: _Memory() for load in self.loads}
        self._acc = Accounting()
        self._terms: dict[str, float] = {}
        self._limit: LimitSnapshot = effective_limit(panel, settings, self._terms)
        self._export_terms: dict[str, float] = {}
        self._export_limit: LimitSnapshot | None = None
        self._export_limit_w: float | None = None  # its effective value, for the accounting
        self._now: float | None = None
        self._started_at: float | None = None
        self._site_w: float | None = None  # the current reading, None when missing
        self._site_time: float | None = None  # when the last valid reading was taken
        self._acc_site_w: float | None = None  # held for accounting until the next step
        self._last_action_at: float | None = None  # of the last import action
        self._last_export_action_at: float | None = None  # of the last action of an export actuator
        self._enabled = True
        self._fail_safe = False
        self._insufficient = False
        self._shed_this_step = False
        self._planned: tuple[Action, ...] = ()
        if memory:
            self._load_memory(memory)

    # ----------------------------------------------------------------- step

    def step(self, inp: StepInput) -> StepResult:
        """Advance to ``inp.now``, take in the readings, decide what to do."""
        now = inp.now
        if self._started_at is None:
            self._started_at = now
        if self._now is not None and now > self._now:
            self._acc.advance(
                self._now,
                now,
                self._acc_site_w,
                self._limit.effective_w,
                self.panel.rating_w,
                self.panel.continuous_limit_w,
                export_limit_w=self._export_limit_w,
            )
        self._now = now if self._now is None else max(now, self._now)
        self._acc.new_day(inp.day)
        if inp.limit_terms != self._terms:
            self._terms = dict(inp.limit_terms)
            self._limit = effective_limit(self.panel, self.settings, self._terms)
        if (inp.export_terms or self._export_terms) and inp.export_terms != self._export_terms:
            self._export_terms = dict(inp.export_terms)
            self._export_limit = effective_export_limit(self._export_terms)
            self._export_limit_w = None if self._export_limit is None else self._export_limit.effective_w

        power = inp.site.power_w
        if power is not None and math.isfinite(power):
            self._site_w = float(power)
            self._site_time = inp.site.time if inp.site.time is not None else now
        else:
            self._site_w = None
        self._acc_site_w = self._site_w

        self._observe(now, inp.loads)
        alerts: list[Alert] = []
        self._shed_this_step = False
        self._planned = ()

        if not inp.enabled:
            actions = self._release() if self._enabled else []
            self._enabled = False
            self._fail_safe = False
            self._insufficient = False
            self._planned = self._dry_run(now)
            return StepResult(actions=tuple(actions))
        self._enabled = True

        actions = self._decide(now, alerts)
        for action in actions:
            self._commit(now, action)
        return StepResult(actions=tuple(actions), alerts_raised=tuple(alerts))

    def _decide(self, now: float, alerts: list[Alert]) -> list[Action]:
        """Choose this step's actions; _commit records the ones taken."""
        stale = self._stale(now)
        if stale:
            if not self._fail_safe:
                self._fail_safe = True
                alerts.append(Alert.FAIL_SAFE)
            self._insufficient = False
            return self._fail_safe_actions(now)
        if self._fail_safe and self._site_w is not None:
            self._fail_safe = False
            alerts.append(Alert.RECOVERED)
        actions = self._retries(now)
        projected = self.projected_w
        if projected is None:
            return actions  # no measurement: hold still until one comes or it goes stale
        limit = self._limit.effective_w
        if projected > limit:
            shed, remaining = self._shed(now, projected)
            actions.extend(shed)
            self._shed_this_step = bool(shed)
            insufficient = remaining > limit
            if insufficient and not self._insufficient:
                alerts.append(Alert.INSUFFICIENT)
            self._insufficient = insufficient
            if self._exporters:
                # More production lowers import: give back what export control holds. Shedding
                # does not count on it (the sun may not give it), so it fits with the shedding done.
                actions.extend(self._relieve(now, remaining - self._export_room_floor()))
        else:
            self._insufficient = False
            if not actions and projected < self.restore_threshold_w:
                actions.extend(self._restore(now, projected))
            if self._exporters:
                actions.extend(self._control_export(now, projected, actions))
        return actions

    def _control_export(self, now: float, projected: float, actions: list[Action]) -> list[Action]:
        """Keep export under the export limit with the export actuators (import is under its limit).

        The actions of one step all move the site the same way, so that the
        reading can show them as one batch (see _shown): turning down goes with
        import restores, raising waits for a step with no other action.
        """
        for action in actions:
            projected += action.delta_w
        export = self._export_limit
        if export is None:
            # No export limit: nothing is held back for it any more.
            return [] if actions else self._relieve(now, math.inf)
        if projected < -export.effective_w:
            curtailed = self._curtail(now, projected, export.effective_w)
            self._shed_this_step = bool(curtailed)
            return curtailed
        room = projected - self._export_threshold(export.effective_w)
        if actions or room <= 0:
            return []
        return self._export_restore(now, room, export.effective_w)

    # ---------------------------------------------------------- observation

    def _observe(self, now: float, inputs: Mapping[str, LoadInput]) -> None:
        """Update each load's memory from what was measured."""
        settings = self.settings
        for cfg in self.loads:
            mem = self._mem[cfg.load_id]
            inp = inputs.get(cfg.load_id, _UNAVAILABLE)
            if inp is mem.last_input and mem.commanded_at is None and not inp.manual:
                # The very reading seen last step: only the timers can have moved.
                self._expire(mem, now)
                continue
            mem.last_input = inp
            level = inp.level_w if inp.level_w is not None and math.isfinite(inp.level_w) else None
            on = inp.is_on
            if on is None and cfg.kind is LoadKind.MODULATED and level is not None:
                on = level > 0
            mem.available = inp.available and on is not None
            if on is not None and mem.on is None:
                self._reconcile(cfg, mem, on, level)
            if on is not None and mem.on is not None and on != mem.on:
                mem.changed_at = now
                mem.unresponsive_until = None
            mem.on = on
            mem.level_w = level
            measured = inp.measured_w
            mem.measured_w = max(0.0, measured) if measured is not None and math.isfinite(measured) else None
            if on and mem.measured_w is not None and mem.measured_w > IDLE_W:
                mem.remembered_w = mem.measured_w
            if inp.manual:
                mem.manual_until = now + settings.manual_hold_s
                mem.held = Held.NONE
                mem.restore_level_w = None
                self._clear_command(mem)
            self._expire(mem, now)
            if mem.commanded_at is not None and self._obeyed(cfg, mem):
                if self._meter_shows_cut(cfg, mem):
                    mem.pending_delta_w = 0.0
                if mem.pending_delta_w == 0.0:
                    self._clear_command(mem)
        self._settle_pending(now)

    @staticmethod
    def _expire(mem: _Memory, now: float) -> None:
        """End a manual hold or an unresponsive spell whose time is up."""
        if mem.unresponsive_until is not None and now >= mem.unresponsive_until:
            mem.unresponsive_until = None
        if mem.manual_until is not None and now >= mem.manual_until:
            mem.manual_until = None

    @staticmethod
    def _reconcile(cfg: LoadConfig, mem: _Memory, on: bool, level: float | None) -> None:
        """First sight of a load held in remembered memory (after a restart).

        A load remembered as shed that is on again, or as reduced that is back at
        its setting, was given back by something else while we were not
        watching: it is simply running now, and is managed like any other.
        """
        if (mem.held is Held.SHED and on) or (
            mem.held is Held.REDUCED
            and level is not None
            and (mem.restore_level_w is None or level >= mem.restore_level_w)
        ):
            mem.held = Held.NONE
            mem.restore_level_w = None

    def _batches(self) -> dict[float, list[tuple[LoadConfig, _Memory]]]:
        """Commands not yet shown, grouped by the step that gave them."""
        batches: dict[float, list[tuple[LoadConfig, _Memory]]] = {}
        for cfg in self.loads:
            mem = self._mem[cfg.load_id]
            if mem.pending_delta_w != 0.0 and mem.commanded_at is not None:
                batches.setdefault(mem.commanded_at, []).append((cfg, mem))
        return batches

    def _shown(self, commanded_at: float, mems: list[tuple[LoadConfig, _Memory]], now: float) -> bool:
        """Whether the current reading shows a batch of commands (see _settle_pending)."""
        site_time = self._site_time
        if site_time is not None and site_time >= commanded_at + self.settings.response_s:
            return True
        if now >= commanded_at + self.settings.response_s + self.settings.staleness_s:
            return True
        site = self._site_w
        base = mems[0][1].site_at_command
        if site is None or base is None:
            return False
        delta = sum(mem.pending_delta_w for _, mem in mems)
        change = site - base
        return change <= delta / 2 if delta < 0 else change >= delta / 2

    def _settle_pending(self, now: float) -> None:
        """Stop counting commands that the site reading now shows.

        Commands given at the same step form a batch. The reading shows a batch
        once the site power has moved by at least half the batch's expected
        change since the reading it was based on (timestamps alone cannot tell:
        a reading may be stamped the same instant as the command), or once a
        reading taken a full response time after the command arrives. Until
        then the change is added to the reading (projected power), so a slow
        actuator is not mistaken for a command that failed and other loads are
        not shed too.
        """
        for mem in self._mem.values():
            if mem.pending_delta_w != 0.0:
                break
        else:
            return
        for commanded_at, mems in self._batches().items():
            if self._shown(commanded_at, mems, now):
                for cfg, mem in mems:
                    mem.pending_delta_w = 0.0
                    if self._obeyed(cfg, mem):
                        self._clear_command(mem)

    @staticmethod
    def _meter_shows_cut(cfg: LoadConfig, mem: _Memory) -> bool:
        """A load's own meter shows that a cut has taken effect.

        Only cuts can be confirmed this way: a load given more room may well
        not use it (a full battery, a satisfied thermostat), nor an inverter
        given a higher limit (a cloud). Cutting an export actuator's
        production raises site power, so its cut is a positive change.
        """
        if mem.measured_w is None or (mem.pending_delta_w <= 0 if cfg.export else mem.pending_delta_w >= 0):
            return False
        if mem.commanded_on is False:
            return mem.measured_w <= IDLE_W
        level = mem.commanded_level_w
        return level is not None and mem.measured_w <= level + max(IDLE_W, 0.02 * level)

    @staticmethod
    def _obeyed(cfg: LoadConfig, mem: _Memory) -> bool:
        """Whether the actuator shows the last command.

        An export actuator's level is a limit: only the level counts (at 0 W
        Home Assistant may show it as off).
        """
        if mem.commanded_on is not None and mem.on != mem.commanded_on and not cfg.export:
            return False
        if cfg.kind is LoadKind.MODULATED and mem.commanded_on and mem.commanded_level_w is not None:
            return mem.level_w is not None and abs(mem.level_w - mem.commanded_level_w) < LEVEL_TOLERANCE_W
        return True

    @staticmethod
    def _clear_command(mem: _Memory) -> None:
        mem.commanded_at = None
        mem.commanded_on = None
        mem.commanded_level_w = None
        mem.pending_delta_w = 0.0
        mem.site_at_command = None
        mem.retries = 0

    def _stale(self, now: float) -> bool:
        """No valid site reading for longer than the staleness time."""
        since = self._site_time if self._site_time is not None else self._started_at
        return since is not None and now - since > self.settings.staleness_s

    # ------------------------------------------------------------ per load

    def _manual(self, mem: _Memory, now: float) -> bool:
        return mem.manual_until is not None and now < mem.manual_until

    def _controllable(self, cfg: LoadConfig, mem: _Memory, now: float) -> bool:
        return (
            not cfg.never_shed
            and mem.available
            and mem.unresponsive_until is None
            and not self._manual(mem, now)
        )

    @staticmethod
    def _is_on(mem: _Memory) -> bool:
        """On, counting a command that has not shown yet."""
        if mem.commanded_on is not None:
            return mem.commanded_on
        return bool(mem.on)

    @staticmethod
    def _level(cfg: LoadConfig, mem: _Memory) -> float:
        """Current level of a modulated load, counting a command not shown yet."""
        if mem.commanded_level_w is not None:
            return mem.commanded_level_w
        if mem.level_w is not None:
            return mem.level_w
        return cfg.max_w

    def _draw(self, cfg: LoadConfig, mem: _Memory) -> float:
        """What the load draws now, as best known."""
        if not self._is_on(mem):
            return 0.0
        if cfg.kind is LoadKind.MODULATED:
            level = self._level(cfg, mem)
            if mem.measured_w is not None and mem.commanded_at is None:
                return min(mem.measured_w, level) if level > 0 else mem.measured_w
            return level
        if mem.measured_w is not None and mem.commanded_at is None:
            return mem.measured_w
        return self._expected(cfg, mem)

    @staticmethod
    def _expected(cfg: LoadConfig, mem: _Memory) -> float:
        """What the load will draw when it runs: remembered, else nominal."""
        if mem.remembered_w is not None and cfg.kind is LoadKind.SWITCH:
            return mem.remembered_w
        return cfg.expected_w

    def _min_on_ok(self, cfg: LoadConfig, mem: _Memory, now: float) -> bool:
        return mem.changed_at is None or now - mem.changed_at >= cfg.min_on_s

    def _min_off_ok(self, cfg: LoadConfig, mem: _Memory, now: float) -> bool:
        return mem.changed_at is None or now - mem.changed_at >= cfg.min_off_s

    # ------------------------------------------------------------ decisions

    def _action(
        self,
        cfg: LoadConfig,
        kind: ActionKind,
        reason: ActionReason,
        delta: float,
        level: float | None = None,
        *,
        limit: float | None = None,  # the limit the action answers to, when not the import limit
    ) -> Action:
        return Action(
            load_id=cfg.load_id,
            kind=kind,
            reason=reason,
            level_w=level,
            delta_w=delta,
            site_w=self._site_w,
            limit_w=self._limit.effective_w if limit is None else limit,
        )

    def _shed(self, now: float, projected: float) -> tuple[list[Action], float]:
        """Shed from the least important load up until under the shed target."""
        target = self.shed_target_w
        actions: list[Action] = []
        for cfg in reversed(self._importers):
            if projected <= target:
                break
            mem = self._mem[cfg.load_id]
            if not self._controllable(cfg, mem, now) or not self._is_on(mem):
                continue
            action = self._reduce(cfg, mem, now, projected - target, ActionReason.OVER_LIMIT)
            if action is not None:
                actions.append(action)
                projected += action.delta_w
        return actions, projected

    def _reduce(
        self, cfg: LoadConfig, mem: _Memory, now: float, need: float, reason: ActionReason
    ) -> Action | None:
        """The smallest cut of one load that frees ``need`` W (or as much as it can)."""
        draw = self._draw(cfg, mem)
        can_turn_off = self._min_on_ok(cfg, mem, now) and (cfg.kind is LoadKind.SWITCH or cfg.allow_off)
        if cfg.kind is LoadKind.SWITCH:
            if draw <= 0 or not can_turn_off:
                return None
            return self._action(cfg, ActionKind.TURN_OFF, reason, -draw)
        level = self._level(cfg, mem)
        wanted = draw - need
        if wanted < cfg.min_w and can_turn_off:
            return self._action(cfg, ActionKind.TURN_OFF, reason, -draw)
        new_level = cfg.quantize_down(wanted)
        if new_level >= level:
            return None
        return self._action(cfg, ActionKind.SET_LEVEL, reason, -max(0.0, draw - new_level), new_level)

    def _restore(self, now: float, projected: float) -> list[Action]:
        """Bring back the most important held load, if it fits under the restore threshold."""
        if self._last_action_at is not None and now - self._last_action_at < self.settings.restore_holdoff_s:
            return []
        candidate = self._first_in_line(now)
        if candidate is None:
            return []
        cfg, mem = candidate
        if mem.commanded_at is not None:
            return []  # its last command has not shown yet
        action = self._raise(cfg, mem, now, self._fill_to(cfg, mem) - projected - self._idle_reserve())
        return [action] if action is not None else []

    def _fill_to(self, cfg: LoadConfig, mem: _Memory) -> float:
        """How high a load coming back may take the site.

        A switched load, or a charger starting from off, makes a jump: it must
        fit under the restore threshold, so that it is not shed again at once.
        A charger already running is raised step by step: it may fill up to the
        shed target (the margin under the limit still stands), since what flaps
        is a jump, not a step.
        """
        if cfg.kind is LoadKind.MODULATED and self._is_on(mem):
            return self.shed_target_w
        return self.restore_threshold_w

    def _first_in_line(self, now: float) -> tuple[LoadConfig, _Memory] | None:
        """The most important held load that a restore would give back next.

        A charger turned down but not using even that (no car drawing) is
        passed over: more room would change nothing for it, and if its car
        comes back and takes the site over, the less important loads restored
        meanwhile are shed first.
        """
        for cfg in self._importers:
            mem = self._mem[cfg.load_id]
            if mem.held is Held.NONE or not self._controllable(cfg, mem, now):
                continue
            if (
                cfg.kind is LoadKind.MODULATED
                and mem.held is Held.REDUCED
                and mem.commanded_at is None
                and mem.measured_w is not None
                and mem.measured_w <= IDLE_W
            ):
                continue
            return cfg, mem
        return None

    def _idle_reserve(self) -> float:
        """Room kept for the largest switched load that is on but idle (if so set).

        A water heater whose thermostat is satisfied reads 0 W on its own
        meter, yet may start at any moment: what comes back leaves room for
        it, so its start does not take the site over the limit. Room is kept
        for one such load, the largest (as the paper keeps a margin for one
        unexpected load), not for all of them at once.
        """
        reserve = 0.0
        if not self.settings.reserve_idle:
            return reserve
        for cfg in self.loads:
            if cfg.kind is not LoadKind.SWITCH:
                continue
            mem = self._mem[cfg.load_id]
            if (
                mem.held is Held.NONE
                and mem.available
                and mem.on
                and mem.commanded_at is None
                and mem.measured_w is not None
                and mem.measured_w <= IDLE_W
            ):
                reserve = max(reserve, self._expected(cfg, mem))
        return reserve

    def _raise(self, cfg: LoadConfig, mem: _Memory, now: float, room: float) -> Action | None:
        """Give back part or all of what was taken from one load, within ``room`` W."""
        off = not self._is_on(mem)
        if off and not self._min_off_ok(cfg, mem, now):
            return None
        if cfg.kind is LoadKind.SWITCH:
            need = self._expected(cfg, mem)
            if need > room:
                return None
            return self._action(cfg, ActionKind.TURN_ON, ActionReason.HEADROOM, need)
        goal = mem.restore_level_w if mem.restore_level_w is not None else cfg.max_w
        draw = self._draw(cfg, mem)
        start = 0.0 if off else self._level(cfg, mem)
        ceiling = min(goal, draw + room, max(start + cfg.ramp_limit_w, cfg.min_w))
        if ceiling < cfg.min_w:
            return None
        new_level = cfg.quantize_down(ceiling)
        if new_level <= start or new_level - draw > room:
            return None
        if new_level - start < cfg.min_raise_w and new_level < goal:
            return None  # not worth an action yet
        return self._action(cfg, ActionKind.SET_LEVEL, ActionReason.HEADROOM, new_level - draw, new_level)

    # ------------------------------------------------------------- export

    def _export_target(self, export_w: float) -> float:
        """Turning export actuators down brings the site up to this (export limit less the margin)."""
        return -max(0.0, export_w - self.settings.margin_w)

    def _export_threshold(self, export_w: float) -> float:
        """An export actuator is raised only while the site stays above this with it."""
        return -max(0.0, export_w - self.settings.margin_w - self.settings.hysteresis_w)

    def _export_room_floor(self) -> float:
        """The export restore threshold, or no floor at all without an export limit."""
        export = self._export_limit
        return -math.inf if export is None else self._export_threshold(export.effective_w)

    def _curtail(self, now: float, projected: float, export_w: float) -> list[Action]:
        """Turn export actuators down, least important first, until the site is back up to the target."""
        target = self._export_target(export_w)
        actions: list[Action] = []
        for cfg in reversed(self._exporters):
            if projected >= target:
                break
            mem = self._mem[cfg.load_id]
            if not self._controllable(cfg, mem, now):
                continue
            production = self._draw(cfg, mem)
            new_level = cfg.quantize_down(production - (target - projected))
            if new_level >= production or new_level >= self._level(cfg, mem):
                continue  # a lower limit would not lower what it produces
            cut = production - new_level
            actions.append(
                self._action(
                    cfg, ActionKind.SET_LEVEL, ActionReason.OVER_LIMIT, cut, new_level, limit=export_w
                )
            )
            projected += cut
        return actions

    def _first_exporter_in_line(self, now: float) -> tuple[LoadConfig, _Memory] | None:
        """The most important held export actuator that a restore would raise next.

        One producing nothing under a limit it does not reach (a PV inverter at
        night) is passed over: a higher limit would change nothing for it.
        """
        for cfg in self._exporters:
            mem = self._mem[cfg.load_id]
            if mem.held is Held.NONE or not self._controllable(cfg, mem, now):
                continue
            if (
                mem.commanded_at is None
                and mem.measured_w is not None
                and mem.measured_w <= IDLE_W < self._level(cfg, mem)
            ):
                continue
            return cfg, mem
        return None

    def _export_restore(self, now: float, room: float, export_w: float) -> list[Action]:
        """Raise the most important held export actuator by one ramp step, within ``room`` W of export."""
        last = self._last_export_action_at
        if last is not None and now - last < self.settings.restore_holdoff_s:
            return []
        candidate = self._first_exporter_in_line(now)
        if candidate is None or candidate[1].commanded_at is not None:
            return []
        cfg, mem = candidate
        action = self._raise_export(cfg, mem, room, cfg.ramp_limit_w, export_w)
        return [action] if action is not None else []

    def _relieve(self, now: float, room: float) -> list[Action]:
        """Give every held export actuator back at once, within ``room`` W of export.

        For a site over its import limit (more production lowers it) and for an
        export limit that is gone: no hold-off, no ramp.
        """
        actions: list[Action] = []
        for cfg in self._exporters:
            mem = self._mem[cfg.load_id]
            if mem.held is Held.NONE or mem.commanded_at is not None or not self._controllable(cfg, mem, now):
                continue
            action = self._raise_export(cfg, mem, room, math.inf)
            if action is not None:
                actions.append(action)
                room += action.delta_w
        return actions

    def _raise_export(
        self, cfg: LoadConfig, mem: _Memory, room: float, ramp: float, limit: float | None = None
    ) -> Action | None:
        """Raise an export actuator's limit by up to ``ramp``, taking the site down by at most ``room``.

        It is assumed to produce up to its new limit. ``limit`` is the limit shown
        in the action (the export limit; by default the import limit).
        """
        goal = mem.restore_level_w if mem.restore_level_w is not None else cfg.max_w
        production = self._draw(cfg, mem)
        level = self._level(cfg, mem)
        new_level = cfg.quantize_down(min(goal, production + room, level + ramp))
        if new_level <= level or new_level - production > room:
            return None
        if new_level - level < cfg.min_raise_w and new_level < goal:
            return None  # not worth an action yet
        delta = -max(0.0, new_level - production)
        return self._action(cfg, ActionKind.SET_LEVEL, ActionReason.HEADROOM, delta, new_level, limit=limit)

    def _fail_safe_actions(self, now: float) -> list[Action]:
        """Without a trustworthy reading, put every managed load in its safe state.

        Export actuators are left where they are: turning them down could take
        the site over its import limit, turning them up over its export limit.
        """
        actions: list[Action] = []
        for cfg in self._importers:
            mem = self._mem[cfg.load_id]
            if not self._controllable(cfg, mem, now) or not self._is_on(mem):
                continue
            if cfg.kind is LoadKind.MODULATED and (not cfg.allow_off or not self._min_on_ok(cfg, mem, now)):
                if self._level(cfg, mem) > cfg.min_w:
                    delta = -max(0.0, self._draw(cfg, mem) - cfg.min_w)
                    actions.append(
                        self._action(cfg, ActionKind.SET_LEVEL, ActionReason.FAIL_SAFE, delta, cfg.min_w)
                    )
                continue
            if self._min_on_ok(cfg, mem, now):
                actions.append(
                    self._action(cfg, ActionKind.TURN_OFF, ActionReason.FAIL_SAFE, -self._draw(cfg, mem))
                )
        return actions

    def _retries(self, now: float) -> list[Action]:
        """Repeat a command that the actuator has not followed within the response time."""
        actions: list[Action] = []
        for cfg in self.loads:
            mem = self._mem[cfg.load_id]
            if (
                mem.commanded_at is None
                or now - mem.commanded_at < self.settings.response_s
                or not self._controllable(cfg, mem, now)
                or self._obeyed(cfg, mem)
            ):
                continue
            if mem.retries >= MAX_RETRIES:
                # Give up: leave the load as it is and stop holding it for a while.
                mem.held = Held.NONE
                mem.restore_level_w = None
                mem.unresponsive_until = now + UNRESPONSIVE_S
                self._clear_command(mem)
                continue
            mem.retries += 1
            if mem.commanded_on is False:
                kind, level = ActionKind.TURN_OFF, None
            elif cfg.kind is LoadKind.MODULATED:
                kind, level = ActionKind.SET_LEVEL, mem.commanded_level_w
            else:
                kind, level = ActionKind.TURN_ON, None
            actions.append(self._action(cfg, kind, ActionReason.RETRY, 0.0, level))
        return actions

    def _commit(self, now: float, action: Action) -> None:
        """Record an action as taken."""
        cfg = self._cfgs[action.load_id]
        mem = self._mem[action.load_id]
        retries = mem.retries
        was_on = self._is_on(mem)
        if action.kind is ActionKind.TURN_OFF:
            if mem.held is Held.NONE and cfg.kind is LoadKind.MODULATED:
                mem.restore_level_w = self._level(cfg, mem)
            mem.held = Held.SHED
            mem.commanded_on, mem.commanded_level_w = False, None
        else:
            if action.kind is ActionKind.SET_LEVEL and action.reason in (
                ActionReason.OVER_LIMIT,
                ActionReason.FAIL_SAFE,
            ):
                if mem.held is Held.NONE:
                    mem.restore_level_w = self._level(cfg, mem)
                mem.held = Held.REDUCED
            elif action.reason is ActionReason.HEADROOM:
                goal = mem.restore_level_w if mem.restore_level_w is not None else cfg.max_w
                if cfg.kind is LoadKind.SWITCH or (action.level_w is not None and action.level_w >= goal):
                    mem.held = Held.NONE
                    mem.restore_level_w = None
                else:
                    mem.held = Held.REDUCED
            mem.commanded_on, mem.commanded_level_w = True, action.level_w
        if was_on != mem.commanded_on:
            mem.changed_at = now
        if mem.pending_delta_w == 0.0 or mem.site_at_command is None:
            mem.site_at_command = self._site_w
        mem.commanded_at = now
        mem.pending_delta_w += action.delta_w
        mem.retries = retries if action.reason is ActionReason.RETRY else 0
        mem.actions += 1
        self._acc.count_action()
        if cfg.export:
            self._last_export_action_at = now
        else:
            self._last_action_at = now

    def _release(self, keep: Collection[str] = ()) -> list[Action]:
        """Give back every load held off or down (except ``keep``), whatever the headroom."""
        actions: list[Action] = []
        for cfg in self.loads:
            mem = self._mem[cfg.load_id]
            if mem.held is Held.NONE or not mem.available or cfg.load_id in keep:
                continue  # an unavailable load stays held: it is given back when it returns
            if cfg.kind is LoadKind.SWITCH:
                action = self._action(
                    cfg, ActionKind.TURN_ON, ActionReason.RELEASED, self._expected(cfg, mem)
                )
            else:
                level = mem.restore_level_w if mem.restore_level_w is not None else cfg.max_w
                delta = level - self._draw(cfg, mem)  # more production lowers the site
                action = self._action(
                    cfg, ActionKind.SET_LEVEL, ActionReason.RELEASED, -delta if cfg.export else delta, level
                )
            actions.append(action)
            self._commit(self._now or 0.0, action)
            mem.held = Held.NONE
            mem.restore_level_w = None
        return actions

    def release(self, now: float, keep: Collection[str] = ()) -> tuple[Action, ...]:
        """Stop managing: the actions that give back every load the controller holds.

        Loads in ``keep`` stay held (their memory is exported as before), for a
        controller that is replaced by a new one with the same loads.
        """
        self._now = now if self._now is None else max(now, self._now)
        return tuple(self._release(keep))

    def _dry_run(self, now: float) -> tuple[Action, ...]:
        """Monitor mode: what the controller would do now, without doing it."""
        saved = {load_id: replace(mem) for load_id, mem in self._mem.items()}
        state = (self._fail_safe, self._insufficient, self._last_action_at)
        try:
            return tuple(self._decide(now, []))
        finally:
            self._mem = saved
            self._fail_safe, self._insufficient, self._last_action_at = state

    def adjust_level(self, action: Action, level_w: float) -> None:
        """The actuator was given ``level_w`` instead of ``action.level_w`` (its own grid).

        Callers round down to what the actuator accepts; the engine then expects
        that level and counts its real effect on the site.
        """
        mem = self._mem.get(action.load_id)
        if mem is None or action.level_w is None or mem.commanded_level_w != action.level_w:
            return
        change = level_w - action.level_w  # an export actuator's change moves the site the other way
        mem.pending_delta_w += -change if self._cfgs[action.load_id].export else change
        mem.commanded_level_w = level_w

    def action_failed(self, action: Action) -> None:
        """The caller could not carry out ``action``: forget that it was taken."""
        mem = self._mem.get(action.load_id)
        if mem is None:
            return
        self._clear_command(mem)
        if action.reason in (ActionReason.OVER_LIMIT, ActionReason.FAIL_SAFE) and mem.actions:
            # It did not happen, so nothing is held because of it.
            mem.held = Held.NONE
            mem.restore_level_w = None

    # --------------------------------------------------------------- status

    @property
    def limit(self) -> LimitSnapshot:
        """The effective limit at the last step."""
        return self._limit

    @property
    def shed_target_w(self) -> float:
        """Shedding brings the site down to this."""
        return max(0.0, self._limit.effective_w - self.settings.margin_w)

    @property
    def restore_threshold_w(self) -> float:
        """A load comes back only if the site stays under this with it."""
        return max(0.0, self.shed_target_w - self.settings.hysteresis_w)

    @property
    def projected_w(self) -> float | None:
        """Site power once the commands not yet shown in the reading take effect."""
        if self._site_w is None:
            return None
        projected = self._site_w
        for mem in self._mem.values():
            projected += mem.pending_delta_w
        return projected

    def quiet_band(self) -> QuietBand | None:
        """Where and until when the next steps are sure to take no action (see QuietBand).

        With a command in flight, only an unchanged reading is quiet, and only
        until the command is due to show. None when no promise can be made:
        management off, fail-safe, no reading, or a step that would act now.
        Readings are assumed to keep coming (staleness is not part of it).
        With export actuators, the band ends at the export limit, and there is
        none while one is held (raising it again depends on its own readings).
        """
        site = self._site_w
        if not self._enabled or self._fail_safe or site is None or self._now is None:
            return None
        now = self._now
        deadlines = self._deadlines(now)
        if deadlines is None:
            return None
        until, pending, in_flight = deadlines
        low = -math.inf
        if self._exporters:
            if any(self._mem[cfg.load_id].held is not Held.NONE for cfg in self._exporters):
                return None
            if self._export_limit is not None:
                low = -self._export_limit.effective_w  # turned down only below it
        candidate = self._first_in_line(now)
        if candidate is not None and candidate[1].commanded_at is None:
            cfg, mem = candidate
            holdoff_end = (
                self._last_action_at + self.settings.restore_holdoff_s
                if self._last_action_at is not None
                else now
            )
            min_off_end = (
                mem.changed_at + cfg.min_off_s if not self._is_on(mem) and mem.changed_at is not None else now
            )
            if holdoff_end > now or min_off_end > now:
                until = min(until, max(holdoff_end, min_off_end))
            else:
                room = self._min_room(cfg, mem, now)
                if room is None:
                    return None
                # A restore needs the site under the restore threshold and the room to fit.
                edge = self._room_edge(self._fill_to(cfg, mem), self._idle_reserve(), room)
                low = max(low, min(math.nextafter(self.restore_threshold_w, -math.inf), edge))
        high = self._limit.effective_w
        if not in_flight:
            return QuietBand(low, high, until, self._never_shed)
        # The same reading, taken again, may show a command that was given earlier.
        if any(self._shown(at, mems, now) for at, mems in self._batches().items()):
            return None
        # Decisions follow the projected power, fixed while the reading does not move.
        if not low < site + pending <= high:
            return None
        return QuietBand(site - READING_TOLERANCE_W, site, until, self._never_shed)

    @staticmethod
    def _room_edge(fill: float, reserve: float, room: float) -> float:
        """The reading above which the room that _restore computes falls short of ``room``.

        ``fill - reserve - room``, moved up where rounding would still give the full room.
        """
        edge = fill - reserve - room
        while (fill - math.nextafter(edge, math.inf)) - reserve >= room:
            edge = math.nextafter(edge, math.inf)
        return edge

    def _deadlines(self, now: float) -> tuple[float, float, bool] | None:
        """For the quiet band: the next timer of any load, the change still in flight, and whether any is.

        None when a command in flight has nothing left to show: the next step
        clears it, and may then decide otherwise.
        """
        until = math.inf
        pending = 0.0
        in_flight = False
        for cfg in self.loads:
            mem = self._mem[cfg.load_id]
            if mem.commanded_at is not None:
                if mem.pending_delta_w == 0.0:
                    return None
                in_flight = True
                pending += mem.pending_delta_w
                until = min(until, mem.commanded_at + self.settings.response_s)
            for deadline in (mem.manual_until, mem.unresponsive_until):
                if deadline is not None:
                    until = min(until, deadline)
            if mem.changed_at is not None and self._is_on(mem) and now < mem.changed_at + cfg.min_on_s:
                until = min(until, mem.changed_at + cfg.min_on_s)
        return until, pending, in_flight

    def _min_room(self, cfg: LoadConfig, mem: _Memory, now: float) -> float | None:
        """The least headroom (W) with which _raise would act; None if it cannot be found exactly."""
        if cfg.kind is LoadKind.SWITCH:
            return self._expected(cfg, mem)
        # What _raise depends on, once the hold-off and minimum off time have passed.
        key = (mem.on, mem.level_w, mem.measured_w, mem.restore_level_w, mem.commanded_at)
        if mem.min_room is not None and mem.min_room[0] == key:
            return mem.min_room[1]
        room = self._find_min_room(cfg, mem, now)
        mem.min_room = (key, room)
        return room

    def _find_min_room(self, cfg: LoadConfig, mem: _Memory, now: float) -> float | None:
        goal = mem.restore_level_w if mem.restore_level_w is not None else cfg.max_w
        start = self._level(cfg, mem) if self._is_on(mem) else 0.0
        target = cfg.quantize_down(max(cfg.min_w, start + cfg.min_raise_w))
        if target < start + cfg.min_raise_w:  # off the grid: one more step
            target = cfg.quantize_down(target + cfg.min_raise_w)
        target = min(target, goal)
        room = max(0.0, target - self._draw(cfg, mem))
        # Check the threshold against _raise itself: it acts at room, and not just below it.
        if self._raise(cfg, mem, now, room) is None:
            return math.inf if self._raise(cfg, mem, now, 1e12) is None else None
        if room > 0 and self._raise(cfg, mem, now, room - ROOM_TOLERANCE_W) is not None:
            return None
        return room

    def status(self) -> Status:
        """A snapshot of everything worth showing."""
        now = self._now if self._now is not None else 0.0
        limit = self._limit.effective_w
        site = self._site_w
        projected = self.projected_w
        first = self._first_in_line(now)
        first_id = first[0].load_id if first is not None else None
        waiting = True  # held loads before the first in line only wait for headroom
        loads: dict[str, LoadStatus] = {}
        for cfg in self.loads:
            mem = self._mem[cfg.load_id]
            state, reason = self._load_state(cfg, mem, now, first_in_line=waiting or cfg.load_id == first_id)
            if cfg.load_id == first_id:
                waiting = False
            on = self._is_on(mem)
            if cfg.kind is LoadKind.MODULATED:
                allocated = self._level(cfg, mem) if on else 0.0
                level: float | None = self._level(cfg, mem)
            else:
                allocated = self._expected(cfg, mem) if on else 0.0
                level = None
            loads[cfg.load_id] = LoadStatus(
                load_id=cfg.load_id,
                state=state,
                reason=reason,
                allocated_w=allocated,
                expected_w=self._expected(cfg, mem),
                level_w=level,
                manual_until=mem.manual_until if self._manual(mem, now) else None,
                actions=mem.actions,
            )
        export = self._export_limit
        return Status(
            time=now,
            state=self._controller_state(projected),
            site_w=site,
            projected_w=projected,
            limit=self._limit,
            rating_w=self.panel.rating_w,
            shed_target_w=self.shed_target_w,
            restore_threshold_w=self.restore_threshold_w,
            headroom_w=None if site is None else limit - site,
            utilisation_pct=None if site is None or limit <= 0 else 100.0 * site / limit,
            over_limit=site is not None and site > limit,
            over_rating=site is not None and site > self.panel.rating_w,
            insufficient=self._insufficient,
            fail_safe=self._fail_safe,
            reading_age_s=None if self._site_time is None else max(0.0, now - self._site_time),
            loads=loads,
            accounting=self._acc.snapshot(),
            planned=self._planned,
            export_limit=export,
            export_headroom_w=None if site is None or export is None else site + export.effective_w,
            over_export_limit=site is not None and export is not None and site < -export.effective_w,
        )

    def _controller_state(self, projected: float | None) -> ControllerState:
        if not self._enabled:
            return ControllerState.MONITORING
        if self._fail_safe:
            return ControllerState.FAIL_SAFE
        if self._shed_this_step or (projected is not None and projected > self._limit.effective_w):
            return ControllerState.SHEDDING
        export = self._export_limit
        if (
            export is not None
            and self._exporters
            and projected is not None
            and projected < -export.effective_w
        ):
            return ControllerState.SHEDDING
        if any(mem.held is not Held.NONE for mem in self._mem.values()):
            return ControllerState.RESTORING
        return ControllerState.NORMAL

    def _load_state(
        self, cfg: LoadConfig, mem: _Memory, now: float, first_in_line: bool
    ) -> tuple[LoadState, LoadReason]:
        if cfg.never_shed:
            return LoadState.NEVER_SHED, LoadReason.CONFIGURED
        if not mem.available:
            return LoadState.UNAVAILABLE, LoadReason.ACTUATOR_UNAVAILABLE
        if mem.unresponsive_until is not None:
            return LoadState.UNAVAILABLE, LoadReason.NOT_RESPONDING
        if self._manual(mem, now):
            return LoadState.MANUAL, LoadReason.MANUAL_OVERRIDE
        if mem.held is Held.NONE:
            if not self._enabled:
                reason = LoadReason.MONITORING
            else:
                reason = LoadReason.RUNNING if self._is_on(mem) else LoadReason.OFF_BY_USER
            return (LoadState.ON if self._is_on(mem) else LoadState.OFF), reason
        held_state = LoadState.REDUCED if mem.held is Held.REDUCED else LoadState.SHED
        if self._fail_safe:
            return held_state, LoadReason.FAIL_SAFE
        if cfg.export:
            return held_state, self._export_reason(cfg, now)
        return self._held_state(cfg, mem, now, first_in_line, held_state)

    def _held_state(
        self, cfg: LoadConfig, mem: _Memory, now: float, first_in_line: bool, held_state: LoadState
    ) -> tuple[LoadState, LoadReason]:
        """Why a load held off or down is not given back yet."""
        if not first_in_line:
            return held_state, LoadReason.HIGHER_PRIORITY_FIRST
        if not self._is_on(mem) and not self._min_off_ok(cfg, mem, now):
            return LoadState.HELD_OFF, LoadReason.MIN_OFF_TIME
        projected = self.projected_w
        if projected is None or projected >= self.restore_threshold_w:
            return held_state, LoadReason.WAITING_FOR_HEADROOM
        if self._last_action_at is not None and now - self._last_action_at < self.settings.restore_holdoff_s:
            return (
                LoadState.HELD_OFF if held_state is LoadState.SHED else held_state
            ), LoadReason.RESTORE_HOLDOFF
        return held_state, LoadReason.WAITING_FOR_HEADROOM

    def _export_reason(self, cfg: LoadConfig, now: float) -> LoadReason:
        """Why a held export actuator is not raised yet."""
        export = self._export_limit
        projected = self.projected_w
        if export is None or projected is None:
            return LoadReason.WAITING_FOR_HEADROOM  # given back at the next step with a reading
        if projected < -export.effective_w:
            return LoadReason.OVER_LIMIT
        first = self._first_exporter_in_line(now)
        # Held ones before the first in line (passed over) only wait for headroom.
        if first is not None and self._exporters.index(cfg) > self._exporters.index(first[0]):
            return LoadReason.HIGHER_PRIORITY_FIRST
        last = self._last_export_action_at
        if projected > self._export_threshold(export.effective_w) and (
            last is not None and now - last < self.settings.restore_holdoff_s
        ):
            return LoadReason.RESTORE_HOLDOFF
        return LoadReason.WAITING_FOR_HEADROOM

    # --------------------------------------------------------------- memory

    def export_memory(self) -> dict[str, Any]:
        """What to persist so a restarted controller knows what it holds."""
        loads = {}
        for load_id, mem in self._mem.items():
            data = {key: value for key, value in asdict(mem).items() if key in _PERSISTED}
            data["held"] = mem.held.value
            loads[load_id] = data
        return {
            "version": MEMORY_VERSION,
            "loads": loads,
            "accounting": asdict(self._acc),
            "last_action_at": self._last_action_at,
            "last_export_action_at": self._last_export_action_at,
        }

    def _load_accounting(self, acc: Mapping[str, Any]) -> None:
        for field_ in fields(Accounting):
            value = acc.get(field_.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if not math.isfinite(value) or value < 0:
                continue
            integral = field_.name in ("actions_total", "day_actions", "day")
            if field_.name.startswith("block_"):
                continue  # a block half filled before a restart is not continued
            setattr(self._acc, field_.name, int(value) if integral else float(value))

    def _load_memory(self, memory: Mapping[str, Any]) -> None:
        """Take back what export_memory gave; anything malformed is ignored."""
        if memory.get("version") != MEMORY_VERSION:
            return
        for load_id, data in (memory.get("loads") or {}).items():
            mem = self._mem.get(load_id)
            if mem is None or not isinstance(data, dict):
                continue
            try:
                mem.held = Held(data.get("held", Held.NONE))
            except ValueError:
                continue
            for key in ("restore_level_w", "remembered_w", "changed_at", "manual_until"):
                value = data.get(key)
                if isinstance(value, (int, float)) and math.isfinite(value):
                    setattr(mem, key, float(value))
            actions = data.get("actions")
            if isinstance(actions, int) and actions >= 0:
                mem.actions = actions
        acc = memory.get("accounting")
        if isinstance(acc, dict):
            self._load_accounting(acc)
        last = memory.get("last_action_at")
        if isinstance(last, (int, float)) and math.isfinite(last):
            self._last_action_at = float(last)
        last = memory.get("last_export_action_at")
        if isinstance(last, (int, float)) and math.isfinite(last):
            self._last_export_action_at = float(last)
