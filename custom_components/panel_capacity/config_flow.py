"""Config flow: the panel and its meter; options: tuning, load priority and the grid; subentries: loads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import probatio

from homeassistant.components.climate import ClimateEntityFeature
from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.components.water_heater import WaterHeaterEntityFeature
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
    OptionsFlow,
    SubentryFlowResult,
)
from homeassistant.const import (
    ATTR_SUPPORTED_FEATURES,
    ATTR_UNIT_OF_MEASUREMENT,
    CONF_CLIENT_ID,
    CONF_CLIENT_SECRET,
    CONF_NAME,
    CONF_URL,
    CONF_VERIFY_SSL,
)
from homeassistant.core import HomeAssistant, State, callback, split_entity_id
from homeassistant.data_entry_flow import AbortFlow
from homeassistant.helpers import selector

from .configuration import DEFAULT_OPTIONS, ordered_load_ids, panel_from_data, watts_per_unit
from .const import (
    CONF_ACTUATOR,
    CONF_ALLOW_OFF,
    CONF_CONTINUOUS_PCT,
    CONF_EMERGENCY_LIMIT_KW,
    CONF_EXPORT_ACTUATOR,
    CONF_EXPORT_LIMIT_KW,
    CONF_EXPORT_SENSOR,
    CONF_GRID_SERVER,
    CONF_HYSTERESIS_W,
    CONF_IMPORT_SENSOR,
    CONF_LARGEST_STEP_W,
    CONF_LIMIT_SCHEDULE,
    CONF_LOAD_ORDER,
    CONF_MANUAL_HOLD_S,
    CONF_MARGIN_W,
    CONF_MAX,
    CONF_METERING,
    CONF_MIN,
    CONF_MIN_OFF_S,
    CONF_MIN_ON_S,
    CONF_NEVER_SHED,
    CONF_NOMINAL_W,
    CONF_PHASES,
    CONF_POLL_INTERVAL_S,
    CONF_POWER_SENSOR,
    CONF_PROGRAM,
    CONF_PROTOCOL_VERSION,
    CONF_RATING_A,
    CONF_RESERVE_IDLE,
    CONF_RESPONSE_S,
    CONF_RESTORE_HOLDOFF_S,
    CONF_SITE_SENSOR,
    CONF_STALENESS_S,
    CONF_STEP,
    CONF_SUBSCRIPTION_KW,
    CONF_SUPPLY,
    CONF_TARGETS,
    CONF_UNIT,
    CONF_VEN_NAME,
    CONF_VOLTAGE_V,
    DEFAULT_CONTINUOUS_PCT,
    DEFAULT_EMERGENCY_LIMIT_KW,
    DEFAULT_POLL_INTERVAL_S,
    DOMAIN,
    LEVEL_DOMAINS,
    METERING_NET,
    METERING_PAIR,
    SUBENTRY_LOAD,
    SWITCH_DOMAINS,
    UNIT_AMPERE,
    UNIT_KILOWATT,
    UNIT_WATT,
    WATCHDOG_INTERVAL,
)
from .engine import Supply
from .grid.client import (
    VERSION_301,
    VERSION_310,
    OpenAdrAuthError,
    OpenAdrConnectionError,
    OpenAdrError,
    ProgramNotFoundError,
)
from .grid.schedule import ScheduleError, parse_daily_schedule
from .grid_coordinator import ServerSettings, make_client
from .readings import SUPPORTED_UNITS, state_number

if TYPE_CHECKING:
    from collections.abc import Mapping

# What a panel's nameplate can plausibly say.
RATING_RANGE = (1.0, 2000.0)  # A
VOLTAGE_RANGE = (90.0, 480.0)  # V
CONTINUOUS_RANGE = (50.0, 100.0)  # %
SECONDS_DAY = 86400
# Above this a three-phase voltage must be line-to-line (400 V, 208 V), not what we ask for.
MAX_LINE_TO_NEUTRAL_V = 277


def _number(
    low: float,
    high: float,
    unit: str,
    step: float | Literal["any"] = 1,
    mode: selector.NumberSelectorMode = selector.NumberSelectorMode.BOX,
) -> selector.NumberSelector:
    return selector.NumberSelector(
        selector.NumberSelectorConfig(min=low, max=high, step=step, unit_of_measurement=unit, mode=mode)
    )


def _select(key: str, options: list[str]) -> selector.SelectSelector:
    return selector.SelectSelector(
        selector.SelectSelectorConfig(
            options=options, translation_key=key, mode=selector.SelectSelectorMode.DROPDOWN
        )
    )


def _power_sensor_selector() -> selector.EntitySelector:
    return selector.EntitySelector(
        selector.EntitySelectorConfig(
            filter=[
                selector.EntityWithDeviceFilterSelectorConfig(domain="sensor", device_class=device_class)
                for device_class in (SensorDeviceClass.POWER, SensorDeviceClass.CURRENT)
            ]
        )
    )


PANEL_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_NAME, default="Main panel"): selector.TextSelector(),
        probatio.Required(CONF_SUPPLY, default=Supply.SPLIT_PHASE.value): _select(
            CONF_SUPPLY, [supply.value for supply in Supply]
        ),
        probatio.Required(CONF_RATING_A, default=100): _number(*RATING_RANGE, "A"),
        probatio.Required(CONF_VOLTAGE_V, default=240): _number(*VOLTAGE_RANGE, "V"),
        probatio.Required(CONF_CONTINUOUS_PCT, default=DEFAULT_CONTINUOUS_PCT): _number(
            *CONTINUOUS_RANGE, "%"
        ),
        probatio.Required(CONF_METERING, default=METERING_NET): _select(
            CONF_METERING, [METERING_NET, METERING_PAIR]
        ),
    }
)
NET_SCHEMA = probatio.Schema({probatio.Required(CONF_SITE_SENSOR): _power_sensor_selector()})
PAIR_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_IMPORT_SENSOR): _power_sensor_selector(),
        probatio.Required(CONF_EXPORT_SENSOR): _power_sensor_selector(),
    }
)
TUNING_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_MARGIN_W): _number(0, 100000, "W", 10),
        probatio.Required(CONF_HYSTERESIS_W): _number(0, 100000, "W", 10),
        probatio.Required(CONF_LARGEST_STEP_W): _number(0, 100000, "W", 10),
        probatio.Required(CONF_RESTORE_HOLDOFF_S): _number(0, 3600, "s"),
        probatio.Required(CONF_RESPONSE_S): _number(1, 600, "s"),
        probatio.Required(CONF_STALENESS_S): _number(WATCHDOG_INTERVAL.total_seconds() * 2, 3600, "s"),
        probatio.Required(CONF_MANUAL_HOLD_S): _number(0, SECONDS_DAY, "s"),
        probatio.Required(CONF_RESERVE_IDLE): selector.BooleanSelector(),
    }
)


GRID_SCHEMA = probatio.Schema(
    {
        probatio.Optional(CONF_SUBSCRIPTION_KW): _number(0, 10000, "kW", "any"),
        probatio.Optional(CONF_LIMIT_SCHEDULE): selector.TextSelector(
            selector.TextSelectorConfig(multiline=True)
        ),
        probatio.Optional(CONF_EXPORT_LIMIT_KW): _number(0, 10000, "kW", "any"),
        probatio.Required(CONF_EMERGENCY_LIMIT_KW, default=DEFAULT_EMERGENCY_LIMIT_KW): _number(
            0, 10000, "kW", "any"
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
        probatio.Required(CONF_PROTOCOL_VERSION, default=VERSION_310): _select(
            CONF_PROTOCOL_VERSION, [VERSION_310, VERSION_301]
        ),
        probatio.Required(CONF_VERIFY_SSL, default=True): selector.BooleanSelector(),
        probatio.Required(CONF_POLL_INTERVAL_S, default=DEFAULT_POLL_INTERVAL_S): _number(10, 3600, "s"),
    }
)
CREDENTIALS_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_CLIENT_ID): selector.TextSelector(),
        probatio.Required(CONF_CLIENT_SECRET): selector.TextSelector(
            selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD)
        ),
    }
)
SERVER_TEXT_FIELDS = (CONF_URL, CONF_CLIENT_ID, CONF_PROGRAM, CONF_VEN_NAME)


async def _server_errors(hass: HomeAssistant, server: ServerSettings) -> dict[str, str]:
    """Check the server: fetch a token, then find the program. Errors keyed by field."""
    url = server.url.lower()
    if not url.startswith(("https://", "http://")):
        return {CONF_URL: "invalid_url"}
    if url.startswith("http://") and server.verify_ssl:
        # Plain HTTP would send the secret in clear: only for a test server, with verification off.
        return {CONF_URL: "insecure_url"}
    client = make_client(hass, server)
    try:
        await client.authenticate()
        await client.find_program(server.program)
    except OpenAdrAuthError:
        return {CONF_CLIENT_SECRET: "invalid_auth"}
    except ProgramNotFoundError:
        return {CONF_PROGRAM: "program_not_found"}
    except OpenAdrConnectionError:
        return {CONF_URL: "cannot_connect"}
    except OpenAdrError:
        return {CONF_URL: "not_openadr"}
    return {}


def _sensor_error(hass: HomeAssistant, entity_id: str) -> str | None:
    """Why a sensor cannot measure power, or None when it can."""
    state = hass.states.get(entity_id)
    if state is None:
        return "entity_not_found"
    if state.attributes.get(ATTR_UNIT_OF_MEASUREMENT) not in SUPPORTED_UNITS:
        return "unsupported_unit"
    if state_number(state) is None and state.state not in ("unknown", "unavailable"):
        return "not_numeric"
    return None


# Actuators that can be switched only when the entity says it supports it.
REQUIRED_FEATURES = {
    "climate": ClimateEntityFeature.TURN_OFF | ClimateEntityFeature.TURN_ON,
    "water_heater": WaterHeaterEntityFeature.ON_OFF,
}


def _can_switch(state: State) -> bool:
    """Whether Panel Capacity can turn this actuator off and on again."""
    required = REQUIRED_FEATURES.get(state.domain)
    if required is None:
        return True
    features = state.attributes.get(ATTR_SUPPORTED_FEATURES) or 0
    return int(features) & required == required


def _panel_errors(user_input: Mapping[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not str(user_input.get(CONF_NAME, "")).strip():
        errors[CONF_NAME] = "name_required"
    supply = user_input[CONF_SUPPLY]
    voltage = float(user_input[CONF_VOLTAGE_V])
    # Three-phase takes the line-to-neutral voltage (230 V, or 120 V for 208Y/120).
    if supply == Supply.THREE_PHASE and voltage > MAX_LINE_TO_NEUTRAL_V:
        errors[CONF_VOLTAGE_V] = "voltage_line_to_neutral"
    return errors


def _sensor_errors(hass: HomeAssistant, user_input: Mapping[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for key in (CONF_SITE_SENSOR, CONF_IMPORT_SENSOR, CONF_EXPORT_SENSOR):
        if key in user_input and (error := _sensor_error(hass, user_input[key])):
            errors[key] = error
    if user_input.get(CONF_IMPORT_SENSOR) and user_input.get(CONF_IMPORT_SENSOR) == user_input.get(
        CONF_EXPORT_SENSOR
    ):
        errors[CONF_EXPORT_SENSOR] = "same_sensor"
    return errors


def _meter_keys(data: Mapping[str, Any]) -> dict[str, Any]:
    """The keys that identify a panel's meter, to reject a second entry on it."""
    if data.get(CONF_METERING) == METERING_PAIR:
        return {CONF_IMPORT_SENSOR: data[CONF_IMPORT_SENSOR]}
    return {CONF_SITE_SENSOR: data[CONF_SITE_SENSOR]}


class PanelCapacityConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add a panel: its rating, then the sensor that measures it."""

    VERSION = 1

    def __init__(self) -> None:
        """Start with nothing entered."""
        self._panel: dict[str, Any] = {}

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> PanelCapacityOptionsFlow:
        """Tuning and load priority."""
        return PanelCapacityOptionsFlow()

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Each controllable load is a subentry."""
        return {SUBENTRY_LOAD: LoadSubentryFlow}

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """The panel."""
        return await self._panel_step("user", user_input, {})

    async def _panel_step(
        self, step_id: str, user_input: dict[str, Any] | None, suggested: dict[str, Any]
    ) -> ConfigFlowResult:
        """The panel's form (new or reconfigured); the sensors come next."""
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = _panel_errors(user_input)
            if not errors:
                self._panel = user_input
                return await self.async_step_sensors()
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(PANEL_SCHEMA, user_input or suggested),
            errors=errors,
        )

    async def async_step_sensors(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """The sensor (or import/export pair) measuring the panel."""
        pair = self._panel[CONF_METERING] == METERING_PAIR
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = _sensor_errors(self.hass, user_input)
            if not errors:
                data = {key: value for key, value in self._panel.items() if key != CONF_NAME} | user_input
                if self.source == SOURCE_RECONFIGURE:
                    entry = self._get_reconfigure_entry()
                    self._async_abort_entries_match_except(entry, _meter_keys(data))
                    return self.async_update_and_abort(entry, data=data, title=self._panel[CONF_NAME])
                self._async_abort_entries_match(_meter_keys(data))
                return self.async_create_entry(title=self._panel[CONF_NAME].strip(), data=data)
        schema = PAIR_SCHEMA if pair else NET_SCHEMA
        return self.async_show_form(
            step_id="sensors",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or self._suggested_sensors()),
            errors=errors,
        )

    def _suggested_sensors(self) -> dict[str, Any]:
        if self.source == SOURCE_RECONFIGURE:
            return dict(self._get_reconfigure_entry().data)
        return {}

    def _async_abort_entries_match_except(self, keep: ConfigEntry, match: dict[str, Any]) -> None:
        """Abort when another entry (not the one being reconfigured) uses this meter."""
        for entry in self._async_current_entries(include_ignore=False):
            if entry.entry_id != keep.entry_id and all(entry.data.get(k) == v for k, v in match.items()):
                raise AbortFlow("already_configured")

    async def async_step_reconfigure(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Change the panel's rating or its meter."""
        entry = self._get_reconfigure_entry()
        return await self._panel_step("reconfigure", user_input, dict(entry.data) | {CONF_NAME: entry.title})

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The grid server stopped accepting the credentials."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Enter new credentials for the grid server; they are checked before they are saved."""
        entry = self._get_reauth_entry()
        current = dict(entry.data.get(CONF_GRID_SERVER) or {})
        errors: dict[str, str] = {}
        if user_input is not None:
            updated = current | user_input
            server = ServerSettings.from_data(updated)
            if server is None:
                return self.async_abort(reason="no_grid_server")
            # The form only has the credentials: any other trouble is shown for the whole form.
            errors = {
                (key if key in user_input else "base"): error
                for key, error in (await _server_errors(self.hass, server)).items()
            }
            if not errors:
                # The entry's update listener reloads it.
                return self.async_update_and_abort(entry, data_updates={CONF_GRID_SERVER: updated})
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=self.add_suggested_values_to_schema(
                CREDENTIALS_SCHEMA, {CONF_CLIENT_ID: (user_input or current).get(CONF_CLIENT_ID)}
            ),
            errors=errors,
            description_placeholders={"url": str(current.get(CONF_URL, ""))},
        )


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
            panel = panel_from_data(self.config_entry.data)
            if user_input[CONF_MARGIN_W] + user_input[CONF_HYSTERESIS_W] >= panel.continuous_limit_w:
                errors[CONF_HYSTERESIS_W] = "thresholds_too_wide"
            if user_input[CONF_LARGEST_STEP_W] >= panel.rating_w:
                errors[CONF_LARGEST_STEP_W] = "step_above_rating"
            if user_input[CONF_RESPONSE_S] >= user_input[CONF_STALENESS_S]:
                errors[CONF_RESPONSE_S] = "response_above_staleness"
            if not errors:
                return self.async_create_entry(data=dict(self.config_entry.options) | user_input)
        suggested = user_input or (DEFAULT_OPTIONS | dict(self.config_entry.options))
        return self.async_show_form(
            step_id="tuning",
            data_schema=self.add_suggested_values_to_schema(TUNING_SCHEMA, suggested),
            errors=errors,
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
        placeholders = {"line": ""}
        if user_input is not None:
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
                errors = await _server_errors(self.hass, server)
            if not errors:
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
        )


