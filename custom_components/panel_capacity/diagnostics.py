"""Diagnostics: configuration, the controller's state and memory, recent actions."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_CLIENT_ID, CONF_CLIENT_SECRET, CONF_NAME
from homeassistant.core import HomeAssistant

from .coordinator import PanelCapacityConfigEntry

# Names people give their panel and loads can say where they live.
TO_REDACT = {CONF_NAME, "title"}
# The grid server's credentials.
SECRETS = {CONF_CLIENT_ID, CONF_CLIENT_SECRET, "access_token", "token"}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: PanelCapacityConfigEntry
) -> dict[str, Any]:
    """Everything needed to understand what the controller did, without personal names."""
    coordinator = entry.runtime_data.coordinator
    setup = coordinator.setup
    return {
        "entry": {
            "data": async_redact_data(dict(entry.data), SECRETS),
            "options": async_redact_data(dict(entry.options), TO_REDACT),
        },
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
        "grid": _grid(entry),
    }


def _grid(entry: PanelCapacityConfigEntry) -> dict[str, Any]:
    grid = entry.runtime_data.grid
    data = grid.data
    terms = entry.runtime_data.coordinator.grid_terms
    return {
        "server": None
        if grid.server is None
        else {
            "version": grid.server.version,
            "verify_ssl": grid.server.verify_ssl,
            "poll_interval_s": grid.server.poll_interval_s,
        },
        "policy": asdict(grid.policy),
        "connection": data.connection,
        "last_success": data.last_success.isoformat() if data.last_success else None,
        "last_error": data.last_error,
        "terms": asdict(terms) if terms is not None else None,
        "schedule": asdict(data.schedule),
        "reservations": [reservation.as_dict() for reservation in data.reservations],
    }
