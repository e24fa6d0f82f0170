"""Sensors: power, limit, headroom and state of the panel, its legs or phases and its nodes; loads' state.

Each load also shows where it is wired and what it draws on; each node (subpanel
or circuit) its power, its limit, its legs or phases and which of its limits binds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from homeassistant.components.sensor import (
    DOMAIN as SENSOR_DOMAIN,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    PERCENTAGE,
    EntityCategory,
    UnitOfElectricCurrent,
    UnitOfPower,
    UnitOfTime,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .configuration import CONDUCTOR_CHOICES, choice_of
from .const import DOMAIN
from .coordinator import PanelCapacityConfigEntry, PanelCapacityCoordinator
from .engine import (
    ROOT,
    Conductor,
    ConstraintStatus,
    ControllerState,
    FlowSource,
    LoadReason,
    LoadState,
    LoadStatus,
    NodeStatus,
    ReadingFault,
    Status,
)
from .engine.terms import LimitTerm
from .entity import PanelCapacityEntity, PanelCapacityLoadEntity, PanelCapacityNodeEntity
from .grid.reservations import ReservationStatus
from .grid_coordinator import GridConnection, GridCoordinator, reservation_response

PARALLEL_UPDATES = 0


def _iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else dt_util.utc_from_timestamp(timestamp).isoformat()


LIMIT_TERMS = [term.value for term in LimitTerm]
# Which of a node's limits binds: its total, or one of its legs or phases.
TOTAL = "total"
CONDUCTOR_OPTIONS = [TOTAL, *(conductor.value for conductor in Conductor)]
EXPORT_TERMS = [LimitTerm.ENVELOPE.value, LimitTerm.SUBSCRIPTION.value, LimitTerm.SCHEDULE.value]


@dataclass(frozen=True, kw_only=True)
class PanelSensorDescription(SensorEntityDescription):
    """A panel sensor read from the status snapshot."""

    value_fn: Callable[[Status], float | str | None]
    attributes_fn: Callable[[Status], Mapping[str, Any]] | None = None


@dataclass(frozen=True, kw_only=True)
class LoadSensorDescription(SensorEntityDescription):
    """A load sensor read from the load's part of the status snapshot."""

    value_fn: Callable[[LoadStatus], float | str | None]
    attributes_fn: Callable[[LoadStatus], Mapping[str, Any]] | None = None


# What every power sensor has in common (in W; grid sensors are shown in kW).
POWER: dict[str, Any] = {
    "device_class": SensorDeviceClass.POWER,
    "state_class": SensorStateClass.MEASUREMENT,
    "native_unit_of_measurement": UnitOfPower.WATT,
}


def _power(key: str, value_fn: Callable[[Status], float | None], **kwargs: Any) -> PanelSensorDescription:
    return PanelSensorDescription(
        key=key, translation_key=key, suggested_display_precision=0, value_fn=value_fn, **POWER, **kwargs
    )


def _conductor_of(constraint: ConstraintStatus) -> str:
    return TOTAL if constraint.conductor is None else constraint.conductor.value


def _source_of(node: NodeStatus) -> str:
    """Where a node's reading comes from; when one of its sensors has a problem, which problem."""
    for constraint in (node.total, *node.conductors.values()):
        if constraint.fault is not None:
            return constraint.fault.value
    return node.total.source.value


@dataclass(frozen=True, kw_only=True)
class NodeSensorDescription(SensorEntityDescription):
    """A node's sensor, read from its part of the status snapshot (its total, its tightest limit)."""

    value_fn: Callable[[NodeStatus], float | str | None]
    attributes_fn: Callable[[NodeStatus], Mapping[str, Any] | None] | None = None


def _unmanaged_of(node: NodeStatus) -> Mapping[str, Any] | None:
    """While its sensor fails: the unmanaged load its estimate keeps, from when, and which part of it."""
    kept = next((c for c in (node.total, *node.conductors.values()) if c.unmanaged_w is not None), None)
    if kept is None or kept.unmanaged_basis is None:
        return None
    watts = node.total.unmanaged_w if node.total.unmanaged_w is not None else kept.unmanaged_w
    return {
        "unmanaged_w": round(watts or 0.0),
        "unmanaged_since": _iso(kept.unmanaged_since),
        "unmanaged_kept": kept.unmanaged_basis.value,
    }


