"""A panel's recorded history, from Home Assistant's long-term statistics, for planning a new load."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from homeassistant.components.recorder import get_instance
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .simulation.dataset import Series
from .simulation.plan import PeakDemand

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from .coordinator import PanelCapacityCoordinator

HOUR_S = 3600.0


@dataclass(slots=True)
class PanelHistory:
    """Hourly site power, the highest 15-minute demand, and whether loads were shed meanwhile."""

    series: Series | None
    demand: PeakDemand
    shaving: bool


def _entity_id(hass: HomeAssistant, coordinator: PanelCapacityCoordinator, key: str) -> str | None:
    unique_id = f"{coordinator.config_entry.entry_id}_{key}"
    return er.async_get(hass).async_get_entity_id("sensor", DOMAIN, unique_id)


async def async_panel_history(
    hass: HomeAssistant, coordinator: PanelCapacityCoordinator, days: int
) -> PanelHistory:
    """Read up to ``days`` of the panel's own sensors' hourly statistics."""
    site = _entity_id(hass, coordinator, "site_power")
    demand = _entity_id(hass, coordinator, "demand_15min")
    actions = _entity_id(hass, coordinator, "actions_today")
    ids = {entity_id for entity_id in (site, demand, actions) if entity_id is not None}
    end = dt_util.utcnow()
    rows = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        end - timedelta(days=days),
        end,
        ids,
        "hour",
        None,
        {"mean", "max", "change"},
    )
    series = None
    site_rows = [row for row in rows.get(site or "", []) if row.get("mean") is not None]
    if len(site_rows) >= 2:  # noqa: PLR2004 - two hours make the shortest history worth running
        series = Series(
            times=[float(row["start"]) for row in site_rows],
            total_w=[float(row["mean"] or 0.0) for row in site_rows],
        )
        series.end = series.times[-1] + HOUR_S
    demand_rows = [row for row in rows.get(demand or "", []) if row.get("max") is not None]
    peak = None
    if demand_rows:
        top = max(demand_rows, key=lambda row: float(row["max"] or 0.0))
        peak = PeakDemand(float(top["max"] or 0.0), float(top["start"]), len(demand_rows) / 24.0)
    # Any action in the window means the history was recorded while shaving peaks.
    shed = sum(float(row.get("change") or 0.0) for row in rows.get(actions or "", []))
    return PanelHistory(
        series=series,
        demand=peak if peak is not None else PeakDemand(None, None, 0.0),
        shaving=shed > 0,
    )
