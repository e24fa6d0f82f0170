"""Every entity of every platform: registry entry and state, against reviewed snapshots."""

from __future__ import annotations

from unittest.mock import patch

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.panel_capacity.const import CONFIG_VERSION, DOMAIN, SUBENTRY_LOAD
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er

from .conftest import (
    BASE,
    BASE_L1,
    EV_DATA,
    FREEZER_DATA,
    GARAGE_DATA,
    GARAGE_EV_DATA,
    GARAGE_ID,
    KETTLE_DATA,
    PANEL_DATA,
    TREE_PANEL_DATA,
    WATER_HEATER_DATA,
    load_subentry,
    node_subentry,
    set_number,
)


@pytest.mark.freeze_time("2026-11-26 12:00:00+00:00")
@pytest.mark.usefixtures("entity_registry_enabled_by_default", "house")
@pytest.mark.parametrize(
    "platform", [Platform.BINARY_SENSOR, Platform.BUTTON, Platform.NUMBER, Platform.SENSOR, Platform.SWITCH]
)
async def test_entities(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, snapshot: SnapshotAssertion, platform: Platform
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        entry_id="01KPANEL0000000000000000AA",
        title="Main panel",
        data=PANEL_DATA,
        subentries_data=[
            ConfigSubentryData(
                data=WATER_HEATER_DATA,
                subentry_id="01KLOADWATERHEATER000000AA",
                subentry_type=SUBENTRY_LOAD,
                title="Water heater",
                unique_id=None,
            ),
            ConfigSubentryData(
                data=EV_DATA,
                subentry_id="01KLOADEVCHARGER00000000AA",
                subentry_type=SUBENTRY_LOAD,
                title="EV charger",
                unique_id=None,
            ),
        ],
    )
    entry.add_to_hass(hass)
    with patch("custom_components.panel_capacity.PLATFORMS", [platform]):
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        await set_number(hass, BASE, 3000)  # the EV is turned down
    assert describe(hass, entity_registry, entry, platform) == snapshot


def describe(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, entry: MockConfigEntry, platform: Platform
) -> dict[str, dict[str, object]]:
    """Every entity of the entry: its registry entry and its state."""
    entries = er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    assert entries
    assert {item.domain for item in entries} == {platform.value}
    described = {}
    for item in sorted(entries, key=lambda item: item.entity_id):
        state = hass.states.get(item.entity_id)
        assert state is not None, item.entity_id
        described[item.entity_id] = {
            "unique_id": item.unique_id,
            "translation_key": item.translation_key,
            "original_name": item.original_name,
            "device_class": item.original_device_class,
            "entity_category": item.entity_category,
            "unit": item.unit_of_measurement,
            "capabilities": item.capabilities,
            "options": item.options,
            "subentry": item.config_subentry_id,
            "state": state.state,
            "attributes": dict(state.attributes),
        }
    return described


@pytest.mark.freeze_time("2026-11-26 12:00:00+00:00")
@pytest.mark.usefixtures("entity_registry_enabled_by_default", "tree_house")
async def test_tree_entities(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, snapshot: SnapshotAssertion
) -> None:
    """The tree house: legs measured at the service, the garage, a load on each leg."""
    ids = ["01KLOADGARAGEEV000000000AA", "01KLOADFREEZER0000000000AA", "01KLOADKETTLE00000000000AA"]
    subentries = [
        node_subentry("Garage", GARAGE_DATA, GARAGE_ID),
        *(
            load_subentry(title, data) | {"subentry_id": sid}
            for sid, (title, data) in zip(
                ids,
                (("Garage EV", GARAGE_EV_DATA), ("Freezer", FREEZER_DATA), ("Kettle", KETTLE_DATA)),
                strict=True,
            )
        ),
    ]
    entry = MockConfigEntry(
        domain=DOMAIN,
        entry_id="01KPANELTREE00000000000AA",
        version=CONFIG_VERSION,
        title="Main panel",
        data=TREE_PANEL_DATA,
        subentries_data=subentries,
    )
    entry.add_to_hass(hass)
    with patch("custom_components.panel_capacity.PLATFORMS", [Platform.SENSOR]):
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        await set_number(hass, BASE_L1, 3500)  # L1 over: the kettle is shed
    assert describe(hass, entity_registry, entry, Platform.SENSOR) == snapshot
