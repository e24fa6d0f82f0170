"""Fixtures: a small house built from Home Assistant's own helpers, and a configured panel.

The house is a closed loop: a template sensor computes the panel's power from a
base load (input_number) plus the controlled loads (an input_boolean water
heater, an input_number EV charging current), so when the integration sheds a
load the measured power really drops.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import Any
from unittest.mock import PropertyMock, patch

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

# Import our package before Home Assistant looks for custom_components, so the
# plugin's own testing_config/custom_components does not shadow it.
from custom_components.panel_capacity.const import (
    CONF_ACTUATOR,
    CONF_ALLOW_OFF,
    CONF_CONTINUOUS_PCT,
    CONF_MAX,
    CONF_METERING,
    CONF_MIN,
    CONF_MIN_OFF_S,
    CONF_MIN_ON_S,
    CONF_NEVER_SHED,
    CONF_NOMINAL_W,
    CONF_PHASES,
    CONF_RATING_A,
    CONF_SITE_SENSOR,
    CONF_STEP,
    CONF_SUPPLY,
    CONF_UNIT,
    CONF_VOLTAGE_V,
    DOMAIN,
    METERING_NET,
    SUBENTRY_LOAD,
)
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util

SITE = "sensor.site_power"
BASE = "input_number.base_load"
WATER_HEATER = "input_boolean.water_heater"
EV = "input_number.ev_current"
HEAT_PUMP = "input_boolean.heat_pump"

PANEL_DATA: dict[str, Any] = {
    CONF_SUPPLY: "split_phase",
    CONF_RATING_A: 40,
    CONF_VOLTAGE_V: 240,
    CONF_CONTINUOUS_PCT: 80,
    CONF_METERING: METERING_NET,
    CONF_SITE_SENSOR: SITE,
}  # rating 9600 W, limit 7680 W

WATER_HEATER_DATA: dict[str, Any] = {
    CONF_ACTUATOR: WATER_HEATER,
    CONF_NOMINAL_W: 1800,
    CONF_MIN_ON_S: 0,
    CONF_MIN_OFF_S: 0,
    CONF_NEVER_SHED: False,
}
EV_DATA: dict[str, Any] = {
    CONF_ACTUATOR: EV,
    CONF_UNIT: "A",
    CONF_PHASES: "1",
    CONF_MIN: 6,
    CONF_MAX: 32,
    CONF_STEP: 1,
    CONF_ALLOW_OFF: True,
    CONF_MIN_ON_S: 0,
    CONF_MIN_OFF_S: 0,
    CONF_NEVER_SHED: False,
}


@pytest.fixture
def entity_registry_enabled_by_default() -> Iterator[None]:
    """Create the entities that are disabled by default enabled, for snapshots."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        return_value=True,
        new_callable=PropertyMock,
    ):
        yield


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(request: pytest.FixtureRequest) -> None:
    """Let Home Assistant load the integration from custom_components.

    A test that uses the recorder gets it set up before Home Assistant itself,
    as the recorder's fixtures require.
    """
    if "recorder_mock" in request.fixturenames:
        request.getfixturevalue("recorder_mock")
    if "hass" in request.fixturenames:
        request.getfixturevalue("enable_custom_integrations")


async def settle(hass: HomeAssistant) -> None:
    """Let everything react, including a control step folded by the debouncer (0.5 s)."""
    await hass.async_block_till_done()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=1))
    await hass.async_block_till_done()


async def set_number(hass: HomeAssistant, entity_id: str, value: float) -> None:
    """Change an input_number as a person would, and let everything react."""
    await hass.services.async_call(
        "input_number", "set_value", {"entity_id": entity_id, "value": value}, blocking=True
    )
    await settle(hass)


async def set_switch(hass: HomeAssistant, entity_id: str, on: bool) -> None:
    """Turn an input_boolean on or off as a person would."""
    await hass.services.async_call(
        "input_boolean", "turn_on" if on else "turn_off", {"entity_id": entity_id}, blocking=True
    )
    await settle(hass)


SITE_TEMPLATE = (
    "{{ (states('input_number.base_load') | float(0)"
    " + (1800 if is_state('input_boolean.water_heater', 'on') else 0)"
    " + (3000 if is_state('input_boolean.heat_pump', 'on') else 0)"
    " + states('input_number.ev_current') | float(0) * 240) | round(0) }}"
)


METER_ONLINE = "input_boolean.meter_online"
METER_FROZEN = "input_boolean.meter_frozen"
METER_REPORT = "house_meter_report"


