"""Turn a config entry (data, options, load subentries) into the engine's configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeassistant.core import split_entity_id

from .const import (
    CONF_ACTUATOR,
    CONF_ALLOW_OFF,
    CONF_CONTINUOUS_PCT,
    CONF_EXPORT_ACTUATOR,
    CONF_EXPORT_SENSOR,
    CONF_HYSTERESIS_W,
    CONF_IMPORT_SENSOR,
    CONF_LARGEST_STEP_W,
    CONF_LOAD_ORDER,
    CONF_MANUAL_HOLD_S,
    CONF_MARGIN_W,
    CONF_MAX,
    CONF_METERING,
    CONF_MIN,
    CONF_MIN_OFF_S,
    CONF_MIN_ON_S,
    CONF_NEVER_SHED,
    CONF_NOMINAL_W,
    CONF_PHASES,
    CONF_POWER_SENSOR,
    CONF_RATING_A,
    CONF_RESERVE_IDLE,
    CONF_RESPONSE_S,
    CONF_RESTORE_HOLDOFF_S,
    CONF_SITE_SENSOR,
    CONF_STALENESS_S,
    CONF_STEP,
    CONF_SUPPLY,
    CONF_UNIT,
    CONF_VOLTAGE_V,
    DEFAULT_CONTINUOUS_PCT,
    DEFAULT_HYSTERESIS_W,
    DEFAULT_LARGEST_STEP_W,
    DEFAULT_MANUAL_HOLD_S,
    DEFAULT_MARGIN_W,
    DEFAULT_RESERVE_IDLE,
    DEFAULT_RESPONSE_S,
    DEFAULT_RESTORE_HOLDOFF_S,
    DEFAULT_STALENESS_S,
    LEVEL_DOMAINS,
    METERING_PAIR,
    SUBENTRY_LOAD,
    UNIT_AMPERE,
    UNIT_KILOWATT,
)
from .engine import ControlSettings, LoadConfig, LoadKind, PanelConfig, Supply

if TYPE_CHECKING:
    from collections.abc import Mapping

    from homeassistant.config_entries import ConfigEntry

DEFAULT_OPTIONS: dict[str, float | bool] = {
    CONF_MARGIN_W: DEFAULT_MARGIN_W,
    CONF_HYSTERESIS_W: DEFAULT_HYSTERESIS_W,
    CONF_RESTORE_HOLDOFF_S: DEFAULT_RESTORE_HOLDOFF_S,
    CONF_RESPONSE_S: DEFAULT_RESPONSE_S,
    CONF_STALENESS_S: DEFAULT_STALENESS_S,
    CONF_MANUAL_HOLD_S: DEFAULT_MANUAL_HOLD_S,
    CONF_LARGEST_STEP_W: DEFAULT_LARGEST_STEP_W,
    CONF_RESERVE_IDLE: DEFAULT_RESERVE_IDLE,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadBinding:
    """A load: the engine's view of it and the entities behind it."""

    subentry_id: str
    name: str
    actuator: str
    power_sensor: str | None
    watts_per_unit: float  # actuator value x this = watts (modulated loads)
    config: LoadConfig

    @property
    def domain(self) -> str:
        """The actuator's domain."""
        return split_entity_id(self.actuator)[0]

    @property
    def kind(self) -> LoadKind:
        """On/off or modulated."""
        return self.config.kind


@dataclass(frozen=True, slots=True, kw_only=True)
class PanelSetup:
    """Everything the coordinator needs to know about one panel."""

    panel: PanelConfig
    settings: ControlSettings
    loads: tuple[LoadBinding, ...]  # most important first
    site_sensors: tuple[str, ...]  # one net sensor, or import then export

    @property
    def load_entities(self) -> tuple[str, ...]:
        """Actuators and power sensors of all loads."""
        entities: list[str] = []
        for load in self.loads:
            entities.append(load.actuator)
            if load.power_sensor:
                entities.append(load.power_sensor)
        return tuple(entities)


def panel_from_data(data: Mapping[str, Any]) -> PanelConfig:
    """The panel as described by a config entry's data."""
    return PanelConfig(
        rating_a=float(data[CONF_RATING_A]),
        voltage_v=float(data[CONF_VOLTAGE_V]),
        supply=Supply(data[CONF_SUPPLY]),
        continuous_factor=float(data.get(CONF_CONTINUOUS_PCT, DEFAULT_CONTINUOUS_PCT)) / 100,
    )


