"""Readings no panel could carry: refused as a sensor's problem, never taken as an overload or accounted."""

from __future__ import annotations

import pytest

from custom_components.panel_capacity.engine import (
    ROOT,
    ActionKind,
    ActionReason,
    Alert,
    CapacityEngine,
    Conductor,
    ControllerState,
    ControlSettings,
    FlowSource,
    LoadConfig,
    LoadInput,
    LoadKind,
    NodeConfig,
    NodeReading,
    PanelConfig,
    ReadingFault,
    SiteReading,
    StepInput,
    Supply,
)
from custom_components.panel_capacity.engine.screen import PLAUSIBLE_FACTOR

L1, L2 = Conductor.L1, Conductor.L2
SETTINGS = ControlSettings(
    margin_w=100, hysteresis_w=150, restore_holdoff_s=30, response_s=10, staleness_s=60
)
# 40 A at 240 V split-phase: 9600 W (4800 W a leg), limit 7680 W. Ten times: 96 kW, 48 kW a leg.
PANEL = PanelConfig(rating_a=40, voltage_v=240, supply=Supply.SPLIT_PHASE)
WH = LoadConfig(load_id="wh", kind=LoadKind.SWITCH, nominal_w=1800)
EV = LoadConfig(load_id="ev", kind=LoadKind.MODULATED, min_w=1440, max_w=7680, step_w=240)
GARAGE = NodeConfig(node_id="garage", rating_a=30)  # 24 A a leg: 5760 W; ten times 72 kW in all
GARAGE_WH = LoadConfig(load_id="gwh", kind=LoadKind.SWITCH, nominal_w=1800, node_id="garage")
LOADS = {"wh": LoadInput(is_on=True), "ev": LoadInput(is_on=True, level_w=3840)}


def site(power: float | None, now: float, **kwargs) -> StepInput:
    return StepInput(now=now, site=SiteReading(power, now, **kwargs), loads=LOADS)


def test_the_bound_is_ten_times_the_rating() -> None:
    assert PLAUSIBLE_FACTOR == 10
    engine = CapacityEngine(PANEL, SETTINGS, [WH, EV])
    engine.step(site(96_000, 0))  # at the bound: a (huge) real overload, shed
    assert engine.status().site_w == 96_000
    assert engine.status().nodes[ROOT].total.fault is None
    engine = CapacityEngine(PANEL, SETTINGS, [WH, EV])
    engine.step(site(96_000.5, 0))
    assert engine.status().site_w is None
    assert engine.status().nodes[ROOT].total.fault is ReadingFault.IMPLAUSIBLE


@pytest.mark.parametrize("absurd", [1e9, -1e9, 1e300])
def test_an_absurd_reading_sheds_nothing_counts_nothing_and_goes_fail_safe_when_it_lasts(
    absurd: float,
) -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [WH, EV])
    assert engine.step(site(5000, 0)).actions == ()
    results = [engine.step(site(absurd, t)) for t in range(1, 61)]
    # Held still as for a missing reading: nothing shed, nothing given back, no alert.
    assert all(result.actions == () and result.alerts_raised == () for result in results)
    status = engine.status()
    assert status.site_w is None
    assert not status.over_limit
    assert not status.fail_safe
    assert status.nodes[ROOT].total.fault is ReadingFault.IMPLAUSIBLE
    assert status.faults == {(ROOT, None): ReadingFault.IMPLAUSIBLE}
    counters = status.accounting
    assert counters.seconds_over_limit == 0
    assert counters.energy_over_limit_wh == 0
    assert counters.seconds_over_rating == 0
    assert counters.seconds_over_export_limit == 0
    assert counters.peak_15min_w <= 5000
    # Still absurd once the last good reading is older than the staleness time: fail-safe.
    result = engine.step(site(absurd, 61))
    assert result.alerts_raised == (Alert.FAIL_SAFE,)
    assert {(a.load_id, a.kind, a.reason) for a in result.actions} == {
        ("wh", ActionKind.TURN_OFF, ActionReason.FAIL_SAFE),
        ("ev", ActionKind.TURN_OFF, ActionReason.FAIL_SAFE),
    }
    assert engine.status().state is ControllerState.FAIL_SAFE
    # A good reading again: recovered, and the fault is gone.
    result = engine.step(site(3000, 62))
    assert result.alerts_raised == (Alert.RECOVERED,)
    assert engine.status().faults == {}
    assert engine.status().accounting.energy_over_limit_wh == 0


