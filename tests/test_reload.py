"""Reloads keep what is held; only unloading for good (disabled, removed) gives loads back.

Every service call and every state change of the actuators is captured across
the reload, not only the states before and after: a load given back and shed
again within the reload ends where it started but was switched twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.panel_capacity.const import CONF_ACTUATOR, CONF_NOMINAL_W, DOMAIN, EVENT_ACTION
from custom_components.panel_capacity.grid_coordinator import GridCoordinator
from homeassistant.config_entries import (
    ConfigEntryDisabler,
    ConfigEntryState,
    ConfigSubentry,
    ConfigSubentryData,
)
from homeassistant.const import EVENT_CALL_SERVICE, EVENT_STATE_CHANGED
from homeassistant.core import Event, HomeAssistant
from homeassistant.setup import async_setup_component

from .conftest import (
    BASE,
    EV,
    EV_DATA,
    HEAT_PUMP,
    METER_FROZEN,
    SITE,
    WATER_HEATER,
    WATER_HEATER_DATA,
    advance,
    load_subentry,
    set_number,
    set_switch,
    settle,
)

type StateOf = Callable[[str], str]
ACTUATOR_DOMAINS = ("input_boolean", "input_number", "switch", "number", "light", "climate")


class Commands:
    """What reached the actuators: service calls to their domains, and their state changes."""

    def __init__(self, hass: HomeAssistant) -> None:
        self._calls = async_capture_events(hass, EVENT_CALL_SERVICE)
        self._changes = async_capture_events(hass, EVENT_STATE_CHANGED)
        self._actions = async_capture_events(hass, EVENT_ACTION)

    @property
    def calls(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(domain, service, data) of every call to an actuator's domain."""
        return [
            (event.data["domain"], event.data["service"], dict(event.data["service_data"]))
            for event in self._calls
            if event.data["domain"] in ACTUATOR_DOMAINS
        ]

    def changes(self, *entity_ids: str) -> list[tuple[str, str]]:
        """(entity, new state) of every state change of these entities."""
        return [
            (event.data["entity_id"], event.data["new_state"].state)
            for event in self._changes
            if event.data["entity_id"] in entity_ids and _changed(event)
        ]

    @property
    def actions(self) -> list[tuple[str, str]]:
        """(load, reason) of every action event."""
        return [(event.data["load"], event.data["reason"]) for event in self._actions]

    def clear(self) -> None:
        """Forget what was captured so far."""
        self._calls.clear()
        self._changes.clear()
        self._actions.clear()


def _changed(event: Event) -> bool:
    old, new = event.data["old_state"], event.data["new_state"]
    return new is not None and (old is None or old.state != new.state)


@pytest.fixture
def panel_loads() -> list[ConfigSubentryData]:
    """The EV first: over the limit the water heater is shed, then the EV turned down."""
    return [load_subentry("EV charger", EV_DATA), load_subentry("Water heater", WATER_HEATER_DATA)]


@pytest.fixture
async def held(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, freezer: FrozenDateTimeFactory, state_of: StateOf
) -> Commands:
    """Over the limit: the water heater shed and the EV turned down, settled; then capture."""
    await set_number(hass, BASE, 4000)
    await advance(hass, freezer, 120)  # and nothing more is done
    assert state_of(WATER_HEATER) == "off"
    assert float(state_of(EV)) == 14
    _assert_held(state_of)
    return Commands(hass)


def _assert_held(state_of: StateOf) -> None:
    assert state_of("sensor.ev_charger_state") == "reduced"
    assert state_of("sensor.water_heater_state") == "shed"


def _assert_untouched(seen: Commands, state_of: StateOf) -> None:
    """Nothing reached the held loads: no call, no change, no action; still held."""
    assert seen.calls == []
    assert seen.changes(EV, WATER_HEATER) == []
    assert seen.actions == []
    assert state_of(WATER_HEATER) == "off"
    assert float(state_of(EV)) == 14


