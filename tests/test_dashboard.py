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
    """Every Panel Capacity entity id the dashboard names, wherever it is."""
    return {text for text in referenced_strings(node) if ENTITY_ID.match(text)}


def referenced_strings(node: object) -> set[str]:
    """Every string in the dashboard."""
    if isinstance(node, dict):
        return set().union(set(), *(referenced_strings(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(set(), *(referenced_strings(value) for value in node))
    return {node} if isinstance(node, str) else set()


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


def test_the_demo_house_has_every_helper_the_dashboard_names() -> None:
    config = yaml.safe_load(DASHBOARD.read_text(encoding="utf-8"))
    house = yaml.safe_load((DASHBOARD.parent.parent / "configuration.yaml").read_text(encoding="utf-8"))
    helpers = {
        node for node in referenced_strings(config) if node.startswith(("input_boolean.", "input_number."))
    }
    assert len(helpers) == 3
    defined = {f"{domain}.{name}" for domain in ("input_boolean", "input_number") for name in house[domain]}
    assert helpers <= defined
