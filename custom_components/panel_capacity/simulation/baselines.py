"""What the controller is compared with.

- uncontrolled: every load runs as it wishes (the car at full power, the
  thermostats on their own); the panel is simply exposed.
- static: the NEC worst-case approach. Each load is given a fixed rating so that
  the recording's peak of everything not managed plus the rated total of the
  controlled loads can never exceed the limit. Loads, most important first,
  get their full rating while it fits; a charger may be rated down on its step
  grid (NEC 625.42), but not below its minimum.
- oracle: perfect foresight of the base load. Most important first, each load
  takes as much energy as it can, as early as it can, from the room that the
  base load and the loads before it leave under the limit, within its own
  limits (rated power, a charger's minimum and step, the car being plugged in).
  Nothing can do better for a load without taking from a more important one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .scenario import KIND_SWITCH, LoadSpec
from .simulator import HOUR_S, LoadMetrics, RunMetrics

if TYPE_CHECKING:
    from .simulator import Prepared

# A stretch of a row: (seconds, room left under the limit in W).
Stretches = list[tuple[float, float]]


def static_settings(prepared: Prepared) -> dict[str, float]:
    """The fixed actuator settings of the static baseline."""
    scenario = prepared.scenario
    peak = max(prepared.base_w)
    room = scenario.limit_w - peak - sum(spec.rated_w for spec in scenario.loads if spec.never_shed)
    settings: dict[str, float] = {}
    for spec in scenario.loads:
        if spec.never_shed:
            settings[spec.name] = 1.0 if spec.kind == KIND_SWITCH else spec.max_w
            continue
        if spec.kind == KIND_SWITCH:
            allowed = spec.power_w <= room
            settings[spec.name] = 1.0 if allowed else 0.0
            room -= spec.power_w if allowed else 0.0
            continue
        level = _on_grid(spec, min(spec.max_w, room))
        settings[spec.name] = level
        room -= level
    return settings


def _on_grid(spec: LoadSpec, watts: float) -> float:
    """The highest setting of a charger at or below ``watts`` (0 if below its minimum)."""
    if watts < spec.min_w or watts <= 0:
        return 0.0
    if watts >= spec.max_w:
        return spec.max_w
    if spec.step_w <= 0:
        return watts
    return spec.min_w + ((watts - spec.min_w) // spec.step_w) * spec.step_w


def _split(stretches: Stretches, offset: float) -> tuple[Stretches, Stretches]:
    """Cut a row's stretches at ``offset`` seconds from its start."""
    before: Stretches = []
    after: Stretches = []
    elapsed = 0.0
    for seconds, room in stretches:
        if elapsed + seconds <= offset:
            before.append((seconds, room))
        elif elapsed >= offset:
            after.append((seconds, room))
        else:
            before.append((offset - elapsed, room))
            after.append((elapsed + seconds - offset, room))
        elapsed += seconds
    return before, after


def _take(stretches: Stretches, want_wh: float, power: LoadPower) -> tuple[Stretches, float]:
    """Give a load as early as possible up to ``want_wh``; return the room left and the energy given."""
    left: Stretches = []
    given = 0.0
    for seconds, room in stretches:
        watts = power(room)
        if watts <= 0 or given >= want_wh:
            left.append((seconds, room))
            continue
        run = min(seconds, (want_wh - given) * HOUR_S / watts)
        given += watts * run / HOUR_S
        left.append((run, room - watts))
        if seconds - run > 0:
            left.append((seconds - run, room))
    return left, given


class LoadPower:
    """What a load can draw in a given room under the limit."""

    def __init__(self, spec: LoadSpec, car_max_w: float | None = None) -> None:
        """A switched load: all or nothing; a charger: on its grid, within the car's own maximum."""
        self.spec = spec
        self.car_max_w = car_max_w

    def __call__(self, room: float) -> float:
        """Watts the load can take in ``room``."""
        if self.spec.kind == KIND_SWITCH:
            return self.spec.power_w if room >= self.spec.power_w else 0.0
        limit = min(room, self.car_max_w or self.spec.max_w)
        return _on_grid(self.spec, limit)


