"""A load subentry: its name, actuator and where it draws, then how to drive it (on/off, or to a level)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import probatio

from homeassistant.config_entries import SubentryFlowResult
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT, CONF_NAME
from homeassistant.core import State, split_entity_id
from homeassistant.helpers import selector

from ..configuration import choice_of, watts_per_unit
from ..const import (
    CONF_ACTUATOR,
    CONF_ALLOW_OFF,
    CONF_CONDUCTORS,
    CONF_EXPORT_ACTUATOR,
    CONF_MAX,
    CONF_MIN,
    CONF_MIN_OFF_S,
    CONF_MIN_ON_S,
    CONF_NEVER_SHED,
    CONF_NODE,
    CONF_NOMINAL_W,
    CONF_POWER_SENSOR,
    CONF_STEP,
    CONF_UNIT,
    LEVEL_DOMAINS,
    SWITCH_DOMAINS,
    UNIT_AMPERE,
    UNIT_KILOWATT,
    UNIT_WATT,
)
from ..engine import ROOT
from ..engine.rules import (
    LEVEL_RANGE,
    MIN_ON_OFF_RANGE_S,
    NOMINAL_RANGE_W,
    allow_off_error,
    conductors_error,
    entity_max_error,
    entity_min_error,
    load_rating_error,
    modulated_range_error,
    modulated_step_error,
    name_error,
)
from .checks import actuator_error, sensor_error
from .schemas import (
    number_selector,
    power_sensor_selector,
    range_errors,
    range_placeholders,
    select_selector,
)
from .wiring import (
    WiredSubentryFlow,
    all_of,
    conductor_selector,
    conductors_by_node,
    node_selector,
    offers_choice,
    parents_of,
)

if TYPE_CHECKING:
    from collections.abc import Mapping


LOAD_FIELDS: dict[Any, Any] = {
    probatio.Required(CONF_NAME): selector.TextSelector(),
    probatio.Required(CONF_ACTUATOR): selector.EntitySelector(
        selector.EntitySelectorConfig(domain=[*SWITCH_DOMAINS, *LEVEL_DOMAINS])
    ),
}
COMMON_LOAD_FIELDS: dict[Any, Any] = {
    probatio.Optional(CONF_POWER_SENSOR): power_sensor_selector(),
    probatio.Required(CONF_MIN_ON_S, default=0): number_selector("min_on_off", MIN_ON_OFF_RANGE_S, "s"),
    probatio.Required(CONF_MIN_OFF_S, default=0): number_selector("min_on_off", MIN_ON_OFF_RANGE_S, "s"),
    probatio.Required(CONF_NEVER_SHED, default=False): selector.BooleanSelector(),
}
SWITCH_LOAD_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_NOMINAL_W): number_selector("nominal", NOMINAL_RANGE_W, "W", 1),
        **COMMON_LOAD_FIELDS,
    }
)
# The units an adjustable load's setting may be in.
UNITS = (UNIT_AMPERE, UNIT_WATT, UNIT_KILOWATT)
UNIT_SCHEMA = probatio.Schema(
    {probatio.Required(CONF_UNIT, default=UNIT_AMPERE): select_selector(CONF_UNIT, list(UNITS))}
)


def modulated_schema(unit: str) -> probatio.Schema:
    """The adjustable load's form, its settings shown in ``unit`` (A, W or kW)."""
    return probatio.Schema(
        {
            probatio.Required(CONF_MIN): number_selector("level", LEVEL_RANGE, unit, "any"),
            probatio.Required(CONF_MAX): number_selector("level", LEVEL_RANGE, unit, "any"),
            probatio.Required(CONF_STEP, default=1): number_selector("level", LEVEL_RANGE, unit, "any"),
            probatio.Required(CONF_ALLOW_OFF, default=False): selector.BooleanSelector(),
            probatio.Required(CONF_EXPORT_ACTUATOR, default=False): selector.BooleanSelector(),
            **COMMON_LOAD_FIELDS,
        }
    )


def _entity_bound(state: State | None, attribute: str) -> float | None:
    """The actuator's own lowest or highest setting ("min", "max"), when it has one."""
    value = state.attributes.get(attribute) if state else None
    return value if isinstance(value, (int, float)) else None


