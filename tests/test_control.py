"""End to end: the integration sheds and restores real helper entities in Home Assistant."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_mock_service,
)

from custom_components.panel_capacity.const import (
    CONF_ACTUATOR,
    CONF_NOMINAL_W,
    DOMAIN,
    EVENT_ACTION,
    EVENT_ALERT,
)
from homeassistant.config_entries import ConfigEntryDisabler, ConfigSubentry
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import Context, HomeAssistant, ServiceCall
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util

from .conftest import (
    BASE,
    EV,
    EV_DATA,
    HEAT_PUMP,
    METER_FROZEN,
    METER_ONLINE,
    PANEL_DATA,
    SITE,
    WATER_HEATER,
    WATER_HEATER_DATA,
    add_panel,
    advance,
    load_device,
    load_subentry,
    set_number,
    set_switch,
    settle,
    subentry_id,
)

CONTROLLER = "sensor.main_panel_controller_state"


async def test_sheds_least_important_and_restores(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, freezer: FrozenDateTimeFactory, state_of
) -> None:
    actions = async_capture_events(hass, EVENT_ACTION)
    assert float(state_of(SITE)) == 6640
    assert state_of(CONTROLLER) == "normal"
    assert float(state_of("sensor.main_panel_effective_limit")) == 7680
    assert state_of("sensor.main_panel_binding_limit") == "panel"
    assert float(state_of("sensor.main_panel_headroom")) == 1040
    assert round(float(state_of("sensor.main_panel_utilisation"))) == 86

    await set_number(hass, BASE, 3000)  # 3000 + 1800 + 3840 = 8640 W > 7680 W

    # The EV (least important) is turned down at once, to under 7680 - 100 W.
    assert float(state_of(EV)) == 11
    assert state_of(WATER_HEATER) == "on"
    assert float(state_of(SITE)) == 7440
    assert state_of("sensor.ev_charger_state") == "reduced"
    assert float(state_of("sensor.ev_charger_allocated_power")) == 2640
    assert state_of("sensor.water_heater_state") == "on"
    assert len(actions) == 1
    assert actions[0].data == {
        "entry_id": loaded_entry.entry_id,
        "load_id": subentry_id(loaded_entry, "EV charger"),
        "device_id": load_device(hass, loaded_entry, "EV charger"),
        "load": "EV charger",
        "entity_id": EV,
        "action": "set_level",
        "reason": "over_limit",
        "level_w": 2640,
        "value": 11,
        "site_power_w": 8640,
        "limit_w": 7680,
        "node_id": "main",
        "node": "Main panel",
        "conductor": None,
        "success": True,
    }
    # Our own command is not mistaken for a person's.
    assert state_of("sensor.ev_charger_reason") != "manual_override"

    await set_number(hass, BASE, 1000)
    await advance(hass, freezer, 25)
    assert state_of("sensor.ev_charger_reason") == "restore_holdoff"
    await advance(hass, freezer, 120)
    assert float(state_of(EV)) == 16
    assert state_of("sensor.ev_charger_state") == "on"
    assert state_of(CONTROLLER) == "normal"
    assert [(event.data["reason"], event.data["level_w"]) for event in actions[1:]] == [
        ("headroom", 3840),
    ]
    assert int(state_of("sensor.main_panel_actions_today")) == len(actions)


async def test_sheds_several_loads_and_reports_when_it_cannot_reach_the_limit(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, state_of
) -> None:
    alerts = async_capture_events(hass, EVENT_ALERT)
    await set_number(hass, BASE, 9000)
    assert float(state_of(EV)) == 0
    assert state_of(WATER_HEATER) == "off"
    assert state_of("binary_sensor.main_panel_over_limit") == "on"
    assert state_of("binary_sensor.main_panel_cannot_reach_limit") == "on"
    assert [event.data["alert"] for event in alerts] == ["insufficient"]
    assert state_of(CONTROLLER) == "shedding"
    # Nothing flaps while it stays that way.
    await set_number(hass, BASE, 9100)
    assert [event.data["alert"] for event in alerts] == ["insufficient"]
    await set_number(hass, BASE, 5000)
    assert state_of("binary_sensor.main_panel_cannot_reach_limit") == "off"
    assert state_of("binary_sensor.main_panel_over_limit") == "off"


@pytest.mark.parametrize(
    "panel_loads",
    [
        [
            load_subentry("Water heater", WATER_HEATER_DATA | {"never_shed": True}),
            load_subentry("EV charger", EV_DATA),
        ]
    ],
)
async def test_never_shed_load_is_left_alone(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, state_of
) -> None:
    await set_number(hass, BASE, 9000)
    assert state_of(WATER_HEATER) == "on"
    assert float(state_of(EV)) == 0
    assert state_of("sensor.water_heater_state") == "never_shed"


@pytest.mark.parametrize("panel_options", [{"manual_hold_s": 300}])
async def test_manual_override_is_respected_then_managed_again(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, freezer: FrozenDateTimeFactory, state_of
) -> None:
    await set_number(hass, BASE, 7000)
    assert state_of(WATER_HEATER) == "off"
    # A person turns the water heater back on.
    await set_switch(hass, WATER_HEATER, True)
    assert state_of(WATER_HEATER) == "on"
    assert state_of("sensor.water_heater_state") == "manual"
    assert state_of("sensor.water_heater_reason") == "manual_override"
    await advance(hass, freezer, 240)
    assert state_of(WATER_HEATER) == "on"
    await advance(hass, freezer, 70)
    assert state_of(WATER_HEATER) == "off"
    assert state_of("sensor.water_heater_state") == "held_off"
    assert state_of("sensor.water_heater_reason") == "restore_holdoff"


@pytest.mark.parametrize("panel_options", [{"manual_hold_s": 300}])
async def test_manual_override_of_a_reduced_load(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, freezer: FrozenDateTimeFactory, state_of
) -> None:
    await set_number(hass, BASE, 3000)
    assert float(state_of(EV)) == 11
    await set_number(hass, EV, 20)  # a person wants the car charged faster
    assert state_of("sensor.ev_charger_state") == "manual"
    assert float(state_of(EV)) == 20
    # Over the limit, so the water heater goes instead of the EV.
    assert state_of(WATER_HEATER) == "off"
    await advance(hass, freezer, 310)
    assert state_of("sensor.ev_charger_state") == "reduced"
    assert float(state_of(EV)) < 20


async def test_person_changing_a_load_we_do_not_hold_is_not_an_override(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, state_of
) -> None:
    await set_number(hass, EV, 20)
    assert state_of("sensor.ev_charger_state") == "on"
    await set_switch(hass, WATER_HEATER, False)
    assert state_of("sensor.water_heater_state") == "off"
    assert state_of("sensor.water_heater_reason") == "off_by_user"


async def test_unavailable_sensor_is_no_measurement_then_fail_safe(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, freezer: FrozenDateTimeFactory, state_of
) -> None:
    alerts = async_capture_events(hass, EVENT_ALERT)
    await set_switch(hass, METER_ONLINE, False)  # the meter dies
    assert state_of(SITE) == STATE_UNAVAILABLE
    assert state_of("sensor.main_panel_site_power") == "unknown"
    assert state_of("binary_sensor.main_panel_sensor_problem") == "on"
    assert state_of(WATER_HEATER) == "on"  # not read as 0, not acted on yet
    await advance(hass, freezer, 65)
    assert [event.data["alert"] for event in alerts] == ["fail_safe"]
    assert state_of(CONTROLLER) == "fail_safe"
    assert state_of(WATER_HEATER) == "off"
    assert float(state_of(EV)) == 0
    assert state_of("sensor.water_heater_reason") == "fail_safe"
    # Readings come back: recovered, loads return one at a time.
    await set_switch(hass, METER_ONLINE, True)
    assert float(state_of(SITE)) == 1000
    assert [event.data["alert"] for event in alerts] == ["fail_safe", "recovered"]
    await advance(hass, freezer, 35)
    assert state_of(WATER_HEATER) == "on"
    assert float(state_of(EV)) == 0
    await advance(hass, freezer, 300)
    assert float(state_of(EV)) == 16
    assert state_of("binary_sensor.main_panel_sensor_problem") == "off"


async def test_silent_sensor_goes_fail_safe(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, freezer: FrozenDateTimeFactory, state_of
) -> None:
    await set_switch(hass, METER_FROZEN, True)  # the meter keeps its last value and says nothing more
    await advance(hass, freezer, 55)
    assert state_of(CONTROLLER) == "normal"
    await advance(hass, freezer, 10)
    assert state_of(CONTROLLER) == "fail_safe"
    assert state_of(WATER_HEATER) == "off"
    sensor_problem = hass.states.get("binary_sensor.main_panel_sensor_problem")
    assert sensor_problem.state == "on"
    last = dt_util.parse_datetime(sensor_problem.attributes["last_reading"])
    assert last is not None
    assert (dt_util.utcnow() - last).total_seconds() >= 60


async def test_non_numeric_reading_is_not_zero(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, freezer: FrozenDateTimeFactory, state_of
) -> None:
    await set_number(hass, BASE, 7000)
    assert state_of(WATER_HEATER) == "off"
    hass.states.async_set(SITE, "n/a", {"unit_of_measurement": "W", "device_class": "power"})
    await advance(hass, freezer, 40, meter=False)
    # Read as 0 it would bring the water heater back; it does not.
    assert state_of(WATER_HEATER) == "off"
    assert state_of("sensor.main_panel_headroom") == "unknown"


@pytest.mark.parametrize(
    ("state", "unit", "watts"),
    [
        ("8.64", "kW", 8640),
        ("8640", "W", 8640),
        ("36", "A", 8640),
        ("36000", "mA", 8640),
        ("0.00864", "MW", 8640),
    ],
)
async def test_units_of_the_panel_sensor(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, state_of, state: str, unit: str, watts: float
) -> None:
    hass.states.async_set(SITE, state, {"unit_of_measurement": unit})
    await hass.async_block_till_done()
    assert float(state_of("sensor.main_panel_site_power")) == pytest.approx(watts)
    assert float(state_of(EV)) == 11  # 8640 W is over the limit whatever the unit


async def test_unsupported_unit_is_no_measurement(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, state_of
) -> None:
    hass.states.async_set(SITE, "9000", {"unit_of_measurement": "Wh"})
    await hass.async_block_till_done()
    assert state_of("sensor.main_panel_site_power") == "unknown"
    assert float(state_of(EV)) == 16


@pytest.mark.parametrize(
    "panel_loads",
    [[load_subentry("Water heater", WATER_HEATER_DATA | {"power_sensor": "sensor.wh_power"})]],
)
async def test_load_power_sensor_is_remembered(
    hass: HomeAssistant, house: None, config_entry: MockConfigEntry, state_of
) -> None:
    hass.states.async_set("sensor.wh_power", "2.2", {"unit_of_measurement": "kW", "device_class": "power"})
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert float(state_of("sensor.water_heater_allocated_power")) == 2200
    # Measured idle: its relay is on but it draws nothing, so shedding it frees nothing.
    hass.states.async_set("sensor.wh_power", "0", {"unit_of_measurement": "kW", "device_class": "power"})
    await set_number(hass, BASE, 8000)
    assert state_of(WATER_HEATER) == "on"
    assert state_of("binary_sensor.main_panel_cannot_reach_limit") == "on"


async def test_management_off_gives_back_and_only_monitors(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, state_of
) -> None:
    await set_number(hass, BASE, 7000)
    assert state_of(WATER_HEATER) == "off"
    await hass.services.async_call(
        "switch", "turn_off", {"entity_id": "switch.main_panel_capacity_management"}, blocking=True
    )
    await hass.async_block_till_done()
    assert state_of("switch.main_panel_capacity_management") == "off"
    assert state_of(CONTROLLER) == "monitoring"
    assert state_of(WATER_HEATER) == "on"  # given back
    assert float(state_of(EV)) == 16
    await set_number(hass, BASE, 8000)
    assert state_of(WATER_HEATER) == "on"  # over the limit, and nothing is done
    assert state_of("binary_sensor.main_panel_over_limit") == "on"
    assert state_of("sensor.water_heater_reason") == "monitoring"
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.main_panel_capacity_management"}, blocking=True
    )
    await hass.async_block_till_done()
    assert state_of(WATER_HEATER) == "off"
    assert float(state_of(EV)) == 0


async def test_user_cap_lowers_the_limit_and_never_raises_it(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, state_of
) -> None:
    number = "number.main_panel_limit_cap"
    assert float(state_of(number)) == 7680
    assert hass.states.get(number).attributes["max"] == 7680
    await hass.services.async_call("number", "set_value", {"entity_id": number, "value": 5000}, blocking=True)
    await hass.async_block_till_done()
    assert float(state_of("sensor.main_panel_effective_limit")) == 5000
    assert state_of("sensor.main_panel_binding_limit") == "user_cap"
    assert float(state_of(EV)) < 16  # 6640 W was over the new limit
    # Above what the panel carries is refused, with Home Assistant's translated error.
    with pytest.raises(ServiceValidationError) as error:
        await hass.services.async_call(
            "number", "set_value", {"entity_id": number, "value": 9000}, blocking=True
        )
    assert error.value.translation_key == "out_of_range"
    await hass.services.async_call("number", "set_value", {"entity_id": number, "value": 7680}, blocking=True)
    await hass.async_block_till_done()
    assert loaded_entry.runtime_data.coordinator.user_cap_w is None
    assert state_of("sensor.main_panel_binding_limit") == "panel"


@pytest.mark.parametrize("value", ["nan", float("nan"), "NaN"])
async def test_user_cap_refuses_not_a_number_and_keeps_its_setting(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, state_of, value: Any
) -> None:
    number = "number.main_panel_limit_cap"
    await hass.services.async_call("number", "set_value", {"entity_id": number, "value": 5000}, blocking=True)
    # Home Assistant's range check lets NaN through (it compares false with both bounds): ours refuses it.
    with pytest.raises(ServiceValidationError) as error:
        await hass.services.async_call(
            "number", "set_value", {"entity_id": number, "value": value}, blocking=True
        )
    assert error.value.translation_domain == DOMAIN
    assert error.value.translation_key == "not_a_number"
    await hass.async_block_till_done()
    assert float(state_of(number)) == 5000
    assert loaded_entry.runtime_data.coordinator.user_cap_w == 5000
    assert float(state_of("sensor.main_panel_effective_limit")) == 5000


async def test_disabling_gives_every_load_back(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, state_of
) -> None:
    await set_number(hass, BASE, 9000)
    assert state_of(WATER_HEATER) == "off"
    assert float(state_of(EV)) == 0
    assert await hass.config_entries.async_set_disabled_by(loaded_entry.entry_id, ConfigEntryDisabler.USER)
    await hass.async_block_till_done()
    assert state_of(WATER_HEATER) == "on"
    assert float(state_of(EV)) == 16
    assert hass.states.get("sensor.main_panel_site_power").state == STATE_UNAVAILABLE


async def test_reload_for_a_config_change_keeps_loads_held(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, state_of
) -> None:
    await set_number(hass, BASE, 7000)
    assert state_of(WATER_HEATER) == "off"
    actions = async_capture_events(hass, EVENT_ACTION)
    hass.config_entries.async_update_entry(loaded_entry, options={"margin_w": 300})
    await hass.async_block_till_done()
    assert loaded_entry.runtime_data.coordinator.setup.settings.margin_w == 300
    assert state_of(WATER_HEATER) == "off"
    assert state_of("sensor.water_heater_state") == "held_off"
    assert actions == []  # nothing given back and shed again


async def test_changes_in_quick_succession_keep_loads_held(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, state_of
) -> None:
    # Two changes before the first reload runs (a load added, then an option, as when loads are
    # added one after another): each schedules a reload, and no load is given back by either.
    await set_number(hass, BASE, 7000)
    assert state_of(WATER_HEATER) == "off"
    actions = async_capture_events(hass, EVENT_ACTION)
    sub = load_subentry("Heat pump", {CONF_ACTUATOR: HEAT_PUMP, CONF_NOMINAL_W: 3000})
    hass.config_entries.async_add_subentry(loaded_entry, ConfigSubentry(**sub))
    hass.config_entries.async_update_entry(loaded_entry, options={"margin_w": 300})
    await hass.async_block_till_done()
    assert loaded_entry.runtime_data.coordinator.setup.settings.margin_w == 300
    assert state_of(WATER_HEATER) == "off"
    assert "released" not in [action.data["reason"] for action in actions]  # nothing given back
    # With no reload pending, disabling the panel gives every load back.
    assert await hass.config_entries.async_set_disabled_by(loaded_entry.entry_id, ConfigEntryDisabler.USER)
    await hass.async_block_till_done()
    assert state_of(WATER_HEATER) == "on"


async def test_removed_load_is_given_back(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, state_of
) -> None:
    await set_number(hass, BASE, 7000)
    assert state_of(WATER_HEATER) == "off"
    hass.config_entries.async_remove_subentry(loaded_entry, subentry_id(loaded_entry, "Water heater"))
    await hass.async_block_till_done()
    assert state_of(WATER_HEATER) == "on"
    assert hass.states.get("sensor.water_heater_state") is None


async def test_restart_recovers_what_it_had_shed(
    hass: HomeAssistant,
    house: None,
    config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
    freezer: FrozenDateTimeFactory,
    state_of,
) -> None:
    wh_id = subentry_id(config_entry, "Water heater")
    # What the controller had stored before Home Assistant restarted: it had shed the water heater.
    hass_storage[f"{DOMAIN}.{config_entry.entry_id}"] = {
        "version": 1,
        "minor_version": 1,
        "key": f"{DOMAIN}.{config_entry.entry_id}",
        "data": {
            "memory": {
                "version": 1,
                "loads": {wh_id: {"held": "shed", "actions": 4}},
                "last_action_at": None,
            },
            "enabled": True,
            "user_cap_w": 6500,
        },
    }
    await set_switch(hass, WATER_HEATER, False)
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert state_of("sensor.water_heater_state") == "shed"
    assert int(state_of("sensor.water_heater_actions")) == 4
    # 4840 W + 1800 W would not fit under the 6250 W restore threshold: still held.
    assert float(state_of("sensor.main_panel_effective_limit")) == 6500
    # With headroom it brings the water heater back (it would not turn on a load it had not shed).
    await set_number(hass, BASE, 500)
    await advance(hass, freezer, 35)
    assert state_of(WATER_HEATER) == "on"


async def test_memory_is_stored(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
    freezer: FrozenDateTimeFactory,
) -> None:
    await set_number(hass, BASE, 7000)
    await advance(hass, freezer, 15)
    stored = hass_storage[f"{DOMAIN}.{loaded_entry.entry_id}"]["data"]
    assert stored["memory"]["loads"][subentry_id(loaded_entry, "Water heater")]["held"] == "shed"
    assert stored["enabled"] is True


@pytest.mark.parametrize(
    ("domain", "state", "off_service", "on_service"),
    [
        ("climate", "heat", "turn_off", "turn_on"),
        ("water_heater", "eco", "turn_off", "turn_on"),
        ("light", "on", "turn_off", "turn_on"),
        ("fan", "on", "turn_off", "turn_on"),
    ],
)
async def test_actuator_domains(
    hass: HomeAssistant,
    house: None,
    freezer: FrozenDateTimeFactory,
    domain: str,
    state: str,
    off_service: str,
    on_service: str,
) -> None:
    entity_id = f"{domain}.appliance"
    hass.states.async_set(entity_id, state)
    calls_off = async_mock_service(hass, domain, off_service)
    calls_on = async_mock_service(hass, domain, on_service)
    await add_panel(hass, [load_subentry("Appliance", {"actuator": entity_id, "nominal_w": 2000})])
    await set_number(hass, BASE, 8000)
    assert [call.data["entity_id"] for call in calls_off] == [entity_id]
    hass.states.async_set(entity_id, "off", context=calls_off[0].context)
    await set_number(hass, EV, 0)
    await set_number(hass, BASE, 1000)
    await advance(hass, freezer, 35)
    assert [call.data["entity_id"] for call in calls_on] == [entity_id]


async def _template_actuators(hass: HomeAssistant) -> None:
    """A real switch and a real number entity (template), each driving a helper."""
    assert await async_setup_component(
        hass,
        "input_boolean",
        {"input_boolean": {"boiler_relay": {"initial": True}}},
    )
    assert await async_setup_component(
        hass,
        "input_number",
        {
            "input_number": {
                "charger_setpoint": {"min": 0, "max": 32, "step": 0.5, "initial": 16},
                "garage_base": {"min": 0, "max": 20000, "step": 10, "initial": 0},
            }
        },
    )
    assert await async_setup_component(
        hass,
        "template",
        {
            "template": [
                {
                    "switch": [
                        {
                            "name": "Boiler",
                            "state": "{{ is_state('input_boolean.boiler_relay', 'on') }}",
                            "turn_on": [
                                {
                                    "action": "input_boolean.turn_on",
                                    "target": {"entity_id": "input_boolean.boiler_relay"},
                                }
                            ],
                            "turn_off": [
                                {
                                    "action": "input_boolean.turn_off",
                                    "target": {"entity_id": "input_boolean.boiler_relay"},
                                }
                            ],
                        }
                    ],
                    "sensor": [
                        {
                            "name": "Meter",
                            "unit_of_measurement": "W",
                            "device_class": "power",
                            "state": "{{ states('input_number.garage_base') | float"
                            " + (2000 if is_state('input_boolean.boiler_relay', 'on') else 0)"
                            " + states('input_number.charger_setpoint') | float * 240 }}",
                        }
                    ],
                    "number": [
                        {
                            "name": "Charger",
                            "state": "{{ states('input_number.charger_setpoint') }}",
                            "min": 6,
                            "max": 32,
                            "step": 2,
                            "unit_of_measurement": "A",
                            "set_value": [
                                {
                                    "action": "input_number.set_value",
                                    "target": {"entity_id": "input_number.charger_setpoint"},
                                    "data": {"value": "{{ value }}"},
                                }
                            ],
                        }
                    ],
                }
            ]
        },
    )
    await hass.async_block_till_done()


async def test_switch_and_number_entities_as_actuators(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, state_of
) -> None:
    await _template_actuators(
        hass
    )  # the meter adds the boiler (2000 W) and the charger (A x 240 V) to a base
    await add_panel(
        hass,
        [
            load_subentry("Boiler", {"actuator": "switch.boiler", "nominal_w": 2000}),
            load_subentry(
                "Charger",
                EV_DATA | {"actuator": "number.charger", "step": 0.5, "allow_off": False, "max": 32},
            ),
        ],
        PANEL_DATA | {"site_sensor": "sensor.meter"},
    )
    assert float(state_of("sensor.meter")) == 2000 + 16 * 240
    # 2430 + 2000 + 3840 = 8270 W: the charger must come down to 3000 W = 12.5 A on the
    # engine's 0.5 A grid; the entity's own grid is 2 A from 6 A, so it gets 12 A.
    await set_number(hass, "input_number.garage_base", 2430)
    assert float(state_of("sensor.meter")) == 2430 + 2000 + 12 * 240
    assert float(state_of("number.charger")) == 12
    assert state_of("switch.boiler") == "on"
    assert state_of("sensor.charger_state") == "reduced"
    # More load: the charger goes to its minimum (it may not turn off), then the boiler goes off.
    await set_number(hass, "input_number.garage_base", 6500)
    assert float(state_of("number.charger")) == 6
    assert state_of("switch.boiler") == "off"
    assert float(state_of("sensor.meter")) == 6500 + 6 * 240
    assert state_of("sensor.boiler_state") == "shed"
    assert state_of("sensor.boiler_reason") == "waiting_for_headroom"


async def test_unavailable_actuator_is_left_alone(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, state_of
) -> None:
    hass.states.async_set(EV, STATE_UNAVAILABLE)
    await settle(hass)
    assert state_of("sensor.ev_charger_state") == "unavailable"
    assert state_of("sensor.ev_charger_reason") == "actuator_unavailable"
    await set_number(hass, BASE, 7000)
    assert state_of(WATER_HEATER) == "off"
    assert state_of(EV) == STATE_UNAVAILABLE


async def test_actuator_that_answers_too_slowly(
    hass: HomeAssistant, house: None, caplog: pytest.LogCaptureFixture, state_of
) -> None:
    """A command that takes longer than the service timeout is logged, and still counts when it shows."""
    hass.states.async_set("fan.slow", "on")

    async def slow_turn_off(call: ServiceCall) -> None:
        await asyncio.sleep(0.3)
        hass.states.async_set("fan.slow", "off", context=call.context)

    hass.services.async_register("fan", "turn_off", slow_turn_off)
    await add_panel(hass, [load_subentry("Slow fan", {"actuator": "fan.slow", "nominal_w": 1800})])
    actions = async_capture_events(hass, EVENT_ACTION)
    with patch("custom_components.panel_capacity.coordinator.SERVICE_TIMEOUT_S", 0.05):
        await set_number(hass, BASE, 7000)
    assert "fan.turn_off for fan.slow did not finish in time" in caplog.text
    assert [event.data["success"] for event in actions] == [True]  # it may still happen
    await asyncio.sleep(0.4)
    await settle(hass)
    assert state_of("fan.slow") == "off"
    assert state_of("sensor.slow_fan_state") == "shed"
    assert state_of("sensor.slow_fan_reason") == "waiting_for_headroom"


async def test_slow_command_that_fails_late_is_logged(
    hass: HomeAssistant, house: None, caplog: pytest.LogCaptureFixture
) -> None:
    hass.states.async_set("fan.slow", "on")

    async def slow_failure(call: ServiceCall) -> None:
        await asyncio.sleep(0.2)
        raise HomeAssistantError("device did not answer")

    hass.services.async_register("fan", "turn_off", slow_failure)
    await add_panel(hass, [load_subentry("Slow fan", {"actuator": "fan.slow", "nominal_w": 1800})])
    with patch("custom_components.panel_capacity.coordinator.SERVICE_TIMEOUT_S", 0.05):
        await set_number(hass, BASE, 7000)
    await asyncio.sleep(0.3)
    await hass.async_block_till_done()
    assert "Could not turn_off fan.slow: device did not answer" in caplog.text


async def test_a_failing_step_does_not_stop_the_loop(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, caplog: pytest.LogCaptureFixture, state_of
) -> None:
    coordinator = loaded_entry.runtime_data.coordinator
    with patch.object(coordinator.engine, "step", side_effect=ZeroDivisionError):
        await set_number(hass, BASE, 7000)
    assert "Control step failed" in caplog.text
    await set_number(hass, BASE, 7010)
    assert state_of(WATER_HEATER) == "off"


async def test_a_service_raising_something_unexpected(
    hass: HomeAssistant, house: None, caplog: pytest.LogCaptureFixture, state_of
) -> None:
    hass.states.async_set("fan.odd", "on")

    async def broken(call: ServiceCall) -> None:
        raise KeyError("bug elsewhere")

    hass.services.async_register("fan", "turn_off", broken)
    await add_panel(
        hass,
        [
            load_subentry("Water heater", WATER_HEATER_DATA),
            load_subentry("Odd fan", {"actuator": "fan.odd", "nominal_w": 1800}),
        ],
    )
    await set_number(hass, BASE, 6000)
    assert "Could not turn_off fan.odd" in caplog.text
    assert state_of(WATER_HEATER) == "off"


async def test_failed_command_is_logged_and_another_load_is_tried(
    hass: HomeAssistant, house: None, caplog: pytest.LogCaptureFixture, state_of
) -> None:
    hass.states.async_set("fan.ghost", "on")  # no fan integration: the call fails
    actions = async_capture_events(hass, EVENT_ACTION)
    await add_panel(
        hass,
        [
            load_subentry("Water heater", WATER_HEATER_DATA),
            load_subentry("Ghost", {"actuator": "fan.ghost", "nominal_w": 2000}),
        ],
    )
    await set_number(hass, BASE, 6000)
    assert [(event.data["load"], event.data["success"]) for event in actions][:2] == [
        ("Ghost", False),
        ("Water heater", True),
    ]
    assert "Could not turn_off fan.ghost" in caplog.text
    assert state_of(WATER_HEATER) == "off"


async def test_event_context_marks_our_own_changes(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    actions = async_capture_events(hass, EVENT_ACTION)
    await set_number(hass, BASE, 3000)
    state = hass.states.get(EV)
    assert state.context.id == actions[0].context.id
    assert state.context != Context()
