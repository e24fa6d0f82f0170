"""Binary sensors: over the limit, cannot reach the limit, sensor problem."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .coordinator import PanelCapacityConfigEntry, PanelCapacityCoordinator
from .entity import PanelCapacityEntity

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class PanelBinarySensorDescription(BinarySensorEntityDescription):
    """A binary sensor computed from the coordinator."""

    is_on_fn: Callable[[PanelCapacityCoordinator], bool]
    attributes_fn: Callable[[PanelCapacityCoordinator], Mapping[str, Any]] | None = None


def _no_site_reading(coordinator: PanelCapacityCoordinator) -> bool:
    status = coordinator.data
    return status.fail_safe or status.site_w is None


def _sensor_problem(coordinator: PanelCapacityCoordinator) -> bool:
    return (
        _no_site_reading(coordinator) or bool(coordinator.missing_entities) or bool(coordinator.sensor_faults)
    )


def _sensor_problem_attributes(coordinator: PanelCapacityCoordinator) -> Mapping[str, Any]:
    """What is missing or faulty, and when the meter's last reading was while there is none in use.

    Nothing here changes from one step to the next (each change is a row in the
    recorder): not the reading's age, and no reading's time while readings come.
    """
    reading = coordinator.data.reading_time
    return {
        "last_reading": (
            dt_util.utc_from_timestamp(reading).isoformat()
            if reading is not None and _no_site_reading(coordinator)
            else None
        ),
        "missing_entities": coordinator.missing_entities,
        # Sensors that are there but give nothing usable, and why: changes only when that does.
        "sensor_faults": {entity_id: fault.value for entity_id, fault in coordinator.sensor_faults.items()},
    }


BINARY_SENSORS: tuple[PanelBinarySensorDescription, ...] = (
    PanelBinarySensorDescription(
        key="over_limit",
        translation_key="over_limit",
        device_class=BinarySensorDeviceClass.PROBLEM,
        is_on_fn=lambda coordinator: coordinator.data.over_limit,
    ),
    PanelBinarySensorDescription(
        key="cannot_reach_limit",
        translation_key="cannot_reach_limit",
        device_class=BinarySensorDeviceClass.PROBLEM,
        is_on_fn=lambda coordinator: coordinator.data.insufficient,
    ),
    PanelBinarySensorDescription(
        key="sensor_problem",
        translation_key="sensor_problem",
        device_class=BinarySensorDeviceClass.PROBLEM,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=_sensor_problem,
        attributes_fn=_sensor_problem_attributes,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PanelCapacityConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the panel's binary sensors."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(PanelBinarySensor(coordinator, description) for description in BINARY_SENSORS)


class PanelBinarySensor(PanelCapacityEntity, BinarySensorEntity):
    """A binary sensor of the panel."""

    entity_description: PanelBinarySensorDescription

    @property
    def is_on(self) -> bool:
        """On when the condition holds."""
        return self.entity_description.is_on_fn(self.coordinator)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """Details of the condition."""
        if self.entity_description.attributes_fn is None:
            return None
        return self.entity_description.attributes_fn(self.coordinator)
