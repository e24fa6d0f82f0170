"""Planning a new load: 15-minute demand, NEC 220.87, and the plan_load service over recorded statistics."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
import json
from pathlib import Path
import subprocess
import sys
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import async_wait_recording_done

from custom_components.panel_capacity.const import DOMAIN
from custom_components.panel_capacity.engine import PanelConfig, Supply
from custom_components.panel_capacity.simulation.dataset import Series
from custom_components.panel_capacity.simulation.plan import (
    NewLoad,
    PeakDemand,
    demand_blocks,
    nec_220_87,
    peak_demand,
    simulate_new_load,
)
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.models import StatisticMeanType
from homeassistant.components.recorder.statistics import async_import_statistics
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.util import dt as dt_util

from .conftest import BASE, advance, set_number

ROOT = Path(__file__).parent.parent
PANEL = PanelConfig(rating_a=100, voltage_v=240, supply=Supply.SPLIT_PHASE)  # 24 kW, limit 19.2 kW


def hourly(powers: list[float], start: float = 1_800_000_000.0) -> Series:
    series = Series(times=[start + 3600 * index for index in range(len(powers))], total_w=list(powers))
    series.end = series.times[-1] + 3600
    return series


# --------------------------------------------------------------- pure code


def test_demand_blocks_average_import_over_quarter_hours() -> None:
    start = 1_800_000_000.0 - 1_800_000_000.0 % 900
    series = Series(times=[start, start + 600, start + 900, start + 1800], total_w=[2000, 5000, -1000, 100])
    series.end = start + 2000  # the last block is covered 200 s of 900: not counted
    assert demand_blocks(series) == [(start, pytest.approx(3000)), (start + 900, 0.0)]
    demand = peak_demand(demand_blocks(series))
    assert (demand.peak_w, demand.at) == (pytest.approx(3000), start)
    assert demand.days == pytest.approx(2 * 900 / 86400)
    assert peak_demand([]) == PeakDemand(None, None, 0.0)


@pytest.mark.parametrize(
    ("demand", "new_load", "shaving", "applies", "fits", "words"),
    [
        (PeakDemand(8000, 0, 365), 7680, False, True, True, "fits the 24000 W rating"),
        (PeakDemand(14000, 0, 365), 7680, False, False, False, "is more than"),
        (PeakDemand(8000, 0, 12), 7680, False, False, True, "needs at least 30 days"),
        (PeakDemand(8000, 0, 365), 7680, True, False, True, "peak-load shaving"),
    ],
)
def test_nec_220_87(
    demand: PeakDemand, new_load: float, shaving: bool, applies: bool, fits: bool, words: str
) -> None:
    answer = nec_220_87(demand, PANEL.rating_w, new_load, shaving=shaving)
    assert answer["applies"] is applies
    assert answer["fits"] is fits
    assert answer["required_w"] == pytest.approx(1.25 * demand.peak_w + new_load)
    assert answer["headroom_w"] == pytest.approx(24000 - 1.25 * demand.peak_w - new_load)
    assert words in answer["explanation"]


def test_nec_220_87_without_data() -> None:
    answer = nec_220_87(PeakDemand(None, None, 0), 24000, 7680, shaving=False)
    assert answer["applies"] is False
    assert answer["fits"] is None
    assert answer["explanation"] == "no recorded demand yet"


def test_management_of_a_new_load_over_history() -> None:
    # Two days, hourly: 14 kW in the evening from 18:00 to 22:00, 2 kW otherwise.
    powers = [14000.0 if 18 <= hour % 24 < 22 else 2000.0 for hour in range(48)]
    series = hourly(powers, start=datetime(2030, 1, 1, tzinfo=UTC).timestamp())
    new = NewLoad(
        power_w=7680, daily_energy_wh=20000, arrive=time(18), depart=time(7), min_w=1440, step_w=240
    )
    answer = simulate_new_load(series, PANEL, PANEL.continuous_limit_w, new)
    # Unmanaged the car adds 7.68 kW to 14 kW; managed it gets what fits under 19.2 kW - margins.
    assert answer["seconds_over_limit_unmanaged"] > 3600
    assert answer["seconds_over_limit"] < 60
    assert answer["delivered_kwh"] == pytest.approx(answer["requested_kwh"])
    assert answer["energy_delayed_kwh"] > 0
    assert answer["days_managed"] >= 1
    assert answer["worst_day"]["date"] in {"2030-01-01", "2030-01-02"}


def test_plan_command_line(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "plan.py"),
            str(ROOT / "examples" / "data" / "uci-household-2006-12-24_2007-01-21.csv.gz"),
            "--time-column",
            "date_time",
            "--power-column",
            "Global_active_power",
            "--unit",
            "kW",
            "--rating-a",
            "40",
            "--voltage",
            "230",
            "--supply",
            "single_phase",
            "--new-a",
            "32",
            "--daily-kwh",
            "25",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(out.read_text(encoding="utf-8"))
    assert answer["new_load_w"] == 32 * 230
    assert answer["nec_220_87"]["days_of_data"] == 28
    assert answer["nec_220_87"]["applies"] is False
    assert answer["management"]["requested_kwh"] > 0
    assert "NEC 220.87: no" in result.stdout
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "plan.py"),
            "nothing.csv",
            "--rating-a",
            "40",
            "--voltage",
            "230",
            "--new-kw",
            "3",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "does not exist" in result.stderr


# ---------------------------------------------------------- in Home Assistant


async def test_demand_sensor_shows_the_last_quarter_hour(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, freezer: FrozenDateTimeFactory, state_of
) -> None:
    now = dt_util.utcnow().timestamp()
    await advance(hass, freezer, 900 - now % 900 + 1)  # to just after a quarter hour
    assert state_of("sensor.main_panel_15_minute_demand") in ("unknown", "6640.0")
    await advance(hass, freezer, 900)
    assert float(state_of("sensor.main_panel_15_minute_demand")) == pytest.approx(6640)
    await set_number(hass, BASE, 2000)  # 7640 W from now on
    await advance(hass, freezer, 900)
    state = hass.states.get("sensor.main_panel_15_minute_demand")
    assert 6640 < float(state.state) <= 7640
    block = datetime.fromisoformat(state.attributes["block_start"])
    assert block.timestamp() % 900 == 0
    assert state.attributes["peak_w"] == pytest.approx(float(state.state), abs=0.1)


def _hours(start: datetime, count: int) -> list[datetime]:
    return [start + timedelta(hours=index) for index in range(count)]


async def _seed_history(hass: HomeAssistant, days: int, *, actions: bool) -> None:
    start = (datetime.now(UTC) - timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    hours = _hours(start, days * 24)
    power = [9000.0 if moment.hour in (18, 19) else 3000.0 for moment in hours]
    site: dict[str, Any] = {
        "mean_type": StatisticMeanType.ARITHMETIC,
        "has_sum": False,
        "name": None,
        "source": "recorder",
        "statistic_id": "sensor.main_panel_site_power",
        "unit_class": "power",
        "unit_of_measurement": "W",
    }
    async_import_statistics(
        hass,
        site,
        [{"start": moment, "mean": watts, "min": watts, "max": watts} for moment, watts in zip(hours, power)],
    )
    demand = site | {"statistic_id": "sensor.main_panel_15_minute_demand"}
    async_import_statistics(
        hass,
        demand,
        [
            {"start": moment, "mean": watts, "min": watts, "max": watts + 500}
            for moment, watts in zip(hours, power)
        ],
    )
    counted = {
        "mean_type": StatisticMeanType.NONE,
        "has_sum": True,
        "name": None,
        "source": "recorder",
        "statistic_id": "sensor.main_panel_actions_today",
        "unit_class": None,
        "unit_of_measurement": None,
    }
    total = 0.0
    rows = []
    for index, moment in enumerate(hours):
        if actions and index == len(hours) // 2:
            total += 3
        rows.append({"start": moment, "state": total, "sum": total})
    async_import_statistics(hass, counted, rows)
    await async_wait_recording_done(hass)


async def _plan(hass: HomeAssistant, entry: MockConfigEntry, **data: Any) -> dict[str, Any]:
    """Call plan_load on the panel and return its answer."""
    answer = await hass.services.async_call(
        DOMAIN, "plan_load", {"config_entry_id": entry.entry_id, **data}, blocking=True, return_response=True
    )
    assert answer is not None
    return answer


async def test_plan_load_from_recorded_history(
    recorder_mock: Recorder, hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    await _seed_history(hass, 40, actions=False)
    answer = await _plan(hass, loaded_entry, current_a=16, daily_energy_kwh=8, days=60)
    assert answer["new_load_w"] == 16 * 240
    nec = answer["nec_220_87"]
    assert nec["highest_15min_demand_w"] == 9500
    assert nec["required_w"] == pytest.approx(1.25 * 9500 + 3840)
    assert nec["rating_w"] == 9600
    assert nec["fits"] is False
    assert 39 <= nec["days_of_data"] <= 40
    assert nec["shaving_in_history"] is False
    management = answer["management"]
    assert 39 <= management["days"] <= 40
    assert management["delivered_kwh"] == pytest.approx(management["requested_kwh"], rel=0.01)
    assert management["energy_delayed_kwh"] > 0  # 9000 W + 3840 W at 18:00 does not fit under 7680 W


async def test_plan_load_sees_shaving_in_history(
    recorder_mock: Recorder, hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    await _seed_history(hass, 35, actions=True)
    answer = await _plan(hass, loaded_entry, power_kw=1)
    assert answer["nec_220_87"]["shaving_in_history"] is True
    assert answer["nec_220_87"]["applies"] is False
    assert answer["daily_energy_kwh"] == 4  # four hours at full power


async def test_plan_load_without_history(
    recorder_mock: Recorder, hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    answer = await _plan(hass, loaded_entry, power_kw=3)
    assert answer["nec_220_87"]["explanation"] == "no recorded demand yet"
    assert answer["management"] is None


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"config_entry_id": "nope", "power_kw": 3}, "invalid_config_entry"),
        ({"power_kw": None}, "plan_needs_size"),
        ({"power_kw": 30}, "plan_load_too_large"),
        ({"power_kw": 3, "current_a": 16}, "plan_size_twice"),
        ({"current_a": 32, "phases": 3}, None),
    ],
)
async def test_plan_load_errors(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, data: dict[str, Any], key: str | None
) -> None:
    call = {"config_entry_id": loaded_entry.entry_id} | {k: v for k, v in data.items() if v is not None}
    if data.get("power_kw", 0) is None:
        call.pop("power_kw", None)
    if key is None:
        # Valid, but there is no recorder here.
        with pytest.raises(HomeAssistantError) as error:
            await hass.services.async_call(DOMAIN, "plan_load", call, blocking=True, return_response=True)
        assert error.value.translation_key == "plan_needs_recorder"
        return
    with pytest.raises(ServiceValidationError) as error:
        await hass.services.async_call(DOMAIN, "plan_load", call, blocking=True, return_response=True)
    assert error.value.translation_key == key
