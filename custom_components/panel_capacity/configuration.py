"""Turn a config entry (data, options, node and load subentries) into the engine's configuration.

The tree: the panel (the entry) is the root, node ``main``; each node subentry is
a subpanel or circuit whose engine node id is its subentry id, below the panel
or another node; each load subentry says which node it is wired to and which of
that node's conductors it draws on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from homeassistant.core import split_entity_id

from .const import (
    CONF_ACTUATOR,
    CONF_ALLOW_OFF,
    CONF_CAP_A,
    CONF_CONDUCTORS,
    CONF_CONTINUOUS_PCT,
    CONF_EXPORT_ACTUATOR,
    CONF_EXPORT_SENSOR,
    CONF_HYSTERESIS_W,
    CONF_IMPORT_SENSOR,
    CONF_L1_SENSOR,
    CONF_L2_SENSOR,
    CONF_L3_SENSOR,
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
    CONF_NODE,
    CONF_NOMINAL_W,
    CONF_PARENT,
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
    SUBENTRY_NODE,
    UNIT_AMPERE,
    UNIT_KILOWATT,
)
from .engine import (
    ROOT,
    Conductor,
    ControlSettings,
    LoadConfig,
    LoadKind,
    NodeConfig,
    PanelConfig,
    Supply,
)
from .engine.tree import resolve_nodes

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

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


# The key of each conductor's sensor, in the entry's data (the panel) or a node's subentry.
SENSOR_KEYS: Final[dict[Conductor, str]] = {
    Conductor.L1: CONF_L1_SENSOR,
    Conductor.L2: CONF_L2_SENSOR,
    Conductor.L3: CONF_L3_SENSOR,
}


# What a node or load may draw on, by supply, as a choice: its conductors joined by "_".
# Split-phase: a 120 V load on one leg, or a 240 V load on both; three-phase: one phase or all three.
CONDUCTOR_CHOICES: Final[dict[Supply, tuple[str, ...]]] = {
    Supply.SINGLE_PHASE: ("l1",),
    Supply.SPLIT_PHASE: ("l1", "l2", "l1_l2"),
    Supply.THREE_PHASE: ("l1", "l2", "l3", "l1_l2_l3"),
}


def choice_of(conductors: Iterable[str]) -> str:
    """The choice naming these conductors ("l1_l2" for both legs)."""
    return "_".join(sorted(conductors))


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadBinding:
    """A load: the engine's view of it and the entities behind it."""

    subentry_id: str
    name: str
    actuator: str
    power_sensor: str | None
    watts_per_unit: float  # actuator value x this = watts (modulated loads)
    config: LoadConfig
    # A current (A) on its own power sensor x this = watts: its conductors' voltage to neutral, summed.
    watts_per_amp: float = 0.0

    @property
    def domain(self) -> str:
        """The actuator's domain."""
        return split_entity_id(self.actuator)[0]

    @property
    def kind(self) -> LoadKind:
        """On/off or modulated."""
        return self.config.kind


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeBinding:
    """A subpanel or circuit: the engine's node and the sensors that measure it."""

    subentry_id: str
    name: str
    config: NodeConfig
    conductors: tuple[Conductor, ...]  # its own, or its parent's
    power_sensor: str | None  # its total (W, or A: balanced over its conductors)
    conductor_sensors: Mapping[Conductor, str]  # one conductor each (W, or A)
    watts_per_amp: float  # a current on its total sensor x this = watts

    @property
    def sensors(self) -> tuple[str, ...]:
        """Every sensor of the node."""
        total = (self.power_sensor,) if self.power_sensor else ()
        return (*total, *self.conductor_sensors.values())


@dataclass(frozen=True, slots=True, kw_only=True)
class PanelSetup:
    """Everything the coordinator needs to know about one panel."""

    panel: PanelConfig
    settings: ControlSettings
    loads: tuple[LoadBinding, ...]  # most important first
    site_sensors: tuple[str, ...]  # one net sensor, or import then export; none: the conductors' sum
    conductor_sensors: Mapping[Conductor, str] = field(default_factory=dict)  # at the service
    nodes: tuple[NodeBinding, ...] = ()  # every parent before its children

    @property
    def measuring_entities(self) -> tuple[str, ...]:
        """Every sensor measuring the panel or a node."""
        nodes = (sensor for node in self.nodes for sensor in node.sensors)
        return (*self.site_sensors, *self.conductor_sensors.values(), *nodes)

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


def watts_per_unit(panel: PanelConfig, unit: str, conductors: int) -> float:
    """How many watts one unit of a modulated actuator's value stands for.

    A current flows in each of the load's ``conductors``: 120 W/A for a 120 V
    load on one leg, 240 W/A on both legs, 3 x 230 W/A on three phases.
    """
    if unit == UNIT_AMPERE:
        return panel.conductor_voltage_v * max(1, min(len(panel.conductors), conductors))
    if unit == UNIT_KILOWATT:
        return 1000.0
    return 1.0


def conductors_from_phases(supply: Supply, phases: int) -> list[str]:
    """What a version 1 load draws on: every conductor, except a one-phase load on three phases (L1)."""
    if supply is Supply.THREE_PHASE and phases < len(supply.conductors):
        return [Conductor.L1.value]
    return [conductor.value for conductor in supply.conductors]


def load_data_from_v1(supply: Supply, data: Mapping[str, Any]) -> dict[str, Any]:
    """A version 1 load subentry's data in version 2: on the panel, on the conductors its phases say.

    Version 1 knew phases only for adjustable loads in amperes on three-phase
    (1 or 3); every other load is taken as drawing on all of the supply's
    conductors, as the panel's total counted it.
    """
    migrated = {key: value for key, value in data.items() if key != CONF_PHASES}
    phases = int(data.get(CONF_PHASES, len(supply.conductors)))
    migrated.setdefault(CONF_NODE, ROOT)
    migrated.setdefault(CONF_CONDUCTORS, conductors_from_phases(supply, phases))
    return migrated