LOAD_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_NAME): selector.TextSelector(),
        probatio.Required(CONF_ACTUATOR): selector.EntitySelector(
            selector.EntitySelectorConfig(domain=[*SWITCH_DOMAINS, *LEVEL_DOMAINS])
        ),
    }
)


COMMON_LOAD_FIELDS: dict[Any, Any] = {
    probatio.Optional(CONF_POWER_SENSOR): _power_sensor_selector(),
    probatio.Required(CONF_MIN_ON_S, default=0): _number(0, SECONDS_DAY, "s"),
    probatio.Required(CONF_MIN_OFF_S, default=0): _number(0, SECONDS_DAY, "s"),
    probatio.Required(CONF_NEVER_SHED, default=False): selector.BooleanSelector(),
}
SWITCH_LOAD_SCHEMA = probatio.Schema(
    {probatio.Required(CONF_NOMINAL_W): _number(1, 100000, "W", 1), **COMMON_LOAD_FIELDS}
)
MODULATED_LOAD_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_UNIT, default=UNIT_AMPERE): _select(
            CONF_UNIT, [UNIT_AMPERE, UNIT_WATT, UNIT_KILOWATT]
        ),
        probatio.Required(CONF_PHASES, default="1"): _select(CONF_PHASES, ["1", "3"]),
        probatio.Required(CONF_MIN): _number(0, 100000, "", "any"),
        probatio.Required(CONF_MAX): _number(0, 100000, "", "any"),
        probatio.Required(CONF_STEP, default=1): _number(0, 100000, "", "any"),
        probatio.Required(CONF_ALLOW_OFF, default=False): selector.BooleanSelector(),
        probatio.Required(CONF_EXPORT_ACTUATOR, default=False): selector.BooleanSelector(),
        **COMMON_LOAD_FIELDS,
    }
)


