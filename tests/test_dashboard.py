"""The ready dashboard (config/dashboards/panel_capacity.yaml) shows entities the demo house really has.

The house is set up as scripts/develop sets it up (tests/demo_house.py): the
helpers and meters of config/configuration.yaml, and the demo_house component,
which adds the panel, its garage subpanel and its loads through the flows.
"""

from __future__ import annotations

from pathlib import Path
import re

from freezegun.api import FrozenDateTimeFactory
import pytest
import yaml

from custom_components.panel_capacity.const import DOMAIN
from homeassistant.core import HomeAssistant

from .conftest import advance
from .demo_house import find_demo_house, set_up_demo_house

DASHBOARD = Path(__file__).parent.parent / "config" / "dashboards" / "panel_capacity.yaml"
ENTITY_ID = re.compile(r"^(?:sensor|switch|number|binary_sensor|input_boolean|input_number)\.[a-z0-9_]+$")


def referenced(node: object) -> set[str]:
    """Every entity id the dashboard names, wherever it is (cards, rows, visibility conditions)."""
    return {text for text in referenced_strings(node) if ENTITY_ID.match(text)}


def names(node: object) -> list[object]:
    """Every card's or row's name, as YAML reads it."""
    if isinstance(node, dict):
        own = [node["name"]] if "name" in node else []
        return own + [name for value in node.values() for name in names(value)]
    if isinstance(node, list):
        return [name for value in node for name in names(value)]
    return []


def test_every_name_on_the_dashboard_is_text() -> None:
    """A name YAML reads as something else (On, Yes, No: a boolean) would show the entity's own name."""
    config = yaml.safe_load(DASHBOARD.read_text(encoding="utf-8"))
    found = names(config)
    assert len(found) > 40
    assert [name for name in found if not isinstance(name, str)] == []


def referenced_strings(node: object) -> set[str]:
    """Every string in the dashboard."""
    if isinstance(node, dict):
        return set().union(set(), *(referenced_strings(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(set(), *(referenced_strings(value) for value in node))
    return {node} if isinstance(node, str) else set()


@pytest.fixture
def expected_lingering_timers() -> bool:
    """The demo's meters report on a time pattern, which Home Assistant leaves scheduled when it stops."""
    return True


async def test_every_entity_on_the_dashboard_exists(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = yaml.safe_load(DASHBOARD.read_text(encoding="utf-8"))
    assert config["views"][0]["type"] == "sections"  # reflows to one column on a phone
    find_demo_house(monkeypatch)
    await set_up_demo_house(hass)
    (entry,) = hass.config_entries.async_entries(DOMAIN)
    # A subscription above the panel's limit, so that the grid section's entities exist too
    # and nothing else changes (the entry reloads).
    hass.config_entries.async_update_entry(entry, options=dict(entry.options) | {"subscription_kw": 30})
    await hass.async_block_till_done()
    await advance(hass, freezer, 10)
    entities = referenced(config)
    assert len(entities) > 40
    assert {
        "sensor.demo_panel_l2_current",
        "sensor.garage_utilisation",
        "sensor.space_heater_draws_on",
    } <= entities
    missing = sorted(entity for entity in entities if hass.states.get(entity) is None)
    assert missing == []
    # Measured, so shown with a value: the legs of the main panel and the garage's total.
    for entity in ("sensor.demo_panel_l1_current", "sensor.demo_panel_l2_current", "sensor.garage_power"):
        assert float(hass.states.get(entity).state) > 0
