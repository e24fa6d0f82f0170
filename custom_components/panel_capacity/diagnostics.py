"""Diagnostics: configuration, the controller's state and memory, recent actions."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant

from .coordinator import PanelCapacityConfigEntry

# Names people give their panel and loads can say where they live.
TO_REDACT = {CONF_NAME, "title"}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: PanelCapacityConfigEntry
) -> dict[str, Any]:
    """Everything needed to understand what the controller did, without personal names."""
    coordinator = entry.runtime_data.coordinator
    setup = coordinator.setup
    return {
        "entry": {"data": dict(entry.data), "options": async_redact_data(dict(entry.options), TO_REDACT)},
        "panel": asdict(setup.panel) | {"rating_w": setup.panel.rating_w},
        "settings": asdict(setup.settings),
        "site_sensors": list(setup.site_sensors),
        "loads": [
            {
                "subentry_id": load.subentry_id,
                "actuator": load.actuator,
                "power_sensor": load.power_sensor,
                "watts_per_unit": load.watts_per_unit,
                "config": async_redact_data(asdict(load.config), {"name"}),
            }
            for load in setup.loads
        ],
        "enabled": coordinator.enabled,
        "user_cap_w": coordinator.user_cap_w,
        "status": asdict(coordinator.data),
        "memory": coordinator.engine.export_memory(),
        "missing_entities": coordinator.missing_entities,
        "recent_actions": [async_redact_data(action, {"load"}) for action in coordinator.recent_actions],
    }
