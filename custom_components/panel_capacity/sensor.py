"""Sensors: power, limit, headroom and state of the panel; state and allocation of each load."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfPower, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .coordinator import PanelCapacityConfigEntry
from .engine import ControllerState, LoadReason, LoadState, LoadStatus, Status
from .engine.model import TERM_LARGEST_STEP, TERM_PANEL, TERM_USER_CAP
from .entity import PanelCapacityEntity, PanelCapacityLoadEntity

PARALLEL_UPDATES = 0


def _iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else dt_util.utc_from_timestamp(timestamp).isoformat()


LIMIT_TERMS = [TERM_PANEL, TERM_LARGEST_STEP, TERM_USER_CAP]


@dataclass(frozen=True, kw_only=True)
class PanelSensorDescription(SensorEntityDescription):
    """A panel sensor read from the status snapshot."""

    value_fn: Callable[[Status], float | str | None]
    attributes_fn: Callable[[Status], Mapping[str, Any]] | None = None


@dataclass(frozen=True, kw_only=True)
class LoadSensorDescription(SensorEntityDescription):
    """A load sensor read from the load's part of the status snapshot."""

    value_fn: Callable[[LoadStatus], float | str | None]


def _power(key: str, value_fn: Callable[[Status], float | None], **kwargs: Any) -> PanelSensorDescription:
    return PanelSensorDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        value_fn=value_fn,
        **kwargs,
    )


PANEL_SENSORS: tuple[PanelSensorDescription, ...] = (
    _power("site_power", lambda status: status.site_w),
    _power("effective_limit", lambda status: status.limit.effective_w),
    _power("headroom", lambda status: status.headroom_w),
    PanelSensorDescription(
        key="utilisation",
        translation_key="utilisation",
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=0,
        value_fn=lambda status: status.utilisation_pct,
    ),
    PanelSensorDescription(
        key="binding_limit",
        translation_key="binding_limit",
        device_class=SensorDeviceClass.ENUM,
        options=LIMIT_TERMS,
        value_fn=lambda status: status.limit.binding,
        attributes_fn=lambda status: {f"{name}_w": value for name, value in status.limit.terms.items()},
    ),
    PanelSensorDescription(
        key="controller_state",
        translation_key="controller_state",
        device_class=SensorDeviceClass.ENUM,
        options=[state.value for state in ControllerState],
        value_fn=lambda status: status.state.value,
    ),
    PanelSensorDescription(
        key="demand_15min",
        translation_key="demand_15min",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        value_fn=lambda status: status.accounting.demand_15min_w,
        attributes_fn=lambda status: {
            "block_start": _iso(status.accounting.demand_block_start),
            "peak_w": round(status.accounting.peak_15min_w, 1),
        },
    ),
    PanelSensorDescription(
        key="time_over_limit_today",
        translation_key="time_over_limit_today",
        device_class=SensorDeviceClass.DURATION,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        suggested_unit_of_measurement=UnitOfTime.MINUTES,
        suggested_display_precision=1,
        value_fn=lambda status: status.accounting.day_seconds_over_limit,
    ),
    PanelSensorDescription(
        key="actions_today",
        translation_key="actions_today",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda status: status.accounting.day_actions,
    ),
    PanelSensorDescription(
        key="time_over_rating_today",
        translation_key="time_over_rating_today",
        device_class=SensorDeviceClass.DURATION,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        suggested_unit_of_measurement=UnitOfTime.MINUTES,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda status: status.accounting.day_seconds_over_rating,
    ),
    PanelSensorDescription(
        key="continuous_load",
        translation_key="continuous_load",
        device_class=SensorDeviceClass.DURATION,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        suggested_unit_of_measurement=UnitOfTime.HOURS,
        suggested_display_precision=2,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda status: status.accounting.continuous_s,
        attributes_fn=lambda status: {
            "longest_s": round(status.accounting.longest_continuous_s),
            "three_hours_exceeded": status.accounting.continuous_exceeded,
        },
    ),
    _power(
        "shed_target",
        lambda status: status.shed_target_w,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
    ),
    _power(
        "restore_threshold",
        lambda status: status.restore_threshold_w,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
    ),
)

LOAD_SENSORS: tuple[LoadSensorDescription, ...] = (
    LoadSensorDescription(
        key="load_state",
        translation_key="load_state",
        device_class=SensorDeviceClass.ENUM,
        options=[state.value for state in LoadState],
        value_fn=lambda load: load.state.value,
    ),
    LoadSensorDescription(
        key="load_reason",
        translation_key="load_reason",
        device_class=SensorDeviceClass.ENUM,
        options=[reason.value for reason in LoadReason],
        value_fn=lambda load: load.reason.value,
    ),
    LoadSensorDescription(
        key="allocated_power",
        translation_key="allocated_power",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        value_fn=lambda load: load.allocated_w,
    ),
    LoadSensorDescription(
        key="load_actions",
        translation_key="load_actions",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda load: load.actions,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PanelCapacityConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the panel's sensors and each load's sensors (on the load's subentry)."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(PanelSensor(coordinator, description) for description in PANEL_SENSORS)
    for load_id in coordinator.loads:
        async_add_entities(
            (LoadSensor(coordinator, load_id, description) for description in LOAD_SENSORS),
            config_subentry_id=load_id,
        )


class PanelSensor(PanelCapacityEntity, SensorEntity):
    """A sensor of the panel."""

    entity_description: PanelSensorDescription

    @property
    def native_value(self) -> float | str | None:
        """The value from the latest status."""
        return self.entity_description.value_fn(self.coordinator.data)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """Details that belong with the value."""
        if self.entity_description.attributes_fn is None:
            return None
        return self.entity_description.attributes_fn(self.coordinator.data)


class LoadSensor(PanelCapacityLoadEntity, SensorEntity):
    """A sensor of one load."""

    entity_description: LoadSensorDescription

    @property
    def native_value(self) -> float | str | None:
        """The value from the latest status."""
        load = self.coordinator.data.loads.get(self.load_id)
        return None if load is None else self.entity_description.value_fn(load)
