"""Form fields the flows share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import probatio

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.helpers import selector

if TYPE_CHECKING:
    from collections.abc import Iterable


def number_selector(
    low: float,
    high: float,
    unit: str,
    step: float | Literal["any"] = 1,
    mode: selector.NumberSelectorMode = selector.NumberSelectorMode.BOX,
) -> selector.NumberSelector:
    """A number typed in a box, from low to high."""
    return selector.NumberSelector(
        selector.NumberSelectorConfig(min=low, max=high, step=step, unit_of_measurement=unit, mode=mode)
    )


def select_selector(key: str, options: list[str]) -> selector.SelectSelector:
    """A drop-down whose options are named in the translations under ``key``."""
    return selector.SelectSelector(
        selector.SelectSelectorConfig(
            options=options, translation_key=key, mode=selector.SelectSelectorMode.DROPDOWN
        )
    )


def power_sensor_selector() -> selector.EntitySelector:
    """A sensor that measures power, or current."""
    return selector.EntitySelector(
        selector.EntitySelectorConfig(
            filter=[
                selector.EntityWithDeviceFilterSelectorConfig(domain="sensor", device_class=device_class)
                for device_class in (SensorDeviceClass.POWER, SensorDeviceClass.CURRENT)
            ]
        )
    )


def optional_sensors(keys: Iterable[str]) -> dict[Any, Any]:
    """Optional power or current sensors, one a key."""
    return {probatio.Optional(key): power_sensor_selector() for key in keys}
