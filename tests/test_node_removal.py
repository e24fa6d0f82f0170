"""Removing a subpanel or circuit: Home Assistant cannot be told no, so what hung below it moves up.

What hung on the removed node hangs where the node itself hung, on the same legs or phases,
still counted against every limit above it; a Repairs issue names it, and goes once confirmed.
"""

from __future__ import annotations

from unittest.mock import patch

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.panel_capacity.const import DOMAIN, EVENT_ACTION
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.setup import async_setup_component

from .conftest import (
    BASE_L1,
    GARAGE_ID,
    KETTLE,
    WATER_HEATER_DATA,
    load_subentry,
    node_subentry,
    set_number,
    subentry_id,
)


def issue(hass: HomeAssistant, entry: MockConfigEntry, node_id: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"node_removed_{entry.entry_id}_{node_id}")


async def test_removing_the_garage_moves_its_loads_to_the_main_panel(
    hass: HomeAssistant, loaded_tree: MockConfigEntry, hass_client, state_of
) -> None:
    await set_number(hass, BASE_L1, 3500)
    assert state_of(KETTLE) == "off"  # held while the garage goes
    actions = async_capture_events(hass, EVENT_ACTION)
    reloads = 0
    reload = hass.config_entries.async_reload

    async def counting_reload(entry_id: str) -> bool:
        nonlocal reloads
        reloads += 1
        return await reload(entry_id)

    with patch.object(hass.config_entries, "async_reload", counting_reload):
        hass.config_entries.async_remove_subentry(loaded_tree, GARAGE_ID)
        await hass.async_block_till_done()
    assert reloads == 1  # one reload for the removal and every move
    ev = loaded_tree.subentries[subentry_id(loaded_tree, "Garage EV")].data
    freezer = loaded_tree.subentries[subentry_id(loaded_tree, "Freezer")].data
    assert (ev["node"], ev["conductors"]) == ("main", ["l1", "l2"])
    assert (freezer["node"], freezer["conductors"]) == ("main", ["l1"])
    coordinator = loaded_tree.runtime_data.coordinator
    assert coordinator.setup.nodes == ()
    assert {load.config.node_id for load in coordinator.setup.loads} == {"main"}
    assert state_of(KETTLE) == "off"  # still held, not given back and shed again
    assert actions == []
    found = issue(hass, loaded_tree, GARAGE_ID)
    assert found is not None
    assert found.translation_key == "node_removed"
    assert found.is_fixable
    assert found.translation_placeholders == {
        "panel": "Main panel",
        "parent": "Main panel",
        "moved": "Garage EV, Freezer",
        "node": "Garage",
    }
    assert (
        dr.async_get(hass).async_get_device_by_identifier((DOMAIN, GARAGE_ID), loaded_tree.entry_id) is None
    )
    # Confirming the issue closes it.
    assert await async_setup_component(hass, "repairs", {})
    client = await hass_client()
    response = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": found.issue_id}
    )
    flow = await response.json()
    assert flow["step_id"] == "confirm"
    response = await client.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={})
    assert (await response.json())["type"] == "create_entry"
    assert issue(hass, loaded_tree, GARAGE_ID) is None


CIRCUIT = node_subentry("Bench circuit", {"parent": GARAGE_ID, "rating_a": 20, "conductors": ["l1"]}, "bench")
LAMP = load_subentry(
    "Lamp", WATER_HEATER_DATA | {"actuator": "input_boolean.kettle", "node": "bench", "conductors": []}
)


@pytest.mark.parametrize(
    "tree_subentries",
    [
        [
            node_subentry(
                "Garage", {"parent": "main", "rating_a": 60, "conductors": ["l1", "l2"]}, GARAGE_ID
            ),
            CIRCUIT,
            node_subentry("Outlet", {"parent": "bench", "rating_a": 15, "conductors": []}, "outlet"),
            LAMP,
        ]
    ],
)
async def test_removing_a_circuit_keeps_its_loads_on_its_leg(
    hass: HomeAssistant, loaded_tree: MockConfigEntry
) -> None:
    hass.config_entries.async_remove_subentry(loaded_tree, "bench")
    await hass.async_block_till_done()
    lamp = loaded_tree.subentries[subentry_id(loaded_tree, "Lamp")].data
    outlet = loaded_tree.subentries["outlet"].data
    # "All of its node's" meant L1 (the circuit's one leg), not both legs of the garage.
    assert (lamp["node"], lamp["conductors"]) == (GARAGE_ID, ["l1"])
    assert (outlet["parent"], outlet["conductors"]) == (GARAGE_ID, ["l1"])
    found = issue(hass, loaded_tree, "bench")
    assert found is not None
    assert found.translation_placeholders["parent"] == "Garage"
    assert found.translation_placeholders["moved"] == "Outlet, Lamp"


async def test_a_node_removed_while_the_panel_was_not_running(
    hass: HomeAssistant, loaded_tree: MockConfigEntry
) -> None:
    assert await hass.config_entries.async_unload(loaded_tree.entry_id)
    hass.config_entries.async_remove_subentry(loaded_tree, GARAGE_ID)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_setup(loaded_tree.entry_id)
    await hass.async_block_till_done()
    ev = loaded_tree.subentries[subentry_id(loaded_tree, "Garage EV")].data
    assert ev["node"] == "main"
    found = issue(hass, loaded_tree, GARAGE_ID)
    assert found is not None
    assert found.translation_key == "node_missing"
    assert "node" not in found.translation_placeholders
