"""Reading a config entry into the engine's configuration."""

from __future__ import annotations

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.panel_capacity.configuration import (
    load_from_subentry,
    panel_from_data,
    settings_from_options,
    setup_from_entry,
    watts_per_unit,
)
from custom_components.panel_capacity.const import CONF_LOAD_ORDER, DOMAIN
from custom_components.panel_capacity.engine import LoadKind, PanelConfig, Supply

from .conftest import EV_DATA, PANEL_DATA, WATER_HEATER_DATA, load_subentry

THREE_PHASE = PanelConfig(rating_a=25, voltage_v=230, supply=Supply.THREE_PHASE)
SPLIT = PanelConfig(rating_a=100, voltage_v=240, supply=Supply.SPLIT_PHASE)


@pytest.mark.parametrize(
    ("panel", "unit", "phases", "watts"),
    [
        (SPLIT, "A", 1, 240),
        (SPLIT, "A", 3, 240),  # phases only matter on a three-phase supply
        (THREE_PHASE, "A", 1, 230),
        (THREE_PHASE, "A", 3, 690),
        (THREE_PHASE, "A", 7, 690),
        (SPLIT, "W", 1, 1),
        (SPLIT, "kW", 1, 1000),
    ],
)
def test_watts_per_unit(panel: PanelConfig, unit: str, phases: int, watts: float) -> None:
    assert watts_per_unit(panel, unit, phases) == watts


def test_three_phase_ev_in_amps() -> None:
    load = load_from_subentry(THREE_PHASE, "ev", "EV", EV_DATA | {"phases": "3", "max": 16})
    assert load.kind is LoadKind.MODULATED
    assert load.config.min_w == 6 * 690
    assert load.config.max_w == 16 * 690
    assert load.config.step_w == 690
    assert load.watts_per_unit == 690
    assert load.domain == "input_number"


def test_switch_load_and_defaults() -> None:
    load = load_from_subentry(SPLIT, "wh", "Water heater", {"actuator": "switch.boiler", "nominal_w": 4500})
    assert load.kind is LoadKind.SWITCH
    assert load.config.nominal_w == 4500
    assert load.config.allow_off is True
    assert load.power_sensor is None
    settings = settings_from_options({})
    assert (settings.margin_w, settings.hysteresis_w, settings.staleness_s) == (100, 150, 60)
    assert panel_from_data(PANEL_DATA).continuous_limit_w == pytest.approx(7680)


def test_priority_order_keeps_new_loads_last() -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        data=PANEL_DATA,
        subentries_data=[
            load_subentry("A", WATER_HEATER_DATA),
            load_subentry("B", EV_DATA),
            load_subentry("C", WATER_HEATER_DATA | {"actuator": "switch.c"}),
        ],
    )
    ids = {sub.title: sid for sid, sub in entry.subentries.items()}
    entry = MockConfigEntry(
        domain=DOMAIN,
        data=PANEL_DATA,
        options={CONF_LOAD_ORDER: [ids["B"], "gone", ids["A"]]},
        subentries_data=[
            load_subentry("A", WATER_HEATER_DATA) | {"subentry_id": ids["A"]},
            load_subentry("B", EV_DATA) | {"subentry_id": ids["B"]},
            load_subentry("C", WATER_HEATER_DATA | {"actuator": "switch.c"}) | {"subentry_id": ids["C"]},
        ],
    )
    setup = setup_from_entry(entry)
    assert [load.name for load in setup.loads] == ["B", "A", "C"]
    assert setup.site_sensors == ("sensor.site_power",)