NODE_SENSORS: tuple[NodeSensorDescription, ...] = (
    *(
        NodeSensorDescription(
            key=key, translation_key=key, suggested_display_precision=0, value_fn=fn, **POWER
        )
        for key, fn in (
            ("node_power", lambda node: node.total.flow_w),
            ("node_limit", lambda node: node.total.limit.effective_w),
            ("node_headroom", lambda node: node.total.headroom_w),
        )
    ),
    NodeSensorDescription(
        key="node_utilisation",
        translation_key="node_utilisation",
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=0,
        value_fn=lambda node: node.binding.utilisation_pct,  # of its tightest limit
    ),
    NodeSensorDescription(
        key="node_binding_conductor",
        translation_key="binding_conductor",
        device_class=SensorDeviceClass.ENUM,
        options=CONDUCTOR_OPTIONS,
        value_fn=lambda node: _conductor_of(node.binding),
    ),
    NodeSensorDescription(
        key="node_binding_term",
        translation_key="binding_term",
        device_class=SensorDeviceClass.ENUM,
        options=LIMIT_TERMS,
        value_fn=lambda node: node.binding.limit.binding,
    ),
    NodeSensorDescription(
        key="node_source",
        translation_key="node_source",
        device_class=SensorDeviceClass.ENUM,
        options=[*(source.value for source in FlowSource), *(fault.value for fault in ReadingFault)],
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_source_of,
        attributes_fn=_unmanaged_of,
    ),
)


def _amperes(watts: Callable[[ConstraintStatus], float | None]) -> Callable[[ConstraintStatus], float | None]:
    """A conductor's W as its current (over its voltage to neutral)."""

    def value(constraint: ConstraintStatus) -> float | None:
        flow = watts(constraint)
        return None if flow is None or constraint.volts <= 0 else flow / constraint.volts

    return value


@dataclass(frozen=True, kw_only=True)
class ConductorSensorDescription(SensorEntityDescription):
    """A leg's or phase's sensor, in amperes, read from its limit in the status snapshot."""

    value_fn: Callable[[ConstraintStatus], float | None]


CURRENT: dict[str, Any] = {
    "device_class": SensorDeviceClass.CURRENT,
    "state_class": SensorStateClass.MEASUREMENT,
    "native_unit_of_measurement": UnitOfElectricCurrent.AMPERE,
    "suggested_display_precision": 1,
}
CONDUCTOR_SENSORS: tuple[ConductorSensorDescription, ...] = (
    ConductorSensorDescription(
        key="current", translation_key="conductor_current", value_fn=lambda c: c.current_a, **CURRENT
    ),
    ConductorSensorDescription(
        key="limit",
        translation_key="conductor_limit",
        value_fn=_amperes(lambda c: c.limit.effective_w),
        **CURRENT,
    ),
    ConductorSensorDescription(
        key="headroom",
        translation_key="conductor_headroom",
        value_fn=_amperes(lambda c: c.headroom_w),
        **CURRENT,
    ),
)


def conductor_descriptions(
    conductors: Iterable[Conductor],
) -> list[tuple[Conductor, ConductorSensorDescription]]:
    """The sensors of each of these conductors (keys l1_current, l1_limit, ...; names "L1 current")."""
    return [
        (
            conductor,
            replace(
                description,
                key=f"{conductor.value}_{description.key}",
                translation_placeholders={"conductor": conductor.value.upper()},
            ),
        )
        for conductor in conductors
        for description in CONDUCTOR_SENSORS
    ]


@dataclass(frozen=True, kw_only=True)
class TreeSensorDescription(SensorEntityDescription):
    """A sensor of the whole tree, on the panel's device: where the binding constraint is."""

    value_fn: Callable[[PanelCapacityCoordinator], str | None]


