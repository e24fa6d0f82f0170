"""The ready dashboard (config/dashboards/panel_capacity.yaml) shows entities the integration really creates."""

from __future__ import annotations

from pathlib import Path
import re

from pytest_homeassistant_custom_component.common import MockConfigEntry
import yaml

from custom_components.panel_capacity.const import CONF_ACTUATOR, CONF_NOMINAL_W, DOMAIN
from homeassistant.core import HomeAssistant

from .conftest import EV_DATA, HEAT_PUMP, PANEL_DATA, WATER_HEATER_DATA, load_subentry, settle

DASHBOARD = Path(__file__).parent.parent / "config" / "dashboards" / "panel_capacity.yaml"
ENTITY_ID = re.compile(r"^(?:sensor|switch|number|binary_sensor)\.[a-z0-9_]+$")


def referenced(node: object) -> set[str]:
    """Every entity id the dashboard names, wherever it is."""
    if isinstance(node, dict):
        return set().union(*(referenced(value) for value in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(referenced(value) for value in node)) if node else set()
    return {node} if isinstance(node, str) and ENTITY_ID.match(node) else set()


async def test_every_entity_on_the_dashboard_exists(hass: HomeAssistant, house: None) -> None:
    config = yaml.safe_load(DASHBOARD.read_text(encoding="utf-8"))
    assert config["views"][0]["type"] == "sections"  # reflows on a phone
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Demo panel",
        data=PANEL_DATA,
        options={"subscription_kw": 10},  # so the grid section's entities exist too
        subentries_data=[
            load_subentry("Heat pump", {CONF_ACTUATOR: HEAT_PUMP, CONF_NOMINAL_W: 3000}),
            load_subentry("Water heater", WATER_HEATER_DATA),
            load_subentry("EV charger", EV_DATA),
        ],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await settle(hass)
    entities = referenced(config)
    assert len(entities) > 15
    missing = sorted(entity for entity in entities if hass.states.get(entity) is None)
    assert missing == []
