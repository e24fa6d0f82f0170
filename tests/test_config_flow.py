"""Config flow, reconfigure, options and load subentry flows: every path, every error, recovery."""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

import probatio
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.panel_capacity.const import (
    CONF_EXPORT_SENSOR,
    CONF_IMPORT_SENSOR,
    CONF_LOAD_ORDER,
    CONF_SITE_SENSOR,
    DOMAIN,
    SUBENTRY_LOAD,
)
from custom_components.panel_capacity.flows.load import SWITCH_LOAD_SCHEMA, modulated_schema
from custom_components.panel_capacity.flows.options import GRID_SCHEMA, GRID_SERVER_SCHEMA, TUNING_SCHEMA
from custom_components.panel_capacity.flows.panel import PANEL_SCHEMA
from custom_components.panel_capacity.flows.schemas import BoundedNumberSelector, range_placeholders
from homeassistant.config_entries import SOURCE_RECONFIGURE, SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData

from .conftest import EV, HEAT_PUMP, PANEL_DATA, SITE, WATER_HEATER, subentry_id

TRANSLATIONS = json.loads(
    (Path(__file__).parents[1] / "custom_components/panel_capacity/translations/en.json").read_text()
)

PANEL_FORM = {
    "name": "House",
    "supply": "split_phase",
    "rating_a": 100,
    "voltage_v": 240,
    "continuous_pct": 80,
    "metering": "net",
}


def sensor(
    hass: HomeAssistant, entity_id: str, state: str, unit: str | None, device_class: str = "power"
) -> None:
    attributes = {"device_class": device_class}
    if unit is not None:
        attributes["unit_of_measurement"] = unit
    hass.states.async_set(entity_id, state, attributes)


async def start(hass: HomeAssistant) -> dict[str, Any]:
    return await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})