class LoadSubentryFlow(ConfigSubentryFlow):
    """Add or change one load: its actuator, then how to drive it."""

    def __init__(self) -> None:
        """Start with nothing entered."""
        self._load: dict[str, Any] = {}

    def _reconfiguring(self) -> bool:
        return self.source == SOURCE_RECONFIGURE

    def _current(self) -> dict[str, Any]:
        if self._reconfiguring():
            subentry = self._get_reconfigure_subentry()
            return dict(subentry.data) | {CONF_NAME: subentry.title}
        return {}

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Name and actuator."""
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = self._actuator_errors(user_input)
            if not errors:
                self._load = dict(user_input)
                if split_entity_id(user_input[CONF_ACTUATOR])[0] in LEVEL_DOMAINS:
                    return await self.async_step_modulated()
                return await self.async_step_switch()
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(LOAD_SCHEMA, user_input or self._current()),
            errors=errors,
        )

    async def async_step_reconfigure(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Change a load."""
        return await self.async_step_user(user_input)

    def _actuator_errors(self, user_input: Mapping[str, Any]) -> dict[str, str]:
        errors: dict[str, str] = {}
        if not str(user_input.get(CONF_NAME, "")).strip():
            errors[CONF_NAME] = "name_required"
        actuator = user_input[CONF_ACTUATOR]
        own = self._get_reconfigure_subentry().subentry_id if self._reconfiguring() else None
        state = self.hass.states.get(actuator)
        if state is None:
            errors[CONF_ACTUATOR] = "entity_not_found"
        elif not _can_switch(state):
            errors[CONF_ACTUATOR] = "cannot_switch"
        elif any(
            sub.data.get(CONF_ACTUATOR) == actuator
            for panel in self.hass.config_entries.async_entries(DOMAIN)
            for sid, sub in panel.subentries.items()
            if sid != own and sub.subentry_type == SUBENTRY_LOAD
        ):
            # One controller per actuator: two would fight, each taking the
            # other's commands for a person's.
            errors[CONF_ACTUATOR] = "actuator_in_use"
        return errors

    def _suggested(self, schema: probatio.Schema, user_input: Mapping[str, Any] | None) -> probatio.Schema:
        suggested = dict(user_input) if user_input is not None else self._current()
        if user_input is None and CONF_UNIT not in suggested:
            state = self.hass.states.get(self._load[CONF_ACTUATOR])
            unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT) if state is not None else None
            if unit in (UNIT_AMPERE, UNIT_WATT, UNIT_KILOWATT):
                suggested[CONF_UNIT] = unit
        return self.add_suggested_values_to_schema(schema, suggested)

    async def async_step_switch(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """An on/off load: its power and timing."""
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = self._sensor_errors(user_input)
            if not errors:
                return self._finish(user_input)
        return self.async_show_form(
            step_id="switch", data_schema=self._suggested(SWITCH_LOAD_SCHEMA, user_input), errors=errors
        )

    async def async_step_modulated(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """A load set by a number: its range, step and unit."""
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = self._sensor_errors(user_input) | self._range_errors(user_input)
            if not errors:
                return self._finish(user_input)
        state = self.hass.states.get(self._load[CONF_ACTUATOR])
        placeholders = {
            "entity_min": str(state.attributes.get("min", "?")) if state else "?",
            "entity_max": str(state.attributes.get("max", "?")) if state else "?",
        }
        return self.async_show_form(
            step_id="modulated",
            data_schema=self._suggested(MODULATED_LOAD_SCHEMA, user_input),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _sensor_errors(self, user_input: Mapping[str, Any]) -> dict[str, str]:
        sensor = user_input.get(CONF_POWER_SENSOR)
        if sensor and (error := _sensor_error(self.hass, sensor)):
            return {CONF_POWER_SENSOR: error}
        return {}

    def _range_errors(self, user_input: Mapping[str, Any]) -> dict[str, str]:
        low, high, step = user_input[CONF_MIN], user_input[CONF_MAX], user_input[CONF_STEP]
        errors: dict[str, str] = {}
        if high <= 0 or low > high:
            errors[CONF_MAX] = "min_above_max"
        elif step > high - low and high > low:
            errors[CONF_STEP] = "step_too_large"
        state = self.hass.states.get(self._load[CONF_ACTUATOR])
        entity_min = state.attributes.get("min") if state else None
        entity_max = state.attributes.get("max") if state else None
        if isinstance(entity_min, (int, float)) and low < entity_min:
            errors[CONF_MIN] = "below_entity_min"
        if isinstance(entity_max, (int, float)) and high > entity_max:
            errors[CONF_MAX] = "above_entity_max"
        if user_input[CONF_ALLOW_OFF] and isinstance(entity_min, (int, float)) and entity_min > 0:
            errors[CONF_ALLOW_OFF] = "cannot_turn_off"
        panel = panel_from_data(self._get_entry().data)
        factor = watts_per_unit(panel, user_input[CONF_UNIT], int(user_input[CONF_PHASES]))
        if not errors and high * factor > panel.rating_w:
            errors[CONF_MAX] = "above_panel_rating"
        return errors

    def _finish(self, details: Mapping[str, Any]) -> SubentryFlowResult:
        title = str(self._load[CONF_NAME]).strip()
        data = {CONF_ACTUATOR: self._load[CONF_ACTUATOR]} | {
            key: value for key, value in details.items() if value not in (None, "")
        }
        if self._reconfiguring():
            return self.async_update_and_abort(
                self._get_entry(), self._get_reconfigure_subentry(), title=title, data=data
            )
        return self.async_create_entry(title=title, data=data)
