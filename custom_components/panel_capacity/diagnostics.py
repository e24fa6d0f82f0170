"""Diagnostics: configuration, the tree, the controller's state and memory, recent actions."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_CLIENT_ID, CONF_CLIENT_SECRET, CONF_NAME, CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .const import CONF_GRID_SERVER
from .coordinator import PanelCapacityConfigEntry, PanelCapacityCoordinator
from .engine import ROOT, ConstraintStatus
from .grid.client import REDACTED, shown_url

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
    data = async_redact_data(dict(entry.data), SECRETS)
    if isinstance(server := data.get(CONF_GRID_SERVER), dict) and isinstance(server.get(CONF_URL), str):
        data[CONF_GRID_SERVER] = server | {CONF_URL: shown_url(server[CONF_URL])}  # no user or password
    diagnostics = {
        "entry": {
            "data": data,
            "options": async_redact_data(dict(entry.options), TO_REDACT),
        },
        "panel": asdict(setup.panel) | {"rating_w": setup.panel.rating_w},
        "settings": asdict(setup.settings),
        "site_sensors": list(setup.site_sensors),
        "tree": _tree(coordinator),
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
        "status": async_redact_data(asdict(coordinator.data), {"name"}),
        "memory": coordinator.engine.export_memory(),
        "missing_entities": coordinator.missing_entities,
        "sensor_faults": dict(coordinator.sensor_faults),
        "recent_actions": [async_redact_data(action, {"load"}) for action in coordinator.recent_actions],
        "grid": _grid(entry),
    }
    scrubbed: dict[str, Any] = _scrub(entry, diagnostics)
    return scrubbed


def _scrub(entry: PanelCapacityConfigEntry, value: Any) -> Any:
    """Every text without the grid server's secret or a token, wherever a server echoed them."""
    client = entry.runtime_data.grid.client
    if client is None:
        return value
    if isinstance(value, str):
        return client.redact(value)
    if isinstance(value, dict):
        return {key: _scrub(entry, item) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(entry, item) for item in value]
    if isinstance(value, tuple):
        return tuple(_scrub(entry, item) for item in value)
    return value


def _constraint(constraint: ConstraintStatus) -> dict[str, Any]:
    return {
        "conductor": constraint.conductor,
        "source": constraint.source,
        "flow_w": constraint.flow_w,
        "current_a": constraint.current_a,
        "limit_w": constraint.limit.effective_w,
        "term": constraint.limit.binding,
        "utilisation_pct": constraint.utilisation_pct,
        "fault": constraint.fault,
        "unmanaged_w": constraint.unmanaged_w,
        "unmanaged_basis": constraint.unmanaged_basis,
    }


def _tree(coordinator: PanelCapacityCoordinator) -> dict[str, Any]:
    """Every node, root first: where it hangs, what feeds and measures it, what hangs on it, its limits."""
    setup = coordinator.setup
    status = coordinator.data.nodes
    nodes: dict[str, dict[str, Any]] = {
        ROOT: {
            "parent": None,
            "conductors": list(setup.panel.conductors),
            "rating_a": setup.panel.rating_a,
            "continuous_factor": setup.panel.continuous_factor,
            "cap_a": None,
            "sensors": {"total": list(setup.site_sensors), **dict(setup.conductor_sensors)},
        }
    }
    for node in setup.nodes:
        total = [node.power_sensor] if node.power_sensor else []
        nodes[node.subentry_id] = {
            "parent": node.config.parent_id,
            "conductors": list(node.conductors),
            "rating_a": node.config.rating_a,
            "continuous_factor": node.config.continuous_factor,
            "cap_a": node.config.cap_a,
            "sensors": {"total": total, **dict(node.conductor_sensors)},
        }
    for node_id, described in nodes.items():
        described["nodes"] = [child for child, data in nodes.items() if data["parent"] == node_id]
        described["loads"] = {  # each with the conductors it draws on
            load_id: list(load.conductors)
            for load_id, load in coordinator.data.loads.items()
            if load.node_id == node_id
        }
        if (known := status.get(node_id)) is not None:
            described["constraints"] = [_constraint(c) for c in (known.total, *known.conductors.values())]
    binding = coordinator.data.binding
    return {"nodes": nodes, "binding": None if binding is None else asdict(binding)}


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
        # The client id is a credential: out of the server's error text too.
        "last_error": data.last_error.replace(grid.server.client_id, REDACTED)
        if data.last_error and grid.server is not None and grid.server.client_id
        else data.last_error,
        "terms": asdict(terms) if terms is not None else None,
        "schedule": asdict(grid.state_at(dt_util.utcnow()).schedule),
        # The ven object names the client id it belongs to: a credential, redacted like the entry's.
        "ven": async_redact_data(asdict(data.ven), {"client_id"}) if data.ven is not None else None,
        "reservations": [reservation.as_dict() for reservation in data.reservations],
    }
