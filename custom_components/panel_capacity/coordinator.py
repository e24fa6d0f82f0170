"""The coordinator: feeds the capacity engine from Home Assistant and carries out its actions.

Event-driven: a step runs when a configured sensor or actuator changes, at the
next turn of the event loop (the changes of one burst make one step; a change
while a step runs makes one more right after it), plus a watchdog tick for
timers and silent sensors. No reading waits behind a cooldown: every step
decides on the newest readings. What the entities show is published at once
when something was done, and otherwise at most once a PUBLISH_INTERVAL_S, so
that a meter reporting many times a second costs Home Assistant little.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from datetime import datetime
import math
from typing import TYPE_CHECKING, Any, TypedDict

import probatio

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import (
    Context,
    Event,
    EventStateChangedData,
    EventStateReportedData,
    HomeAssistant,
    State,
    callback,
)
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.helpers.event import (
    async_track_state_change_event,
    async_track_state_report_event,
    async_track_time_interval,
)
from homeassistant.helpers.start import async_at_started
from homeassistant.helpers.storage import Store
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from .const import (
    CONF_ACTUATOR,
    DOMAIN,
    EVENT_ACTION,
    EVENT_ALERT,
    LOGGER,
    PUBLISH_INTERVAL_S,
    SERVICE_TIMEOUT_S,
    STORAGE_SAVE_DELAY_S,
    STORAGE_VERSION,
    WATCHDOG_INTERVAL,
)
from .engine import (
    ROOT,
    TERM_USER_CAP,
    Action,
    ActionKind,
    Alert,
    CapacityEngine,
    GivenUp,
    LoadInput,
    LoadKind,
    LoadState,
    NodeReading,
    ReadingFault,
    SiteReading,
    Status,
    StepInput,
)
from .readings import actuator_available, actuator_is_on, service_call, state_number, state_power_w

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from .configuration import LoadBinding, NodeBinding, PanelSetup
    from .engine import Conductor, ConstraintStatus
    from .grid.schedule import GridTerms
    from .grid_coordinator import GridCoordinator

# A configured entity missing this long after start gets a Repairs issue.
MISSING_GRACE_S = 60.0
# How often the counters are written even when nothing was done.
PERIODIC_SAVE_S = 300.0
HELD_STATES = (LoadState.SHED, LoadState.HELD_OFF, LoadState.REDUCED)
# What the log says of a sensor that starts to have a problem ({state}: its state and unit).
FAULT_LOG = {
    ReadingFault.NO_NUMBER: "gives no number (its state: {state})",
    ReadingFault.STALE: "has not reported within the staleness time (its last state: {state})",
    ReadingFault.IMPLAUSIBLE: "reads {state}, more than ten times what its conductors are rated for",
}


class StoredData(TypedDict):
    """What the coordinator keeps across restarts."""

    memory: dict[str, Any]
    enabled: bool
    user_cap_w: float | None


@dataclass(slots=True)
class PanelCapacityRuntimeData:
    """Runtime data of a config entry."""

    coordinator: PanelCapacityCoordinator
    grid: GridCoordinator


type PanelCapacityConfigEntry = ConfigEntry[PanelCapacityRuntimeData]


class PanelCapacityCoordinator(DataUpdateCoordinator[Status]):
    """Runs one panel's capacity engine."""

    config_entry: PanelCapacityConfigEntry

    def __init__(self, hass: HomeAssistant, entry: PanelCapacityConfigEntry, setup: PanelSetup) -> None:
        """Prepare; nothing runs until async_start."""
        super().__init__(hass, LOGGER, config_entry=entry, name=entry.title, update_interval=None)
        self.setup = setup
        self.loads: dict[str, LoadBinding] = {load.subentry_id: load for load in setup.loads}
        self.nodes: dict[str, NodeBinding] = {node.subentry_id: node for node in setup.nodes}
        self._by_actuator = {load.actuator: load for load in setup.loads}
        self.engine = self._new_engine(None)
        self.enabled = True
        self.user_cap_w: float | None = None
        self.panel_device_id: str | None = None
        self.grid: GridCoordinator | None = None
        self.grid_terms: GridTerms | None = None  # the grid's terms at the last step
        self.recent_actions: deque[dict[str, Any]] = deque(maxlen=25)
        self._store = self._make_store(hass, entry)
        self._lock = asyncio.Lock()
        self._contexts: deque[str] = deque(maxlen=64)
        self._sent: dict[str, float] = {}  # load -> the last value we set
        self._manual: set[str] = set()
        self._missing_since: dict[str, float] = {}
        # Sensors that are there but give nothing usable: found while reading, or refused by the engine.
        self._read_faults: dict[str, ReadingFault] = {}
        self.sensor_faults: dict[str, ReadingFault] = {}
        self._sensors_of = self._sensors_by_constraint(setup)
        self._failures_logged: set[str] = set()
        self._kept: set[str] = set()  # loads left held for the next controller (see async_suspend)
        self.moving_orphans = False  # moving what hung on a removed node (see orphans)
        self._running = False
        self._stopped = False
        self._last_save = 0.0
        self._step_queued = False  # a step starts at the next turn of the loop
        self._stepping = False  # a step runs now (its commands may be awaited)
        self._again = False  # something changed while it ran: one more step after it
        self._published_at = -math.inf  # loop time of the entities' last update
        self._publish_later: asyncio.TimerHandle | None = None
        self._shown: tuple[object, ...] = ()  # the engine's shown_key and the read faults at the last step
        self._show_next = False  # the next step's status is news (the grid's limits changed)
        self.data = self.engine.status()

    @staticmethod
    def _make_store(hass: HomeAssistant, entry: ConfigEntry[Any]) -> Store[StoredData]:
        return Store(hass, STORAGE_VERSION, f"{DOMAIN}.{entry.entry_id}")

    @classmethod
    async def async_remove_store(cls, hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
        """Delete what a removed panel stored."""
        await cls._make_store(hass, entry).async_remove()

    def _new_engine(self, memory: dict[str, Any] | None) -> CapacityEngine:
        return CapacityEngine(
            self.setup.panel,
            self.setup.settings,
            [load.config for load in self.setup.loads],
            nodes=[node.config for node in self.setup.nodes],
            memory=memory,
        )

    # ------------------------------------------------------------ lifecycle

    async def async_load(self) -> None:
        """Take back what was stored before a restart or reload."""
        stored = await self._store.async_load()
        if not isinstance(stored, dict):
            return
        memory = stored.get("memory")
        if isinstance(memory, dict):
            self.engine = self._new_engine(memory)
        self.enabled = stored.get("enabled") is not False
        cap = stored.get("user_cap_w")
        if isinstance(cap, (int, float)) and math.isfinite(cap) and cap >= 0:
            self.user_cap_w = float(cap)
        self.data = self.engine.status()

    @callback
    def async_start(self) -> None:
        """Subscribe to the sensors and actuators; the first step waits for Home Assistant to start."""
        entry = self.config_entry
        measuring = list(self.setup.measuring_entities)
        watched = [*measuring, *self.setup.load_entities]
        entry.async_on_unload(async_track_state_change_event(self.hass, watched, self._on_state_changed))
        entry.async_on_unload(async_track_state_report_event(self.hass, measuring, self._on_state_reported))
        entry.async_on_unload(async_track_time_interval(self.hass, self._on_tick, WATCHDOG_INTERVAL))
        entry.async_on_unload(async_at_started(self.hass, self._on_started))
        entry.async_on_unload(self._cancel_publish)

    async def _on_started(self, _hass: HomeAssistant) -> None:
        self._running = True
        await self._async_step()

    def take_over(self, previous: PanelCapacityCoordinator) -> None:
        """Carry on from the controller this one replaces (a reload): what is in memory only.

        What it holds comes from the store; its commands still in flight come from
        its engine. Their contexts tell the state changes they cause from a
        person's; its last values sent and recent actions go on.
        """
        self.engine.carry_on(previous.engine, previous._kept)
        self._contexts.extend(previous._contexts)
        self._sent |= {load_id: value for load_id, value in previous._sent.items() if load_id in self.loads}
        self.recent_actions.extend(previous.recent_actions)

    async def async_release(self) -> None:
        """Stop controlling for good (the panel disabled or removed): give back every load it holds."""
        await self._async_stop(keep=())

    async def async_suspend(self) -> None:
        """Stop for a reload (or an unload that is not for good): keep what it holds.

        The next controller takes the held loads over from the stored memory, and
        no command reaches them. Only a load no longer configured the same way (its
        subentry removed, or its actuator changed) is given back: nothing would
        take it over.
        """
        subentries = self.config_entry.subentries
        keep = {
            load_id
            for load_id, load in self.loads.items()
            if (sub := subentries.get(load_id)) is not None and sub.data.get(CONF_ACTUATOR) == load.actuator
        }
        self._kept = keep
        await self._async_stop(keep=keep)

    async def _async_stop(self, keep: Collection[str]) -> None:
        async with self._lock:
            self._stopped = True
            self._cancel_publish()
            for action in self.engine.release(self._now(), keep=keep):
                await self._execute(action)
            await self._store.async_save(self._stored())
        for issue_id in self._missing_since:
            ir.async_delete_issue(self.hass, DOMAIN, self._issue_id(issue_id))

    # --------------------------------------------------------------- events

    @callback
    def _on_state_changed(self, event: Event[EventStateChangedData]) -> None:
        load = self._by_actuator.get(event.data["entity_id"])
        if load is not None:
            self._note_manual(load, event.data["old_state"], event.data["new_state"])
        self._schedule()

    @callback
    def _on_state_reported(self, _event: Event[EventStateReportedData]) -> None:
        self._schedule()

    @callback
    def _on_tick(self, _now: datetime) -> None:
        self._schedule()

    @callback
    def async_request_step(self) -> None:
        """Run a step soon (the grid's limits changed), and show its status at once."""
        self._show_next = True
        self._schedule()

    @callback
    def _schedule(self) -> None:
        """A step at the next turn of the loop (one for every change of a burst)."""
        if not self._running or self._stopped:
            return
        if self._stepping:
            self._again = True
        elif not self._step_queued:
            self._step_queued = True
            self.hass.loop.call_soon(self._start_step)

    @callback
    def _start_step(self) -> None:
        self._step_queued = False
        if self._stopped:
            return
        self.config_entry.async_create_task(self.hass, self._async_scheduled_step(), f"{DOMAIN} step")

    async def _async_scheduled_step(self) -> None:
        self._stepping = True
        try:
            await self._async_step()
        finally:
            self._stepping = False
        if self._again:
            self._again = False
            self._schedule()

    @callback
    def _note_manual(self, load: LoadBinding, old: State | None, new: State | None) -> None:
        """Recognise a person changing a load the controller is holding."""
        if old is None or new is None or not actuator_available(new):
            return
        context = new.context
        if context.id in self._contexts or (context.parent_id and context.parent_id in self._contexts):
            return
        status = self.data.loads.get(load.subentry_id)
        if status is None or status.state not in HELD_STATES:
            return
        if load.kind is LoadKind.SWITCH:
            changed = actuator_is_on(load.domain, new) and not actuator_is_on(load.domain, old)
        else:
            value = state_number(new)
            sent = self._sent.get(load.subentry_id)
            changed = value is not None and value != state_number(old) and value != sent
        if changed:
            LOGGER.info("%s was changed by hand; leaving it alone for a while", load.name)
            self._manual.add(load.subentry_id)

    # ----------------------------------------------------------------- step

    @staticmethod
    def _now() -> float:
        return dt_util.utcnow().timestamp()

    async def _async_step(self, *, show: bool = False) -> None:
        """One control step: read, decide, act, publish (at once with ``show``)."""
        async with self._lock:
            if self._stopped:
                return
            now = self._now()
            try:
                result = self.engine.step(self._read(now))
            except Exception:  # noqa: BLE001
                # A bug must not stop the loop: the next event or tick tries again.
                LOGGER.exception("Control step failed")
                return
            self._manual.clear()
            for action in result.actions:
                await self._execute(action)
            for given_up in result.not_responding:  # first: it may be why the limit cannot be reached
                self._fire_not_responding(given_up)
            for alert in result.alerts_raised:
                self._fire_alert(alert)
            self._check_entities(now)
            shown = (self.engine.shown_key(), tuple(self._read_faults.items()))
            news = bool(result.actions or result.alerts_raised or result.not_responding)
            self._publish(at_once=news or show or self._show_next or shown != self._shown)
            self._show_next = False
            self._shown = shown
            if news or now - self._last_save >= PERIODIC_SAVE_S:
                self.async_save()

    @callback
    def _publish(self, *, at_once: bool = False) -> None:
        """Show the engine's status: now after an action or a while since the last, else soon."""
        loop = self.hass.loop
        wait = self._published_at + PUBLISH_INTERVAL_S - loop.time()
        if at_once or wait <= 0:
            self._publish_now()
        elif self._publish_later is None:
            self._publish_later = loop.call_later(wait, self._publish_now)

    @callback
    def _publish_now(self) -> None:
        self._cancel_publish()
        if self._stopped:
            return
        self._published_at = self.hass.loop.time()
        status = self.engine.status()
        self._note_sensor_faults(status)
        self.async_set_updated_data(status)

    @callback
    def _cancel_publish(self) -> None:
        if self._publish_later is not None:
            self._publish_later.cancel()
            self._publish_later = None

    def _read(self, now: float) -> StepInput:
        self._read_faults = {}
        terms = {TERM_USER_CAP: self.user_cap_w} if self.user_cap_w is not None else {}
        export_terms: dict[str, float] = {}
        if self.grid is not None:
            self.grid_terms = self.grid.terms_at(dt_util.utc_from_timestamp(now))
            terms |= self.grid_terms.import_terms
            export_terms = self.grid_terms.export_terms
        return StepInput(
            now=now,
            site=self._site_reading(now),
            nodes=self._node_readings(now),
            loads={load.subentry_id: self._load_input(load) for load in self.setup.loads},
            limit_terms=terms,
            export_terms=export_terms,
            enabled=self.enabled,
            day=dt_util.now().date().toordinal(),
        )

    def _measure(self, entity_id: str, watts_per_amp: float, now: float) -> tuple[float, float] | None:
        """A sensor's power (W, or A x ``watts_per_amp``) and when it last reported; None: no value.

        A sensor that is there but gives no number, or has not reported within
        the staleness time, is noted as a sensor problem (a missing one is a
        Repairs issue instead).
        """
        state = self.hass.states.get(entity_id)
        value = state_power_w(state, watts_per_amp)
        if state is None:
            return None
        if value is None:
            self._read_faults[entity_id] = ReadingFault.NO_NUMBER
            return None
        reported = state.last_reported.timestamp()
        if now - reported > self.setup.settings.staleness_s:
            self._read_faults[entity_id] = ReadingFault.STALE
        return value, reported

    def _conductors(
        self, sensors: Mapping[Conductor, str], now: float, *, fresh_only: bool
    ) -> tuple[dict[Conductor, tuple[float, float]], dict[Conductor | None, ReadingFault]]:
        """Per-conductor readings (with ``fresh_only``, a stale one is left out) and their sensors' faults."""
        volts = self.setup.panel.conductor_voltage_v
        readings = {}
        faults: dict[Conductor | None, ReadingFault] = {}
        for conductor, entity_id in sensors.items():
            measured = self._measure(entity_id, volts, now)
            if (fault := self._read_faults.get(entity_id)) is not None:
                faults[conductor] = fault
            if measured is not None and not (fresh_only and fault is ReadingFault.STALE):
                readings[conductor] = measured
        return readings, faults

    def _site_reading(self, now: float) -> SiteReading:
        """The service: its total (one sensor, or import minus export) and its measured conductors.

        Beside a total, a conductor whose sensor is missing or stale is left out
        (the total still holds). Without a total sensor the conductors are the
        total, as old as the oldest of them, so a silent one leads to fail-safe.
        """
        setup = self.setup
        parts = [self._measure(entity_id, setup.panel.watts_per_amp, now) for entity_id in setup.site_sensors]
        per, faults = self._conductors(setup.conductor_sensors, now, fresh_only=bool(parts))
        conductors_w = {conductor: value for conductor, (value, _) in per.items()} or None
        total_faults = [self._read_faults[e] for e in setup.site_sensors if e in self._read_faults]
        if total_faults:
            faults[None] = total_faults[0]
        if not parts:
            if not per:
                return SiteReading(None, faults=faults or None)
            return SiteReading(
                None, min(reported for _, reported in per.values()), conductors_w, faults or None
            )
        values = [part for part in parts if part is not None]
        if len(values) < len(parts):
            return SiteReading(None, conductors_w=conductors_w, faults=faults or None)
        power = values[0][0] if len(values) == 1 else values[0][0] - values[1][0]
        return SiteReading(power, min(reported for _, reported in values), conductors_w, faults or None)

    def _node_readings(self, now: float) -> dict[str, NodeReading]:
        """What each node's own sensors read, and their faults; a node with nothing of either is left out.

        A node with no fresh reading is estimated from its loads; one whose
        sensor is there but gives nothing usable says so in its faults.
        """
        readings: dict[str, NodeReading] = {}
        for node in self.setup.nodes:
            total = self._measure(node.power_sensor, node.watts_per_amp, now) if node.power_sensor else None
            per, faults = self._conductors(node.conductor_sensors, now, fresh_only=True)
            if node.power_sensor and (fault := self._read_faults.get(node.power_sensor)) is not None:
                faults[None] = fault
                if fault is ReadingFault.STALE:
                    total = None
            if total is None and not per and not faults:
                continue
            readings[node.subentry_id] = NodeReading(
                power_w=None if total is None else total[0],
                conductors_w={conductor: value for conductor, (value, _) in per.items()} or None,
                faults=faults or None,
            )
        return readings

    def _load_input(self, load: LoadBinding) -> LoadInput:
        state = self.hass.states.get(load.actuator)
        manual = load.subentry_id in self._manual
        measured = None
        if load.power_sensor:
            measured = state_power_w(self.hass.states.get(load.power_sensor), load.watts_per_amp)
        if state is None or not actuator_available(state):
            return LoadInput(available=False, manual=manual, measured_w=measured)
        if load.kind is LoadKind.SWITCH:
            return LoadInput(is_on=actuator_is_on(load.domain, state), measured_w=measured, manual=manual)
        value = state_number(state)
        if value is None:
            return LoadInput(available=False, manual=manual, measured_w=measured)
        return LoadInput(
            is_on=value > 0, level_w=value * load.watts_per_unit, measured_w=measured, manual=manual
        )

    async def _execute(self, action: Action) -> None:
        """Carry out one action through Home Assistant's services, with our own context."""
        load = self.loads[action.load_id]
        state = self.hass.states.get(load.actuator)
        domain, service, data = service_call(load, action, state)
        context = Context()
        self._contexts.append(context.id)
        if load.kind is LoadKind.MODULATED:
            self._sent[action.load_id] = data["value"]
            if action.kind is ActionKind.SET_LEVEL:
                self.engine.adjust_level(action, data["value"] * load.watts_per_unit)
        success = True
        call = self.config_entry.async_create_background_task(
            self.hass,
            self.hass.services.async_call(domain, service, data, blocking=True, context=context),
            f"{DOMAIN} {service} {load.actuator}",
            eager_start=True,
        )
        # Wait a while, without cancelling: a command that takes longer may still happen.
        done, _ = await asyncio.wait({call}, timeout=SERVICE_TIMEOUT_S)
        if not done:
            LOGGER.warning("%s.%s for %s did not finish in time", domain, service, load.actuator)
            call.add_done_callback(lambda finished: self._late_result(load, service, finished))
        elif (err := call.exception()) is not None:
            success = False
            self.engine.action_failed(action)
            self._log_failure(load, service, err)
        else:
            self._failures_logged.discard(load.subentry_id)
        record = self._about(load) | {
            "action": action.kind.value,
            "reason": action.reason.value,
            "level_w": action.level_w,
            "value": data.get("value"),
            "site_power_w": action.site_w,
            "limit_w": action.limit_w,
            # Where that power and that limit are: the panel or a subpanel, its total or a leg.
            "node_id": action.node_id,
            "node": self.node_name(action.node_id),
            "conductor": None if action.conductor is None else action.conductor.value,
            "success": success,
        }
        self.hass.bus.async_fire(EVENT_ACTION, record, context=context)
        self.recent_actions.append(record | {"time": dt_util.utcnow().isoformat()})

    def _about(self, load: LoadBinding) -> dict[str, Any]:
        """What an event says of the load it is about."""
        # The load's device: the logbook then shows the event on the device's page.
        device = dr.async_get(self.hass).async_get_device_by_identifier(
            (DOMAIN, load.subentry_id), self.config_entry.entry_id
        )
        return {
            "entry_id": self.config_entry.entry_id,
            "load_id": load.subentry_id,
            "device_id": device.id if device is not None else None,
            "load": load.name,
            "entity_id": load.actuator,
        }

    @callback
    def _fire_not_responding(self, given_up: GivenUp) -> None:
        """An actuator that did not follow a command however often it was asked: say so."""
        load = self.loads[given_up.load_id]
        minutes = round((given_up.until - self._now()) / 60)
        LOGGER.warning(
            "%s (%s) did not respond: asked %d times to %s, it did not; left alone for %d minutes",
            load.name,
            load.actuator,
            given_up.commands,
            given_up.kind.value.replace("_", " "),
            minutes,
        )
        self.hass.bus.async_fire(
            EVENT_ALERT,
            self._about(load)
            | {
                "alert": Alert.NOT_RESPONDING.value,
                "action": given_up.kind.value,
                "level_w": given_up.level_w,
                "commands": given_up.commands,
                "minutes": minutes,
            },
        )

    def _log_failure(self, load: LoadBinding, service: str, err: BaseException) -> None:
        """Warn once per load until a command succeeds again."""
        if load.subentry_id not in self._failures_logged:
            self._failures_logged.add(load.subentry_id)
            if isinstance(err, (HomeAssistantError, probatio.Invalid)):
                LOGGER.warning("Could not %s %s: %s", service, load.actuator, err)
            else:
                LOGGER.error("Could not %s %s", service, load.actuator, exc_info=err)

    def _late_result(self, load: LoadBinding, service: str, call: asyncio.Task[Any]) -> None:
        """A command that outlived the timeout has finished."""
        if not call.cancelled() and (err := call.exception()) is not None:
            self._log_failure(load, service, err)

    @callback
    def _fire_alert(self, alert: Alert) -> None:
        status = self.engine.status()
        title, limit = self.config_entry.title, status.limit.effective_w
        if alert is Alert.FAIL_SAFE:
            LOGGER.warning(
                "%s: fail-safe, %s; managed loads go to their safe state until readings return",
                title,
                self._reading_problem(status.time),
            )
        elif alert is Alert.RECOVERED:
            LOGGER.info(
                "%s: fresh readings again (%.0f W against the limit of %.0f W)", title, status.site_w, limit
            )
        else:
            LOGGER.warning("%s: cannot reach the limit by shedding%s", title, self._shortfall(status))
        self.hass.bus.async_fire(
            EVENT_ALERT,
            {
                "entry_id": self.config_entry.entry_id,
                "alert": alert.value,
                "site_power_w": status.site_w,
                "limit_w": status.limit.effective_w,
            },
        )

    def _shortfall(self, status: Status) -> str:
        """Where in the tree shedding falls short, and by how much (for the log)."""
        constraints = [
            constraint
            for node in status.nodes.values()
            for constraint in (node.total, *node.conductors.values())
            if constraint.flow_w is not None and constraint.limit.effective_w > 0
        ]
        if not constraints:
            return ""

        def projected(constraint: ConstraintStatus) -> float:
            flow = constraint.projected_w if constraint.projected_w is not None else constraint.flow_w
            return flow or 0.0

        worst = max(constraints, key=lambda c: projected(c) / c.limit.effective_w)
        where = ""
        if worst.node_id != ROOT or worst.conductor is not None:
            conductor = "" if worst.conductor is None else f" {worst.conductor.value.upper()}"
            where = f" (on {self.node_name(worst.node_id)}{conductor})"
        return (
            f"{where}: {worst.flow_w:.0f} W, {projected(worst):.0f} W with what it may"
            f" shed turned off or down, against the limit of {worst.limit.effective_w:.0f} W"
        )

    def _reading_problem(self, now: float) -> str:
        """What is wrong with the meter's readings, sensor by sensor (for the log)."""
        setup = self.setup
        sensors = setup.site_sensors or tuple(setup.conductor_sensors.values())
        problems = []
        for entity_id in sensors:
            state = self.hass.states.get(entity_id)
            if state is None:
                problems.append(f"{entity_id} does not exist")
            elif state_power_w(state, setup.panel.watts_per_amp) is None:
                unit = state.attributes.get("unit_of_measurement")
                problems.append(f"{entity_id} reads {state.state!r}" + (f" {unit}" if unit else ""))
            else:
                age = now - state.last_reported.timestamp()
                problems.append(f"no reading from {entity_id} for {age:.0f} s")
        return "; ".join(problems) or "no meter"

    # ---------------------------------------------------------- entities gone

    @callback
    def _check_entities(self, now: float) -> None:
        """Raise a Repairs issue for a configured entity that has gone, clear it when back."""
        for entity_id in (*self.setup.measuring_entities, *self.setup.load_entities):
            if self.hass.states.get(entity_id) is not None:
                if self._missing_since.pop(entity_id, None) is not None:
                    ir.async_delete_issue(self.hass, DOMAIN, self._issue_id(entity_id))
                continue
            since = self._missing_since.setdefault(entity_id, now)
            if now - since >= MISSING_GRACE_S:
                ir.async_create_issue(
                    self.hass,
                    DOMAIN,
                    self._issue_id(entity_id),
                    is_fixable=False,
                    severity=ir.IssueSeverity.WARNING,
                    translation_key="entity_missing",
                    translation_placeholders={"entity_id": entity_id, "panel": self.config_entry.title},
                )

    @staticmethod
    def _sensors_by_constraint(setup: PanelSetup) -> dict[tuple[str, Conductor | None], tuple[str, ...]]:
        """The sensors behind each constraint: a node (ROOT: the panel) and a conductor (None: its total)."""
        sensors: dict[tuple[str, Conductor | None], tuple[str, ...]] = {(ROOT, None): setup.site_sensors}
        sensors |= {
            (ROOT, conductor): (entity_id,) for conductor, entity_id in setup.conductor_sensors.items()
        }
        for node in setup.nodes:
            if node.power_sensor:
                sensors[node.subentry_id, None] = (node.power_sensor,)
            sensors |= {
                (node.subentry_id, conductor): (entity_id,)
                for conductor, entity_id in node.conductor_sensors.items()
            }
        return sensors

    @callback
    def _note_sensor_faults(self, status: Status) -> None:
        """The sensors with a problem now (found here or refused by the engine), logged as it starts, ends."""
        faults = dict(self._read_faults)
        for key, fault in status.faults.items():
            if fault is ReadingFault.IMPLAUSIBLE:
                faults |= dict.fromkeys(self._sensors_of.get(key, ()), fault)
        for load_id, fault in status.load_faults.items():
            if (load := self.loads.get(load_id)) is not None and load.power_sensor:
                faults[load.power_sensor] = fault
        faults = dict(sorted(faults.items()))
        title = self.config_entry.title
        for entity_id, fault in faults.items():
            if self.sensor_faults.get(entity_id) is not fault:
                state = self.hass.states.get(entity_id)
                shown = (
                    "-"
                    if state is None
                    else f"{state.state} {state.attributes.get(ATTR_UNIT_OF_MEASUREMENT, '')}"
                )
                LOGGER.warning(
                    "%s: %s %s; ignored as a sensor problem",
                    title,
                    entity_id,
                    FAULT_LOG[fault].format(state=shown.strip()),
                )
        for entity_id in self.sensor_faults.keys() - faults.keys():
            LOGGER.info("%s: %s reads again", title, entity_id)
        self.sensor_faults = faults

    def _issue_id(self, entity_id: str) -> str:
        return f"missing_{self.config_entry.entry_id}_{entity_id}"

    def node_name(self, node_id: str) -> str:
        """A node's name; the panel's for the root."""
        node = self.nodes.get(node_id)
        return node.name if node is not None else self.config_entry.title

    @property
    def missing_entities(self) -> list[str]:
        """Configured entities that do not exist now."""
        return sorted(self._missing_since)

    # -------------------------------------------------------------- settings

    async def async_set_enabled(self, enabled: bool) -> None:
        """Switch management on, or off (monitor only: loads it holds are given back)."""
        self.enabled = enabled
        self.async_save()
        await self._async_step_now()

    async def async_resume(self, load_id: str) -> None:
        """Hand a load back to management (it was changed by hand, or did not respond)."""
        self._manual.discard(load_id)
        if self.engine.resume(load_id):
            LOGGER.info("%s is managed again", self.loads[load_id].name)
            self.async_save()
        await self._async_step_now()

    async def async_set_user_cap(self, cap_w: float | None) -> None:
        """Set or clear the user's cap on the limit."""
        self.user_cap_w = cap_w
        self.async_save()
        await self._async_step_now()

    async def _async_step_now(self) -> None:
        if self._running and not self._stopped:
            await self._async_step(show=True)
        else:
            self.async_set_updated_data(self.data)

    # ------------------------------------------------------------ persistence

    def _stored(self) -> StoredData:
        return {"memory": self.engine.export_memory(), "enabled": self.enabled, "user_cap_w": self.user_cap_w}

    @callback
    def async_save(self) -> None:
        """Write the controller's memory soon."""
        self._last_save = self._now()
        self._store.async_delay_save(self._stored, STORAGE_SAVE_DELAY_S)
