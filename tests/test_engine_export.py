"""The export limit: export actuators (PV, battery) turned down when the site exports too much."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
import math
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from custom_components.panel_capacity.engine import (
    Action,
    ActionKind,
    ActionReason,
    CapacityEngine,
    ConfigError,
    ControllerState,
    ControlSettings,
    LimitSnapshot,
    LoadConfig,
    LoadInput,
    LoadKind,
    LoadReason,
    LoadState,
    PanelConfig,
    QuietBand,
    SiteReading,
    StepInput,
    StepResult,
    Supply,
    effective_export_limit,
)
from custom_components.panel_capacity.engine.ledger import MAX_RETRIES

from .plant import Plant

# 40 A x 240 V split-phase: rating 9600 W, import limit 7680 W.
PANEL = PanelConfig(rating_a=40, voltage_v=240, supply=Supply.SPLIT_PHASE)
SETTINGS = ControlSettings(
    margin_w=250, hysteresis_w=250, restore_holdoff_s=30, response_s=10, staleness_s=60
)
# With a 3000 W envelope: turned down below -3000 W, to -2750 W; raised above -2500 W.
ENVELOPE = {"envelope": 3000.0}
PV = LoadConfig(
    load_id="pv", name="PV", kind=LoadKind.MODULATED, export=True, max_w=6000, step_w=100, ramp_w=1000
)
BAT = LoadConfig(
    load_id="bat", name="Battery", kind=LoadKind.MODULATED, export=True, max_w=3000, step_w=100, ramp_w=500
)
WH = LoadConfig(load_id="wh", name="Water heater", kind=LoadKind.SWITCH, nominal_w=1800)
EV = LoadConfig(load_id="ev", name="EV", kind=LoadKind.MODULATED, min_w=1440, max_w=7680, step_w=240)


def limit_in(watts: float, measured: float | None = None, **kwargs: Any) -> LoadInput:
    """An export actuator's limit as Home Assistant reports it (on when above 0 W)."""
    return LoadInput(is_on=watts > 0, level_w=watts, measured_w=measured, **kwargs)


def on(is_on: bool = True, **kwargs: Any) -> LoadInput:
    return LoadInput(is_on=is_on, **kwargs)


def level(watts: float, **kwargs: Any) -> LoadInput:
    return LoadInput(is_on=watts > 0, level_w=watts, **kwargs)


def step(
    engine: CapacityEngine, now: float, site: float | None, loads: dict[str, LoadInput], **kwargs: Any
) -> StepResult:
    return engine.step(StepInput(now=now, site=SiteReading(site, now), loads=loads, **kwargs))


def summary(actions: tuple[Action, ...]) -> list[tuple[str, ActionKind, ActionReason, float | None, float]]:
    return [(a.load_id, a.kind, a.reason, a.level_w, a.delta_w) for a in actions]


@dataclass
class SunnyPlant(Plant):
    """A plant whose export actuators produce up to their limit, as far as the sun (or battery) allows."""

    sun: dict[str, float] = field(default_factory=dict)  # most each export actuator can produce
    export_terms: dict[str, float] = field(default_factory=dict)
    metered: bool = True  # export actuators report what they produce

    def draw(self, load_id: str, at: float) -> float:
        value = super().draw(load_id, at)
        cfg = next(c for c in self.engine.loads if c.load_id == load_id)
        if cfg.export:
            return -min(value, self.sun.get(load_id, cfg.max_w))
        return value

    def inputs(self) -> dict[str, LoadInput]:
        loads = super().inputs()
        for cfg in self.engine.loads:
            if cfg.export:
                measured = -self.draw(cfg.load_id, self.now) if self.metered else None
                loads[cfg.load_id] = limit_in(self.setting[cfg.load_id], measured)
        return loads

    def step(self, period: float = 1.0) -> tuple[Action, ...]:
        self.now += period
        result = self.engine.step(
            StepInput(
                now=self.now,
                site=SiteReading(self.site(), self.now),
                loads=self.inputs(),
                export_terms=self.export_terms,
            )
        )
        for action in result.actions:
            self.actions.append((self.now, action))
            self.apply(action)
        return result.actions


# ------------------------------------------------------------------ limits


def test_export_limit_is_the_smallest_valid_term() -> None:
    limit = effective_export_limit(
        {"envelope": 4000, "user": 2500.0, "bad": math.nan, "worse": -1, "inf": math.inf}
    )
    assert limit == LimitSnapshot(
        effective_w=2500,
        binding="user",
        terms={"envelope": 4000, "user": 2500},
        rejected=("bad", "worse", "inf"),
    )
    assert effective_export_limit({}) is None
    assert effective_export_limit({"envelope": math.nan}) is None
    # Any name goes: there are no engine terms for export.
    assert effective_export_limit({"panel": 0}) == LimitSnapshot(
        effective_w=0, binding="panel", terms={"panel": 0}
    )


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, -1.0])
def test_invalid_export_terms_are_rejected_not_used(bad: float) -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [PV])
    # The only term is invalid: no export limit, so nothing is turned down.
    result = step(engine, 1, -20000, {"pv": limit_in(6000, 6000)}, export_terms={"envelope": bad})
    assert result.actions == ()
    status = engine.status()
    assert status.export_limit is None
    assert status.export_headroom_w is None
    assert not status.over_export_limit
    # Next to a valid term it is reported and left out.
    result = step(engine, 2, -5000, {"pv": limit_in(6000, 6000)}, export_terms={"envelope": bad, "dso": 3000})
    assert summary(result.actions) == [("pv", ActionKind.SET_LEVEL, ActionReason.OVER_LIMIT, 3700, 2300)]
    limit = engine.status().export_limit
    assert limit is not None
    assert (limit.effective_w, limit.binding, limit.rejected) == (3000, "dso", ("envelope",))


