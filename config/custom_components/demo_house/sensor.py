"""Development only: the demo house's own consumption, replayed from real data.

The house is the one in the UCI "Individual household electric power
consumption" data set (Hébrail & Bérard, CC BY 4.0; see examples/data/README.md),
read a minute at a time from the excerpt committed in examples/data. The
water heater's sub-meter is taken out: the demo has its own, controllable,
water heater. The replay runs faster than real time (12 minutes of data a
minute by default) from a busy evening, so the panel's limit is crossed
within the first minutes.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime, timedelta
import gzip
import logging
from pathlib import Path

from homeassistant.components.sensor import SensorDeviceClass, SensorEntity, SensorStateClass
from homeassistant.const import UnitOfPower
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddEntitiesCallback
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.typing import ConfigType, DiscoveryInfoType
from homeassistant.util import dt as dt_util

LOGGER = logging.getLogger(__name__)
DATA = (
    Path(__file__).resolve().parents[3] / "examples" / "data" / "uci-household-2006-12-24_2007-01-21.csv.gz"
)
TICK = timedelta(seconds=5)


@dataclass(frozen=True, slots=True)
class Minute:
    """One minute of the house: when, and what it drew besides its water heater (W)."""

    time: datetime
    base_w: float


def read_minutes(path: Path) -> list[Minute]:
    """The excerpt's minutes (the water heater and air conditioner sub-meter taken out)."""
    minutes: list[Minute] = []
    with gzip.open(path, "rt", encoding="utf-8") as rows:
        for row in csv.DictReader(rows):
            total_w = float(row["Global_active_power"]) * 1000
            water_heater_w = float(row["Sub_metering_3"]) * 60  # Wh in the minute -> W
            minutes.append(
                Minute(datetime.fromisoformat(row["date_time"]), round(max(0.0, total_w - water_heater_w)))
            )
    return minutes


async def async_setup_platform(
    hass: HomeAssistant,
    config: ConfigType,
    async_add_entities: AddEntitiesCallback,
    discovery_info: DiscoveryInfoType | None = None,
) -> None:
    """Add the replayed consumption (set up by the demo_house component)."""
    info = discovery_info or {}
    minutes = await hass.async_add_executor_job(read_minutes, Path(info.get("data", DATA)))
    start = datetime.fromisoformat(info.get("start", "2006-12-28 20:45:00"))
    first = next((index for index, minute in enumerate(minutes) if minute.time >= start), 0)
    async_add_entities([ReplayedConsumption(minutes, first, float(info.get("speed", 12)))])


class ReplayedConsumption(SensorEntity):
    """The house's consumption other than the loads Panel Capacity manages."""

    _attr_name = "Demo house consumption (real data)"
    _attr_unique_id = "demo_house_replayed_consumption"
    _attr_device_class = SensorDeviceClass.POWER
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_native_unit_of_measurement = UnitOfPower.WATT
    _attr_should_poll = False
    _attr_icon = "mdi:home-lightning-bolt-outline"

    def __init__(self, minutes: list[Minute], first: int, speed: float) -> None:
        """Replay from minute ``first``, ``speed`` data minutes per real minute."""
        self._minutes = minutes
        self._first = first
        self._speed = speed
        self._started = dt_util.utcnow()

    async def async_added_to_hass(self) -> None:
        """Move on every 5 seconds."""
        self.async_on_remove(async_track_time_interval(self.hass, self._tick, TICK))
        self._update()

    @callback
    def _tick(self, _now: datetime) -> None:
        self._update()
        self.async_write_ha_state()

    def _update(self) -> None:
        elapsed_min = (dt_util.utcnow() - self._started).total_seconds() / 60 * self._speed
        minute = self._minutes[(self._first + int(elapsed_min)) % len(self._minutes)]
        self._attr_native_value = minute.base_w
        self._attr_extra_state_attributes = {
            "data_time": minute.time.isoformat(sep=" "),
            "speed": f"{self._speed:g}x",
            "source": "UCI Individual household electric power consumption (CC BY 4.0)",
        }
