"""Service actions: plan a new load; ask the grid for a reservation of extra capacity, or cancel one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import Any

import probatio

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_CONFIG_ENTRY_ID
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.service import async_register_admin_service
from homeassistant.util import dt as dt_util

from .configuration import watts_per_unit
from .const import DOMAIN, UNIT_AMPERE
from .coordinator import PanelCapacityConfigEntry
from .engine import Supply
from .grid.reservations import MAX_DURATION, RequestError
from .grid_coordinator import GridCoordinator, reservation_response
from .history import async_panel_history
from .simulation.plan import NewLoad, nec_220_87, simulate_new_load

SERVICE_PLAN_LOAD = "plan_load"
ATTR_POWER_KW = "power_kw"
ATTR_CURRENT_A = "current_a"
ATTR_PHASES = "phases"
ATTR_DAILY_ENERGY_KWH = "daily_energy_kwh"
ATTR_ARRIVE = "arrive"
ATTR_DEPART = "depart"
ATTR_DAYS = "days"
# Hourly history: the simulated meter reads once a minute.
PLAN_SENSOR_PERIOD_S = 60.0
DEFAULT_HOURS_A_DAY = 4.0

SERVICE_REQUEST_RESERVATION = "request_reservation"
SERVICE_CANCEL_RESERVATION = "cancel_reservation"
ATTR_START = "start"
ATTR_DURATION = "duration"
ATTR_MAX_FEE = "max_fee_per_kw"
ATTR_WAIT = "wait"
ATTR_REQUEST_ID = "request_id"
DEFAULT_WAIT = timedelta(seconds=30)
MAX_WAIT = timedelta(minutes=5)
SHOWN_CHARS = 40  # a refused value or field name is echoed this far


@dataclass(frozen=True, slots=True)
class Rule:
    """How one field of an action is checked, and the translated message when it is refused."""

    validator: Any
    key: str  # exceptions.service_invalid_<key> in the translations
    placeholders: Mapping[str, str] = field(default_factory=dict)


def _number(low: float, high: float, kind: type[float | int] = float) -> Rule:
    """A number from ``low`` to ``high``; NaN and infinities are refused (they compare false with both)."""
    return Rule(
        probatio.All(probatio.Coerce(kind), probatio.Range(min=low, max=high)),
        "number",
        {"min": f"{low:g}", "max": f"{high:g}"},
    )


def _hms(duration: timedelta) -> str:
    seconds = round(duration.total_seconds())
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _duration(low: timedelta, high: timedelta) -> Rule:
    """A duration from ``low`` to ``high`` (a negative one is refused)."""
    return Rule(
        probatio.All(cv.time_period, probatio.Range(min=low, max=high)),
        "duration",
        {"min": _hms(low), "max": _hms(high)},
    )


TEXT = Rule(cv.string, "text")
DATETIME = Rule(cv.datetime, "datetime")
TIME = Rule(cv.time, "time")


class ServiceSchema(probatio.Schema):
    """An action's schema whose every refusal is a translated ServiceValidationError naming the field.

    Home Assistant answers a plain schema error with the validator's English
    text ("value must be at most 1000"); this one says which field takes what.
    """

    def __init__(self, rules: Mapping[Any, Rule]) -> None:
        """Compile the rules' validators; keep the rules by field name for the messages."""
        super().__init__({marker: rule.validator for marker, rule in rules.items()})
        self.rules = {str(marker): rule for marker, rule in rules.items()}

    def __call__(self, data: Any, **kwargs: Any) -> Any:
        """The validated data, or a translated ServiceValidationError."""
        try:
            return super().__call__(data, **kwargs)
        except probatio.MultipleInvalid as err:
            raise self._refusal(err.errors[0], data) from None

    def _refusal(self, error: probatio.Invalid, data: Any) -> ServiceValidationError:
        name = str(error.path[0]) if error.path else ""
        shown = {"field": name[:SHOWN_CHARS]}
        rule = self.rules.get(name)
        if isinstance(error, probatio.RequiredFieldInvalid):
            key = "service_missing_field"
        elif rule is None or isinstance(error, probatio.ExtraKeysInvalid):
            key = "service_unknown_field"
        else:
            value = data.get(name) if isinstance(data, Mapping) else None
            text = str(value)
            shown |= {"value": text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}…"}
            key = f"service_invalid_{rule.key}"
            shown |= rule.placeholders
        return ServiceValidationError(
            translation_domain=DOMAIN, translation_key=key, translation_placeholders=shown
        )


