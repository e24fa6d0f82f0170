"""Development only: the demo house's own consumption, replayed from real data, and on which leg.

The house is the one in the UCI "Individual household electric power
consumption" data set (Hébrail & Bérard, CC BY 4.0; see examples/data/README.md),
read a minute at a time from the excerpt committed in examples/data. The
water heater's sub-meter is taken out: the demo has its own, controllable,
water heater. The replay runs faster than real time (12 minutes of data a
minute by default) from a busy evening, so the panel's limits are crossed
within the first minutes.

The data house is European (230 V, one phase); the demo wires it as a US
split-phase house, the way its sub-meters suggest:

- L1 carries the kitchen (``Sub_metering_1``: dishwasher, oven, microwave),
- L2 carries the laundry room (``Sub_metering_2``: washing machine, tumble
  dryer, refrigerator, a light),
- the rest of the house (everything not sub-metered: lights, sockets,
  electronics) is shared equally between L1 and L2.

So ``L1 + L2`` is the house's consumption without its water heater, to the watt.
"""

from __future__ import annotations

from collections.abc import Callable
import csv
from dataclasses import dataclass
from datetime import datetime, timedelta
import gzip
import logging
from pathlib import Path

from homeassistant.components.sensor import SensorDeviceClass, SensorEntity, SensorStateClass
from homeassistant.const import UnitOfPower
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddEntitiesCallback
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.typing import ConfigType, DiscoveryInfoType
from homeassistant.util import dt as dt_util

LOGGER = logging.getLogger(__name__)
DATA = (
    Path(__file__).resolve().parents[3] / "examples" / "data" / "uci-household-2006-12-24_2007-01-21.csv.gz"
)
TICK = timedelta(seconds=5)
SOURCE = "UCI Individual household electric power consumption (CC BY 4.0)"


@dataclass(frozen=True, slots=True)
class Minute:
    """One minute of the house: when, and what it drew besides its water heater (W), in all and a leg."""

    time: datetime
    base_w: float
    l1_w: float  # the kitchen and half the rest
    l2_w: float  # the laundry room and half the rest


def split_minute(
    time: datetime, total_w: float, kitchen_w: float, laundry_w: float, water_w: float
) -> Minute:
    """One minute of the data on the demo's legs (see the module's docstring); L1 + L2 is the base."""
    base_w = round(max(0.0, total_w - water_w))
    kitchen_w = min(kitchen_w, base_w)
    laundry_w = min(laundry_w, base_w - kitchen_w)
    l1_w = round(kitchen_w + (base_w - kitchen_w - laundry_w) / 2)
    return Minute(time, base_w, l1_w, base_w - l1_w)


def read_minutes(path: Path) -> list[Minute]:
    """The excerpt's minutes (the water heater and air conditioner sub-meter taken out)."""
    with gzip.open(path, "rt", encoding="utf-8") as rows:
        # The sub-meters are in Wh in the minute: x 60 gives their mean power in W.
        return [
            split_minute(
                datetime.fromisoformat(row["date_time"]),
                float(row["Global_active_power"]) * 1000,
                float(row["Sub_metering_1"]) * 60,
                float(row["Sub_metering_2"]) * 60,
                float(row["Sub_metering_3"]) * 60,
            )
            for row in csv.DictReader(rows)
        ]


class Replay:
    """The replay's clock: which minute of the data it is now, for every sensor at once."""

    def __init__(self, hass: HomeAssistant, minutes: list[Minute], first: int, speed: float) -> None:
        """Replay from minute ``first``, ``speed`` data minutes per real minute, from now."""
        self._hass = hass
        self._minutes = minutes
        self._first = first
        self.speed = speed
        self._started = dt_util.utcnow()
        self._listeners: list[Callable[[], None]] = []
        self._cancel: CALLBACK_TYPE | None = None

    def minute(self) -> Minute:
        """The minute of the data being replayed now."""
        elapsed_min = (dt_util.utcnow() - self._started).total_seconds() / 60 * self.speed
        return self._minutes[(self._first + int(elapsed_min)) % len(self._minutes)]

    @callback
    def subscribe(self, listener: Callable[[], None]) -> CALLBACK_TYPE:
        """Call ``listener`` every tick (all of them on the same tick); returns how to stop."""
        self._listeners.append(listener)
        if self._cancel is None:
            self._cancel = async_track_time_interval(self._hass, self._tick, TICK)

        @callback
        def unsubscribe() -> None:
            self._listeners.remove(listener)
            if not self._listeners and self._cancel is not None:
                self._cancel()
                self._cancel = None

        return unsubscribe

    @callback
    def _tick(self, _now: datetime) -> None:
        for listener in list(self._listeners):
            listener()


async def async_setup_platform(
    hass: HomeAssistant,
    config: ConfigType,
    async_add_entities: AddEntitiesCallback,
    discovery_info: DiscoveryInfoType | None = None,
) -> None:
    """Add the replayed consumption, in all and on each leg (set up by the demo_house component)."""
    info = discovery_info or {}
    minutes = await hass.async_add_executor_job(read_minutes, Path(info.get("data", DATA)))
    start = datetime.fromisoformat(info.get("start", "2006-12-28 20:45:00"))
    first = next((index for index, minute in enumerate(minutes) if minute.time >= start), 0)
    replay = Replay(hass, minutes, first, float(info.get("speed", 12)))
    async_add_entities(
        [
            ReplayedConsumption(replay, "", "demo_house_replayed_consumption", lambda m: m.base_w),
            ReplayedConsumption(replay, " L1", "demo_house_replayed_consumption_l1", lambda m: m.l1_w),
            ReplayedConsumption(replay, " L2", "demo_house_replayed_consumption_l2", lambda m: m.l2_w),
        ]
    )


class ReplayedConsumption(SensorEntity):
    """The house's consumption other than the loads Panel Capacity manages (in all, or on one leg)."""

    _attr_device_class = SensorDeviceClass.POWER
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_native_unit_of_measurement = UnitOfPower.WATT
    _attr_should_poll = False
    _attr_icon = "mdi:home-lightning-bolt-outline"

    def __init__(self, replay: Replay, leg: str, unique_id: str, value: Callable[[Minute], float]) -> None:
        """A sensor of ``replay``: ``leg`` is "" for the whole house, " L1" or " L2" for a leg."""
        self._replay = replay
        self._value = value
        self._attr_name = f"Demo house consumption{leg} (real data)"
        self._attr_unique_id = unique_id

    async def async_added_to_hass(self) -> None:
        """Move on every 5 seconds, on the replay's own tick."""
        self.async_on_remove(self._replay.subscribe(self._tick))
        self._update()

    @callback
    def _tick(self) -> None:
        self._update()
        self.async_write_ha_state()

    def _update(self) -> None:
        minute = self._replay.minute()
        self._attr_native_value = self._value(minute)
        self._attr_extra_state_attributes = {
            "data_time": minute.time.isoformat(sep=" "),
            "speed": f"{self._replay.speed:g}x",
            "source": SOURCE,
        }
