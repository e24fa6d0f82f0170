"""Config flow, reconfigure, options and load subentry flows: every path, every error, recovery."""

from __future__ import annotations

from typing import Any

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
from homeassistant.config_entries import SOURCE_RECONFIGURE, SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData

from .conftest import EV, HEAT_PUMP, PANEL_DATA, SITE, WATER_HEATER, subentry_id

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


async def test_out_of_range_values_are_refused_by_the_form(hass: HomeAssistant, house: None) -> None:
    result = await start(hass)
    with pytest.raises(InvalidData):
        await configure(hass, result, PANEL_FORM | {"rating_a": 0})
    with pytest.raises(InvalidData):
        await configure(hass, result, PANEL_FORM | {"continuous_pct": 120})
    with pytest.raises(InvalidData):
        await configure(hass, result, PANEL_FORM | {"voltage_v": 5000})
    result = await configure(hass, result, PANEL_FORM)
    assert result["step_id"] == "sensors"


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


async def test_same_meter_twice_is_rejected(hass: HomeAssistant, loaded_entry: MockConfigEntry) -> None:
    result = await configure(hass, await start(hass), PANEL_FORM | {"name": "Again"})
    result = await configure(hass, result, {CONF_SITE_SENSOR: SITE})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


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
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


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
    ]
    for change, errors in bad_cases:
        result = await hass.config_entries.options.async_configure(result["flow_id"], good | change)
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == errors
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
    "unit": "A",
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
    ("change", "errors"),
    [
        ({"min": 10, "max": 6}, {"max": "min_above_max"}),
        ({"max": 0, "min": 0}, {"max": "min_above_max"}),
        ({"step": 40}, {"step": "step_too_large"}),
        ({"max": 40}, {"max": "above_entity_max"}),
        ({"unit": "W", "min": 1000, "max": 20, "step": 1}, {"max": "min_above_max"}),
        ({"unit": "kW", "min": 1, "max": 30, "step": 1}, {"max": "above_panel_rating"}),
    ],
)
@pytest.mark.parametrize("panel_loads", [[]])
async def test_add_modulated_load_errors_then_recovery(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, change: dict[str, Any], errors: dict[str, str]
) -> None:
    result = await start_load(hass, loaded_entry)
    result = await configure_load(hass, result, {"name": "EV charger", "actuator": EV})
    assert result["step_id"] == "modulated"
    assert result["description_placeholders"] == {"entity_min": "0.0", "entity_max": "32.0"}
    result = await configure_load(hass, result, MODULATED_FORM | change)
    assert result["errors"] == errors
    result = await configure_load(hass, result, MODULATED_FORM)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["unit"] == "A"


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


async def test_modulated_unit_is_suggested_from_the_actuator(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    hass.states.async_set(
        "number.heater_power", "500", {"min": 0, "max": 2000, "step": 100, "unit_of_measurement": "W"}
    )
    result = await start_load(hass, loaded_entry)
    result = await configure_load(hass, result, {"name": "Heater", "actuator": "number.heater_power"})
    schema = result["data_schema"].schema
    unit_key = next(key for key in schema if key == "unit")
    assert unit_key.description == {"suggested_value": "W"}
