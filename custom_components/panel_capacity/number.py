"""Number: the user's cap on the limit, so automations can lower it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
import math

from homeassistant.components.number import (
    NumberDeviceClass,
    NumberEntity,
    NumberEntityDescription,
    NumberMode,
)
from homeassistant.const import UnitOfPower
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .coordinator import PanelCapacityConfigEntry, PanelCapacityCoordinator
from .entity import PanelCapacityEntity

PARALLEL_UPDATES = 1


def _panel_limit(coordinator: PanelCapacityCoordinator) -> float:
    return coordinator.setup.panel.continuous_limit_w


async def _set_cap(coordinator: PanelCapacityCoordinator, value: float) -> None:
    """A cap at or above what the panel allows means no cap."""
    await coordinator.async_set_user_cap(None if value >= _panel_limit(coordinator) else value)


@dataclass(frozen=True, kw_only=True)
class PanelNumberDescription(NumberEntityDescription):
    """A number backed by a coordinator setting."""

    value_fn: Callable[[PanelCapacityCoordinator], float]
    max_fn: Callable[[PanelCapacityCoordinator], float]
    set_fn: Callable[[PanelCapacityCoordinator, float], Awaitable[None]]


NUMBERS: tuple[PanelNumberDescription, ...] = (
    PanelNumberDescription(
        key="user_cap",
        translation_key="user_cap",
        device_class=NumberDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        native_min_value=0,
        native_step=10,
        mode=NumberMode.BOX,
        value_fn=lambda coordinator: (
            coordinator.user_cap_w if coordinator.user_cap_w is not None else _panel_limit(coordinator)
        ),
        max_fn=_panel_limit,
        set_fn=_set_cap,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PanelCapacityConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the panel's numbers."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(PanelNumber(coordinator, description) for description in NUMBERS)


class PanelNumber(PanelCapacityEntity, NumberEntity):
    """A number of the panel."""

    entity_description: PanelNumberDescription

    @property
    def native_value(self) -> float:
        """The current setting."""
        return self.entity_description.value_fn(self.coordinator)

    @property
    def native_max_value(self) -> float:
        """Never above what the panel can carry."""
        return self.entity_description.max_fn(self.coordinator)

    async def async_set_native_value(self, value: float) -> None:
        """Change the setting; a value that is not a number is refused and the setting kept.

        Home Assistant's own range check lets NaN through (it compares false with both bounds).
        """
        if not math.isfinite(value):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="not_a_number",
                translation_placeholders={"entity_id": self.entity_id, "value": str(value)},
            )
        await self.entity_description.set_fn(self.coordinator, value)