def conductors_of(data: Mapping[str, Any]) -> tuple[Conductor, ...]:
    """The conductors a subentry names (empty: all of its node's, or its parent's)."""
    return tuple(Conductor(value) for value in data.get(CONF_CONDUCTORS) or ())


def sensors_of(data: Mapping[str, Any], conductors: Iterable[Conductor]) -> dict[Conductor, str]:
    """The per-conductor sensors that data names, for these conductors only."""
    return {
        conductor: data[key]
        for conductor in conductors
        if (key := SENSOR_KEYS[conductor]) in data and data[key]
    }


def node_from_subentry(subentry_id: str, title: str, data: Mapping[str, Any], parent: str) -> NodeConfig:
    """One node subentry as the engine sees it, below ``parent``."""
    cap = data.get(CONF_CAP_A)
    return NodeConfig(
        node_id=subentry_id,
        name=title,
        parent_id=parent,
        rating_a=float(data[CONF_RATING_A]),
        continuous_factor=float(data.get(CONF_CONTINUOUS_PCT, DEFAULT_CONTINUOUS_PCT)) / 100,
        cap_a=None if cap is None else float(cap),
        conductors=conductors_of(data),
    )


def tree_from_entry(entry: ConfigEntry) -> list[NodeConfig]:
    """The entry's nodes; one whose parent is gone, or in a loop of parents, hangs on the panel.

    (A removed node's loads and nodes are moved up when it is removed: see
    orphans. A loop can only be made by hand.)
    """
    subentries = {sid: sub for sid, sub in entry.subentries.items() if sub.subentry_type == SUBENTRY_NODE}
    parents: dict[str, str] = {}
    for sid, sub in subentries.items():
        parent = str(sub.data.get(CONF_PARENT, ROOT))
        parents[sid] = parent if parent in subentries else ROOT
    for sid in parents:
        # A loop of parents (only by hand): its nodes hang on the panel.
        seen = [sid]
        while (parent := parents[seen[-1]]) != ROOT and parent not in seen:
            seen.append(parent)
        if parent != ROOT:
            parents[sid] = ROOT
    return [
        node_from_subentry(sid, subentries[sid].title, subentries[sid].data, parents[sid]) for sid in parents
    ]


def node_conductors(panel: PanelConfig, nodes: Iterable[NodeConfig]) -> dict[str, tuple[Conductor, ...]]:
    """Each node's conductors (its own, or its parent's), the panel's under ``main``."""
    return {node_id: node.conductors for node_id, node in resolve_nodes(panel, list(nodes)).items()}


def load_from_subentry(
    panel: PanelConfig,
    subentry_id: str,
    title: str,
    data: Mapping[str, Any],
    conductors_by_node: Mapping[str, tuple[Conductor, ...]] | None = None,
) -> LoadBinding:
    """One load subentry as the engine and the coordinator see it.

    ``conductors_by_node`` gives each node's conductors (node_conductors); a
    load on a node that is not there hangs on the panel.
    """
    actuator: str = data[CONF_ACTUATOR]
    modulated = split_entity_id(actuator)[0] in LEVEL_DOMAINS
    by_node = conductors_by_node or {ROOT: panel.conductors}
    node = str(data.get(CONF_NODE, ROOT))
    if node not in by_node:
        node = ROOT
    conductors = conductors_of(data)
    count = len(conductors or by_node[node])
    factor = watts_per_unit(panel, data.get(CONF_UNIT, ""), count) if modulated else 1.0
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
        node_id=node,
        conductors=conductors,
    )
    return LoadBinding(
        subentry_id=subentry_id,
        name=title,
        actuator=actuator,
        power_sensor=data.get(CONF_POWER_SENSOR) or None,
        watts_per_unit=factor,
        config=config,
        watts_per_amp=watts_per_unit(panel, UNIT_AMPERE, count),
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
    nodes = tree_from_entry(entry)
    by_node = node_conductors(panel, nodes)
    loads = [
        load_from_subentry(panel, sid, entry.subentries[sid].title, entry.subentries[sid].data, by_node)
        for sid in ordered_load_ids(entry)
    ]
    if entry.data.get(CONF_METERING) == METERING_PAIR:
        sensors: tuple[str, ...] = (entry.data[CONF_IMPORT_SENSOR], entry.data[CONF_EXPORT_SENSOR])
    else:
        sensors = (entry.data[CONF_SITE_SENSOR],) if entry.data.get(CONF_SITE_SENSOR) else ()
    configs = {node.node_id: node for node in nodes}
    bindings = tuple(
        NodeBinding(
            subentry_id=node_id,
            name=entry.subentries[node_id].title,
            config=configs[node_id],
            conductors=conductors,
            power_sensor=entry.subentries[node_id].data.get(CONF_POWER_SENSOR) or None,
            conductor_sensors=sensors_of(entry.subentries[node_id].data, conductors),
            watts_per_amp=watts_per_unit(panel, UNIT_AMPERE, len(conductors)),
        )
        for node_id, conductors in by_node.items()
        if node_id != ROOT
    )
    return PanelSetup(
        panel=panel,
        settings=settings_from_options(entry.options),
        loads=tuple(loads),
        site_sensors=sensors,
        conductor_sensors=sensors_of(entry.data, panel.conductors) if len(panel.conductors) > 1 else {},
        nodes=bindings,
    )