@pytest.mark.parametrize(
    "load",
    [
        LoadConfig(load_id="x", kind=LoadKind.SWITCH, nominal_w=3000, export=True),
        LoadConfig(load_id="x", kind=LoadKind.SWITCH, nominal_w=3000, export=True, never_shed=True),
    ],
)
def test_an_export_actuator_must_be_modulated(load: LoadConfig) -> None:
    with pytest.raises(ConfigError, match="export actuator must be modulated"):
        CapacityEngine(PANEL, SETTINGS, [load])


# ------------------------------------------------------------- turning down


def test_turns_an_export_actuator_down_to_the_export_target() -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [PV])
    # A 1000 W house and 6000 W of PV: 5000 W exported, 2250 W more than the 2750 W target.
    result = step(engine, 1, -5000, {"pv": limit_in(6000, 6000)}, export_terms=ENVELOPE)
    (action,) = result.actions
    assert summary(result.actions) == [("pv", ActionKind.SET_LEVEL, ActionReason.OVER_LIMIT, 3700, 2300)]
    assert action.site_w == -5000
    assert action.limit_w == 3000  # the export limit it answers to
    status = engine.status()
    assert status.export_limit == LimitSnapshot(effective_w=3000, binding="envelope", terms=ENVELOPE)
    assert status.export_headroom_w == -2000
    assert status.over_export_limit
    assert not status.over_limit
    assert status.state is ControllerState.SHEDDING
    assert status.loads["pv"].state is LoadState.REDUCED
    assert status.loads["pv"].reason is LoadReason.WAITING_FOR_HEADROOM
    assert status.loads["pv"].level_w == 3700
    assert engine.projected_w == -2700
    assert engine.export_memory()["loads"]["pv"]["restore_level_w"] == 6000


def test_what_an_export_actuator_can_give_is_what_it_produces() -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [PV])
    # Allowed 6000 W, but clouds leave it 4000 W: cutting 2250 W means a limit of 1750 W (1700 on its grid).
    result = step(engine, 1, -3000, {"pv": limit_in(6000, 4000)}, export_terms={"envelope": 1000})
    assert summary(result.actions) == [("pv", ActionKind.SET_LEVEL, ActionReason.OVER_LIMIT, 1700, 2300)]
    # Without a meter its limit is taken as what it produces.
    engine = CapacityEngine(PANEL, SETTINGS, [PV])
    result = step(engine, 1, -3000, {"pv": limit_in(5000)}, export_terms={"envelope": 1000})
    assert summary(result.actions) == [("pv", ActionKind.SET_LEVEL, ActionReason.OVER_LIMIT, 2700, 2300)]


def test_turns_down_the_least_important_first_and_as_many_as_needed() -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [PV, BAT])
    loads = {"pv": limit_in(6000, 4000), "bat": limit_in(3000, 2000)}
    # 450 W too much: the battery alone gives it (500 W on its 100 W grid).
    result = step(engine, 1, -3200, loads, export_terms=ENVELOPE)
    assert summary(result.actions) == [("bat", ActionKind.SET_LEVEL, ActionReason.OVER_LIMIT, 1500, 500)]
    engine = CapacityEngine(PANEL, SETTINGS, [PV, BAT])
    # 2250 W too much: all 2000 W of the battery (to 0 W, not off), then 300 W of the PV.
    result = step(engine, 1, -5000, loads, export_terms=ENVELOPE)
    assert summary(result.actions) == [
        ("bat", ActionKind.SET_LEVEL, ActionReason.OVER_LIMIT, 0, 2000),
        ("pv", ActionKind.SET_LEVEL, ActionReason.OVER_LIMIT, 3700, 300),
    ]
    status = engine.status()
    assert status.loads["bat"].state is LoadState.REDUCED
    assert status.loads["bat"].level_w == 0


def test_a_minimum_and_never_shed_are_respected() -> None:
    pv = LoadConfig(load_id="pv", kind=LoadKind.MODULATED, export=True, min_w=1000, max_w=6000, step_w=100)
    keep = LoadConfig(load_id="keep", kind=LoadKind.MODULATED, export=True, max_w=5000, never_shed=True)
    engine = CapacityEngine(PANEL, SETTINGS, [pv, keep])
    loads = {"pv": limit_in(6000, 6000), "keep": limit_in(5000, 5000)}
    result = step(engine, 1, -10000, loads, export_terms=ENVELOPE)
    assert summary(result.actions) == [("pv", ActionKind.SET_LEVEL, ActionReason.OVER_LIMIT, 1000, 5000)]
    status = engine.status()
    assert status.loads["keep"].state is LoadState.NEVER_SHED
    # The PV is at its minimum and the site still exports too much.
    result = step(
        engine, 2, -5000, {"pv": limit_in(1000, 1000), "keep": limit_in(5000, 5000)}, export_terms=ENVELOPE
    )
    assert result.actions == ()
    assert engine.status().loads["pv"].reason is LoadReason.OVER_LIMIT
    assert engine.status().state is ControllerState.SHEDDING