REQUEST_RESERVATION_SCHEMA = ServiceSchema(
    {
        probatio.Required(ATTR_CONFIG_ENTRY_ID): TEXT,
        probatio.Optional(ATTR_START): DATETIME,
        probatio.Required(ATTR_DURATION): _duration(timedelta(seconds=1), MAX_DURATION),
        probatio.Required(ATTR_POWER_KW): _number(0.1, 1000),
        probatio.Optional(ATTR_MAX_FEE, default=0.0): _number(0, 1_000_000),
        probatio.Optional(ATTR_WAIT, default=DEFAULT_WAIT): _duration(timedelta(0), MAX_WAIT),
    }
)
CANCEL_RESERVATION_SCHEMA = ServiceSchema(
    {
        probatio.Required(ATTR_CONFIG_ENTRY_ID): TEXT,
        probatio.Required(ATTR_REQUEST_ID): TEXT,
    }
)

PLAN_LOAD_SCHEMA = ServiceSchema(
    {
        probatio.Required(ATTR_CONFIG_ENTRY_ID): TEXT,
        # One of the two, checked by the handler (with a translated error).
        probatio.Optional(ATTR_POWER_KW): _number(0.05, 1000),
        probatio.Optional(ATTR_CURRENT_A): _number(1, 2000),
        probatio.Optional(ATTR_PHASES, default=1): Rule(
            probatio.All(probatio.Coerce(int), probatio.In([1, 3])), "choice", {"choices": "1, 3"}
        ),
        probatio.Optional(ATTR_DAILY_ENERGY_KWH): _number(0.1, 1000),
        probatio.Optional(ATTR_ARRIVE, default=time(18, 0)): TIME,
        probatio.Optional(ATTR_DEPART, default=time(7, 0)): TIME,
        probatio.Optional(ATTR_DAYS, default=365): _number(1, 3650, int),
    }
)


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's service actions."""

    async def plan_load(call: ServiceCall) -> ServiceResponse:
        return await _async_plan_load(hass, call)

    async def request_reservation(call: ServiceCall) -> ServiceResponse:
        return await _async_request_reservation(hass, call)

    async def cancel_reservation(call: ServiceCall) -> ServiceResponse:
        grid = _grid_of(_loaded_entry(hass, call.data[ATTR_CONFIG_ENTRY_ID]))
        return reservation_response(await grid.async_cancel_reservation(call.data[ATTR_REQUEST_ID]))

    hass.services.async_register(
        DOMAIN, SERVICE_PLAN_LOAD, plan_load, schema=PLAN_LOAD_SCHEMA, supports_response=SupportsResponse.ONLY
    )
    # Reservations raise the limit and commit the home to the utility's fees: an administrator's
    # business (Home Assistant refuses the call, Unauthorized, for any other user; automations may).
    async_register_admin_service(
        hass,
        DOMAIN,
        SERVICE_REQUEST_RESERVATION,
        request_reservation,
        schema=REQUEST_RESERVATION_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    async_register_admin_service(
        hass,
        DOMAIN,
        SERVICE_CANCEL_RESERVATION,
        cancel_reservation,
        schema=CANCEL_RESERVATION_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )


def _loaded_entry(hass: HomeAssistant, entry_id: str) -> PanelCapacityConfigEntry:
    entry = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN or entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_config_entry",
            translation_placeholders={"entry_id": entry_id},
        )
    return entry


