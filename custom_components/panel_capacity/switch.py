"""Switch: manager enabled (off = monitor only)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import PanelCapacityConfigEntry, PanelCapacityCoordinator
from .entity import PanelCapacityEntity

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class PanelSwitchDescription(SwitchEntityDescription):
    """A switch backed by a coordinator setting."""

    is_on_fn: Callable[[PanelCapacityCoordinator], bool]
    set_fn: Callable[[PanelCapacityCoordinator, bool], Awaitable[None]]


SWITCHES: tuple[PanelSwitchDescription, ...] = (
    PanelSwitchDescription(
        key="manager",
        translation_key="manager",
        is_on_fn=lambda coordinator: coordinator.enabled,
        set_fn=lambda coordinator, on: coordinator.async_set_enabled(on),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PanelCapacityConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the panel's switches."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(PanelSwitch(coordinator, description) for description in SWITCHES)


class PanelSwitch(PanelCapacityEntity, SwitchEntity):
    """A switch of the panel."""

    entity_description: PanelSwitchDescription

    @property
    def is_on(self) -> bool:
        """Whether the setting is on."""
        return self.entity_description.is_on_fn(self.coordinator)

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Turn the setting on."""
        await self.entity_description.set_fn(self.coordinator, True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Turn the setting off."""
        await self.entity_description.set_fn(self.coordinator, False)
