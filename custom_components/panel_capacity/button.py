"""Buttons: hand a load back to management (each load's device)."""

from __future__ import annotations

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import PanelCapacityConfigEntry
from .entity import PanelCapacityLoadEntity

PARALLEL_UPDATES = 1

RESUME = ButtonEntityDescription(key="resume", translation_key="resume")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PanelCapacityConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add each load's button (on the load's subentry)."""
    coordinator = entry.runtime_data.coordinator
    for load_id in coordinator.loads:
        async_add_entities([ResumeButton(coordinator, load_id, RESUME)], config_subentry_id=load_id)


class ResumeButton(PanelCapacityLoadEntity, ButtonEntity):
    """Resume management of a load a person changed by hand (or that did not respond).

    The manual override ends at once instead of after the hold time; pressed for
    a load that is managed anyway, it does nothing.
    """

    async def async_press(self) -> None:
        """Manage the load again from now."""
        await self.coordinator.async_resume(self.load_id)
