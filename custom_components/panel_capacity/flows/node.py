"""A node subentry: a subpanel or circuit, where it hangs and what feeds it, then its meter."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import probatio

from homeassistant.config_entries import SubentryFlowResult
from homeassistant.const import CONF_NAME
from homeassistant.helpers import selector

from ..configuration import SENSOR_KEYS, choice_of
from ..const import (
    CONF_CAP_A,
    CONF_CONDUCTORS,
    CONF_CONTINUOUS_PCT,
    CONF_PARENT,
    CONF_POWER_SENSOR,
    CONF_RATING_A,
    DEFAULT_CONTINUOUS_PCT,
)
from ..engine import ROOT, Conductor
from ..engine.rules import (
    CONTINUOUS_RANGE,
    RATING_RANGE,
    conductors_error,
    name_error,
    node_cap_error,
    parent_error,
)
from .checks import meter_errors
from .schemas import number_selector, optional_sensors, range_errors, range_placeholders
from .wiring import (
    WiredSubentryFlow,
    all_of,
    conductor_selector,
    conductors_by_node,
    drawn_below,
    hanging_below,
    node_selector,
    offers_choice,
    parents_of,
)

if TYPE_CHECKING:
    from collections.abc import Mapping


class NodeSubentryFlow(WiredSubentryFlow):
    """Add or change a subpanel or circuit: where it hangs, its rating, then its sensors."""

    def __init__(self) -> None:
        """Start with nothing entered."""
        self._node: dict[str, Any] = {}

    def _current(self) -> dict[str, Any]:
        """What the form shows first: the node as it is, or a node on the panel's every conductor."""
        panel = self._panel()
        if not self._reconfiguring():
            return {CONF_PARENT: ROOT, CONF_CONDUCTORS: all_of(panel.supply)}
        subentry = self._get_reconfigure_subentry()
        current = dict(subentry.data) | {CONF_NAME: subentry.title}
        own = current.get(CONF_CONDUCTORS) or [conductor.value for conductor in panel.conductors]
        return current | {CONF_CONDUCTORS: choice_of(own)}

    def _schema(self) -> probatio.Schema:
        panel = self._panel()
        fields: dict[Any, Any] = {
            probatio.Required(CONF_NAME): selector.TextSelector(),
            probatio.Required(CONF_PARENT, default=ROOT): node_selector(self._get_entry(), self._own_id()),
            probatio.Required(CONF_RATING_A): number_selector("rating", RATING_RANGE, "A"),
            probatio.Required(CONF_CONTINUOUS_PCT, default=DEFAULT_CONTINUOUS_PCT): number_selector(
                "continuous", CONTINUOUS_RANGE, "%"
            ),
            probatio.Optional(CONF_CAP_A): number_selector("cap", (0, RATING_RANGE[1]), "A", "any"),
        }
        if offers_choice(panel.supply):
            fields[probatio.Required(CONF_CONDUCTORS)] = conductor_selector(panel.supply)
        return probatio.Schema(fields)

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Name, parent, rating, factor, cap and conductors."""
        errors: dict[str, str] = {}
        schema = self._schema()
        if user_input is not None:
            errors = range_errors(schema, user_input) or self._node_errors(user_input)
            if not errors:
                self._node = dict(user_input)
                return await self.async_step_sensors()
        below = hanging_below(self._get_entry(), own) if (own := self._own_id()) else []
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or self._current()),
            errors=errors,
            description_placeholders=range_placeholders(schema) | {"below": ", ".join(below) or "-"},
        )

    async def async_step_reconfigure(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Change a node."""
        return await self.async_step_user(user_input)

    def _node_errors(self, user_input: Mapping[str, Any]) -> dict[str, str]:
        entry = self._get_entry()
        own = self._own_id()
        errors: dict[str, str] = {}
        if error := name_error(str(user_input.get(CONF_NAME, ""))):
            errors[CONF_NAME] = error
        parent = str(user_input[CONF_PARENT])
        parents = {sid: p for sid, p in parents_of(entry).items() if sid != own}
        if error := parent_error(own, parent, parents, ROOT):
            errors[CONF_PARENT] = error
        if error := node_cap_error(user_input.get(CONF_CAP_A), float(user_input[CONF_RATING_A])):
            errors[CONF_CAP_A] = error
        chosen = self._conductors(user_input)
        available = conductors_by_node(entry, self._panel()).get(parent, ())
        if not errors and (error := conductors_error(chosen, available)):
            errors[CONF_CONDUCTORS] = error
        elif own and conductors_error(drawn_below(entry, own), chosen):
            errors[CONF_CONDUCTORS] = "conductors_in_use"  # a load or node below draws on another
        return errors

    async def async_step_sensors(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Its own meter, if it has one: a total, and one per leg or phase."""
        chosen = self._conductors(self._node)
        # One sensor a leg or phase, where it has several (one conductor: its total is all).
        conductors = [Conductor(value) for value in chosen] if len(chosen) > 1 else []
        keys = [CONF_POWER_SENSOR, *(SENSOR_KEYS[conductor] for conductor in conductors)]
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = meter_errors(self.hass, user_input, (CONF_POWER_SENSOR,), conductors, required=False)
            if not errors:
                return self._finish(user_input)
        suggested = (
            user_input if user_input is not None else (self._current() if self._reconfiguring() else {})
        )
        return self.async_show_form(
            step_id="sensors",
            data_schema=self.add_suggested_values_to_schema(
                probatio.Schema(optional_sensors(keys)), suggested
            ),
            errors=errors,
        )

    def _finish(self, sensors: Mapping[str, Any]) -> SubentryFlowResult:
        node = self._node
        title = str(node[CONF_NAME]).strip()
        data: dict[str, Any] = {
            CONF_PARENT: node[CONF_PARENT],
            CONF_RATING_A: node[CONF_RATING_A],
            CONF_CONTINUOUS_PCT: node[CONF_CONTINUOUS_PCT],
            CONF_CONDUCTORS: self._conductors(node),
        }
        if node.get(CONF_CAP_A) is not None:
            data[CONF_CAP_A] = node[CONF_CAP_A]
        data |= {key: value for key, value in sensors.items() if value}
        if self._reconfiguring():
            return self.async_update_and_abort(
                self._get_entry(), self._get_reconfigure_subentry(), title=title, data=data
            )
        return self.async_create_entry(title=title, data=data)