def test_no_export_limit_no_export_control() -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [PV])
    assert step(engine, 1, -20000, {"pv": limit_in(6000, 6000)}).actions == ()
    status = engine.status()
    assert status.export_limit is None
    assert status.loads["pv"].state is LoadState.ON
    assert status.loads["pv"].reason is LoadReason.RUNNING
    assert status.state is ControllerState.NORMAL


# ---------------------------------------------------------------- raising


def test_raises_step_by_step_after_the_hold_off() -> None:
    plant = SunnyPlant(CapacityEngine(PANEL, SETTINGS, [PV]), base=1000, export_terms=dict(ENVELOPE))
    assert summary(plant.step()) == [("pv", ActionKind.SET_LEVEL, ActionReason.OVER_LIMIT, 3700, 2300)]
    assert plant.site() == -2700
    # The envelope opens to 5000 W (raised above -4500 W), but the hold-off runs until 31 s.
    plant.export_terms = {"envelope": 5000}
    plant.run(29)
    assert plant.actions[1:] == []
    status = plant.engine.status()
    assert status.loads["pv"].reason is LoadReason.RESTORE_HOLDOFF
    assert status.state is ControllerState.RESTORING
    (action,) = plant.step()
    # One ramp step of 1000 W, well within the 1800 W of room.
    assert summary((action,)) == [("pv", ActionKind.SET_LEVEL, ActionReason.HEADROOM, 4700, -1000)]
    assert action.limit_w == 5000
    plant.run(29)
    assert len(plant.actions) == 2
    # 800 W of room left: up to 5500 W, and no further.
    assert summary(plant.step()) == [("pv", ActionKind.SET_LEVEL, ActionReason.HEADROOM, 5500, -800)]
    assert plant.site() == -4500
    plant.run(120)
    assert len(plant.actions) == 3
    status = plant.engine.status()
    assert status.loads["pv"].state is LoadState.REDUCED
    assert status.loads["pv"].reason is LoadReason.WAITING_FOR_HEADROOM
    # Room enough: back to where it was, and no longer held.
    plant.export_terms = {"envelope": 10000}
    assert summary(plant.step()) == [("pv", ActionKind.SET_LEVEL, ActionReason.HEADROOM, 6000, -500)]
    status = plant.engine.status()
    assert status.loads["pv"].state is LoadState.ON
    assert status.state is ControllerState.NORMAL
    plant.step()  # the reading shows it
    assert plant.engine.quiet_band() == QuietBand(-10000, 7680, math.inf, frozenset())


def test_raises_the_most_important_first_and_passes_over_one_producing_nothing() -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [PV, BAT])
    step(engine, 1, -6000, {"pv": limit_in(6000, 6000), "bat": limit_in(3000, 1000)}, export_terms=ENVELOPE)
    # The battery's 1000 W, then 2250 W of the PV.
    assert engine.status().loads["pv"].level_w == 3700
    assert engine.status().loads["bat"].level_w == 0
    loads = {"pv": limit_in(3700, 3700), "bat": limit_in(0, 0)}
    step(engine, 2, -2700, loads, export_terms={"envelope": 8000})
    status = engine.status()
    assert status.loads["pv"].reason is LoadReason.RESTORE_HOLDOFF
    assert status.loads["bat"].reason is LoadReason.HIGHER_PRIORITY_FIRST
    result = step(engine, 31, -2700, loads, export_terms={"envelope": 8000})
    assert summary(result.actions) == [("pv", ActionKind.SET_LEVEL, ActionReason.HEADROOM, 4700, -1000)]
    # A cloud: the PV produces nothing under its 4700 W limit, so the battery is raised instead.
    loads = {"pv": limit_in(4700, 0), "bat": limit_in(0, 0)}
    result = step(engine, 61, 1000, loads, export_terms={"envelope": 8000})
    assert summary(result.actions) == [("bat", ActionKind.SET_LEVEL, ActionReason.HEADROOM, 500, -500)]


def test_a_raise_too_small_to_be_worth_it_waits() -> None:
    pv = LoadConfig(
        load_id="pv", kind=LoadKind.MODULATED, export=True, max_w=6000
    )  # continuous: 60 W at least
    engine = CapacityEngine(PANEL, SETTINGS, [pv])
    result = step(engine, 1, -5000, {"pv": limit_in(6000, 6000)}, export_terms=ENVELOPE)
    assert summary(result.actions) == [("pv", ActionKind.SET_LEVEL, ActionReason.OVER_LIMIT, 3750, 2250)]
    # 30 W of room over the -2500 W threshold: not worth an action.
    assert step(engine, 31, -2470, {"pv": limit_in(3750, 3750)}, export_terms=ENVELOPE).actions == ()
    result = step(engine, 61, -2400, {"pv": limit_in(3750, 3750)}, export_terms=ENVELOPE)
    assert summary(result.actions) == [("pv", ActionKind.SET_LEVEL, ActionReason.HEADROOM, 3850, -100)]