def _assert_given_back(seen: Commands, state_of: StateOf) -> None:
    assert sorted(seen.actions) == [("EV charger", "released"), ("Water heater", "released")]
    assert state_of(WATER_HEATER) == "on"
    assert float(state_of(EV)) == 16


@pytest.mark.parametrize("by_action", [False, True], ids=["reload", "reload_config_entry"])
async def test_a_reload_sends_nothing_to_held_loads(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    held: Commands,
    state_of: StateOf,
    by_action: bool,
) -> None:
    """The Reload menu item, or the homeassistant.reload_config_entry action."""
    if by_action:
        assert await async_setup_component(hass, "homeassistant", {})
        await hass.services.async_call(
            "homeassistant", "reload_config_entry", {"entry_id": loaded_entry.entry_id}, blocking=True
        )
    else:
        assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    await advance(hass, freezer, 30)
    assert loaded_entry.state is ConfigEntryState.LOADED
    _assert_untouched(held, state_of)
    _assert_held(state_of)


@pytest.mark.parametrize("turns", [0, 1, 2, 3, 5, 8, 13, 40])
async def test_loads_added_one_after_another_send_nothing_to_held_loads(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    held: Commands,
    state_of: StateOf,
    turns: int,
) -> None:
    """Two loads added in quick succession: the second while the first one's reload is under way.

    ``turns`` is how far the first reload has got (turns of the event loop) when the second
    load arrives, so each point of the reload is hit: before the unload, during it, between
    unload and set-up, during the set-up, after it.
    """
    first = load_subentry("Heat pump", {CONF_ACTUATOR: HEAT_PUMP, CONF_NOMINAL_W: 3000})
    hass.config_entries.async_add_subentry(loaded_entry, ConfigSubentry(**first))
    for _ in range(turns):
        await asyncio.sleep(0)
    second = load_subentry("Spare", {CONF_ACTUATOR: "input_boolean.spare", CONF_NOMINAL_W: 500})
    hass.config_entries.async_add_subentry(loaded_entry, ConfigSubentry(**second))
    await hass.async_block_till_done()
    await advance(hass, freezer, 30)
    assert loaded_entry.state is ConfigEntryState.LOADED
    assert len(loaded_entry.runtime_data.coordinator.loads) == 4
    _assert_untouched(held, state_of)
    _assert_held(state_of)


async def test_a_load_added_while_a_reload_sets_up_is_taken_in(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    held: Commands,
    state_of: StateOf,
) -> None:
    """Added after the set-up read the loads, before it listens for changes again: not lost."""
    load_grid = GridCoordinator.async_load
    second = load_subentry("Spare", {CONF_ACTUATOR: "input_boolean.spare", CONF_NOMINAL_W: 500})

    async def meanwhile(grid: GridCoordinator) -> None:
        if "Spare" not in [sub.title for sub in loaded_entry.subentries.values()]:
            hass.config_entries.async_add_subentry(loaded_entry, ConfigSubentry(**second))
        await load_grid(grid)

    with patch.object(GridCoordinator, "async_load", meanwhile):
        first = load_subentry("Heat pump", {CONF_ACTUATOR: HEAT_PUMP, CONF_NOMINAL_W: 3000})
        hass.config_entries.async_add_subentry(loaded_entry, ConfigSubentry(**first))
        await hass.async_block_till_done()
    await advance(hass, freezer, 30)
    assert sorted(load.name for load in loaded_entry.runtime_data.coordinator.loads.values()) == [
        "EV charger",
        "Heat pump",
        "Spare",
        "Water heater",
    ]
    assert state_of("sensor.spare_state") == "unavailable"  # its actuator does not exist
    _assert_untouched(held, state_of)
    _assert_held(state_of)


