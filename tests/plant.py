"""A tiny closed-loop house for engine tests: base load plus loads that follow commands.

Commands change the actuator state at once (as a Home Assistant entity does)
and the power after ``delay`` seconds (as an EV charger does).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from custom_components.panel_capacity.engine import (
    Action,
    ActionKind,
    CapacityEngine,
    LoadConfig,
    LoadInput,
    LoadKind,
    SiteReading,
    StepInput,
)


def inputs_of(loads: tuple[LoadConfig, ...], setting: dict[str, float]) -> dict[str, LoadInput]:
    """What the loads' actuators show, from their settings (switch: 0/1, modulated: W)."""
    inputs = {}
    for cfg in loads:
        value = setting[cfg.load_id]
        if cfg.kind is LoadKind.SWITCH:
            inputs[cfg.load_id] = LoadInput(is_on=value > 0)
        else:
            inputs[cfg.load_id] = LoadInput(is_on=value > 0, level_w=value)
    return inputs


def setting_after(loads: tuple[LoadConfig, ...], action: Action) -> float:
    """A load's setting once an action is carried out."""
    cfg = next(c for c in loads if c.load_id == action.load_id)
    if action.kind is ActionKind.TURN_OFF:
        return 0.0
    if action.kind is ActionKind.TURN_ON:
        return 1.0 if cfg.kind is LoadKind.SWITCH else cfg.max_w
    return float(action.level_w or 0.0)


class Driver:
    """Steps an engine in a closed loop: each step's readings from ``step_input``, its actions through ``apply``."""

    engine: CapacityEngine
    now: float
    actions: list[tuple[float, Action]]

    def step_input(self) -> StepInput:  # pragma: no cover - every plant has its own
        raise NotImplementedError

    def apply(self, action: Action) -> None:  # pragma: no cover - every plant has its own
        raise NotImplementedError

    def step(self, period: float = 1.0) -> tuple[Action, ...]:
        self.now += period
        result = self.engine.step(self.step_input())
        for action in result.actions:
            self.actions.append((self.now, action))
            self.apply(action)
        return result.actions

    def run(self, seconds: float, period: float = 1.0) -> None:
        end = self.now + seconds
        while self.now < end:
            self.step(period)


@dataclass
class Plant(Driver):
    """Drives an engine over a base-load profile."""

    engine: CapacityEngine
    base: float
    setting: dict[str, float] = field(default_factory=dict)  # switch: 0/1, modulated: W
    delay: float = 0.0
    now: float = 0.0
    actions: list[tuple[float, Action]] = field(default_factory=list)
    _effective: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for cfg in self.engine.loads:
            self.setting.setdefault(cfg.load_id, 1.0 if cfg.kind is LoadKind.SWITCH else cfg.max_w)
            self._effective[cfg.load_id] = [(-1e18, self.setting[cfg.load_id])]

    def draw(self, load_id: str, at: float) -> float:
        """Power a load draws at a time, honouring the actuator delay."""
        cfg = next(c for c in self.engine.loads if c.load_id == load_id)
        value = next(v for t, v in reversed(self._effective[load_id]) if t <= at)
        return cfg.nominal_w * value if cfg.kind is LoadKind.SWITCH else value

    def site(self, at: float | None = None) -> float:
        at = self.now if at is None else at
        return self.base + sum(self.draw(cfg.load_id, at) for cfg in self.engine.loads)

    def inputs(self) -> dict[str, LoadInput]:
        return inputs_of(self.engine.loads, self.setting)

    def apply(self, action: Action) -> None:
        value = setting_after(self.engine.loads, action)
        self.setting[action.load_id] = value
        self._effective[action.load_id].append((self.now + self.delay, value))

    def step_input(self) -> StepInput:
        return StepInput(now=self.now, site=SiteReading(self.site(), self.now), loads=self.inputs())
