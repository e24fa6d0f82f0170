"""End to end: the integration sheds and restores real helper entities in Home Assistant."""

from __future__ import annotations

from freezegun.api import FrozenDateTimeFactory
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.core import HomeAssistant

from .conftest import BASE, EV, SITE, WATER_HEATER, advance, set_number


async def test_sheds_least_important_and_restores(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, freezer: FrozenDateTimeFactory, state_of
) -> None:
    assert float(state_of(SITE)) == 6640
    assert state_of("sensor.main_panel_controller_state") == "normal"
    assert float(state_of("sensor.main_panel_effective_limit")) == 7680

    await set_number(hass, BASE, 3000)  # 3000 + 1800 + 3840 = 8640 W > 7680 W

    # The EV (least important) is turned down at once, to under 7680 - 250 W.
    assert float(state_of(EV)) == 10
    assert state_of(WATER_HEATER) == "on"
    assert float(state_of(SITE)) == 7200
    assert state_of("sensor.ev_charger_state") == "reduced"

    await set_number(hass, BASE, 1000)
    await advance(hass, freezer, 120)
    assert float(state_of(EV)) == 16
    assert state_of("sensor.ev_charger_state") == "on"