class LoadSubentryFlow(WiredSubentryFlow):
    """Add or change one load: its actuator, then how to drive it."""

    def __init__(self) -> None:
        """Start with nothing entered."""
        self._load: dict[str, Any] = {}

    def _current(self) -> dict[str, Any]:
        """What the first form shows: the load as it is, or a load on the panel's every conductor."""
        if not self._reconfiguring():
            return {CONF_NODE: ROOT, CONF_CONDUCTORS: all_of(self._panel().supply)}
        subentry = self._get_reconfigure_subentry()
        current = dict(subentry.data) | {CONF_NAME: subentry.title}
        if conductors := current.get(CONF_CONDUCTORS):
            current[CONF_CONDUCTORS] = choice_of(conductors)
        return current

    def _load_schema(self) -> probatio.Schema:
        """Name and actuator; where it draws when there is a choice (nodes, several conductors)."""
        entry = self._get_entry()
        supply = self._panel().supply
        fields = dict(LOAD_FIELDS)
        if parents_of(entry):
            fields[probatio.Required(CONF_NODE, default=ROOT)] = node_selector(entry)
        if offers_choice(supply):
            fields[probatio.Required(CONF_CONDUCTORS, default=all_of(supply))] = conductor_selector(supply)
        return probatio.Schema(fields)

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Name, actuator, and where the load draws: its node and its conductors."""
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = self._actuator_errors(user_input) | self._wiring_errors(user_input)
            if not errors:
                self._load = dict(user_input) | {
                    CONF_NODE: user_input.get(CONF_NODE, ROOT),
                    CONF_CONDUCTORS: self._conductors(user_input),
                }
                if split_entity_id(user_input[CONF_ACTUATOR])[0] not in LEVEL_DOMAINS:
                    return await self.async_step_switch()
                if (unit := self._declared_unit()) is None:
                    return await self.async_step_unit()
                self._load[CONF_UNIT] = unit
                return await self.async_step_modulated()
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(
                self._load_schema(), user_input or self._current()
            ),
            errors=errors,
        )

    async def async_step_reconfigure(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Change a load."""
        return await self.async_step_user(user_input)

    def _wiring_errors(self, user_input: Mapping[str, Any]) -> dict[str, str]:
        """The load's conductors must be among its node's (a 240 V load on a 120 V circuit is not)."""
        panel = self._panel()
        available = conductors_by_node(self._get_entry(), panel).get(user_input.get(CONF_NODE, ROOT), ())
        if error := conductors_error(self._conductors(user_input), available):
            return {CONF_CONDUCTORS: error}
        return {}

    def _actuator_errors(self, user_input: Mapping[str, Any]) -> dict[str, str]:
        errors: dict[str, str] = {}
        if error := name_error(str(user_input.get(CONF_NAME, ""))):
            errors[CONF_NAME] = error
        own = self._own_id()
        if error := actuator_error(self.hass, user_input[CONF_ACTUATOR], own):
            errors[CONF_ACTUATOR] = error
        return errors

    def _suggested(self, schema: probatio.Schema, user_input: Mapping[str, Any] | None) -> probatio.Schema:
        suggested = dict(user_input) if user_input is not None else self._current()
        return self.add_suggested_values_to_schema(schema, suggested)

    def _declared_unit(self) -> str | None:
        """The unit the actuator gives its value in, when it is one a setting may be in."""
        state = self.hass.states.get(self._load[CONF_ACTUATOR])
        unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT) if state is not None else None
        return unit if unit in UNITS else None

    async def async_step_switch(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """An on/off load: its power and timing."""
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = range_errors(SWITCH_LOAD_SCHEMA, user_input) or self._sensor_errors(user_input)
            if not errors:
                return self._finish(user_input)
        return self.async_show_form(
            step_id="switch",
            data_schema=self._suggested(SWITCH_LOAD_SCHEMA, user_input),
            errors=errors,
            description_placeholders=range_placeholders(SWITCH_LOAD_SCHEMA),
        )

    async def async_step_unit(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """The unit of the setting, asked only of an actuator that does not give one (A, W, kW)."""
        if user_input is not None:
            self._load[CONF_UNIT] = user_input[CONF_UNIT]
            return await self.async_step_modulated()
        return self.async_show_form(
            step_id="unit",
            data_schema=self._suggested(UNIT_SCHEMA, None),
            description_placeholders={"actuator": self._load[CONF_ACTUATOR]},
        )

    async def async_step_modulated(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """A load set by a number: its range and step, in the unit of the setting."""
        unit = self._load[CONF_UNIT]
        schema = modulated_schema(unit)
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = range_errors(schema, user_input) or (
                self._sensor_errors(user_input) | self._range_errors(user_input)
            )
            if not errors:
                return self._finish(user_input)
        state = self.hass.states.get(self._load[CONF_ACTUATOR])
        placeholders = range_placeholders(schema) | {
            "entity_min": str(state.attributes.get("min", "?")) if state else "?",
            "entity_max": str(state.attributes.get("max", "?")) if state else "?",
            "unit": unit,
        }
        return self.async_show_form(
            step_id="modulated",
            data_schema=self._suggested(schema, user_input),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _sensor_errors(self, user_input: Mapping[str, Any]) -> dict[str, str]:
        sensor = user_input.get(CONF_POWER_SENSOR)
        if sensor and (error := sensor_error(self.hass, sensor)):
            return {CONF_POWER_SENSOR: error}
        return {}

    def _range_errors(self, user_input: Mapping[str, Any]) -> dict[str, str]:
        low, high, step = user_input[CONF_MIN], user_input[CONF_MAX], user_input[CONF_STEP]
        unit = self._load[CONF_UNIT]
        errors: dict[str, str] = {}
        if error := modulated_range_error(low, high):
            errors[CONF_MAX] = error
        elif error := modulated_step_error(low, high, step):
            errors[CONF_STEP] = error
        state = self.hass.states.get(self._load[CONF_ACTUATOR])
        entity_min, entity_max = _entity_bound(state, "min"), _entity_bound(state, "max")
        if error := entity_min_error(low, entity_min):
            errors[CONF_MIN] = error
        if error := entity_max_error(high, entity_max):
            errors[CONF_MAX] = error
        if error := allow_off_error(user_input[CONF_ALLOW_OFF], entity_min):
            errors[CONF_ALLOW_OFF] = error
        panel = self._panel()
        factor = watts_per_unit(panel, unit, len(self._load[CONF_CONDUCTORS]))
        if not errors and (error := load_rating_error(high * factor, panel.rating_w)):
            errors[CONF_MAX] = error
        return errors

    def _finish(self, details: Mapping[str, Any]) -> SubentryFlowResult:
        title = str(self._load[CONF_NAME]).strip()
        kept = (CONF_ACTUATOR, CONF_NODE, CONF_CONDUCTORS, CONF_UNIT)  # the unit: adjustable loads only
        data = {key: self._load[key] for key in kept if key in self._load} | {
            key: value for key, value in details.items() if value not in (None, "")
        }
        if self._reconfiguring():
            return self.async_update_and_abort(
                self._get_entry(), self._get_reconfigure_subentry(), title=title, data=data
            )
        return self.async_create_entry(title=title, data=data)