def test_an_absurd_total_falls_back_on_the_legs_when_both_are_measured() -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [WH, EV])
    engine.step(site(1e9, 0, conductors_w={L1: 3000.0, L2: 2500.0}))
    status = engine.status()
    assert status.site_w == 5500  # their sum
    assert status.nodes[ROOT].total.fault is ReadingFault.IMPLAUSIBLE


def test_an_absurd_leg_beside_a_total_is_not_measured_and_the_total_still_holds() -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [WH, EV])
    result = engine.step(site(5000, 0, conductors_w={L1: 5e8, L2: 2500.0}))
    assert result.actions == ()  # L1 at 500 MW would be far over its 3840 W: refused, not shed for
    root = engine.status().nodes[ROOT]
    assert root.total.flow_w == 5000
    assert root.conductors[L1].flow_w is None
    assert root.conductors[L1].fault is ReadingFault.IMPLAUSIBLE
    assert root.conductors[L2].flow_w == 2500
    assert root.conductors[L2].fault is None
    # Legs alone, one absurd: no total at all, held still as without a reading.
    engine = CapacityEngine(PANEL, SETTINGS, [WH, EV])
    engine.step(StepInput(now=0, site=SiteReading(None, 0, {L1: 5e8, L2: 2500.0}), loads=LOADS))
    assert engine.status().site_w is None
    assert engine.status().faults == {(ROOT, L1): ReadingFault.IMPLAUSIBLE}


def test_an_absurd_subpanel_reading_is_estimated_and_sheds_nothing_inside_it() -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [WH, GARAGE_WH], nodes=[GARAGE])
    loads = {"wh": LoadInput(is_on=True), "gwh": LoadInput(is_on=True)}
    result = engine.step(
        StepInput(now=0, site=SiteReading(4000, 0), loads=loads, nodes={"garage": NodeReading(power_w=9e8)})
    )
    assert result.actions == ()
    garage = engine.status().nodes["garage"]
    assert garage.total.source is FlowSource.ESTIMATED
    assert garage.total.flow_w == 1800  # its water heater
    assert garage.total.fault is ReadingFault.IMPLAUSIBLE
    # A plausible overload of the garage (5760 W of 5760 W, over after the margin) is shed as ever.
    result = engine.step(
        StepInput(now=1, site=SiteReading(7000, 1), loads=loads, nodes={"garage": NodeReading(power_w=5800)})
    )
    assert [(a.load_id, a.node_id) for a in result.actions] == [("gwh", "garage")]
    assert engine.status().faults == {}


def test_faults_the_caller_saw_are_reported_and_not_a_number_is_refused() -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [WH, GARAGE_WH], nodes=[GARAGE])
    loads = {"wh": LoadInput(is_on=True), "gwh": LoadInput(is_on=True)}
    engine.step(
        StepInput(
            now=0,
            site=SiteReading(4000, 0, {L2: float("nan")}, faults={L1: ReadingFault.STALE}),
            loads=loads,
            nodes={"garage": NodeReading(faults={None: ReadingFault.NO_NUMBER})},
        )
    )
    status = engine.status()
    assert status.faults == {
        (ROOT, L1): ReadingFault.STALE,
        (ROOT, L2): ReadingFault.NO_NUMBER,
        ("garage", None): ReadingFault.NO_NUMBER,
    }
    assert status.nodes["garage"].total.source is FlowSource.ESTIMATED
    assert status.nodes[ROOT].conductors[L2].flow_w is None


def test_an_absurd_reading_of_a_load_s_own_sensor_is_not_remembered() -> None:
    engine = CapacityEngine(PANEL, SETTINGS, [WH, EV])
    loads = {"wh": LoadInput(is_on=True, measured_w=1e9), "ev": LoadInput(is_on=True, level_w=3840)}
    engine.step(StepInput(now=0, site=SiteReading(5000, 0), loads=loads))
    status = engine.status()
    assert status.load_faults == {"wh": ReadingFault.IMPLAUSIBLE}
    assert status.loads["wh"].expected_w == 1800  # its nominal power, not a gigawatt
    loads["wh"] = LoadInput(is_on=True, measured_w=1750)
    engine.step(StepInput(now=1, site=SiteReading(5000, 1), loads=loads))
    assert engine.status().load_faults == {}
    assert engine.status().loads["wh"].expected_w == 1750