def _grid_of(entry: PanelCapacityConfigEntry) -> GridCoordinator:
    """The panel's grid connection; a panel without a utility server cannot be asked for grid things."""
    grid = entry.runtime_data.grid
    if grid.server is None:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_grid_server")
    return grid


async def _async_plan_load(hass: HomeAssistant, call: ServiceCall) -> dict[str, Any]:
    entry = _loaded_entry(hass, call.data[ATTR_CONFIG_ENTRY_ID])
    coordinator = entry.runtime_data.coordinator
    panel = coordinator.setup.panel
    if ATTR_POWER_KW in call.data and ATTR_CURRENT_A in call.data:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="plan_size_twice")
    if ATTR_POWER_KW in call.data:
        power = call.data[ATTR_POWER_KW] * 1000
    elif ATTR_CURRENT_A in call.data:
        # A current on every conductor (both legs: 240 V), or on as many phases as given.
        conductors = call.data[ATTR_PHASES] if panel.supply is Supply.THREE_PHASE else panel.phase_count
        power = call.data[ATTR_CURRENT_A] * watts_per_unit(panel, UNIT_AMPERE, conductors)
    else:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="plan_needs_size")
    if power > panel.rating_w:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="plan_load_too_large",
            translation_placeholders={"power": f"{power:.0f}", "rating": f"{panel.rating_w:.0f}"},
        )
    if "recorder" not in hass.config.components:
        raise HomeAssistantError(translation_domain=DOMAIN, translation_key="plan_needs_recorder")
    daily = call.data.get(ATTR_DAILY_ENERGY_KWH)
    new = NewLoad(
        power_w=power,
        daily_energy_wh=daily * 1000 if daily is not None else power * DEFAULT_HOURS_A_DAY,
        arrive=call.data[ATTR_ARRIVE],
        depart=call.data[ATTR_DEPART],
    )
    history = await async_panel_history(hass, coordinator, call.data[ATTR_DAYS])
    management: dict[str, Any] | None = None
    if history.series is not None:
        management = await hass.async_add_executor_job(
            lambda: simulate_new_load(
                history.series,  # type: ignore[arg-type]
                panel,
                panel.continuous_limit_w,
                new,
                settings=coordinator.setup.settings,
                sensor_period_s=PLAN_SENSOR_PERIOD_S,
                zone=dt_util.get_default_time_zone(),
            )
        )
    return {
        "new_load_w": round(power, 1),
        "daily_energy_kwh": round(new.daily_energy_wh / 1000, 3),
        "limit_w": round(panel.continuous_limit_w, 1),
        "nec_220_87": nec_220_87(history.demand, panel.rating_w, power, shaving=history.shaving),
        "management": management,
    }


async def _async_request_reservation(hass: HomeAssistant, call: ServiceCall) -> dict[str, Any]:
    grid = _grid_of(_loaded_entry(hass, call.data[ATTR_CONFIG_ENTRY_ID]))
    # Utilities grant on a grid of whole quarter hours: "now" is the current one.
    now = dt_util.utcnow()
    start = call.data.get(ATTR_START) or now.replace(
        minute=now.minute - now.minute % 15, second=0, microsecond=0
    )
    if start.tzinfo is None:
        start = start.replace(tzinfo=dt_util.get_default_time_zone())
    try:
        reservation = await grid.async_request_reservation(
            dt_util.as_utc(start),
            call.data[ATTR_DURATION],
            call.data[ATTR_POWER_KW] * 1000,
            call.data[ATTR_MAX_FEE],
            call.data[ATTR_WAIT],
        )
    except RequestError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key=f"reservation_{err.key}"
        ) from err
    return reservation_response(reservation) | {"availability": grid.upcoming_availability(dt_util.utcnow())}