def test_release_when_the_export_terms_vanish() -> None:
    plant = SunnyPlant(
        CapacityEngine(PANEL, SETTINGS, [PV, BAT]),
        base=1000,
        sun={"pv": 4000, "bat": 3000},
        export_terms=dict(ENVELOPE),
    )
    assert summary(plant.step()) == [
        ("bat", ActionKind.SET_LEVEL, ActionReason.OVER_LIMIT, 0, 3000),
        ("pv", ActionKind.SET_LEVEL, ActionReason.OVER_LIMIT, 3700, 300),
    ]
    # The envelope is gone: both back at once, hold-off or not.
    plant.export_terms = {}
    assert summary(plant.step()) == [
        ("pv", ActionKind.SET_LEVEL, ActionReason.HEADROOM, 6000, -2300),
        ("bat", ActionKind.SET_LEVEL, ActionReason.HEADROOM, 3000, -3000),
    ]
    status = plant.engine.status()
    assert status.export_limit is None
    assert status.loads["pv"].state is LoadState.ON
    assert status.loads["bat"].state is LoadState.ON
    assert plant.site() == -6000
    plant.run(60)
    assert len(plant.actions) == 4


def test_export_and_import_hold_offs_are_separate() -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [WH, PV])
    result = step(engine, 0, 9000, {"wh": on(), "pv": limit_in(0, 0)}, export_terms=ENVELOPE)
    assert summary(result.actions) == [("wh", ActionKind.TURN_OFF, ActionReason.OVER_LIMIT, None, -1800)]
    # The sun comes out: the PV is turned down at 10 s.
    result = step(engine, 10, -5000, {"wh": on(False), "pv": limit_in(6000, 6000)}, export_terms=ENVELOPE)
    assert summary(result.actions) == [("pv", ActionKind.SET_LEVEL, ActionReason.OVER_LIMIT, 3700, 2300)]
    # The water heater's hold-off counts from its own shed, not from the PV's action.
    loads = {"wh": on(False), "pv": limit_in(3700, 3700)}
    assert step(engine, 29, -2700, loads, export_terms=ENVELOPE).actions == ()
    result = step(engine, 30, -2700, loads, export_terms=ENVELOPE)
    assert summary(result.actions) == [("wh", ActionKind.TURN_ON, ActionReason.HEADROOM, None, 1800)]
    # And the PV's counts from its own action at 10 s, not from the water heater's at 30 s.
    loads = {"wh": on(measured_w=1800), "pv": limit_in(3700, 3700)}
    assert step(engine, 39, -900, loads, export_terms=ENVELOPE).actions == ()
    assert engine.status().loads["pv"].reason is LoadReason.RESTORE_HOLDOFF
    result = step(engine, 40, -900, loads, export_terms=ENVELOPE)
    assert summary(result.actions) == [("pv", ActionKind.SET_LEVEL, ActionReason.HEADROOM, 4700, -1000)]


def test_turning_down_goes_with_an_import_restore_in_the_same_step() -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [WH, PV])
    step(engine, 0, 9000, {"wh": on(), "pv": limit_in(0, 0)}, export_terms=ENVELOPE)
    # 5500 W exported: the water heater comes back (1800 W), and the PV gives the other 950 W.
    result = step(engine, 30, -5500, {"wh": on(False), "pv": limit_in(6000, 6000)}, export_terms=ENVELOPE)
    assert summary(result.actions) == [
        ("wh", ActionKind.TURN_ON, ActionReason.HEADROOM, None, 1800),
        ("pv", ActionKind.SET_LEVEL, ActionReason.OVER_LIMIT, 5000, 1000),
    ]


# ------------------------------------------------------------------ import


def test_import_shedding_never_touches_export_actuators() -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [WH, EV, PV])
    loads = {"wh": on(), "ev": level(3840), "pv": limit_in(6000, 2000)}
    result = step(engine, 1, 14000, loads, export_terms=ENVELOPE)
    assert [(a.load_id, a.kind) for a in result.actions] == [
        ("ev", ActionKind.TURN_OFF),
        ("wh", ActionKind.TURN_OFF),
    ]
    assert engine.status().insufficient
    assert engine.status().loads["pv"].state is LoadState.ON
    # Fail-safe leaves it alone too, held or not.
    result = engine.step(StepInput(now=70, site=SiteReading(14000, 1), loads=loads, export_terms=ENVELOPE))
    assert result.actions == ()
    assert engine.status().fail_safe