@pytest.fixture
async def house(hass: HomeAssistant) -> None:
    """Base load, a water heater, a heat pump, an EV charger and the panel's meter.

    The meter is a trigger-based template sensor: it reports when a load or the
    base changes and whenever report_meter() fires its event, as a real meter
    reports every few seconds. Turning off input_boolean.meter_online makes it
    unavailable; turning on input_boolean.meter_frozen makes it go silent.
    """
    assert await async_setup_component(
        hass,
        "input_boolean",
        {
            "input_boolean": {
                "water_heater": {"initial": True},
                "heat_pump": {"initial": False},
                "meter_online": {"initial": True},
                "meter_frozen": {"initial": False},
            }
        },
    )
    assert await async_setup_component(
        hass,
        "input_number",
        {
            "input_number": {
                "base_load": {
                    "min": 0,
                    "max": 30000,
                    "step": 10,
                    "initial": 1000,
                    "unit_of_measurement": "W",
                },
                "ev_current": {"min": 0, "max": 32, "step": 1, "initial": 16, "unit_of_measurement": "A"},
            }
        },
    )
    assert await async_setup_component(
        hass,
        "template",
        {
            "template": [
                {
                    "trigger": [
                        {"trigger": "state", "entity_id": [BASE, WATER_HEATER, EV, HEAT_PUMP, METER_ONLINE]},
                        {"trigger": "event", "event_type": METER_REPORT},
                    ],
                    "condition": [{"condition": "state", "entity_id": METER_FROZEN, "state": "off"}],
                    "sensor": [
                        {
                            "name": "Site power",
                            "unique_id": "site_power",
                            "unit_of_measurement": "W",
                            "device_class": "power",
                            "state_class": "measurement",
                            "availability": "{{ is_state('input_boolean.meter_online', 'on') }}",
                            "state": SITE_TEMPLATE,
                        }
                    ],
                }
            ]
        },
    )
    await hass.async_block_till_done()
    report_meter(hass)
    await hass.async_block_till_done()
    assert hass.states.get(SITE).state not in ("unknown", "unavailable")


def report_meter(hass: HomeAssistant) -> None:
    """The meter reports again (same value if nothing changed), as a real meter does every few seconds."""
    hass.bus.async_fire(METER_REPORT)


async def advance(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float, *, meter: bool = True
) -> None:
    """Let time pass in 5 s ticks; the meter keeps reporting unless ``meter`` is False."""
    while seconds > 0:
        freezer.tick(timedelta(seconds=min(5.0, seconds)))
        if meter:
            report_meter(hass)
        async_fire_time_changed(hass)
        await hass.async_block_till_done()
        seconds -= 5.0


def load_subentry(title: str, data: dict[str, Any]) -> ConfigSubentryData:
    """A load subentry for a MockConfigEntry."""
    return ConfigSubentryData(data=data, subentry_type=SUBENTRY_LOAD, title=title, unique_id=None)


@pytest.fixture
def panel_options() -> dict[str, Any]:
    """Options of the test panel (defaults unless a test overrides this fixture)."""
    return {}


@pytest.fixture
def panel_loads() -> list[ConfigSubentryData]:
    """Loads of the test panel, most important first."""
    return [load_subentry("Water heater", WATER_HEATER_DATA), load_subentry("EV charger", EV_DATA)]


@pytest.fixture
def config_entry(panel_options: dict[str, Any], panel_loads: list[ConfigSubentryData]) -> MockConfigEntry:
    """The test panel's config entry (not yet added)."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Main panel",
        data=dict(PANEL_DATA),
        options=panel_options,
        subentries_data=panel_loads,
    )


@pytest.fixture
async def loaded_entry(
    hass: HomeAssistant, house: None, config_entry: MockConfigEntry
) -> AsyncIterator[MockConfigEntry]:
    """The panel set up on the house."""
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    yield config_entry


async def add_panel(
    hass: HomeAssistant, loads: list[ConfigSubentryData], data: dict[str, Any] | None = None
) -> MockConfigEntry:
    """Set up a panel with these loads (on the house's meter unless ``data`` says otherwise)."""
    entry = MockConfigEntry(domain=DOMAIN, title="Main panel", data=data or PANEL_DATA, subentries_data=loads)
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def subentry_id(entry: MockConfigEntry, title: str) -> str:
    """The id of the load subentry with this title."""
    return next(sid for sid, sub in entry.subentries.items() if sub.title == title)


def load_device(hass: HomeAssistant, entry: MockConfigEntry, title: str) -> str:
    """The id of the device of the load with this title."""
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, subentry_id(entry, title)), entry.entry_id
    )
    assert device is not None
    return device.id


@pytest.fixture
def state_of(hass: HomeAssistant) -> Callable[[str], str]:
    """The state string of an entity (fails clearly when it does not exist)."""

    def _state(entity_id: str) -> str:
        state = hass.states.get(entity_id)
        assert state is not None, f"{entity_id} does not exist"
        return state.state

    return _state