def settings_from_options(options: Mapping[str, Any]) -> ControlSettings:
    """The control loop's tuning from a config entry's options."""
    merged = DEFAULT_OPTIONS | {key: options[key] for key in DEFAULT_OPTIONS if key in options}
    return ControlSettings(
        margin_w=float(merged[CONF_MARGIN_W]),
        hysteresis_w=float(merged[CONF_HYSTERESIS_W]),
        restore_holdoff_s=float(merged[CONF_RESTORE_HOLDOFF_S]),
        response_s=float(merged[CONF_RESPONSE_S]),
        staleness_s=float(merged[CONF_STALENESS_S]),
        manual_hold_s=float(merged[CONF_MANUAL_HOLD_S]),
        largest_step_w=float(merged[CONF_LARGEST_STEP_W]),
        reserve_idle=bool(merged[CONF_RESERVE_IDLE]),
    )


def watts_per_unit(panel: PanelConfig, unit: str, phases: int) -> float:
    """How many watts one unit of a modulated actuator's value stands for."""
    if unit == UNIT_AMPERE:
        if panel.supply is Supply.THREE_PHASE:
            return panel.voltage_v * max(1, min(3, phases))
        return panel.voltage_v
    if unit == UNIT_KILOWATT:
        return 1000.0
    return 1.0


def load_from_subentry(
    panel: PanelConfig, subentry_id: str, title: str, data: Mapping[str, Any]
) -> LoadBinding:
    """One load subentry as the engine and the coordinator see it."""
    actuator: str = data[CONF_ACTUATOR]
    modulated = split_entity_id(actuator)[0] in LEVEL_DOMAINS
    factor = (
        watts_per_unit(panel, data.get(CONF_UNIT, ""), int(data.get(CONF_PHASES, 1))) if modulated else 1.0
    )
    config = LoadConfig(
        load_id=subentry_id,
        name=title,
        kind=LoadKind.MODULATED if modulated else LoadKind.SWITCH,
        nominal_w=float(data.get(CONF_NOMINAL_W) or 0),
        min_w=float(data.get(CONF_MIN) or 0) * factor if modulated else 0.0,
        max_w=float(data.get(CONF_MAX) or 0) * factor if modulated else 0.0,
        step_w=float(data.get(CONF_STEP) or 0) * factor if modulated else 0.0,
        allow_off=bool(data.get(CONF_ALLOW_OFF, False)) if modulated else True,
        never_shed=bool(data.get(CONF_NEVER_SHED, False)),
        export=modulated and bool(data.get(CONF_EXPORT_ACTUATOR, False)),
        min_on_s=float(data.get(CONF_MIN_ON_S) or 0),
        min_off_s=float(data.get(CONF_MIN_OFF_S) or 0),
    )
    return LoadBinding(
        subentry_id=subentry_id,
        name=title,
        actuator=actuator,
        power_sensor=data.get(CONF_POWER_SENSOR) or None,
        watts_per_unit=factor,
        config=config,
    )


def ordered_load_ids(entry: ConfigEntry) -> list[str]:
    """Load subentry ids, most important first.

    The order kept in the options comes first; loads added since then follow
    in the order they were added, so a new load starts as the least important.
    """
    loads = [sid for sid, sub in entry.subentries.items() if sub.subentry_type == SUBENTRY_LOAD]
    order = [sid for sid in entry.options.get(CONF_LOAD_ORDER, []) if sid in loads]
    return order + [sid for sid in loads if sid not in order]


def setup_from_entry(entry: ConfigEntry) -> PanelSetup:
    """Read a config entry into a PanelSetup."""
    panel = panel_from_data(entry.data)
    loads = tuple(
        load_from_subentry(panel, sid, entry.subentries[sid].title, entry.subentries[sid].data)
        for sid in ordered_load_ids(entry)
    )
    if entry.data.get(CONF_METERING) == METERING_PAIR:
        sensors: tuple[str, ...] = (entry.data[CONF_IMPORT_SENSOR], entry.data[CONF_EXPORT_SENSOR])
    else:
        sensors = (entry.data[CONF_SITE_SENSOR],)
    return PanelSetup(
        panel=panel,
        settings=settings_from_options(entry.options),
        loads=loads,
        site_sensors=sensors,
    )