def test_over_the_import_limit_a_held_export_actuator_comes_back_at_once() -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [WH, PV])
    step(engine, 1, -5000, {"wh": on(False), "pv": limit_in(6000, 6000)}, export_terms=ENVELOPE)
    # Well within the export hold-off, the water heater and a large load start: 8500 W imported.
    result = step(engine, 5, 8500, {"wh": on(), "pv": limit_in(3700, 3700)}, export_terms=ENVELOPE)
    # The shedding does not count on the sun; the PV comes back all the way.
    assert summary(result.actions) == [
        ("wh", ActionKind.TURN_OFF, ActionReason.OVER_LIMIT, None, -1800),
        ("pv", ActionKind.SET_LEVEL, ActionReason.HEADROOM, 6000, -2300),
    ]
    assert result.actions[1].limit_w == PANEL.continuous_limit_w
    assert engine.status().loads["pv"].state is LoadState.ON


def test_over_the_import_limit_an_export_actuator_comes_back_only_as_far_as_export_allows() -> None:
    pv = LoadConfig(load_id="pv", kind=LoadKind.MODULATED, export=True, max_w=9600, step_w=100)
    engine = CapacityEngine(PANEL, SETTINGS, [pv, BAT])
    zero_export = {"envelope": 0.0}
    loads = {"pv": limit_in(9600, 9600), "bat": limit_in(3000, 1000)}
    result = step(engine, 1, -10000, loads, export_terms=zero_export)
    assert summary(result.actions) == [
        ("bat", ActionKind.SET_LEVEL, ActionReason.OVER_LIMIT, 0, 1000),
        ("pv", ActionKind.SET_LEVEL, ActionReason.OVER_LIMIT, 600, 9000),
    ]
    result = step(
        engine, 2, 7700, {"pv": limit_in(600, 600), "bat": limit_in(0, 0)}, export_terms=zero_export
    )
    # 7700 W more would take the site to 0 W: no further, and nothing left for the battery.
    assert summary(result.actions) == [("pv", ActionKind.SET_LEVEL, ActionReason.HEADROOM, 8300, -7700)]
    status = engine.status()
    assert status.loads["pv"].state is LoadState.REDUCED
    assert status.loads["bat"].state is LoadState.REDUCED


def test_stale_reading_leaves_export_actuators_where_they_are() -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [WH, PV, BAT])
    loads = {"wh": on(), "pv": limit_in(6000, 6000), "bat": limit_in(3000, 1000)}
    step(engine, 0, -5000, loads, export_terms=ENVELOPE)
    assert engine.status().loads["bat"].state is LoadState.REDUCED
    loads = {"wh": on(), "pv": limit_in(4800, 4800), "bat": limit_in(0, 0)}
    result = engine.step(StepInput(now=61, site=SiteReading(-5000, 0), loads=loads, export_terms=ENVELOPE))
    assert summary(result.actions) == [("wh", ActionKind.TURN_OFF, ActionReason.FAIL_SAFE, None, -1800)]
    status = engine.status()
    assert status.loads["bat"].reason is LoadReason.FAIL_SAFE
    assert status.loads["pv"].reason is LoadReason.FAIL_SAFE
    # Still stale, whatever the terms say: nothing moves.
    result = engine.step(StepInput(now=62, site=SiteReading(-5000, 0), loads=loads))
    assert result.actions == ()


def test_a_missing_reading_takes_no_export_action() -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [PV])
    step(engine, 0, -5000, {"pv": limit_in(6000, 6000)}, export_terms=ENVELOPE)
    assert step(engine, 1, None, {"pv": limit_in(3700, 3700)}).actions == ()
    status = engine.status()
    assert status.loads["pv"].reason is LoadReason.WAITING_FOR_HEADROOM
    assert status.export_headroom_w is None
    assert not status.over_export_limit


# ------------------------------------------------------- commands in flight


def test_own_meter_shows_a_cut_of_production() -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [PV])
    step(engine, 1, -5000, {"pv": limit_in(6000, 6000)}, export_terms=ENVELOPE)
    # The inverter shows its new limit but still produces 6000 W for a moment.
    assert step(engine, 2, -5000, {"pv": limit_in(3700, 6000)}, export_terms=ENVELOPE).actions == ()
    assert engine.projected_w == -2700
    # Its meter shows the cut: the -5000 W read are real, so it is turned down further.
    result = step(engine, 3, -5000, {"pv": limit_in(3700, 3700)}, export_terms=ENVELOPE)
    assert engine.projected_w == -5000 + 2300
    assert summary(result.actions) == [("pv", ActionKind.SET_LEVEL, ActionReason.OVER_LIMIT, 1400, 2300)]


def test_without_a_meter_the_site_reading_shows_the_cut() -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [PV])
    step(engine, 1, -5000, {"pv": limit_in(6000)}, export_terms=ENVELOPE)
    assert step(engine, 2, -4000, {"pv": limit_in(3700)}, export_terms=ENVELOPE).actions == ()
    assert engine.projected_w == -1700  # 1000 W of the 2300 W seen: not yet half
    result = step(engine, 3, -3800, {"pv": limit_in(3700)}, export_terms=ENVELOPE)
    # 1200 W seen: the cut shows, and the reading is what it is.
    assert engine.projected_w == -3800 + 1100
    assert summary(result.actions) == [("pv", ActionKind.SET_LEVEL, ActionReason.OVER_LIMIT, 2600, 1100)]


