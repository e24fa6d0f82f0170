"""Invariants of the engine, checked with hypothesis over random houses and load profiles."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings, strategies as st

from custom_components.panel_capacity.engine import (
    ActionKind,
    ActionReason,
    CapacityEngine,
    ControlSettings,
    LoadConfig,
    LoadKind,
    PanelConfig,
    Supply,
    effective_limit,
)

from .plant import Plant

PROFILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def panels(draw: st.DrawFn) -> PanelConfig:
    return PanelConfig(
        rating_a=draw(st.sampled_from([30, 40, 60, 100, 125, 200])),
        voltage_v=draw(st.sampled_from([120, 230, 240])),
        supply=draw(st.sampled_from(list(Supply))),
        continuous_factor=draw(st.sampled_from([0.8, 0.9, 1.0])),
    )


@st.composite
def control_settings(draw: st.DrawFn) -> ControlSettings:
    return ControlSettings(
        margin_w=draw(st.sampled_from([0, 100, 250, 500])),
        hysteresis_w=draw(st.sampled_from([0, 100, 250, 500])),
        restore_holdoff_s=draw(st.sampled_from([0, 5, 30])),
        response_s=draw(st.sampled_from([2, 10])),
        staleness_s=600,
    )


@st.composite
def load_lists(draw: st.DrawFn, rating_w: float) -> list[LoadConfig]:
    count = draw(st.integers(min_value=1, max_value=6))
    loads = []
    for index in range(count):
        never = draw(st.booleans()) and draw(st.booleans())  # about one in four
        min_on = draw(st.sampled_from([0, 0, 60, 180]))
        min_off = draw(st.sampled_from([0, 0, 60, 180]))
        if draw(st.booleans()):
            nominal = draw(st.integers(min_value=200, max_value=int(rating_w / 3)))
            loads.append(
                LoadConfig(
                    load_id=f"s{index}",
                    kind=LoadKind.SWITCH,
                    nominal_w=nominal,
                    never_shed=never,
                    min_on_s=min_on,
                    min_off_s=min_off,
                )
            )
        else:
            high = draw(st.integers(min_value=1000, max_value=int(rating_w / 2)))
            low = draw(st.integers(min_value=0, max_value=high // 2))
            loads.append(
                LoadConfig(
                    load_id=f"m{index}",
                    kind=LoadKind.MODULATED,
                    min_w=low,
                    max_w=high,
                    step_w=draw(st.sampled_from([0, 100, 240])),
                    allow_off=draw(st.booleans()),
                    never_shed=never,
                    min_on_s=min_on,
                    min_off_s=min_off,
                )
            )
    return loads


@st.composite
def scenarios(draw: st.DrawFn):
    panel = draw(panels())
    control = draw(control_settings())
    loads = draw(load_lists(panel.rating_w))
    base = draw(
        st.lists(
            st.tuples(
                st.integers(min_value=1, max_value=120), st.floats(min_value=0, max_value=panel.rating_w)
            ),
            min_size=1,
            max_size=25,
        )
    )
    period = draw(st.sampled_from([1.0, 2.0, 5.0]))
    return panel, control, loads, base, period


@given(scenarios())
@PROFILE
def test_never_restores_into_an_overload(scenario) -> None:
    panel, control, loads, base, period = scenario
    plant = Plant(CapacityEngine(panel, control, loads), base=base[0][1])
    for duration, power in base:
        plant.base = power
        end = plant.now + duration
        while plant.now < end:
            limit = plant.engine.limit.effective_w if plant.now else math.inf
            for action in plant.step(period):
                if action.reason is ActionReason.HEADROOM:
                    # With the base as it is, the load that came back leaves the site under the limit.
                    assert plant.site() <= min(limit, plant.engine.limit.effective_w) + 1e-6


@given(scenarios())
@PROFILE
def test_never_sheds_a_never_shed_load(scenario) -> None:
    panel, control, loads, base, period = scenario
    plant = Plant(CapacityEngine(panel, control, loads), base=base[0][1], delay=3.0)
    for duration, power in base:
        plant.base = power
        plant.run(duration, period)
    protected = {cfg.load_id for cfg in loads if cfg.never_shed}
    assert not [action for _, action in plant.actions if action.load_id in protected]


@given(
    panels(),
    control_settings(),
    st.dictionaries(
        st.sampled_from(["user_cap", "subscription", "envelope", "panel", "largest_step"]),
        st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**9), 10**9)),
    ),
    st.floats(min_value=0, max_value=1e6),
)
@PROFILE
def test_limit_never_above_rating_times_factor(panel, control, terms, step) -> None:
    control = ControlSettings(largest_step_w=step, margin_w=control.margin_w)
    limit = effective_limit(panel, control, terms)
    assert 0 <= limit.effective_w <= panel.continuous_limit_w
    assert limit.terms[limit.binding] == limit.effective_w


@given(scenarios())
@PROFILE
def test_no_flapping_within_the_hold_offs(scenario) -> None:
    panel, control, loads, base, period = scenario
    plant = Plant(CapacityEngine(panel, control, loads), base=base[0][1], delay=2.0)
    for duration, power in base:
        plant.base = power
        plant.run(duration, period)
    by_id = {cfg.load_id: cfg for cfg in loads}
    last_off: dict[str, float] = {}
    last_on: dict[str, float] = {}
    last_any: float | None = None
    for time, action in plant.actions:
        cfg = by_id[action.load_id]
        turns_on = action.kind is ActionKind.TURN_ON or (
            action.kind is ActionKind.SET_LEVEL
            and action.load_id in last_off
            and last_off[action.load_id] is not None
        )
        if action.kind is ActionKind.TURN_OFF:
            if action.load_id in last_on:
                assert time - last_on[action.load_id] >= cfg.min_on_s
            last_off[action.load_id] = time
        elif turns_on and action.load_id in last_off:
            assert time - last_off[action.load_id] >= cfg.min_off_s
            last_on[action.load_id] = time
            del last_off[action.load_id]
        if action.reason is ActionReason.HEADROOM and last_any is not None:
            assert time - last_any >= control.restore_holdoff_s
        last_any = time