async def configure(hass: HomeAssistant, result: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    return await hass.config_entries.flow.async_configure(result["flow_id"], data)


# ----------------------------------------------------------------- user flow


async def test_user_flow_net_sensor(hass: HomeAssistant, house: None) -> None:
    result = await start(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    result = await configure(hass, result, PANEL_FORM)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "sensors"
    result = await configure(hass, result, {CONF_SITE_SENSOR: SITE})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "House"
    assert result["data"] == {
        "supply": "split_phase",
        "rating_a": 100,
        "voltage_v": 240,
        "continuous_pct": 80,
        "metering": "net",
        "site_sensor": SITE,
    }
    await hass.async_block_till_done()
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert entry.state.value == "loaded"
    # 100 A x 240 V x 80 %
    assert float(hass.states.get("sensor.house_effective_limit").state) == 19200


async def test_user_flow_import_export_pair(hass: HomeAssistant) -> None:
    sensor(hass, "sensor.grid_import", "2.5", "kW")
    sensor(hass, "sensor.grid_export", "0.4", "kW")
    result = await configure(hass, await start(hass), PANEL_FORM | {"metering": "pair"})
    assert result["step_id"] == "sensors"
    result = await configure(
        hass, result, {CONF_IMPORT_SENSOR: "sensor.grid_import", CONF_EXPORT_SENSOR: "sensor.grid_import"}
    )
    assert result["errors"] == {CONF_EXPORT_SENSOR: "same_sensor"}
    result = await configure(
        hass, result, {CONF_IMPORT_SENSOR: "sensor.grid_import", CONF_EXPORT_SENSOR: "sensor.grid_export"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert float(hass.states.get("sensor.house_site_power").state) == 2100


@pytest.mark.parametrize(
    ("change", "field", "error"),
    [
        ({"name": "   "}, "name", "name_required"),
        ({"supply": "three_phase", "voltage_v": 400}, "voltage_v", "voltage_line_to_neutral"),
    ],
)
async def test_user_step_errors_then_recovery(
    hass: HomeAssistant, house: None, change: dict[str, Any], field: str, error: str
) -> None:
    result = await configure(hass, await start(hass), PANEL_FORM | change)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {field: error}
    result = await configure(hass, result, PANEL_FORM)
    assert result["step_id"] == "sensors"
    result = await configure(hass, result, {CONF_SITE_SENSOR: SITE})
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        ({"rating_a": 0}, {"rating_a": "rating_out_of_range"}),
        ({"continuous_pct": 120}, {"continuous_pct": "continuous_out_of_range"}),
        ({"voltage_v": 5000}, {"voltage_v": "voltage_out_of_range"}),
        ({"voltage_v": "nan"}, {"voltage_v": "voltage_out_of_range"}),
        (
            {"rating_a": 5000, "voltage_v": 5},
            {"rating_a": "rating_out_of_range", "voltage_v": "voltage_out_of_range"},
        ),
    ],
)
async def test_out_of_range_values_get_our_translated_errors(
    hass: HomeAssistant, house: None, change: dict[str, Any], errors: dict[str, str]
) -> None:
    result = await start(hass)
    # The form shows the bounds; the step, not the selector, says what is wrong (in the person's language).
    schema = result["data_schema"].schema
    rating = schema[next(key for key in schema if key == "rating_a")]
    assert rating.config["min"] == 1
    assert rating.config["max"] == 2000
    assert result["description_placeholders"]["rating_min"] == "1"
    assert result["description_placeholders"]["rating_max"] == "2000"
    result = await configure(hass, result, PANEL_FORM | change)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    assert result["description_placeholders"]["voltage_max"] == "480"
    result = await configure(hass, result, PANEL_FORM)
    assert result["step_id"] == "sensors"


async def test_what_is_not_a_number_is_still_refused_by_the_form(hass: HomeAssistant, house: None) -> None:
    with pytest.raises(InvalidData):
        await configure(hass, await start(hass), PANEL_FORM | {"rating_a": "lots"})


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        (None, "entity_not_found"),
        (("12", "%"), "unsupported_unit"),
        (("12", None), "unsupported_unit"),
        (("lots", "W"), "not_numeric"),
    ],
)
async def test_sensor_errors_then_recovery(
    hass: HomeAssistant, house: None, setup: tuple[str, str | None] | None, error: str
) -> None:
    if setup is not None:
        sensor(hass, "sensor.bad", setup[0], setup[1])
    result = await configure(hass, await start(hass), PANEL_FORM)
    result = await configure(hass, result, {CONF_SITE_SENSOR: "sensor.bad"})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_SITE_SENSOR: error}
    result = await configure(hass, result, {CONF_SITE_SENSOR: SITE})
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_current_sensor_and_unavailable_sensor_are_accepted(hass: HomeAssistant) -> None:
    sensor(hass, "sensor.main_current", "unavailable", "A", "current")
    result = await configure(hass, await start(hass), PANEL_FORM)
    result = await configure(hass, result, {CONF_SITE_SENSOR: "sensor.main_current"})
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_same_meter_twice_is_said_under_the_field_and_nothing_is_lost(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    sensor(hass, "sensor.garage_meter", "100", "W")
    result = await configure(hass, await start(hass), PANEL_FORM | {"name": "Again"})
    result = await configure(hass, result, {CONF_SITE_SENSOR: SITE})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "sensors"
    assert result["errors"] == {CONF_SITE_SENSOR: "meter_in_use"}
    assert result["description_placeholders"] == {"panel": "Main panel"}
    # What was picked is still in the form; the panel's own form was kept too.
    schema = result["data_schema"].schema
    assert next(key for key in schema if key == CONF_SITE_SENSOR).description == {"suggested_value": SITE}
    result = await configure(hass, result, {CONF_SITE_SENSOR: "sensor.garage_meter"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Again"
    assert result["data"]["rating_a"] == 100


# ---------------------------------------------------------------- reconfigure


async def test_reconfigure_changes_rating_and_keeps_loads(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, state_of
) -> None:
    result = await loaded_entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    result = await configure(
        hass, result, PANEL_FORM | {"name": "Main panel", "rating_a": 50, "voltage_v": 240}
    )
    assert result["step_id"] == "sensors"
    result = await configure(hass, result, {CONF_SITE_SENSOR: SITE})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert loaded_entry.data["rating_a"] == 50
    assert len(loaded_entry.subentries) == 2
    assert float(state_of("sensor.main_panel_effective_limit")) == 9600


async def test_reconfigure_errors_then_recovery(hass: HomeAssistant, loaded_entry: MockConfigEntry) -> None:
    sensor(hass, "sensor.new_meter", "1.2", "kW")
    result = await loaded_entry.start_reconfigure_flow(hass)
    result = await configure(hass, result, PANEL_FORM | {"name": ""})
    assert result["errors"] == {"name": "name_required"}
    result = await configure(hass, result, PANEL_FORM)
    result = await configure(hass, result, {CONF_SITE_SENSOR: "sensor.nothing"})
    assert result["errors"] == {CONF_SITE_SENSOR: "entity_not_found"}
    result = await configure(hass, result, {CONF_SITE_SENSOR: "sensor.new_meter"})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert loaded_entry.data[CONF_SITE_SENSOR] == "sensor.new_meter"
    assert loaded_entry.title == "House"


async def test_reconfigure_to_the_meter_of_another_panel(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    sensor(hass, "sensor.other_meter", "100", "W")
    other = MockConfigEntry(
        domain=DOMAIN, title="Other", data=PANEL_DATA | {CONF_SITE_SENSOR: "sensor.other_meter"}
    )
    other.add_to_hass(hass)
    result = await loaded_entry.start_reconfigure_flow(hass)
    result = await configure(hass, result, PANEL_FORM)
    result = await configure(hass, result, {CONF_SITE_SENSOR: "sensor.other_meter"})
    assert result["errors"] == {CONF_SITE_SENSOR: "meter_in_use"}
    assert result["description_placeholders"] == {"panel": "Other"}
    result = await configure(hass, result, {CONF_SITE_SENSOR: SITE})  # its own meter is not another's
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"


# -------------------------------------------------------------------- options


async def test_options_tuning_with_errors_and_recovery(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["tuning", "priority", "grid", "grid_server"]
    result = await hass.config_entries.options.async_configure(result["flow_id"], {"next_step_id": "tuning"})
    assert result["step_id"] == "tuning"
    good = {
        "margin_w": 300,
        "hysteresis_w": 200,
        "largest_step_w": 2400,
        "restore_holdoff_s": 20,
        "response_s": 8,
        "staleness_s": 90,
        "manual_hold_s": 1800,
        "reserve_idle": True,
    }
    bad_cases = [
        ({"margin_w": 5000, "hysteresis_w": 5000}, {"hysteresis_w": "thresholds_too_wide"}),
        ({"largest_step_w": 9600}, {"largest_step_w": "step_above_rating"}),
        ({"response_s": 90}, {"response_s": "response_above_staleness"}),
        # Out of the form's bounds: said by our own check, with the bounds in the message.
        (
            {"staleness_s": 5, "margin_w": -1},
            {"staleness_s": "staleness_out_of_range", "margin_w": "tuning_power_out_of_range"},
        ),
        ({"manual_hold_s": 90_000}, {"manual_hold_s": "manual_hold_out_of_range"}),
    ]
    for change, errors in bad_cases:
        result = await hass.config_entries.options.async_configure(result["flow_id"], good | change)
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == errors
    assert result["description_placeholders"]["staleness_min"] == "10"
    assert result["description_placeholders"]["manual_hold_max"] == "86400"
    result = await hass.config_entries.options.async_configure(result["flow_id"], good)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert loaded_entry.options == good
    coordinator = loaded_entry.runtime_data.coordinator
    assert coordinator.setup.settings.margin_w == 300
    assert coordinator.setup.settings.reserve_idle
    # The largest unmanaged step (2400 W = 25 % of 9600 W) now binds: 9600 - 2400.
    assert coordinator.data.limit.binding == "largest_step"
    assert coordinator.data.limit.effective_w == 7200


async def test_options_priority_reorders_loads(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, state_of
) -> None:
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "priority"}
    )
    assert result["step_id"] == "priority"
    assert result["description_placeholders"] == {"loads": "Water heater, EV charger"}
    result = await hass.config_entries.options.async_configure(result["flow_id"], {CONF_LOAD_ORDER: [EV]})
    assert result["errors"] == {CONF_LOAD_ORDER: "order_incomplete"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_LOAD_ORDER: [EV, WATER_HEATER]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    ev_id = subentry_id(loaded_entry, "EV charger")
    wh_id = subentry_id(loaded_entry, "Water heater")
    assert loaded_entry.options[CONF_LOAD_ORDER] == [ev_id, wh_id]
    # Now the water heater is the least important: it is the one shed.
    await hass.services.async_call(
        "input_number", "set_value", {"entity_id": "input_number.base_load", "value": 3500}, blocking=True
    )
    await hass.async_block_till_done()
    assert state_of(WATER_HEATER) == "off"
    assert float(state_of(EV)) == 16


@pytest.mark.parametrize("panel_loads", [[]])
async def test_options_priority_without_loads(hass: HomeAssistant, loaded_entry: MockConfigEntry) -> None:
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "priority"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_loads"


# ----------------------------------------------------------- load subentries


async def start_load(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    return await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_LOAD), context={"source": SOURCE_USER}
    )


async def configure_load(hass: HomeAssistant, result: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    return await hass.config_entries.subentries.async_configure(result["flow_id"], data)


SWITCH_FORM = {"nominal_w": 3000, "min_on_s": 180, "min_off_s": 300, "never_shed": False}
MODULATED_FORM = {
    "min": 6,
    "max": 32,
    "step": 1,
    "allow_off": True,
    "min_on_s": 0,
    "min_off_s": 0,
    "never_shed": False,
}


@pytest.mark.parametrize("panel_loads", [[]])
async def test_add_switch_load_with_errors_and_recovery(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, state_of
) -> None:
    sensor(hass, "sensor.hp_power", "5", "%")
    result = await start_load(hass, loaded_entry)
    assert result["step_id"] == "user"
    result = await configure_load(hass, result, {"name": " ", "actuator": "switch.nothing"})
    assert result["errors"] == {"name": "name_required", "actuator": "entity_not_found"}
    result = await configure_load(hass, result, {"name": "Heat pump", "actuator": HEAT_PUMP})
    assert result["step_id"] == "switch"
    result = await configure_load(hass, result, SWITCH_FORM | {"power_sensor": "sensor.hp_power"})
    assert result["errors"] == {"power_sensor": "unsupported_unit"}
    result = await configure_load(hass, result, SWITCH_FORM)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Heat pump"
    assert result["data"] == {"actuator": HEAT_PUMP, "node": "main", "conductors": ["l1", "l2"]} | SWITCH_FORM
    await hass.async_block_till_done()
    # The entry reloaded: the new load has its device and entities.
    assert state_of("sensor.heat_pump_state") == "off"
    assert loaded_entry.runtime_data.coordinator.setup.loads[0].config.min_off_s == 300


async def test_same_actuator_twice_is_rejected(hass: HomeAssistant, loaded_entry: MockConfigEntry) -> None:
    result = await start_load(hass, loaded_entry)
    result = await configure_load(hass, result, {"name": "Boiler", "actuator": WATER_HEATER})
    assert result["errors"] == {"actuator": "actuator_in_use"}


@pytest.mark.parametrize(
    ("entity_id", "features", "error"),
    [
        ("climate.living_room", 0, "cannot_switch"),
        ("climate.living_room", 128, "cannot_switch"),
        ("climate.living_room", 384, None),
        ("water_heater.tank", 1, "cannot_switch"),
        ("water_heater.tank", 8, None),
        ("fan.attic", 0, None),
    ],
)
async def test_actuator_must_support_off_and_on(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, entity_id: str, features: int, error: str | None
) -> None:
    hass.states.async_set(entity_id, "on", {"supported_features": features})
    result = await start_load(hass, loaded_entry)
    result = await configure_load(hass, result, {"name": "Appliance", "actuator": entity_id})
    if error is not None:
        assert result["errors"] == {"actuator": error}
        hass.states.async_set(entity_id, "on", {"supported_features": 0xFFFF})
        result = await configure_load(hass, result, {"name": "Appliance", "actuator": entity_id})
    assert result["step_id"] == "switch"


async def test_actuator_of_another_panel_is_rejected(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    sensor(hass, "sensor.garage_meter", "100", "W")
    garage = MockConfigEntry(
        domain=DOMAIN, title="Garage", data=PANEL_DATA | {CONF_SITE_SENSOR: "sensor.garage_meter"}
    )
    garage.add_to_hass(hass)
    result = await hass.config_entries.subentries.async_init(
        (garage.entry_id, SUBENTRY_LOAD), context={"source": SOURCE_USER}
    )
    result = await configure_load(hass, result, {"name": "EV", "actuator": EV})
    assert result["errors"] == {"actuator": "actuator_in_use"}
    result = await configure_load(hass, result, {"name": "Heat pump", "actuator": HEAT_PUMP})
    result = await configure_load(hass, result, SWITCH_FORM)
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    ("unit", "change", "errors"),
    [
        ("A", {"min": 10, "max": 6}, {"max": "min_above_max"}),
        ("A", {"max": 0, "min": 0}, {"max": "min_above_max"}),
        ("A", {"step": 40}, {"step": "step_too_large"}),
        ("A", {"max": 40}, {"max": "above_entity_max"}),
        ("A", {"max": 200_000, "step": -1}, {"max": "level_out_of_range", "step": "level_out_of_range"}),
        ("A", {"min_on_s": 100_000}, {"min_on_s": "min_on_off_out_of_range"}),
        ("W", {"min": 1000, "max": 20, "step": 1}, {"max": "min_above_max"}),
        ("kW", {"min": 1, "max": 30, "step": 1}, {"max": "above_panel_rating"}),
    ],
)
@pytest.mark.parametrize("panel_loads", [[]])
async def test_add_modulated_load_errors_then_recovery(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    unit: str,
    change: dict[str, Any],
    errors: dict[str, str],
) -> None:
    hass.states.async_set(
        "number.charger", "16", {"min": 0, "max": 32, "step": 1, "unit_of_measurement": unit}
    )
    result = await start_load(hass, loaded_entry)
    result = await configure_load(hass, result, {"name": "EV charger", "actuator": "number.charger"})
    # The actuator says its unit: the form's settings are in it.
    assert result["step_id"] == "modulated"
    placeholders = result["description_placeholders"]
    assert placeholders | {"level_max": "?"} == placeholders | {
        "entity_min": "0",
        "entity_max": "32",
        "unit": unit,
        "level_min": "0",
        "level_max": "?",
    }
    result = await configure_load(hass, result, MODULATED_FORM | change)
    assert result["errors"] == errors
    fits = {"max": 5} if unit == "kW" else {}  # 32 kW would be above the panel's rating
    result = await configure_load(hass, result, MODULATED_FORM | {"min": 1} | fits)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["unit"] == unit


async def test_modulated_load_that_cannot_accept_zero(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    hass.states.async_set(
        "number.charger", "16", {"min": 6, "max": 16, "step": 1, "unit_of_measurement": "A"}
    )
    result = await start_load(hass, loaded_entry)
    result = await configure_load(hass, result, {"name": "Charger", "actuator": "number.charger"})
    result = await configure_load(hass, result, MODULATED_FORM | {"min": 2, "max": 16})
    assert result["errors"] == {"min": "below_entity_min", "allow_off": "cannot_turn_off"}
    result = await configure_load(hass, result, MODULATED_FORM | {"max": 16, "allow_off": False})
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_reconfigure_load(hass: HomeAssistant, loaded_entry: MockConfigEntry, state_of) -> None:
    wh_id = subentry_id(loaded_entry, "Water heater")
    result = await hass.config_entries.subentries.async_init(
        (loaded_entry.entry_id, SUBENTRY_LOAD), context={"source": SOURCE_RECONFIGURE, "subentry_id": wh_id}
    )
    assert result["step_id"] == "user"
    # Keeping its own actuator is not a duplicate.
    result = await configure_load(hass, result, {"name": "Boiler", "actuator": WATER_HEATER})
    assert result["step_id"] == "switch"
    result = await configure_load(hass, result, SWITCH_FORM | {"nominal_w": 2500, "never_shed": True})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    subentry = loaded_entry.subentries[wh_id]
    assert subentry.title == "Boiler"
    assert subentry.data["nominal_w"] == 2500
    assert state_of("sensor.water_heater_state") == "never_shed"


def units_shown(result: dict[str, Any]) -> dict[str, str]:
    """The unit each number of a form is shown in."""
    return {
        str(key): field.config["unit_of_measurement"]
        for key, field in result["data_schema"].schema.items()
        if isinstance(getattr(field, "config", None), dict) and "unit_of_measurement" in field.config
    }


async def test_modulated_settings_are_shown_in_the_actuator_s_unit(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    hass.states.async_set(
        "number.heater_power", "500", {"min": 0, "max": 2000, "step": 100, "unit_of_measurement": "W"}
    )
    result = await start_load(hass, loaded_entry)
    result = await configure_load(hass, result, {"name": "Heater", "actuator": "number.heater_power"})
    assert result["step_id"] == "modulated"
    assert units_shown(result) == {"min": "W", "max": "W", "step": "W", "min_on_s": "s", "min_off_s": "s"}
    result = await configure_load(hass, result, MODULATED_FORM | {"min": 100, "max": 2000, "step": 100})
    assert result["data"]["unit"] == "W"


async def test_an_actuator_without_a_unit_is_asked_for_one_first(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    hass.states.async_set("number.inverter_limit", "5", {"min": 0, "max": 10, "step": 0.5})
    result = await start_load(hass, loaded_entry)
    result = await configure_load(hass, result, {"name": "Inverter", "actuator": "number.inverter_limit"})
    assert result["step_id"] == "unit"
    assert result["description_placeholders"] == {"actuator": "number.inverter_limit"}
    result = await configure_load(hass, result, {"unit": "kW"})
    assert result["step_id"] == "modulated"
    assert units_shown(result)["max"] == "kW"
    result = await configure_load(hass, result, MODULATED_FORM | {"min": 0, "max": 5, "step": 0.5})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["unit"] == "kW"
    await hass.async_block_till_done()
    load = next(load for load in loaded_entry.runtime_data.coordinator.setup.loads if load.name == "Inverter")
    assert load.config.max_w == 5000
    # Reconfigured, the unit asked before is suggested again.
    result = await hass.config_entries.subentries.async_init(
        (loaded_entry.entry_id, SUBENTRY_LOAD),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": load.subentry_id},
    )
    result = await configure_load(hass, result, {"name": "Inverter", "actuator": "number.inverter_limit"})
    assert result["step_id"] == "unit"
    unit_key = next(key for key in result["data_schema"].schema if key == "unit")
    assert unit_key.description == {"suggested_value": "kW"}


async def test_a_switch_load_s_numbers_get_our_errors(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    result = await start_load(hass, loaded_entry)
    result = await configure_load(hass, result, {"name": "Heat pump", "actuator": HEAT_PUMP})
    assert units_shown(result) == {"nominal_w": "W", "min_on_s": "s", "min_off_s": "s"}
    result = await configure_load(hass, result, SWITCH_FORM | {"nominal_w": 0, "min_off_s": -5})
    assert result["errors"] == {"nominal_w": "nominal_out_of_range", "min_off_s": "min_on_off_out_of_range"}
    assert result["description_placeholders"] == {
        "nominal_min": "1",
        "nominal_max": "100000",
        "min_on_off_min": "0",
        "min_on_off_max": "86400",
    }
    result = await configure_load(hass, result, SWITCH_FORM)
    assert result["type"] is FlowResultType.CREATE_ENTRY


def assert_range_messages(section: dict[str, Any], schema: probatio.Schema) -> int:
    """Every bounded number of a form has its out-of-range message, with placeholders the form gives."""
    given = set(range_placeholders(schema))
    count = 0
    for field in schema.schema.values():
        if isinstance(field, BoundedNumberSelector):
            message = section["error"][f"{field.range_name}_out_of_range"]
            assert set(re.findall(r"{(\w+)}", message)) <= given, message
            count += 1
    return count


def test_every_range_has_a_translated_message() -> None:
    subentries = TRANSLATIONS["config_subentries"]
    assert assert_range_messages(TRANSLATIONS["config"], PANEL_SCHEMA) == 3
    assert assert_range_messages(subentries["load"], SWITCH_LOAD_SCHEMA) == 3
    assert assert_range_messages(subentries["load"], modulated_schema("kW")) == 5
    options = TRANSLATIONS["options"]
    assert sum(assert_range_messages(options, schema) for schema in (TUNING_SCHEMA, GRID_SCHEMA)) == 10
    assert assert_range_messages(options, GRID_SERVER_SCHEMA) == 1
    assert "{panel}" in TRANSLATIONS["config"]["error"]["meter_in_use"]