def test_a_raise_is_not_confirmed_by_the_meter() -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [PV])
    step(engine, 1, -5000, {"pv": limit_in(6000, 6000)}, export_terms=ENVELOPE)
    step(engine, 31, -2700, {"pv": limit_in(3700, 3700)}, export_terms={"envelope": 5000})
    # The inverter shows the 4700 W limit; its meter still reads 3700 W (a cloud, or a slow ramp).
    step(engine, 32, -2700, {"pv": limit_in(4700, 3700)}, export_terms={"envelope": 5000})
    assert engine.projected_w == -3700


def test_adjusted_level_moves_the_site_the_other_way() -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [PV])
    (action,) = step(engine, 1, -5000, {"pv": limit_in(6000, 6000)}, export_terms=ENVELOPE).actions
    engine.adjust_level(action, 3500)  # the inverter takes 500 W steps: 200 W more cut
    assert engine.projected_w == -5000 + 2500
    assert engine.status().loads["pv"].level_w == 3500


def test_a_failed_cut_is_forgotten() -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [PV])
    (action,) = step(engine, 1, -5000, {"pv": limit_in(6000, 6000)}, export_terms=ENVELOPE).actions
    engine.action_failed(action)
    assert engine.projected_w == -5000
    assert engine.status().loads["pv"].state is LoadState.ON


def test_repeats_an_ignored_raise_then_gives_up() -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [PV])
    step(engine, 1, -5000, {"pv": limit_in(6000, 6000)}, export_terms=ENVELOPE)
    opened = {"envelope": 5000.0}
    loads = {"pv": limit_in(3700, 3700)}
    result = step(engine, 31, -2700, loads, export_terms=opened)
    assert summary(result.actions) == [("pv", ActionKind.SET_LEVEL, ActionReason.HEADROOM, 4700, -1000)]
    # The inverter stays at 3700 W.
    retries = []
    t = 31.0
    for _ in range(MAX_RETRIES + 1):
        t += 11
        result = step(engine, t, -2700, loads, export_terms=opened)
        retries += summary(result.actions)
    assert retries == [("pv", ActionKind.SET_LEVEL, ActionReason.RETRY, 4700, 0.0)] * MAX_RETRIES
    status = engine.status()
    assert status.loads["pv"].state is LoadState.NOT_RESPONDING
    assert status.loads["pv"].reason is LoadReason.NOT_RESPONDING


def test_a_limit_changed_by_hand_is_left_alone() -> None:
    settings = ControlSettings(manual_hold_s=600, restore_holdoff_s=30, staleness_s=60)
    engine = CapacityEngine(PANEL, settings, [PV])
    step(engine, 1, -5000, {"pv": limit_in(6000, 6000)}, export_terms=ENVELOPE)
    result = step(engine, 2, -5000, {"pv": limit_in(6000, 6000, manual=True)}, export_terms=ENVELOPE)
    assert result.actions == ()
    status = engine.status()
    assert status.loads["pv"].state is LoadState.MANUAL
    assert status.over_export_limit
    assert step(engine, 500, -5000, {"pv": limit_in(6000, 6000)}, export_terms=ENVELOPE).actions == ()
    result = step(engine, 610, -5000, {"pv": limit_in(6000, 6000)}, export_terms=ENVELOPE)
    # The default 100 W margin: up to -2900 W.
    assert summary(result.actions) == [("pv", ActionKind.SET_LEVEL, ActionReason.OVER_LIMIT, 3900, 2100)]


def test_a_limit_of_zero_is_a_setting_not_off() -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [PV])
    result = step(engine, 1, -5000, {"pv": limit_in(5000, 5000)}, export_terms={"envelope": 0})
    assert summary(result.actions) == [("pv", ActionKind.SET_LEVEL, ActionReason.OVER_LIMIT, 0, 5000)]
    # Home Assistant reports the number at 0 as off: the command still counts as followed.
    step(engine, 2, 0, {"pv": limit_in(0, 0)}, export_terms={"envelope": 0})
    status = engine.status()
    assert status.loads["pv"].state is LoadState.REDUCED
    assert status.loads["pv"].level_w == 0
    assert engine.quiet_band() is None  # held: a raise may come
    # Importing 500 W: the PV may give those, after the hold-off.
    result = step(engine, 31, 500, {"pv": limit_in(0, 0)}, export_terms={"envelope": 0})
    assert summary(result.actions) == [("pv", ActionKind.SET_LEVEL, ActionReason.HEADROOM, 500, -500)]


# --------------------------------------------------------- monitor, memory


def test_monitor_mode_plans_export_actions_and_takes_none() -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [PV])
    result = step(engine, 1, -5000, {"pv": limit_in(6000, 6000)}, export_terms=ENVELOPE, enabled=False)
    assert result.actions == ()
    status = engine.status()
    assert summary(status.planned) == [("pv", ActionKind.SET_LEVEL, ActionReason.OVER_LIMIT, 3700, 2300)]
    assert status.state is ControllerState.MONITORING
    assert status.loads["pv"].reason is LoadReason.MONITORING
    assert status.over_export_limit
    # Time over the export limit counts in monitor mode too.
    step(engine, 11, -5000, {"pv": limit_in(6000, 6000)}, export_terms=ENVELOPE, enabled=False)
    assert engine.status().accounting.seconds_over_export_limit == 10
    # Enabled: turned down for real.
    result = step(engine, 12, -5000, {"pv": limit_in(6000, 6000)}, export_terms=ENVELOPE)
    assert summary(result.actions) == [("pv", ActionKind.SET_LEVEL, ActionReason.OVER_LIMIT, 3700, 2300)]
    # Management switched off: given back.
    result = step(engine, 13, -2700, {"pv": limit_in(3700, 3700)}, export_terms=ENVELOPE, enabled=False)
    assert summary(result.actions) == [("pv", ActionKind.SET_LEVEL, ActionReason.RELEASED, 6000, -2300)]
    assert engine.status().loads["pv"].state is LoadState.ON