async def test_a_removed_load_is_given_back_and_the_others_kept(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    held: Commands,
    state_of: StateOf,
) -> None:
    heater = next(sid for sid, sub in loaded_entry.subentries.items() if sub.title == "Water heater")
    hass.config_entries.async_remove_subentry(loaded_entry, heater)
    await hass.async_block_till_done()
    await advance(hass, freezer, 30)
    # The water heater, no longer managed, is given back; the EV, kept, is never given back:
    # it is only turned down further, for the water heater's power.
    assert held.calls[0] == ("input_boolean", "turn_on", {"entity_id": WATER_HEATER})
    assert held.actions[0] == ("Water heater", "released")
    assert all(reason == "over_limit" for load, reason in held.actions[1:] if load == "EV charger")
    assert all(float(value) < 14 for _, value in held.changes(EV))
    assert state_of(WATER_HEATER) == "on"
    assert state_of("sensor.ev_charger_state") == "reduced"


async def test_disabling_the_panel_gives_every_load_back(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, held: Commands, state_of: StateOf
) -> None:
    assert await hass.config_entries.async_set_disabled_by(loaded_entry.entry_id, ConfigEntryDisabler.USER)
    await hass.async_block_till_done()
    assert loaded_entry.state is ConfigEntryState.NOT_LOADED
    _assert_given_back(held, state_of)
    # Enabled again: it starts from what it gave back (both running), and sheds anew.
    held.clear()
    assert await hass.config_entries.async_set_disabled_by(loaded_entry.entry_id, None)
    await hass.async_block_till_done()
    assert state_of("sensor.water_heater_state") in ("shed", "held_off")
    assert ("Water heater", "over_limit") in held.actions


@pytest.mark.parametrize("unloaded_first", [False, True], ids=["loaded", "unloaded_first"])
async def test_removing_the_panel_gives_every_load_back(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
    held: Commands,
    state_of: StateOf,
    unloaded_first: bool,
) -> None:
    if unloaded_first:
        # Unloaded (as a reload begins): what it holds stays held, until it is removed.
        assert await hass.config_entries.async_unload(loaded_entry.entry_id)
        await hass.async_block_till_done()
        _assert_untouched(held, state_of)
    await hass.config_entries.async_remove(loaded_entry.entry_id)
    await hass.async_block_till_done()
    _assert_given_back(held, state_of)
    assert f"{DOMAIN}.{loaded_entry.entry_id}" not in hass_storage


async def test_home_assistant_stopping_keeps_what_is_held(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
    held: Commands,
    state_of: StateOf,
) -> None:
    """A stop (a restart, an update) leaves the panel as safe as it was: the next start takes over."""
    await hass.async_stop()
    _assert_untouched(held, state_of)
    stored = hass_storage[f"{DOMAIN}.{loaded_entry.entry_id}"]["data"]["memory"]["loads"]
    assert sorted(load["held"] for load in stored.values()) == ["reduced", "shed"]


async def test_reloaded_into_a_configuration_that_cannot_run_gives_the_loads_back(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, held: Commands, state_of: StateOf
) -> None:
    """No controller would hold them: they are given back rather than left off."""
    hass.config_entries.async_update_entry(loaded_entry, data=loaded_entry.data | {"rating_a": 0})
    await hass.async_block_till_done()
    assert loaded_entry.state is ConfigEntryState.SETUP_ERROR
    _assert_given_back(held, state_of)


async def test_a_reload_before_the_meter_shows_a_shed_sheds_nothing_more(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, state_of: StateOf
) -> None:
    """The new controller counts the command in flight, as the old one did."""
    await set_switch(hass, METER_FROZEN, True)  # the meter shows what it shows, and no change
    hass.states.async_set(SITE, "8500", {"unit_of_measurement": "W"})
    await settle(hass)
    assert state_of(WATER_HEATER) == "off"  # 1800 W less to come: 6700 W, under the limit
    assert float(state_of(EV)) == 16
    seen = Commands(hass)
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await settle(hass)
    hass.states.async_set(SITE, "8500", {"unit_of_measurement": "W"}, force_update=True)
    await settle(hass)
    assert seen.calls == []
    assert float(state_of(EV)) == 16
