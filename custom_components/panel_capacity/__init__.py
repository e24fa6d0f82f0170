"""Panel Capacity: keep a panel under its limit by shedding and restoring loads."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryError
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.translation import async_get_translations
from homeassistant.helpers.typing import ConfigType
from homeassistant.util.hass_dict import HassKey

from .configuration import load_data_from_v1, setup_from_entry
from .const import (
    CONF_SUPPLY,
    CONFIG_VERSION,
    DOMAIN,
    LOGGER,
    MANUFACTURER,
    MODEL_PANEL,
    PLATFORMS,
    SUBENTRY_LOAD,
)
from .coordinator import PanelCapacityConfigEntry, PanelCapacityCoordinator, PanelCapacityRuntimeData
from .engine import ConfigError, Supply
from .grid_coordinator import GridCoordinator
from .orphans import async_adopt_orphans
from .services import async_setup_services

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)
# Controllers of panels unloaded but not for good (a reload, or an unload that may be one):
# the next set-up carries on from one, a removal gives back what it holds.
SUSPENDED: HassKey[dict[str, PanelCapacityCoordinator]] = HassKey(f"{DOMAIN}_suspended")


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Set up the integration's service actions (there is no YAML configuration)."""
    async_setup_services(hass)
    # The logbook describes events synchronously: have its words ready in the cache.
    await async_get_translations(hass, hass.config.language, "logbook", [DOMAIN])
    return True


async def async_migrate_entry(hass: HomeAssistant, entry: PanelCapacityConfigEntry) -> bool:
    """Bring an entry made by an older version to today's schema.

    Version 1 to 2: each load is wired to the panel itself (node "main"), on
    the conductors its phases say (see load_data_from_v1). The panel's data is
    unchanged: per-conductor meters are new and optional. (An entry of a newer
    version than the flow's is refused by Home Assistant before it gets here.)
    """
    if entry.version == 1:
        supply = Supply(entry.data[CONF_SUPPLY])
        for subentry in list(entry.subentries.values()):
            if subentry.subentry_type == SUBENTRY_LOAD:
                hass.config_entries.async_update_subentry(
                    entry, subentry, data=load_data_from_v1(supply, subentry.data)
                )
        hass.config_entries.async_update_entry(entry, version=CONFIG_VERSION, minor_version=1)
        LOGGER.info(
            "Migrated %s to version %s: every load is on the panel itself", entry.title, CONFIG_VERSION
        )
    return True


async def async_setup_entry(hass: HomeAssistant, entry: PanelCapacityConfigEntry) -> bool:
    """Set up one panel from its config entry."""
    previous = hass.data.setdefault(SUSPENDED, {}).pop(entry.entry_id, None)
    # Removed while the panel was not running: what hung on a removed node now hangs on the panel.
    async_adopt_orphans(hass, entry, {})
    configured = _configuration(entry)
    try:
        setup = setup_from_entry(entry)
        coordinator = PanelCapacityCoordinator(hass, entry, setup)
    except (ConfigError, KeyError, ValueError) as err:
        if previous is not None:
            # Reloaded into a configuration that cannot run: nothing would hold the loads.
            await previous.async_release()
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="invalid_configuration",
            translation_placeholders={"error": str(err)},
        ) from err
    await coordinator.async_load()
    if previous is not None:
        coordinator.take_over(previous)
    grid = GridCoordinator(hass, entry)
    await grid.async_load()
    coordinator.grid = grid
    grid.on_change = coordinator.async_request_step
    # Whatever the grid learns (an answer, a grant, a cancellation), the panel steps on it at once.
    entry.async_on_unload(grid.async_add_listener(coordinator.async_request_step))
    panel_device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, entry.entry_id)},
        name=entry.title,
        manufacturer=MANUFACTURER,
        model=MODEL_PANEL,
        entry_type=dr.DeviceEntryType.SERVICE,
    )
    coordinator.panel_device_id = panel_device.id
    entry.runtime_data = PanelCapacityRuntimeData(coordinator=coordinator, grid=grid)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    coordinator.async_start()
    entry.async_on_unload(grid.async_shutdown_timers)
    grid.async_track_boundaries()
    if grid.server is not None:
        # Polls go on whether or not any grid sensor is enabled (the loop reads the grid directly).
        entry.async_on_unload(grid.async_add_listener(lambda: None))
        # The server may be slow or down: control starts now, the grid's limits follow.
        entry.async_create_background_task(hass, grid.async_refresh(), f"{DOMAIN} first grid poll")
    entry.async_on_unload(entry.add_update_listener(_async_entry_updated))
    if _configuration(entry) != configured:
        # Changed while this set-up ran (a load added just after another, its reload still under
        # way): no update listener was there to hear it, and this set-up read it too early.
        hass.config_entries.async_schedule_reload(entry.entry_id)
    return True


def _configuration(entry: PanelCapacityConfigEntry) -> tuple[Any, ...]:
    """What a set-up reads of its entry: the panel, its options, its nodes and loads."""
    subentries = {
        sid: (sub.subentry_type, sub.title, dict(sub.data)) for sid, sub in entry.subentries.items()
    }
    return entry.title, dict(entry.data), dict(entry.options), subentries


async def async_unload_entry(hass: HomeAssistant, entry: PanelCapacityConfigEntry) -> bool:
    """Unload a panel; only when that is for good are the loads it holds given back.

    Disabled: for good, every load is given back. Otherwise (a reload, for a
    changed configuration or asked for; an unload that a removal follows) what
    it holds stays held, with no command at all: the next set-up takes it over,
    a removal gives it back (async_remove_entry). Home Assistant stopping does
    not unload entries: a restart, too, keeps what is held.
    """
    coordinator = entry.runtime_data.coordinator
    if entry.disabled_by is not None:
        await coordinator.async_release()
    else:
        await coordinator.async_suspend()
        hass.data.setdefault(SUSPENDED, {})[entry.entry_id] = coordinator
    await entry.runtime_data.grid.async_unload()
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def _async_entry_updated(hass: HomeAssistant, entry: PanelCapacityConfigEntry) -> None:
    """Reload when the options, the panel, the nodes or the loads change.

    A node removed with something below it: what hung on it moves up
    (orphans). Each of those moves is an update of its own, run at once within
    this one (Home Assistant runs listeners eagerly): they are left to this
    call, which reloads once.
    """
    coordinator = entry.runtime_data.coordinator
    if coordinator.moving_orphans:
        return
    coordinator.moving_orphans = True
    try:
        async_adopt_orphans(hass, entry, {node.subentry_id: node for node in coordinator.setup.nodes})
    finally:
        coordinator.moving_orphans = False
    hass.config_entries.async_schedule_reload(entry.entry_id)


async def async_remove_entry(hass: HomeAssistant, entry: PanelCapacityConfigEntry) -> None:
    """A panel removed: give back what it held when it was unloaded, and forget its memory."""
    previous = hass.data.setdefault(SUSPENDED, {}).pop(entry.entry_id, None)
    if previous is not None:
        await previous.async_release()
    await PanelCapacityCoordinator.async_remove_store(hass, entry)
    await GridCoordinator.async_remove_store(hass, entry)
