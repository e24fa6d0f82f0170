"""The options: tuning of the control loop, the loads' priority, the grid's limits and its server."""

from __future__ import annotations

from typing import Any

import probatio

from homeassistant.config_entries import ConfigFlowResult, OptionsFlow
from homeassistant.const import CONF_CLIENT_ID, CONF_CLIENT_SECRET, CONF_URL, CONF_VERIFY_SSL
from homeassistant.helpers import selector

from ..configuration import DEFAULT_OPTIONS, ordered_load_ids, panel_from_data
from ..const import (
    CONF_ACTUATOR,
    CONF_EMERGENCY_LIMIT_KW,
    CONF_EXPORT_LIMIT_KW,
    CONF_GRID_SERVER,
    CONF_HYSTERESIS_W,
    CONF_LARGEST_STEP_W,
    CONF_LIMIT_SCHEDULE,
    CONF_LOAD_ORDER,
    CONF_MANUAL_HOLD_S,
    CONF_MARGIN_W,
    CONF_POLL_INTERVAL_S,
    CONF_PROGRAM,
    CONF_PROTOCOL_VERSION,
    CONF_RESERVE_IDLE,
    CONF_RESPONSE_S,
    CONF_RESTORE_HOLDOFF_S,
    CONF_STALENESS_S,
    CONF_SUBSCRIPTION_KW,
    CONF_TARGETS,
    CONF_VEN_NAME,
    DEFAULT_EMERGENCY_LIMIT_KW,
    DEFAULT_POLL_INTERVAL_S,
    WATCHDOG_INTERVAL,
)
from ..engine import PanelConfig
from ..engine.rules import (
    GRID_POWER_RANGE_KW,
    MANUAL_HOLD_RANGE_S,
    MAX_STALENESS_S,
    POLL_INTERVAL_RANGE_S,
    RESPONSE_RANGE_S,
    RESTORE_HOLDOFF_RANGE_S,
    TUNING_POWER_RANGE_W,
    largest_step_error,
    response_error,
    thresholds_error,
)
from ..grid.client import VERSION_301, VERSION_310
from ..grid.schedule import ScheduleError, parse_daily_schedule
from ..grid_coordinator import ServerSettings, async_resume_polling
from .checks import server_errors
from .schemas import number_selector, range_errors, range_placeholders, select_selector

