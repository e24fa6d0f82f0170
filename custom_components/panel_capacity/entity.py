"""Base entities: one device for the panel, one for each load and each node (subpanel or circuit)."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN, MANUFACTURER, MODEL_LOAD, MODEL_NODE, MODEL_PANEL
from .coordinator import PanelCapacityCoordinator


class PanelCapacityEntity(CoordinatorEntity[PanelCapacityCoordinator]):
    """An entity of the panel's device."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: PanelCapacityCoordinator, description: EntityDescription) -> None:
        """Attach to the panel device."""
        super().__init__(coordinator)
        entry = coordinator.config_entry
        self.entity_description = description
        self._attr_unique_id = f"{entry.entry_id}_{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, entry.entry_id)},
            name=entry.title,
            manufacturer=MANUFACTURER,
            model=MODEL_PANEL,
            entry_type=DeviceEntryType.SERVICE,
        )


class PanelCapacitySubentryEntity(CoordinatorEntity[PanelCapacityCoordinator]):
    """An entity of a subentry's device (a load's or a node's), itself attached to the panel's."""

    _attr_has_entity_name = True

    def __init__(
        self,
        coordinator: PanelCapacityCoordinator,
        subentry_id: str,
        name: str,
        model: str,
        description: EntityDescription,
    ) -> None:
        """Attach to the subentry's device."""
        super().__init__(coordinator)
        self.entity_description = description
        self._attr_unique_id = f"{subentry_id}_{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, subentry_id)},
            name=name,
            manufacturer=MANUFACTURER,
            model=model,
            entry_type=DeviceEntryType.SERVICE,
        )
        if coordinator.panel_device_id is not None:
            self._attr_device_info["via_device_id"] = coordinator.panel_device_id


class PanelCapacityLoadEntity(PanelCapacitySubentryEntity):
    """An entity of one load's device."""

    def __init__(
        self, coordinator: PanelCapacityCoordinator, load_id: str, description: EntityDescription
    ) -> None:
        """Attach to the load's device."""
        super().__init__(coordinator, load_id, coordinator.loads[load_id].name, MODEL_LOAD, description)
        self.load_id = load_id


class PanelCapacityNodeEntity(PanelCapacitySubentryEntity):
    """An entity of one node's device (a subpanel or circuit)."""

    def __init__(
        self, coordinator: PanelCapacityCoordinator, node_id: str, description: EntityDescription
    ) -> None:
        """Attach to the node's device."""
        super().__init__(coordinator, node_id, coordinator.nodes[node_id].name, MODEL_NODE, description)
        self.node_id = node_id
