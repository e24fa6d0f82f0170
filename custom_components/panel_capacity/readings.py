"""Read power from Home Assistant states, and turn engine actions into service calls."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from homeassistant.const import (
    ATTR_ENTITY_ID,
    ATTR_UNIT_OF_MEASUREMENT,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    UnitOfElectricCurrent,
    UnitOfPower,
)
from homeassistant.util.unit_conversion import PowerConverter

from .const import LEVEL_DOMAINS
from .engine import ActionKind

if TYPE_CHECKING:
    from homeassistant.core import State

    from .configuration import LoadBinding
    from .engine import Action

CURRENT_UNITS = {UnitOfElectricCurrent.AMPERE: 1.0, UnitOfElectricCurrent.MILLIAMPERE: 0.001}
POWER_UNITS = frozenset(PowerConverter.VALID_UNITS)
SUPPORTED_UNITS = frozenset(POWER_UNITS | set(CURRENT_UNITS))
# Domains whose "on" is any state but off (an HVAC or heater mode).
MODE_DOMAINS = ("climate", "water_heater")
ATTR_MIN = "min"
ATTR_MAX = "max"
ATTR_STEP = "step"
ATTR_VALUE = "value"
SERVICE_SET_VALUE = "set_value"


def state_number(state: State | None) -> float | None:
    """A finite number from a state, or None: unknown and unavailable are never 0."""
    if state is None or state.state in (STATE_UNKNOWN, STATE_UNAVAILABLE):
        return None
    try:
        value = float(state.state)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def state_power_w(state: State | None, watts_per_amp: float) -> float | None:
    """Power in W from a power sensor (W, kW, ...) or a current sensor (A)."""
    value = state_number(state)
    if value is None or state is None:
        return None
    unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
    if unit in POWER_UNITS:
        return float(PowerConverter.convert(value, unit, UnitOfPower.WATT))
    if unit in CURRENT_UNITS:
        return value * CURRENT_UNITS[unit] * watts_per_amp
    return None


def actuator_available(state: State | None) -> bool:
    """Whether an actuator can be read and commanded."""
    return state is not None and state.state not in (STATE_UNKNOWN, STATE_UNAVAILABLE)


def actuator_is_on(domain: str, state: State) -> bool:
    """On/off of a switch-like actuator."""
    if domain in MODE_DOMAINS:
        return state.state != STATE_OFF
    return state.state == STATE_ON


def _attribute(state: State | None, name: str) -> float | None:
    value = state.attributes.get(name) if state is not None else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def actuator_value(load: LoadBinding, level_w: float, state: State | None) -> float:
    """The actuator value for a level in W: on the entity's step grid, within its range.

    Rounds down, so a load is never given more than the engine allowed.
    """
    value = level_w / load.watts_per_unit
    low = _attribute(state, ATTR_MIN)
    high = _attribute(state, ATTR_MAX)
    step = _attribute(state, ATTR_STEP)
    if step and step > 0:
        origin = low if low is not None else 0.0
        value = origin + math.floor((value - origin) / step + 1e-9) * step
        value = round(value, max(0, -math.floor(math.log10(step))) + 3)
    if high is not None:
        value = min(value, high)
    if low is not None:
        value = max(value, low)
    return value


def service_call(load: LoadBinding, action: Action, state: State | None) -> tuple[str, str, dict[str, Any]]:
    """The (domain, service, data) that carries out an action on a load's actuator."""
    domain = load.domain
    target: dict[str, Any] = {ATTR_ENTITY_ID: load.actuator}
    if domain in LEVEL_DOMAINS:
        level = 0.0 if action.kind is ActionKind.TURN_OFF else (action.level_w or 0.0)
        value = 0.0 if level <= 0 else actuator_value(load, level, state)
        return domain, SERVICE_SET_VALUE, target | {ATTR_VALUE: value}
    service = SERVICE_TURN_OFF if action.kind is ActionKind.TURN_OFF else SERVICE_TURN_ON
    return domain, service, target
