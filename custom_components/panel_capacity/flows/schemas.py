"""Form fields the flows share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import probatio

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.helpers import selector

from ..engine.rules import range_error

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping


class BoundedNumberSelector(selector.NumberSelector):
    """A number box that shows its bounds and leaves checking them to the step (``range_errors``).

    Home Assistant's own number selector refuses a number out of its bounds
    before the step sees it, and the form then shows its untranslated "Value
    5000.0 is too large". This one only reads a number; the step says what is
    allowed with a translated error under the field (``<name>_out_of_range``,
    whose message takes the bounds from the placeholders ``<name>_min`` and
    ``<name>_max`` that ``range_placeholders`` gives the form).
    """

    def __init__(self, name: str, config: selector.NumberSelectorConfig) -> None:
        """A selector for the range called ``name`` in the translations."""
        super().__init__(config)
        self.range_name = name

    def __call__(self, data: Any) -> float:
        """Read a number; whether it is in range is the step's to say."""
        return float(probatio.Coerce(float)(data))

    @property
    def bounds(self) -> tuple[float, float]:
        """The lowest and highest number allowed."""
        return float(self.config["min"]), float(self.config["max"])

    def error(self, value: float) -> str | None:
        """The translation key of what is wrong with ``value``, or None."""
        return range_error(value, self.bounds, self.range_name)


def number_selector(
    name: str,
    bounds: tuple[float, float],
    unit: str,
    step: float | Literal["any"] = 1,
    mode: selector.NumberSelectorMode = selector.NumberSelectorMode.BOX,
) -> BoundedNumberSelector:
    """A number typed in a box, within ``bounds``, its range called ``name`` in the errors."""
    low, high = bounds
    return BoundedNumberSelector(
        name,
        selector.NumberSelectorConfig(min=low, max=high, step=step, unit_of_measurement=unit, mode=mode),
    )


def _bounded(schema: probatio.Schema) -> Iterator[tuple[str, BoundedNumberSelector]]:
    for marker, field in schema.schema.items():
        if isinstance(field, BoundedNumberSelector):
            yield str(marker), field


def range_errors(schema: probatio.Schema, user_input: Mapping[str, Any]) -> dict[str, str]:
    """The form's numbers that are out of their bounds (or not numbers at all), keyed by field."""
    errors: dict[str, str] = {}
    for key, field in _bounded(schema):
        value = user_input.get(key)
        if value is not None and (error := field.error(value)):
            errors[key] = error
    return errors


def range_placeholders(schema: probatio.Schema) -> dict[str, str]:
    """The bounds of the form's numbers, for the messages of their errors."""
    placeholders: dict[str, str] = {}
    for _, field in _bounded(schema):
        low, high = field.bounds
        placeholders[f"{field.range_name}_min"] = f"{low:g}"
        placeholders[f"{field.range_name}_max"] = f"{high:g}"
    return placeholders


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
