"""The panel: its nameplate, then the meter that measures it; reconfigure and reauth."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import probatio

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
)
from homeassistant.const import CONF_CLIENT_ID, CONF_CLIENT_SECRET, CONF_NAME, CONF_URL
from homeassistant.core import callback
from homeassistant.helpers import selector

from ..configuration import SENSOR_KEYS
from ..const import (
    CONF_CONDUCTORS,
    CONF_CONTINUOUS_PCT,
    CONF_EXPORT_SENSOR,
    CONF_GRID_SERVER,
    CONF_IMPORT_SENSOR,
    CONF_METERING,
    CONF_RATING_A,
    CONF_SITE_SENSOR,
    CONF_SUPPLY,
    CONF_VOLTAGE_V,
    CONFIG_VERSION,
    DEFAULT_CONTINUOUS_PCT,
    DOMAIN,
    METERING_NET,
    METERING_PAIR,
    SUBENTRY_LOAD,
    SUBENTRY_NODE,
)
from ..engine import Conductor, Supply
from ..engine.rules import (
    CONTINUOUS_RANGE,
    RATING_RANGE,
    VOLTAGE_RANGE,
    conductors_error,
    name_error,
    panel_voltage_error,
)
from ..grid_coordinator import ServerSettings, async_resume_polling
from .checks import meter_errors, meter_keys, meter_owner, server_errors
from .load import LoadSubentryFlow
from .node import NodeSubentryFlow
from .options import PanelCapacityOptionsFlow
from .schemas import (
    number_selector,
    optional_sensors,
    power_sensor_selector,
    range_errors,
    range_placeholders,
    select_selector,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

PANEL_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_NAME, default="Main panel"): selector.TextSelector(),
        probatio.Required(CONF_SUPPLY, default=Supply.SPLIT_PHASE.value): select_selector(
            CONF_SUPPLY, [supply.value for supply in Supply]
        ),
        probatio.Required(CONF_RATING_A, default=100): number_selector("rating", RATING_RANGE, "A"),
        probatio.Required(CONF_VOLTAGE_V, default=240): number_selector("voltage", VOLTAGE_RANGE, "V"),
        probatio.Required(CONF_CONTINUOUS_PCT, default=DEFAULT_CONTINUOUS_PCT): number_selector(
            "continuous", CONTINUOUS_RANGE, "%"
        ),
        probatio.Required(CONF_METERING, default=METERING_NET): select_selector(
            CONF_METERING, [METERING_NET, METERING_PAIR]
        ),
    }
)
PAIR_FIELDS: dict[Any, Any] = {
    probatio.Required(CONF_IMPORT_SENSOR): power_sensor_selector(),
    probatio.Required(CONF_EXPORT_SENSOR): power_sensor_selector(),
}
CREDENTIALS_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_CLIENT_ID): selector.TextSelector(),
        probatio.Required(CONF_CLIENT_SECRET): selector.TextSelector(
            selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD)
        ),
    }
)


def _panel_errors(user_input: Mapping[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if error := name_error(str(user_input.get(CONF_NAME, ""))):
        errors[CONF_NAME] = error
    if error := panel_voltage_error(user_input[CONF_SUPPLY], float(user_input[CONF_VOLTAGE_V])):
        errors[CONF_VOLTAGE_V] = error
    return errors


def _meter_fields(pair: bool, supply: Supply) -> tuple[tuple[str, ...], list[Conductor], probatio.Schema]:
    """The meter's total keys, the conductors it may measure one by one, and its form.

    One sensor a leg or phase may stand beside the total, or instead of a net
    total; single-phase has only the total.
    """
    conductors = list(supply.conductors) if len(supply.conductors) > 1 else []
    per = optional_sensors(SENSOR_KEYS[conductor] for conductor in conductors)
    if pair:
        return (CONF_IMPORT_SENSOR, CONF_EXPORT_SENSOR), conductors, probatio.Schema(PAIR_FIELDS | per)
    return (CONF_SITE_SENSOR,), conductors, probatio.Schema(optional_sensors([CONF_SITE_SENSOR]) | per)


def _tree_errors(entry: ConfigEntry, supply: Supply) -> dict[str, str]:
    """A new supply must still have every leg or phase its nodes and loads draw on."""
    used = {
        conductor
        for sub in entry.subentries.values()
        if sub.subentry_type in (SUBENTRY_LOAD, SUBENTRY_NODE)
        for conductor in sub.data.get(CONF_CONDUCTORS) or ()
    }
    if conductors_error(sorted(used), [conductor.value for conductor in supply.conductors]):
        return {CONF_SUPPLY: "supply_conductors_in_use"}
    return {}


class PanelCapacityConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add a panel: its rating, then the sensor that measures it."""

    VERSION = CONFIG_VERSION

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
        """Each controllable load is a subentry, and each subpanel or circuit."""
        return {SUBENTRY_LOAD: LoadSubentryFlow, SUBENTRY_NODE: NodeSubentryFlow}

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """The panel."""
        return await self._panel_step("user", user_input, {})

    async def _panel_step(
        self, step_id: str, user_input: dict[str, Any] | None, suggested: dict[str, Any]
    ) -> ConfigFlowResult:
        """The panel's form (new or reconfigured); the sensors come next."""
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = range_errors(PANEL_SCHEMA, user_input) or _panel_errors(user_input)
            if not errors and self.source == SOURCE_RECONFIGURE:
                errors = _tree_errors(self._get_reconfigure_entry(), Supply(user_input[CONF_SUPPLY]))
            if not errors:
                self._panel = user_input
                return await self.async_step_sensors()
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(PANEL_SCHEMA, user_input or suggested),
            errors=errors,
            description_placeholders=range_placeholders(PANEL_SCHEMA),
        )

    async def async_step_sensors(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """The sensors measuring the panel: a total (net, or import and export), and per leg or phase."""
        total, conductors, schema = _meter_fields(
            self._panel[CONF_METERING] == METERING_PAIR, Supply(self._panel[CONF_SUPPLY])
        )
        errors: dict[str, str] = {}
        placeholders = {"panel": ""}
        if user_input is not None:
            errors = meter_errors(self.hass, user_input, total, conductors, required=True)
            data = {key: value for key, value in self._panel.items() if key != CONF_NAME} | user_input
            reconfiguring = self.source == SOURCE_RECONFIGURE
            own = self._get_reconfigure_entry().entry_id if reconfiguring else None
            meter = meter_keys(data) if not errors else {}
            if meter and (
                owner := meter_owner(self._async_current_entries(include_ignore=False), meter, own)
            ):
                # Said under the field, so nothing typed is lost: pick another sensor.
                errors = {next(iter(meter)): "meter_in_use"}
                placeholders["panel"] = owner.title
            if not errors:
                if reconfiguring:
                    entry = self._get_reconfigure_entry()
                    if CONF_GRID_SERVER in entry.data:  # the grid server is kept
                        data[CONF_GRID_SERVER] = entry.data[CONF_GRID_SERVER]
                    return self.async_update_and_abort(entry, data=data, title=self._panel[CONF_NAME])
                return self.async_create_entry(title=self._panel[CONF_NAME].strip(), data=data)
        return self.async_show_form(
            step_id="sensors",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or self._suggested_sensors()),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _suggested_sensors(self) -> dict[str, Any]:
        if self.source == SOURCE_RECONFIGURE:
            return dict(self._get_reconfigure_entry().data)
        return {}

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
                for key, error in (await server_errors(self.hass, server)).items()
            }
            if not errors:
                if updated == current:
                    async_resume_polling(entry)  # the same credentials: nothing reloads
                # Changed ones: the entry's update listener reloads it.
                return self.async_update_and_abort(entry, data_updates={CONF_GRID_SERVER: updated})
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=self.add_suggested_values_to_schema(
                CREDENTIALS_SCHEMA, {CONF_CLIENT_ID: (user_input or current).get(CONF_CLIENT_ID)}
            ),
            errors=errors,
            description_placeholders={"url": str(current.get(CONF_URL, ""))},
        )