def test_release_gives_export_actuators_back() -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [WH, PV])
    step(engine, 1, -5000, {"wh": on(False), "pv": limit_in(6000, 5000)}, export_terms=ENVELOPE)
    assert summary(engine.release(2)) == [("pv", ActionKind.SET_LEVEL, ActionReason.RELEASED, 6000, -3300)]
    assert engine.export_memory()["loads"]["pv"]["held"] == "none"


def test_memory_round_trip() -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [PV])
    step(engine, 0, -5000, {"pv": limit_in(6000, 6000)}, export_terms=ENVELOPE)
    step(engine, 10, -2700, {"pv": limit_in(3700, 3700)}, export_terms=ENVELOPE)
    memory = engine.export_memory()
    assert memory["last_export_action_at"] == 0
    assert memory["last_action_at"] is None
    assert memory["accounting"]["seconds_over_export_limit"] == 10
    again = CapacityEngine(PANEL, SETTINGS, [PV], memory=memory)
    acc = again.status().accounting
    assert acc.seconds_over_export_limit == 10
    assert acc.energy_over_export_limit_wh == pytest.approx(2000 * 10 / 3600)
    opened = {"envelope": 5000.0}
    step(again, 20, -2700, {"pv": limit_in(3700, 3700)}, export_terms=opened)
    status = again.status()
    assert status.loads["pv"].state is LoadState.REDUCED
    assert status.loads["pv"].reason is LoadReason.RESTORE_HOLDOFF  # the hold-off carried over
    assert step(again, 29, -2700, {"pv": limit_in(3700, 3700)}, export_terms=opened).actions == ()
    result = step(again, 30, -2700, {"pv": limit_in(3700, 3700)}, export_terms=opened)
    assert summary(result.actions) == [("pv", ActionKind.SET_LEVEL, ActionReason.HEADROOM, 4700, -1000)]


def test_a_remembered_cut_given_back_meanwhile_is_not_held() -> None:
    memory = {"version": 1, "loads": {"pv": {"held": "reduced", "restore_level_w": 6000}}}
    engine = CapacityEngine(PANEL, SETTINGS, [PV], memory=memory)
    step(engine, 1, -1000, {"pv": limit_in(6000, 2000)})
    assert engine.status().loads["pv"].state is LoadState.ON
    engine = CapacityEngine(PANEL, SETTINGS, [PV], memory=memory)
    step(engine, 1, -1000, {"pv": limit_in(3000, 2000)}, export_terms=ENVELOPE)
    assert engine.status().loads["pv"].state is LoadState.REDUCED


# -------------------------------------------------------------- accounting


def test_accounting_over_the_export_limit() -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [])
    step(engine, 0, -5000, {}, export_terms=ENVELOPE)
    step(engine, 10, -2000, {}, export_terms=ENVELOPE)  # 10 s at 5000 W: 2000 W over
    step(engine, 20, -4000, {}, export_terms=ENVELOPE)  # 10 s at 2000 W: under
    step(engine, 25, -4000, {})  # 5 s at 4000 W: 1000 W over; then the envelope is gone
    step(engine, 40, 9000, {}, export_terms=ENVELOPE)  # 15 s at 4000 W with no export limit
    step(engine, 50, -3000, {}, export_terms=ENVELOPE)  # 10 s importing, over the import limit
    step(engine, 60, 0, {}, export_terms=ENVELOPE)  # 10 s at exactly the export limit
    acc = engine.status().accounting
    assert acc.seconds_over_export_limit == 15
    assert acc.energy_over_export_limit_wh == pytest.approx((2000 * 10 + 1000 * 5) / 3600)
    assert acc.seconds_over_limit == 10
    status = engine.status()
    assert status.export_headroom_w == 3000
    assert not status.over_export_limit


# -------------------------------------------------------------- quiet band


def test_quiet_band_ends_at_the_export_limit() -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [WH, PV])
    step(engine, 1, -1000, {"wh": on(), "pv": limit_in(6000, 3000)}, export_terms=ENVELOPE)
    assert engine.quiet_band() == QuietBand(-3000, 7680, math.inf, frozenset())
    # Exactly at the limit nothing happens; just beyond it the PV is turned down.
    probe = copy.deepcopy(engine)
    assert (
        step(probe, 2, -3000, {"wh": on(), "pv": limit_in(6000, 3000)}, export_terms=ENVELOPE).actions == ()
    )
    result = step(engine, 2, -3000.5, {"wh": on(), "pv": limit_in(6000, 3000)}, export_terms=ENVELOPE)
    assert summary(result.actions) == [("pv", ActionKind.SET_LEVEL, ActionReason.OVER_LIMIT, 2700, 300)]
    # Held: no promise.
    step(engine, 3, -2700.5, {"wh": on(), "pv": limit_in(2700, 2700)}, export_terms=ENVELOPE)
    assert engine.quiet_band() is None


PROFILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def sunny_houses(draw: st.DrawFn):
    panel = PanelConfig(rating_a=draw(st.sampled_from([40, 60, 100])), voltage_v=240)
    control = ControlSettings(
        margin_w=draw(st.sampled_from([0, 100, 250])),
        hysteresis_w=draw(st.sampled_from([0, 150, 500])),
        restore_holdoff_s=draw(st.sampled_from([0, 5, 30])),
        response_s=draw(st.sampled_from([2, 10])),
        staleness_s=600,
    )
    loads: list[LoadConfig] = []
    if draw(st.booleans()):
        loads.append(
            LoadConfig(load_id="wh", kind=LoadKind.SWITCH, nominal_w=draw(st.sampled_from([1500, 4500])))
        )
    if draw(st.booleans()):
        loads.append(
            LoadConfig(
                load_id="ev", kind=LoadKind.MODULATED, min_w=1440, max_w=7680, step_w=240, allow_off=True
            )
        )
    for index in range(draw(st.integers(min_value=1, max_value=2))):
        loads.append(
            LoadConfig(
                load_id=f"x{index}",
                kind=LoadKind.MODULATED,
                export=True,
                min_w=draw(st.sampled_from([0, 500])),
                max_w=draw(st.sampled_from([3000, 8000])),
                step_w=draw(st.sampled_from([0, 100, 250])),
                never_shed=draw(st.integers(0, 5)) == 0,
            )
        )
    loads = draw(st.permutations(loads))
    sun = {cfg.load_id: draw(st.sampled_from([0, 1500, 5000, 9000])) for cfg in loads if cfg.export}
    metered = draw(st.booleans())
    profile = draw(
        st.lists(
            st.tuples(
                st.integers(min_value=1, max_value=90),
                st.floats(min_value=-3000, max_value=panel.rating_w),
                st.one_of(
                    st.just({}),
                    st.dictionaries(
                        st.sampled_from(["envelope", "dso"]), st.sampled_from([0, 1000, 3000, 6000])
                    ),
                ),
            ),
            min_size=1,
            max_size=20,
        )
    )
    return panel, control, loads, sun, metered, profile


@given(sunny_houses(), st.data())
@PROFILE
def test_quiet_band_holds_with_export_actuators(house, data) -> None:
    """Wherever the engine says it is quiet, a step with a reading in the band takes no action."""
    panel, control, loads, sun, metered, profile = house
    plant = SunnyPlant(
        CapacityEngine(panel, control, loads),
        base=profile[0][1],
        delay=data.draw(st.sampled_from([0.0, 3.0])),
        sun=sun,
        metered=metered,
    )
    for duration, base, terms in profile:
        plant.base = base
        plant.export_terms = terms
        end = plant.now + duration
        while plant.now < end:
            plant.step(1.0)
            band = plant.engine.quiet_band()
            if band is None or not data.draw(st.booleans()):
                continue
            low = max(band.low_w, -20000.0)
            if band.high_w <= low:
                continue
            reading = data.draw(st.floats(min_value=low, max_value=band.high_w, exclude_min=True))
            span = min(band.until - plant.now, 3600.0)
            later = data.draw(st.floats(min_value=0.0, max_value=span, exclude_min=True, exclude_max=True))
            when = plant.now + later
            if when >= band.until:
                continue
            inputs = plant.inputs()
            for load_id in band.ignores:
                inputs[load_id] = LoadInput(
                    is_on=data.draw(st.booleans()), measured_w=data.draw(st.floats(0, 1e4))
                )
            probe = copy.deepcopy(plant.engine)
            result = probe.step(
                StepInput(now=when, site=SiteReading(reading, when), loads=inputs, export_terms=terms)
            )
            assert result.actions == (), (band, reading, when)


@given(sunny_houses())
@PROFILE
def test_raising_never_takes_export_over_its_limit(house) -> None:
    """With the house steady, an export actuator raised leaves the site within the export limit."""
    panel, control, loads, sun, metered, profile = house
    plant = SunnyPlant(CapacityEngine(panel, control, loads), base=profile[0][1], sun=sun, metered=metered)
    by_id = {cfg.load_id: cfg for cfg in loads}
    for duration, base, terms in profile:
        plant.base = base
        plant.export_terms = terms
        end = plant.now + duration
        while plant.now < end:
            actions = plant.step(1.0)
            export = plant.engine.status().export_limit
            if export is None:
                continue
            for action in actions:
                assert action.load_id not in by_id or not by_id[action.load_id].never_shed
                if by_id[action.load_id].export and action.reason is ActionReason.HEADROOM:
                    assert plant.site() >= -export.effective_w - 1e-6, action
                if action.reason is ActionReason.OVER_LIMIT and by_id[action.load_id].export:
                    assert action.kind is ActionKind.SET_LEVEL
                    assert action.delta_w > 0
