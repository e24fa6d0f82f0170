"""Nothing of the integration changes from one step to the next with steady readings.

Each state change is a row in the recorder: a value or attribute that moves at
every step (a reading's age) would write tens of thousands a day. The steps
here come as they do in a house: the meter reporting every 9 s, the watchdog
ticking in between.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events
from pytest_homeassistant_custom_component.components.recorder.common import async_wait_recording_done

from custom_components.panel_capacity.const import DOMAIN
from homeassistant.components.recorder import Recorder, history
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util

from .conftest import BASE, METER_FROZEN, METER_ONLINE, advance, set_number, set_switch
from .openadr_vtn import FakeVtn
from .test_grid_server import grid_entry, poll, utility, version, vtn  # noqa: F401 - fixtures

STEPS = 90  # 4.5 minutes of 3 s steps


def _ours(hass: HomeAssistant) -> set[str]:
    return {entry.entity_id for entry in er.async_get(hass).entities.values() if entry.platform == DOMAIN}


async def _steady_steps(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Steps at uneven ages of the reading: 3 s ticks, the meter reporting every third."""
    for step in range(STEPS):
        await advance(hass, freezer, 3, meter=step % 3 == 0)


async def _into_a_fresh_demand_block(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Just past a 15-minute boundary, so the steps that follow stay inside one demand block.

    The demand sensor legitimately moves once per block (a new block, the first peak known);
    a window that happened to straddle a boundary would count that as a row per step.
    """
    now = dt_util.utcnow()
    into = (now.minute % 15) * 60 + now.second + now.microsecond / 1e6
    await advance(hass, freezer, 15 * 60 - into + 10)  # and its first status shown


async def _situation(hass: HomeAssistant, freezer: FrozenDateTimeFactory, situation: str) -> None:
    if situation == "held":
        await set_number(hass, BASE, 5000)  # the EV turned down, the water heater shed
    elif situation == "fail_safe":
        await set_switch(hass, METER_FROZEN, True)  # the meter says nothing more
    elif situation == "meter_unavailable":
        await set_switch(hass, METER_ONLINE, False)
    await advance(hass, freezer, 300)  # whatever follows has followed
    await _into_a_fresh_demand_block(hass, freezer)


@pytest.mark.parametrize("situation", ["normal", "held", "fail_safe", "meter_unavailable"])
async def test_steady_readings_change_nothing(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, freezer: FrozenDateTimeFactory, situation: str
) -> None:
    await _situation(hass, freezer, situation)
    changes = async_capture_events(hass, EVENT_STATE_CHANGED)
    await _steady_steps(hass, freezer)
    ours = _ours(hass)
    moved = Counter(event.data["entity_id"] for event in changes if event.data["entity_id"] in ours)
    assert moved == {}, [
        (event.data["old_state"], event.data["new_state"])
        for event in changes
        if event.data["entity_id"] in ours
    ][:3]


async def test_steady_readings_change_nothing_in_the_tree(
    hass: HomeAssistant, loaded_tree: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    await advance(hass, freezer, 300)
    await _into_a_fresh_demand_block(hass, freezer)
    changes = async_capture_events(hass, EVENT_STATE_CHANGED)
    await _steady_steps(hass, freezer)
    ours = _ours(hass)
    assert [event.data["entity_id"] for event in changes if event.data["entity_id"] in ours] == []


async def test_the_recorder_writes_no_row_per_step(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A silent meter (fail-safe, the sensor problem on), as in the house where it was found."""
    await _situation(hass, freezer, "fail_safe")
    await async_wait_recording_done(hass)
    start = dt_util.utcnow() + timedelta(seconds=1)
    await _steady_steps(hass, freezer)
    await async_wait_recording_done(hass)
    ours = sorted(_ours(hass))
    rows: dict[str, list[Any]] = await recorder_mock.async_add_executor_job(
        lambda: history.get_significant_states(
            hass, start, None, ours, significant_changes_only=False, include_start_time_state=False
        )
    )
    assert {entity_id: len(states) for entity_id, states in rows.items() if states} == {}


@pytest.mark.usefixtures("socket_enabled", "grid_entry")
async def test_polls_of_a_steady_utility_change_nothing(
    hass: HomeAssistant,
    vtn: FakeVtn,  # noqa: F811 - the fixture imported above
    freezer: FrozenDateTimeFactory,
) -> None:
    await poll(hass, freezer, 300)
    changes = async_capture_events(hass, EVENT_STATE_CHANGED)
    await poll(hass, freezer, 300)  # five polls, the same answer each time
    ours = _ours(hass)
    assert [event.data["entity_id"] for event in changes if event.data["entity_id"] in ours] == []
    connection = "sensor.main_panel_grid_connection"
    assert hass.states.get(connection).attributes["last_success"] is None  # the state says it
    # The server gone: since when it is, and that stays put from one poll to the next.
    last = dt_util.utcnow().replace(second=0, microsecond=0)
    vtn.down = True
    await poll(hass, freezer, 60)
    lost = hass.states.get(connection)
    assert lost.state == "unreachable"
    assert dt_util.parse_datetime(lost.attributes["last_success"]) == last
    changes.clear()
    await poll(hass, freezer, 600)
    assert [event.data["entity_id"] for event in changes if event.data["entity_id"] == connection] == []