TUNING_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_MARGIN_W): number_selector("tuning_power", TUNING_POWER_RANGE_W, "W", 10),
        probatio.Required(CONF_HYSTERESIS_W): number_selector("tuning_power", TUNING_POWER_RANGE_W, "W", 10),
        probatio.Required(CONF_LARGEST_STEP_W): number_selector(
            "tuning_power", TUNING_POWER_RANGE_W, "W", 10
        ),
        probatio.Required(CONF_RESTORE_HOLDOFF_S): number_selector(
            "restore_holdoff", RESTORE_HOLDOFF_RANGE_S, "s"
        ),
        probatio.Required(CONF_RESPONSE_S): number_selector("response", RESPONSE_RANGE_S, "s"),
        probatio.Required(CONF_STALENESS_S): number_selector(
            "staleness", (WATCHDOG_INTERVAL.total_seconds() * 2, MAX_STALENESS_S), "s"
        ),
        probatio.Required(CONF_MANUAL_HOLD_S): number_selector("manual_hold", MANUAL_HOLD_RANGE_S, "s"),
        probatio.Required(CONF_RESERVE_IDLE): selector.BooleanSelector(),
    }
)
GRID_SCHEMA = probatio.Schema(
    {
        probatio.Optional(CONF_SUBSCRIPTION_KW): number_selector(
            "grid_power", GRID_POWER_RANGE_KW, "kW", "any"
        ),
        probatio.Optional(CONF_LIMIT_SCHEDULE): selector.TextSelector(
            selector.TextSelectorConfig(multiline=True)
        ),
        probatio.Optional(CONF_EXPORT_LIMIT_KW): number_selector(
            "grid_power", GRID_POWER_RANGE_KW, "kW", "any"
        ),
        probatio.Required(CONF_EMERGENCY_LIMIT_KW, default=DEFAULT_EMERGENCY_LIMIT_KW): number_selector(
            "grid_power", GRID_POWER_RANGE_KW, "kW", "any"
        ),
    }
)
GRID_SERVER_SCHEMA = probatio.Schema(
    {
        probatio.Optional(CONF_URL): selector.TextSelector(
            selector.TextSelectorConfig(type=selector.TextSelectorType.URL)
        ),
        probatio.Optional(CONF_CLIENT_ID): selector.TextSelector(),
        probatio.Optional(CONF_CLIENT_SECRET): selector.TextSelector(
            selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD)
        ),
        probatio.Optional(CONF_PROGRAM): selector.TextSelector(),
        probatio.Optional(CONF_VEN_NAME): selector.TextSelector(),
        probatio.Optional(CONF_TARGETS): selector.TextSelector(),
        probatio.Required(CONF_PROTOCOL_VERSION, default=VERSION_310): select_selector(
            CONF_PROTOCOL_VERSION, [VERSION_310, VERSION_301]
        ),
        probatio.Required(CONF_VERIFY_SSL, default=True): selector.BooleanSelector(),
        probatio.Required(CONF_POLL_INTERVAL_S, default=DEFAULT_POLL_INTERVAL_S): number_selector(
            "poll_interval", POLL_INTERVAL_RANGE_S, "s"
        ),
    }
)
SERVER_TEXT_FIELDS = (CONF_URL, CONF_CLIENT_ID, CONF_PROGRAM, CONF_VEN_NAME)


def _tuning_errors(user_input: dict[str, Any], panel: PanelConfig) -> dict[str, str]:
    errors: dict[str, str] = {}
    margin_w, hysteresis_w = user_input[CONF_MARGIN_W], user_input[CONF_HYSTERESIS_W]
    if error := thresholds_error(margin_w, hysteresis_w, panel.continuous_limit_w):
        errors[CONF_HYSTERESIS_W] = error
    if error := largest_step_error(user_input[CONF_LARGEST_STEP_W], panel.rating_w):
        errors[CONF_LARGEST_STEP_W] = error
    if error := response_error(user_input[CONF_RESPONSE_S], user_input[CONF_STALENESS_S]):
        errors[CONF_RESPONSE_S] = error
    return errors


