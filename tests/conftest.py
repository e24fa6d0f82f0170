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
    CONF_CONDUCTORS,
    CONF_CONTINUOUS_PCT,
    CONF_L1_SENSOR,
    CONF_L2_SENSOR,
    CONF_MAX,
    CONF_METERING,
    CONF_MIN,
    CONF_MIN_OFF_S,
    CONF_MIN_ON_S,
    CONF_NEVER_SHED,
    CONF_NODE,
    CONF_NOMINAL_W,
    CONF_PARENT,
    CONF_PHASES,
    CONF_POWER_SENSOR,
    CONF_RATING_A,
    CONF_SITE_SENSOR,
    CONF_STEP,
    CONF_SUPPLY,
    CONF_UNIT,
    CONF_VOLTAGE_V,
    CONFIG_VERSION,
    DOMAIN,
    METERING_NET,
    SUBENTRY_LOAD,
    SUBENTRY_NODE,
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
    """Let everything react: the control step (at the loop's next turn) and its entities' update (within 1 s)."""
    await hass.async_block_till_done()
    await hass.async_block_till_done()  # the step starts a turn of the loop after the state change
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
    yield await set_up(hass, config_entry)


async def set_up(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    """Add an entry and set it up."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


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


# ------------------------------------------------------------------ the tree
#
# A US split-phase house of 100 A (80 A a leg: 9600 W; 19,200 W in all) measured per leg in
# amperes and in total, with a 60 A garage subpanel (11,520 W) measured by its own sensor.
# Loads, most important first: the garage's EV charger (240 V, both legs), the garage's
# freezer (120 V, L1), the kitchen's kettle (120 V, L1) and a space heater (120 V, L2).

SERVICE = "sensor.service_power"
LEG_L1 = "sensor.leg_l1_current"
LEG_L2 = "sensor.leg_l2_current"
GARAGE = "sensor.garage_meter"
BASE_L1 = "input_number.base_l1"
BASE_L2 = "input_number.base_l2"
GARAGE_BASE = "input_number.garage_base"
GARAGE_EV = "input_number.garage_ev"
FREEZER = "input_boolean.freezer"
KETTLE = "input_boolean.kettle"
HEATER = "input_boolean.space_heater"
GARAGE_ID = "01KNODEGARAGE000000000000AA"

TREE_PANEL_DATA: dict[str, Any] = PANEL_DATA | {
    CONF_RATING_A: 100,
    CONF_SITE_SENSOR: SERVICE,
    CONF_L1_SENSOR: LEG_L1,
    CONF_L2_SENSOR: LEG_L2,
}
GARAGE_DATA: dict[str, Any] = {
    CONF_PARENT: "main",
    CONF_RATING_A: 60,
    CONF_CONTINUOUS_PCT: 80,
    CONF_CONDUCTORS: ["l1", "l2"],
    CONF_POWER_SENSOR: GARAGE,
}
SWITCH_DATA: dict[str, Any] = {CONF_MIN_ON_S: 0, CONF_MIN_OFF_S: 0, CONF_NEVER_SHED: False}
GARAGE_EV_DATA: dict[str, Any] = {key: value for key, value in EV_DATA.items() if key != CONF_PHASES} | {
    CONF_ACTUATOR: GARAGE_EV,
    CONF_MAX: 48,
    CONF_NODE: GARAGE_ID,
    CONF_CONDUCTORS: ["l1", "l2"],
}
FREEZER_DATA = SWITCH_DATA | {
    CONF_ACTUATOR: FREEZER,
    CONF_NOMINAL_W: 600,
    CONF_NODE: GARAGE_ID,
    CONF_CONDUCTORS: ["l1"],
}
KETTLE_DATA = SWITCH_DATA | {
    CONF_ACTUATOR: KETTLE,
    CONF_NOMINAL_W: 1800,
    CONF_NODE: "main",
    CONF_CONDUCTORS: ["l1"],
}
HEATER_DATA = SWITCH_DATA | {
    CONF_ACTUATOR: HEATER,
    CONF_NOMINAL_W: 1500,
    CONF_NODE: "main",
    CONF_CONDUCTORS: ["l2"],
}

_ON = "is_state('input_boolean.{}', 'on')"
TREE_L1_W = (
    "(states('input_number.base_l1') | float(0) + (1800 if " + _ON.format("kettle") + " else 0)"
    " + (600 if " + _ON.format("freezer") + " else 0) + states('input_number.garage_ev') | float(0) * 120"
    " + states('input_number.garage_base') | float(0) / 2)"
)
TREE_L2_W = (
    "(states('input_number.base_l2') | float(0) + (1500 if " + _ON.format("space_heater") + " else 0)"
    " + states('input_number.garage_ev') | float(0) * 120 + states('input_number.garage_base') | float(0) / 2)"
)
TREE_GARAGE_W = (
    "((600 if " + _ON.format("freezer") + " else 0) + states('input_number.garage_ev') | float(0) * 240"
    " + states('input_number.garage_base') | float(0))"
)


def node_subentry(title: str, data: dict[str, Any], subentry_id: str | None = None) -> ConfigSubentryData:
    """A node subentry for a MockConfigEntry."""
    sub = ConfigSubentryData(data=data, subentry_type=SUBENTRY_NODE, title=title, unique_id=None)
    if subentry_id is not None:
        sub["subentry_id"] = subentry_id
    return sub


def tree_sensor(name: str, state: str, unit: str, device_class: str) -> dict[str, Any]:
    """A template sensor of the tree house's meters."""
    return {
        "name": name,
        "unique_id": name.lower().replace(" ", "_"),
        "unit_of_measurement": unit,
        "device_class": device_class,
        "state_class": "measurement",
        "availability": "{{ is_state('input_boolean.meter_online', 'on') }}",
        "state": "{{ " + state + " }}",
    }


@pytest.fixture
async def tree_house(hass: HomeAssistant) -> None:
    """The split-phase house: per-leg currents, the service's total and the garage's own meter."""
    assert await async_setup_component(
        hass,
        "input_boolean",
        {
            "input_boolean": {
                "kettle": {"initial": True},
                "space_heater": {"initial": True},
                "freezer": {"initial": True},
                "meter_online": {"initial": True},
                "meter_frozen": {"initial": False},
            }
        },
    )
    watts = {"min": 0, "max": 30000, "step": 10, "unit_of_measurement": "W"}
    assert await async_setup_component(
        hass,
        "input_number",
        {
            "input_number": {
                "base_l1": watts | {"initial": 500},
                "base_l2": watts | {"initial": 500},
                "garage_base": watts | {"initial": 0},
                "garage_ev": {"min": 0, "max": 48, "step": 1, "initial": 32, "unit_of_measurement": "A"},
            }
        },
    )
    inputs = [BASE_L1, BASE_L2, GARAGE_BASE, GARAGE_EV, FREEZER, KETTLE, HEATER, METER_ONLINE]
    assert await async_setup_component(
        hass,
        "template",
        {
            "template": [
                {
                    "trigger": [
                        {"trigger": "state", "entity_id": inputs},
                        {"trigger": "event", "event_type": METER_REPORT},
                    ],
                    "condition": [{"condition": "state", "entity_id": METER_FROZEN, "state": "off"}],
                    "sensor": [
                        tree_sensor("Leg L1 current", f"({TREE_L1_W} / 120) | round(2)", "A", "current"),
                        tree_sensor("Leg L2 current", f"({TREE_L2_W} / 120) | round(2)", "A", "current"),
                        tree_sensor("Service power", f"({TREE_L1_W} + {TREE_L2_W}) | round(0)", "W", "power"),
                        tree_sensor("Garage meter", f"{TREE_GARAGE_W} | round(0)", "W", "power"),
                    ],
                }
            ]
        },
    )
    await hass.async_block_till_done()
    report_meter(hass)
    await hass.async_block_till_done()
    assert hass.states.get(LEG_L1).state not in ("unknown", "unavailable")


@pytest.fixture
def tree_panel_data() -> dict[str, Any]:
    """The tree house's panel data (a test may override it)."""
    return dict(TREE_PANEL_DATA)


@pytest.fixture
def tree_subentries() -> list[ConfigSubentryData]:
    """The garage and the four loads, most important first."""
    return [
        node_subentry("Garage", GARAGE_DATA, GARAGE_ID),
        load_subentry("Garage EV", GARAGE_EV_DATA),
        load_subentry("Freezer", FREEZER_DATA),
        load_subentry("Kettle", KETTLE_DATA),
        load_subentry("Space heater", HEATER_DATA),
    ]


@pytest.fixture
def tree_entry(tree_panel_data: dict[str, Any], tree_subentries: list[ConfigSubentryData]) -> MockConfigEntry:
    """The tree house's panel, made by today's version."""
    return MockConfigEntry(
        domain=DOMAIN,
        version=CONFIG_VERSION,
        title="Main panel",
        data=tree_panel_data,
        subentries_data=tree_subentries,
    )


@pytest.fixture
async def loaded_tree(
    hass: HomeAssistant, tree_house: None, tree_entry: MockConfigEntry
) -> AsyncIterator[MockConfigEntry]:
    """The tree house's panel, set up."""
    yield await set_up(hass, tree_entry)