class _Car:
    """The oracle's bookkeeping of one charger's sessions."""

    def __init__(self, spec: LoadSpec, origin: float, end: float) -> None:
        self.spec = spec
        # As in the simulator: sessions within the run, a car already there plugged in at the start.
        self.sessions = [
            (max(s.arrive - origin, 0.0), s.depart - origin, s.energy_wh, s.max_w)
            for s in spec.sessions
            if s.depart - origin > 0 and s.arrive - origin < end
        ]
        self.index = 0
        self.left = self.sessions[0][2] if self.sessions else 0.0
        self.requested_wh = sum(energy for _, _, energy, _ in self.sessions)

    def charge(self, start: float, duration: float, stretches: Stretches) -> tuple[Stretches, float]:
        """Charge in every session overlapping this row; return the room left and the energy given."""
        end = start + duration
        given = 0.0
        while self.index < len(self.sessions):
            arrive, depart, _, car_max = self.sessions[self.index]
            if arrive >= end:
                break
            head, rest = _split(stretches, max(0.0, arrive - start))
            body, tail = _split(rest, max(0.0, min(end, depart) - max(start, arrive)))
            body, energy = _take(body, self.left, LoadPower(self.spec, car_max))
            self.left -= energy
            given += energy
            stretches = head + body + tail
            if depart > end:
                break
            self.index += 1
            self.left = self.sessions[self.index][2] if self.index < len(self.sessions) else 0.0
        return stretches, given


def _serve(  # noqa: PLR0917 - a private helper of oracle()
    spec: LoadSpec,
    backlog: dict[str, float],
    energy_wh: float,
    duration: float,
    stretches: Stretches,
    load: LoadMetrics,
) -> tuple[Stretches, float, float]:
    """A switched load in one row: the room left, the energy given, its average if unmanaged."""
    want = backlog[spec.name] + energy_wh
    unmanaged_w = 0.0
    if spec.never_shed:
        # Not managed: it runs when it wants, whatever the room.
        run = min(duration, want * HOUR_S / spec.power_w)
        given = spec.power_w * run / HOUR_S
        head, tail = _split(stretches, run)
        stretches = [(seconds, room - spec.power_w) for seconds, room in head] + tail
        unmanaged_w = given * HOUR_S / duration
    else:
        stretches, given = _take(stretches, want, LoadPower(spec))
    load.delivered_wh += given
    if spec.deferrable or spec.never_shed:
        backlog[spec.name] = want - given
    else:
        load.unmet_wh += want - given
        backlog[spec.name] = 0.0
    return stretches, given, unmanaged_w


def oracle(prepared: Prepared) -> RunMetrics:
    """The oracle's service, and what the panel carried with it."""
    scenario = prepared.scenario
    limit = scenario.limit_w
    metrics = RunMetrics(limit_w=limit, rating_w=scenario.panel.rating_w)
    backlog: dict[str, float] = {}
    cars: dict[str, _Car] = {}
    for spec in scenario.loads:
        metrics.loads[spec.name] = LoadMetrics()
        if spec.kind == KIND_SWITCH:
            backlog[spec.name] = 0.0
        else:
            cars[spec.name] = _Car(spec, prepared.origin, prepared.end)
            metrics.loads[spec.name].requested_wh = cars[spec.name].requested_wh
    for row, start in enumerate(prepared.times):
        duration = prepared.durations[row]
        if duration <= 0:
            continue
        base = prepared.base_w[row]
        stretches: Stretches = [(duration, limit - base)]
        uncontrolled = base
        for spec in scenario.loads:
            load = metrics.loads[spec.name]
            if spec.kind != KIND_SWITCH:
                stretches, given = cars[spec.name].charge(start, duration, stretches)
                load.delivered_wh += given
                continue
            demand = prepared.demand.get(spec.name)
            energy = demand[row] * duration / HOUR_S if demand is not None else 0.0
            load.requested_wh += energy
            stretches, given, unmanaged_w = _serve(spec, backlog, energy, duration, stretches, load)
            uncontrolled += unmanaged_w
        for seconds, room in stretches:
            metrics.add(seconds, limit - room, uncontrolled)
    for spec in scenario.loads:
        load = metrics.loads[spec.name]
        if spec.kind == KIND_SWITCH:
            load.unmet_wh += backlog[spec.name]
        else:
            load.unmet_wh = max(0.0, load.requested_wh - load.delivered_wh)
    return metrics
