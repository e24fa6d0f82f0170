"""The demo house of scripts/develop, in the test harness: config/configuration.yaml's helpers and meters,
and the dev-only demo_house component, which replays the data and adds the panel through the flows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import custom_components
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

CONFIG = Path(__file__).parent.parent / "config"
# What the demo house's configuration sets up (the rest of it is the frontend, the logbook, ...).
HOUSE_DOMAINS = ("input_number", "input_boolean", "template", "demo_house")

TOTAL = "sensor.demo_main_panel_power"
L1 = "sensor.demo_main_panel_l1_power"
L2 = "sensor.demo_main_panel_l2_power"
GARAGE = "sensor.demo_garage_power"
EV = "input_number.demo_ev_current"
EXTRA = "input_number.demo_base_load"


def house_configuration() -> dict[str, Any]:
    """config/configuration.yaml, as Home Assistant reads it."""
    return dict(yaml.safe_load((CONFIG / "configuration.yaml").read_text(encoding="utf-8")))


def find_demo_house(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let Home Assistant find config/custom_components/demo_house beside the integration."""
    monkeypatch.setattr(
        custom_components, "__path__", [*custom_components.__path__, str(CONFIG / "custom_components")]
    )


async def set_up_demo_house(hass: HomeAssistant) -> None:
    """The demo house as scripts/develop starts it (demo_house adds the panel once started)."""
    configuration = house_configuration()
    assert await async_setup_component(
        hass, "demo_house", {domain: configuration[domain] for domain in HOUSE_DOMAINS}
    )
    await hass.async_block_till_done()


def watts(hass: HomeAssistant, entity_id: str) -> float:
    """A meter's reading."""
    state = hass.states.get(entity_id)
    assert state is not None, f"{entity_id} does not exist"
    return float(state.state)
