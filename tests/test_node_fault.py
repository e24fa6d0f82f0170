"""In Home Assistant: a subpanel whose sensor fails keeps its unmanaged load in its estimate.

The tree house's garage (60 A: 11,520 W) has its EV charger, its freezer and 4 kW of tools that
Panel Capacity does not manage, measured by a clamp on its feeder. The clamp goes unavailable:
the garage is then estimated, and its EV must not be raised past the garage's limit.
"""

from __future__ import annotations

from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.panel_capacity.engine import FlowSource, UnmanagedBasis
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .conftest import (
    FREEZER,
    FREEZER_DATA,
    GARAGE_BASE,
    GARAGE_DATA,
    GARAGE_EV,
    GARAGE_EV_DATA,
    GARAGE_ID,
    advance,
    load_subentry,
    node_subentry,
    set_number,
    set_up,
    settle,
)

CLAMP = "sensor.garage_clamp"
SOURCE = "sensor.garage_reading"
GARAGE_LIMIT_W = 11520  # 60 A x 80 % x 240 V
TOOLS_W = 4000
CLAMP_ATTRIBUTES = {"unit_of_measurement": "W", "device_class": "power", "state_class": "measurement"}


def garage_w(hass: HomeAssistant) -> float:
    """The garage's true draw: its freezer when on, its EV's current at 240 V and the tools."""
    freezer = 600 if hass.states.get(FREEZER).state == "on" else 0
    return freezer + float(hass.states.get(GARAGE_EV).state) * 240 + float(hass.states.get(GARAGE_BASE).state)


def clamp(hass: HomeAssistant, state: str) -> None:
    hass.states.async_set(CLAMP, state, CLAMP_ATTRIBUTES, force_update=True)


@pytest.mark.parametrize(
    "tree_subentries",
    [
        [
            node_subentry("Garage", GARAGE_DATA | {"power_sensor": CLAMP}, GARAGE_ID),
            load_subentry("Garage EV", GARAGE_EV_DATA),
            load_subentry("Freezer", FREEZER_DATA),
        ]
    ],
)
async def test_a_failed_subpanel_sensor_does_not_raise_the_ev_past_the_subpanel_s_limit(
    hass: HomeAssistant,
    tree_house: None,
    tree_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    state_of,
) -> None:
    clamp(hass, str(garage_w(hass)))
    entry = await set_up(hass, tree_entry)
    await set_number(hass, GARAGE_BASE, TOOLS_W)  # the tools start: 12,280 W in a 11,520 W garage
    for _ in range(12):  # a minute of the clamp following the garage: the EV is turned down to fit
        clamp(hass, str(garage_w(hass)))
        await advance(hass, freezer, 5)
    # The freezer shed first (least important), then the EV by the 260 W still over the shed target.
    assert garage_w(hass) <= GARAGE_LIMIT_W - 100
    assert state_of(FREEZER) == "off"
    current = float(state_of(GARAGE_EV))
    assert current == 30
    last_good = dt_util.utcnow()
    clamp(hass, STATE_UNAVAILABLE)
    await settle(hass)
    # Ten minutes of it (the restore hold-off is 30 s): the EV stays where the garage has room for it.
    # Before, the garage was taken for its EV alone: the freezer came back and the EV went to 32 A.
    for _ in range(120):
        clamp(hass, STATE_UNAVAILABLE)
        await advance(hass, freezer, 5)
        assert garage_w(hass) <= GARAGE_LIMIT_W, state_of(GARAGE_EV)
    assert float(state_of(GARAGE_EV)) == current
    assert state_of(FREEZER) == "off"
    garage = entry.runtime_data.coordinator.data.nodes[GARAGE_ID]
    assert garage.total.source is FlowSource.ESTIMATED
    assert garage.total.flow_w == pytest.approx(garage_w(hass))  # freezer, EV and the tools kept
    assert garage.total.unmanaged_basis is UnmanagedBasis.RECENT_PEAK
    # The garage's Reading says why it is estimated, and what it keeps.
    reading = hass.states.get(SOURCE)
    assert reading.state == "no_number"
    attributes: dict[str, Any] = dict(reading.attributes)
    assert attributes["unmanaged_w"] == TOOLS_W
    assert attributes["unmanaged_kept"] == "recent_peak"
    since = dt_util.parse_datetime(attributes["unmanaged_since"])
    assert since is not None
    assert abs((since - last_good).total_seconds()) <= 5
    # The clamp comes back: measured, nothing kept.
    clamp(hass, str(garage_w(hass)))
    await settle(hass)
    assert state_of(SOURCE) == "measured"
    assert "unmanaged_w" not in hass.states.get(SOURCE).attributes
