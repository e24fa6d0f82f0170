"""Switch: manager enabled (off = monitor only; turned off by an administrator or an automation only)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import Unauthorized
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
        """Turn the setting off: only an administrator, when a person asks (NEC 750.30(C)).

        Home Assistant lets every user control every entity; turning management
        off lifts the limit's protection, so a user who is not an administrator
        is refused. A call without a user (an automation, a script it runs) may.
        """
        user_id = self._context.user_id if self._context is not None else None
        if user_id is not None:
            user = await self.hass.auth.async_get_user(user_id)
            if user is None or not user.is_admin:
                raise Unauthorized(context=self._context, entity_id=self.entity_id)
        await self.entity_description.set_fn(self.coordinator, False)