class PanelCapacityOptionsFlow(OptionsFlow):
    """Tuning of the control loop, and the priority order of the loads."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Choose what to change."""
        return self.async_show_menu(
            step_id="init", menu_options=["tuning", "priority", "grid", "grid_server"]
        )

    async def async_step_tuning(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Margins, hysteresis, hold-offs and timeouts."""
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = range_errors(TUNING_SCHEMA, user_input) or _tuning_errors(
                user_input, panel_from_data(self.config_entry.data)
            )
            if not errors:
                return self.async_create_entry(data=dict(self.config_entry.options) | user_input)
        suggested = user_input or (DEFAULT_OPTIONS | dict(self.config_entry.options))
        return self.async_show_form(
            step_id="tuning",
            data_schema=self.add_suggested_values_to_schema(TUNING_SCHEMA, suggested),
            errors=errors,
            description_placeholders=range_placeholders(TUNING_SCHEMA),
        )

    async def async_step_priority(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Order the loads, most important first (the last one is shed first).

        The loads are shown by their actuators, which are unique within a panel,
        in an entity picker that can be reordered by dragging.
        """
        entry = self.config_entry
        order = ordered_load_ids(entry)
        if not order:
            return self.async_abort(reason="no_loads")
        by_actuator = {entry.subentries[sid].data[CONF_ACTUATOR]: sid for sid in order}
        errors: dict[str, str] = {}
        if user_input is not None:
            chosen = list(user_input[CONF_LOAD_ORDER])
            if sorted(chosen) != sorted(by_actuator):
                errors[CONF_LOAD_ORDER] = "order_incomplete"
            else:
                new_order = [by_actuator[actuator] for actuator in chosen]
                return self.async_create_entry(data=dict(entry.options) | {CONF_LOAD_ORDER: new_order})
        actuators = list(by_actuator)
        schema = probatio.Schema(
            {
                probatio.Required(CONF_LOAD_ORDER, default=actuators): selector.EntitySelector(
                    selector.EntitySelectorConfig(include_entities=actuators, multiple=True, reorder=True)
                )
            }
        )
        placeholders = {"loads": ", ".join(entry.subentries[sid].title for sid in order)}
        return self.async_show_form(
            step_id="priority", data_schema=schema, errors=errors, description_placeholders=placeholders
        )

    async def async_step_grid(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """The grid's limits that need no server: a subscription, a daily schedule, an export limit."""
        errors: dict[str, str] = {}
        placeholders = range_placeholders(GRID_SCHEMA) | {"line": ""}
        if user_input is not None:
            errors = range_errors(GRID_SCHEMA, user_input)
            try:
                parse_daily_schedule(str(user_input.get(CONF_LIMIT_SCHEDULE) or ""))
            except ScheduleError as err:
                errors[CONF_LIMIT_SCHEDULE] = "invalid_schedule"
                placeholders["line"] = err.text
            if not errors:
                options = {
                    key: value
                    for key, value in self.config_entry.options.items()
                    if key not in (CONF_SUBSCRIPTION_KW, CONF_LIMIT_SCHEDULE, CONF_EXPORT_LIMIT_KW)
                }
                kept = {key: value for key, value in user_input.items() if value not in (None, "")}
                return self.async_create_entry(data=options | kept)
        return self.async_show_form(
            step_id="grid",
            data_schema=self.add_suggested_values_to_schema(
                GRID_SCHEMA, user_input or dict(self.config_entry.options)
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_grid_server(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """The utility's OpenADR 3 server; checked before it is saved. An empty address removes it."""
        entry = self.config_entry
        current = dict(entry.data.get(CONF_GRID_SERVER) or {})
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = range_errors(GRID_SERVER_SCHEMA, user_input)
        if user_input is not None and not errors:
            updated = {
                key: value.strip() if isinstance(value, str) else value for key, value in user_input.items()
            }
            same_server = all(updated.get(key) == current.get(key) for key in (CONF_URL, CONF_CLIENT_ID))
            if not updated.get(CONF_CLIENT_SECRET) and current.get(CONF_CLIENT_SECRET) and same_server:
                # Left empty: keep it, but never send it to another server or for another client.
                updated[CONF_CLIENT_SECRET] = current[CONF_CLIENT_SECRET]
            if not updated.get(CONF_URL):
                data = {key: value for key, value in entry.data.items() if key != CONF_GRID_SERVER}
                self.hass.config_entries.async_update_entry(entry, data=data)
                return self.async_create_entry(data=dict(entry.options))
            for key in (*SERVER_TEXT_FIELDS, CONF_CLIENT_SECRET):
                if not updated.get(key):
                    errors[key] = "required"
            server = ServerSettings.from_data(updated)
            if not errors and server is not None:
                errors = await server_errors(self.hass, server)
            if not errors:
                if updated == current:
                    async_resume_polling(entry)  # saved unchanged: nothing reloads
                self.hass.config_entries.async_update_entry(
                    entry, data=dict(entry.data) | {CONF_GRID_SERVER: updated}
                )
                return self.async_create_entry(data=dict(entry.options))
        suggested = {
            key: value for key, value in (user_input or current).items() if key != CONF_CLIENT_SECRET
        }
        return self.async_show_form(
            step_id="grid_server",
            data_schema=self.add_suggested_values_to_schema(GRID_SERVER_SCHEMA, suggested),
            errors=errors,
            description_placeholders=range_placeholders(GRID_SERVER_SCHEMA),
        )
