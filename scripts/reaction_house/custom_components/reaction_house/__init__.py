"""Benchmark only: the house scripts/bench-reaction measures (not shipped with the integration).

At the first start it adds Panel Capacity on the bench meter through the
integration's own config flow and load subentry flows, as a person would: a
100 A split-phase panel measured by its total (19.2 kW limit), a water heater
and an EV charger (the least important). The restore hold-off is set to 0 so
that every crossing of the limit, either way, gets an answer at once.

The service ``reaction_house.storm`` sets an input_number RATE times a second
for SECONDS and answers with how late its own timer ran (the event loop's lag).
"""

from __future__ import annotations

import asyncio
import logging
import random
import statistics
import time
from typing import Any

import probatio

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.helpers.start import async_at_started
from homeassistant.helpers.typing import ConfigType

DOMAIN = "reaction_house"
PANEL = "panel_capacity"
LOGGER = logging.getLogger(__name__)
CONFIG_SCHEMA = probatio.Schema({DOMAIN: probatio.Any(None, {})}, extra=probatio.ALLOW_EXTRA)

PANEL_FORM = {
    "name": "Bench panel",
    "supply": "split_phase",
    "rating_a": 100,
    "voltage_v": 240,
    "continuous_pct": 80,
    "metering": "net",
}
METER_FORM = {"site_sensor": "sensor.bench_meter"}
LOADS: list[tuple[dict[str, Any], dict[str, Any]]] = [
    (
        {"name": "Water heater", "actuator": "input_boolean.bench_water_heater"},
        {"nominal_w": 4500, "min_on_s": 0, "min_off_s": 0, "never_shed": False},
    ),
    (
        {"name": "EV charger", "actuator": "input_number.bench_ev_current"},
        {
            "min": 6,
            "max": 32,
            "step": 1,
            "allow_off": True,
            "min_on_s": 0,
            "min_off_s": 0,
            "never_shed": False,
        },
    ),
]
STORM_SCHEMA = probatio.Schema(
    {
        probatio.Required("entity_id"): str,
        probatio.Optional("rate", default=500): probatio.All(probatio.Coerce(float), probatio.Range(1, 5000)),
        probatio.Optional("seconds", default=30): probatio.All(
            probatio.Coerce(float), probatio.Range(1, 600)
        ),
        probatio.Optional("base", default=5000): probatio.Coerce(float),
    }
)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Seed the panel once Home Assistant has started; offer the storm."""

    async def _seed(_hass: HomeAssistant) -> None:
        if not hass.config_entries.async_entries(PANEL):
            await _async_seed(hass)

    async_at_started(hass, _seed)

    async def _storm(call: ServiceCall) -> ServiceResponse:
        return await _async_storm(hass, call.data)

    hass.services.async_register(
        DOMAIN, "storm", _storm, schema=STORM_SCHEMA, supports_response=SupportsResponse.ONLY
    )
    return True


async def _async_seed(hass: HomeAssistant) -> None:
    flows = hass.config_entries.flow
    result = await flows.async_init(PANEL, context={"source": SOURCE_USER})
    result = await flows.async_configure(result["flow_id"], PANEL_FORM)
    result = await flows.async_configure(result["flow_id"], METER_FORM)
    entry = result["result"]
    subentries = hass.config_entries.subentries
    for first, details in LOADS:
        flow = await subentries.async_init((entry.entry_id, "load"), context={"source": SOURCE_USER})
        flow = await subentries.async_configure(flow["flow_id"], first)
        flow = await subentries.async_configure(flow["flow_id"], details)
        if flow["type"] != "create_entry":
            raise RuntimeError(f"{first['name']} was refused: {flow.get('errors')}")
    options = hass.config_entries.options
    flow = await options.async_init(entry.entry_id)
    flow = await options.async_configure(flow["flow_id"], {"next_step_id": "tuning"})
    # The form's suggested values are the panel's present tuning: only the hold-off changes.
    tuning = {
        key.schema: (key.description or {}).get("suggested_value") for key in flow["data_schema"].schema
    }
    flow = await options.async_configure(flow["flow_id"], tuning | {"restore_holdoff_s": 0})
    if flow["type"] != "create_entry":
        raise RuntimeError(f"the tuning was refused: {flow.get('errors')}")
    LOGGER.info("Added %s with %d loads", entry.title, len(LOADS))


async def _async_storm(hass: HomeAssistant, data: dict[str, Any]) -> ServiceResponse:
    """Set ENTITY_ID RATE times a second for SECONDS; how late each of those ticks ran."""
    loop = asyncio.get_running_loop()
    period = 1.0 / data["rate"]
    count = round(data["seconds"] * data["rate"])
    base = data["base"]
    lags: list[float] = []
    done = loop.create_future()
    began = loop.time()
    rng = random.Random(1)

    def tick(index: int) -> None:
        due = began + index * period
        lags.append(max(0.0, loop.time() - due))
        hass.async_create_task(
            hass.services.async_call(
                "input_number",
                "set_value",
                {"entity_id": data["entity_id"], "value": base + rng.randint(0, 50)},
            ),
            eager_start=True,
        )
        if index + 1 >= count:
            done.set_result(None)
            return
        loop.call_at(began + (index + 1) * period, tick, index + 1)

    cpu = time.process_time()
    loop.call_at(began, tick, 0)
    await done
    elapsed = loop.time() - began
    ordered = sorted(lags)
    return {
        "updates": count,
        "seconds": round(elapsed, 3),
        "cpu_s": round(time.process_time() - cpu, 3),
        "lag_median_ms": round(statistics.median(ordered) * 1000, 3),
        "lag_p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 3),
        "lag_max_ms": round(ordered[-1] * 1000, 3),
    }
