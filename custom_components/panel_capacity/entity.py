"""Base entity: one device for the panel, one for each load subentry."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN, MANUFACTURER, MODEL_LOAD, MODEL_PANEL
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


class PanelCapacityLoadEntity(CoordinatorEntity[PanelCapacityCoordinator]):
    """An entity of one load's device."""

    _attr_has_entity_name = True

    def __init__(
        self, coordinator: PanelCapacityCoordinator, load_id: str, description: EntityDescription
    ) -> None:
        """Attach to the load's device, itself attached to the panel."""
        super().__init__(coordinator)
        load = coordinator.loads[load_id]
        self.load_id = load_id
        self.entity_description = description
        self._attr_unique_id = f"{load_id}_{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, load_id)},
            name=load.name,
            manufacturer=MANUFACTURER,
            model=MODEL_LOAD,
            entry_type=DeviceEntryType.SERVICE,
        )
        if coordinator.panel_device_id is not None:
            self._attr_device_info["via_device_id"] = coordinator.panel_device_id
