"""Service actions: plan a new load; ask the grid for a reservation of extra capacity, or cancel one."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

import probatio

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_CONFIG_ENTRY_ID
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util

from .configuration import watts_per_unit
from .const import DOMAIN, UNIT_AMPERE
from .coordinator import PanelCapacityConfigEntry
from .engine import Supply
from .grid.reservations import RequestError
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

REQUEST_RESERVATION_SCHEMA = probatio.Schema(
    {
        probatio.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        probatio.Optional(ATTR_START): cv.datetime,
        probatio.Required(ATTR_DURATION): cv.positive_time_period,
        probatio.Required(ATTR_POWER_KW): probatio.All(
            probatio.Coerce(float), probatio.Range(min=0.1, max=1000)
        ),
        probatio.Optional(ATTR_MAX_FEE, default=0.0): probatio.All(
            probatio.Coerce(float), probatio.Range(min=0, max=1_000_000)
        ),
        probatio.Optional(ATTR_WAIT, default=DEFAULT_WAIT): probatio.All(
            cv.time_period, probatio.Range(min=timedelta(0), max=MAX_WAIT)
        ),
    }
)
CANCEL_RESERVATION_SCHEMA = probatio.Schema(
    {
        probatio.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        probatio.Required(ATTR_REQUEST_ID): cv.string,
    }
)

PLAN_LOAD_SCHEMA = probatio.Schema(
    {
        probatio.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        # One of the two, checked by the handler (with a translated error).
        probatio.Optional(ATTR_POWER_KW): probatio.All(
            probatio.Coerce(float), probatio.Range(min=0.05, max=1000)
        ),
        probatio.Optional(ATTR_CURRENT_A): probatio.All(
            probatio.Coerce(float), probatio.Range(min=1, max=2000)
        ),
        probatio.Optional(ATTR_PHASES, default=1): probatio.All(probatio.Coerce(int), probatio.In([1, 3])),
        probatio.Optional(ATTR_DAILY_ENERGY_KWH): probatio.All(
            probatio.Coerce(float), probatio.Range(min=0.1, max=1000)
        ),
        probatio.Optional(ATTR_ARRIVE, default=time(18, 0)): cv.time,
        probatio.Optional(ATTR_DEPART, default=time(7, 0)): cv.time,
        probatio.Optional(ATTR_DAYS, default=365): probatio.All(
            probatio.Coerce(int), probatio.Range(min=1, max=3650)
        ),
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
    hass.services.async_register(
        DOMAIN,
        SERVICE_REQUEST_RESERVATION,
        request_reservation,
        schema=REQUEST_RESERVATION_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
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