TREE_SENSORS: tuple[TreeSensorDescription, ...] = (
    TreeSensorDescription(
        key="binding_node",
        translation_key="binding_node",
        value_fn=lambda c: c.node_name(c.data.binding.node_id) if c.data.binding else None,
    ),
    TreeSensorDescription(
        key="binding_conductor",
        translation_key="binding_conductor",
        device_class=SensorDeviceClass.ENUM,
        options=CONDUCTOR_OPTIONS,
        value_fn=lambda c: None if c.data.binding is None else (c.data.binding.conductor or TOTAL),
    ),
    TreeSensorDescription(
        key="binding_term",
        translation_key="binding_term",
        device_class=SensorDeviceClass.ENUM,
        options=LIMIT_TERMS,
        value_fn=lambda c: None if c.data.binding is None else c.data.binding.term,
    ),
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
        attributes_fn=lambda load: {"manual_until": _iso(load.manual_until)},
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


def wiring_descriptions(coordinator: PanelCapacityCoordinator) -> list[LoadSensorDescription]:
    """Where each load is wired and what it draws on (configuration, not readings), for this panel.

    What it draws on is labelled for the supply (L1 (120 V), both legs (240 V), ...); a load on
    a set of conductors no choice names shows none. Nothing to show on single-phase.
    """
    supply = coordinator.setup.panel.supply
    choices = CONDUCTOR_CHOICES[supply]
    descriptions = [
        LoadSensorDescription(
            key="load_node",
            translation_key="load_node",
            entity_category=EntityCategory.DIAGNOSTIC,
            value_fn=lambda load: coordinator.node_name(load.node_id),
        )
    ]
    if len(choices) > 1:
        descriptions.append(
            LoadSensorDescription(
                key="load_conductors",
                translation_key=f"load_conductors_{supply.value}",
                device_class=SensorDeviceClass.ENUM,
                options=list(choices),
                entity_category=EntityCategory.DIAGNOSTIC,
                value_fn=lambda load: choice if (choice := choice_of(load.conductors)) in choices else None,
            )
        )
    return descriptions


@dataclass(frozen=True, kw_only=True)
class GridSensorDescription(SensorEntityDescription):
    """A grid sensor, read from the panel's last step and the grid's state."""

    value_fn: Callable[[PanelCapacityCoordinator, GridCoordinator], float | str | datetime | None]
    attributes_fn: Callable[[PanelCapacityCoordinator, GridCoordinator], Mapping[str, Any]] | None = None
    needs_server: bool = False


def _grid_import_limit(panel: PanelCapacityCoordinator, _grid: GridCoordinator) -> float | None:
    terms = panel.grid_terms.import_terms if panel.grid_terms else {}
    return min(terms.values()) if terms else None


def _next_reservation_attributes(
    _panel: PanelCapacityCoordinator, grid: GridCoordinator
) -> Mapping[str, Any]:
    reservation = grid.next_reservation(dt_util.utcnow())
    return reservation_response(reservation) if reservation is not None else {}


def _last_reservation_attributes(
    _panel: PanelCapacityCoordinator, grid: GridCoordinator
) -> Mapping[str, Any]:
    reservation = grid.last_reservation()
    return reservation_response(reservation) if reservation is not None else {}


def _available_now(_panel: PanelCapacityCoordinator, grid: GridCoordinator) -> float | None:
    return grid.available_w(dt_util.utcnow())


def _grid_power(key: str, value_fn: Any, **kwargs: Any) -> GridSensorDescription:
    return GridSensorDescription(
        key=key,
        translation_key=key,
        suggested_unit_of_measurement=UnitOfPower.KILO_WATT,
        suggested_display_precision=2,
        value_fn=value_fn,
        **POWER,
        **kwargs,
    )


GRID_SENSORS: tuple[GridSensorDescription, ...] = (
    _grid_power(
        "subscription",
        lambda panel, _grid: panel.grid_terms.subscription_w if panel.grid_terms else None,
        attributes_fn=lambda panel, _grid: {
            "source": panel.grid_terms.subscription_source if panel.grid_terms else None
        },
    ),
    _grid_power(
        "reserved_capacity", lambda panel, _grid: panel.grid_terms.reserved_w if panel.grid_terms else None
    ),
    _grid_power(
        "grid_import_limit",
        _grid_import_limit,
        attributes_fn=lambda panel, _grid: {
            f"{name}_w": value
            for name, value in (panel.grid_terms.import_terms if panel.grid_terms else {}).items()
        },
    ),
    _grid_power(
        "export_limit",
        lambda panel, _grid: panel.data.export_limit.effective_w if panel.data.export_limit else None,
        attributes_fn=lambda panel, _grid: {
            "binding": panel.data.export_limit.binding if panel.data.export_limit else None,
            "export_headroom_w": panel.data.export_headroom_w,
        },
    ),
    GridSensorDescription(
        key="time_over_export_limit",
        translation_key="time_over_export_limit",
        device_class=SensorDeviceClass.DURATION,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        suggested_unit_of_measurement=UnitOfTime.MINUTES,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda panel, _grid: panel.data.accounting.seconds_over_export_limit,
    ),
    GridSensorDescription(
        key="grid_connection",
        translation_key="grid_connection",
        device_class=SensorDeviceClass.ENUM,
        options=list(GridConnection.ALL),
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda _panel, grid: grid.data.connection,
        attributes_fn=lambda panel, grid: {
            # While the server answers it would move at every poll (a row in the recorder each):
            # shown only while the connection is lost, when it says since when.
            "last_success": (
                grid.data.last_success.isoformat()
                if grid.data.last_success and grid.data.connection not in GridConnection.ANSWERING
                else None
            ),
            "last_error": grid.data.last_error,
            "program_id": grid.data.program_id,
            "ven_id": grid.data.ven.ven_id if grid.data.ven else None,
            # Terms held from what the server said before (it cannot be reached, or no longer says).
            "retained": list(panel.grid_terms.retained) if panel.grid_terms else [],
        },
        needs_server=True,
    ),
    GridSensorDescription(
        key="next_reservation",
        translation_key="next_reservation",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda _panel, grid: (
            reservation.start if (reservation := grid.next_reservation(dt_util.utcnow())) else None
        ),
        attributes_fn=_next_reservation_attributes,
        needs_server=True,
    ),
    GridSensorDescription(
        key="last_reservation_status",
        translation_key="last_reservation_status",
        device_class=SensorDeviceClass.ENUM,
        options=[status.value for status in ReservationStatus],
        value_fn=lambda _panel, grid: (
            reservation.status.value if (reservation := grid.last_reservation()) else None
        ),
        attributes_fn=_last_reservation_attributes,
        needs_server=True,
    ),
    _grid_power(
        "available_capacity",
        _available_now,
        attributes_fn=lambda _panel, grid: {"intervals": grid.upcoming_availability(dt_util.utcnow())},
        needs_server=True,
    ),
    GridSensorDescription(
        key="fees_committed",
        translation_key="fees_committed",
        device_class=SensorDeviceClass.MONETARY,
        suggested_display_precision=2,
        value_fn=lambda _panel, grid: grid.fees_committed(dt_util.utcnow()),
        needs_server=True,
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
    grid = entry.runtime_data.grid
    wanted_grid = [
        description
        for description in GRID_SENSORS
        if grid.configured and (grid.server is not None or not description.needs_server)
    ]
    async_add_entities(GridSensor(coordinator, grid, description) for description in wanted_grid)
    # The tree's own: the binding constraint, the service's legs or phases, each node.
    setup = coordinator.setup
    tree = (
        [TreeSensor(coordinator, d) for d in TREE_SENSORS] if setup.nodes or setup.conductor_sensors else []
    )
    measured = [c for c in setup.panel.conductors if c in setup.conductor_sensors]
    conductors = [PanelConductorSensor(coordinator, c, d) for c, d in conductor_descriptions(measured)]
    async_add_entities([*tree, *conductors])
    # Panel sensors of settings that were removed since: gone, not left unavailable.
    wanted = {entity.entity_description.key for entity in (*tree, *conductors)}
    wanted |= {description.key for description in wanted_grid}
    candidates = [d.key for d in (*GRID_SENSORS, *TREE_SENSORS)]
    candidates += [d.key for _, d in conductor_descriptions(Conductor)]
    registry = er.async_get(hass)
    for key in candidates:
        unique_id = f"{entry.entry_id}_{key}"
        if key not in wanted and (
            entity_id := registry.async_get_entity_id(SENSOR_DOMAIN, DOMAIN, unique_id)
        ):
            registry.async_remove(entity_id)
    for node_id, node in coordinator.nodes.items():
        per = conductor_descriptions(node.conductors) if len(node.conductors) > 1 else []
        async_add_entities(
            [
                *(NodeSensor(coordinator, node_id, description) for description in NODE_SENSORS),
                *(NodeConductorSensor(coordinator, node_id, c, description) for c, description in per),
            ],
            config_subentry_id=node_id,
        )
    descriptions = [*LOAD_SENSORS, *wiring_descriptions(coordinator)]
    for load_id in coordinator.loads:
        async_add_entities(
            (LoadSensor(coordinator, load_id, description) for description in descriptions),
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

    @property
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """Details that belong with the value (a manual override: until when)."""
        load = self.coordinator.data.loads.get(self.load_id)
        if self.entity_description.attributes_fn is None or load is None:
            return None
        return self.entity_description.attributes_fn(load)


class TreeSensor(PanelCapacityEntity, SensorEntity):
    """A sensor of the whole tree, on the panel's device."""

    entity_description: TreeSensorDescription

    @property
    def native_value(self) -> str | None:
        """From the latest status."""
        return self.entity_description.value_fn(self.coordinator)


class NodeSensor(PanelCapacityNodeEntity, SensorEntity):
    """A sensor of a subpanel or circuit."""

    entity_description: NodeSensorDescription

    @property
    def native_value(self) -> float | str | None:
        """From the node's part of the latest status."""
        node = self.coordinator.data.nodes.get(self.node_id)
        return None if node is None else self.entity_description.value_fn(node)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """Details that belong with the value (a reading estimated while its sensor fails: what it keeps)."""
        node = self.coordinator.data.nodes.get(self.node_id)
        if self.entity_description.attributes_fn is None or node is None:
            return None
        return self.entity_description.attributes_fn(node)


def _conductor_value(
    coordinator: PanelCapacityCoordinator,
    node_id: str,
    conductor: Conductor,
    description: ConductorSensorDescription,
) -> float | None:
    node = coordinator.data.nodes.get(node_id)
    constraint = None if node is None else node.conductors.get(conductor)
    return None if constraint is None else description.value_fn(constraint)


class PanelConductorSensor(PanelCapacityEntity, SensorEntity):
    """A leg or phase of the service, on the panel's device."""

    entity_description: ConductorSensorDescription

    def __init__(
        self,
        coordinator: PanelCapacityCoordinator,
        conductor: Conductor,
        description: ConductorSensorDescription,
    ) -> None:
        """One conductor of the root."""
        super().__init__(coordinator, description)
        self.conductor = conductor

    @property
    def native_value(self) -> float | None:
        """From the root's conductor in the latest status."""
        return _conductor_value(self.coordinator, ROOT, self.conductor, self.entity_description)


class NodeConductorSensor(PanelCapacityNodeEntity, SensorEntity):
    """A leg or phase of a subpanel or circuit."""

    entity_description: ConductorSensorDescription

    def __init__(
        self,
        coordinator: PanelCapacityCoordinator,
        node_id: str,
        conductor: Conductor,
        description: ConductorSensorDescription,
    ) -> None:
        """One conductor of a node."""
        super().__init__(coordinator, node_id, description)
        self.conductor = conductor

    @property
    def native_value(self) -> float | None:
        """From the node's conductor in the latest status."""
        return _conductor_value(self.coordinator, self.node_id, self.conductor, self.entity_description)


class GridSensor(PanelCapacityEntity, SensorEntity):
    """A sensor of the grid's limits and reservations, on the panel's device."""

    entity_description: GridSensorDescription

    def __init__(
        self, coordinator: PanelCapacityCoordinator, grid: GridCoordinator, description: GridSensorDescription
    ) -> None:
        """Follow the panel's steps and the grid's polls."""
        super().__init__(coordinator, description)
        self.grid = grid
        if description.device_class is SensorDeviceClass.MONETARY:
            self._attr_native_unit_of_measurement = coordinator.hass.config.currency

    async def async_added_to_hass(self) -> None:
        """Also listen to the grid coordinator."""
        await super().async_added_to_hass()
        self.async_on_remove(self.grid.async_add_listener(self._on_grid_update))

    @callback
    def _on_grid_update(self) -> None:
        self.async_write_ha_state()

    @property
    def native_value(self) -> float | str | datetime | None:
        """The value from the panel's last step and the grid's state."""
        return self.entity_description.value_fn(self.coordinator, self.grid)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """Details that belong with the value."""
        if self.entity_description.attributes_fn is None:
            return None
        return self.entity_description.attributes_fn(self.coordinator, self.grid)
