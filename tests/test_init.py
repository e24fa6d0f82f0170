"""Setup, unload, removal, repairs, diagnostics, and the engine's independence from Home Assistant."""

from __future__ import annotations

import ast
from pathlib import Path
import subprocess
import sys
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import get_diagnostics_for_config_entry

from custom_components.panel_capacity.const import DOMAIN
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, issue_registry as ir

from .conftest import (
    BASE,
    PANEL_DATA,
    SITE,
    WATER_HEATER_DATA,
    advance,
    load_subentry,
    set_number,
    subentry_id,
)

ENGINE_DIR = Path(__file__).parent.parent / "custom_components" / "panel_capacity" / "engine"


def test_engine_imports_nothing_but_the_standard_library() -> None:
    for path in ENGINE_DIR.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: another engine module
                    continue
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in sys.stdlib_module_names, f"{path.name} imports {name}"


def test_engine_runs_where_home_assistant_cannot_be_imported() -> None:
    code = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] == 'homeassistant':
            raise ImportError('no Home Assistant here')
sys.meta_path.insert(0, Block())
sys.path.insert(0, sys.argv[1])
from engine import CapacityEngine, PanelConfig, ControlSettings, LoadConfig, StepInput, SiteReading, LoadInput
e = CapacityEngine(PanelConfig(rating_a=30, voltage_v=240), ControlSettings(), [LoadConfig(load_id='a', nominal_w=1000)])
r = e.step(StepInput(now=1.0, site=SiteReading(9000.0, 1.0), loads={'a': LoadInput(is_on=True)}))
assert [a.load_id for a in r.actions] == ['a']
assert 'homeassistant' not in sys.modules
print('ok')
"""
    result = subprocess.run(
        [sys.executable, "-c", code, str(ENGINE_DIR.parent)], capture_output=True, text=True, check=False
    )
    assert result.stdout.strip() == "ok", result.stderr


async def test_invalid_configuration_fails_setup_clearly(hass: HomeAssistant, house: None) -> None:
    entry = MockConfigEntry(domain=DOMAIN, title="Broken", data=PANEL_DATA | {"rating_a": 0})
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert (
        entry.reason
        == "The panel's configuration cannot be used: panel rating (A) must be from 1 to 2000, not 0. Reconfigure the panel"
    )


async def test_devices_one_per_panel_and_load(hass: HomeAssistant, loaded_entry: MockConfigEntry) -> None:
    registry = dr.async_get(hass)
    panel = registry.async_get_device_by_identifier((DOMAIN, loaded_entry.entry_id), loaded_entry.entry_id)
    assert panel is not None
    assert panel.name == "Main panel"
    for title in ("Water heater", "EV charger"):
        load_id = subentry_id(loaded_entry, title)
        device = registry.async_get_device_by_identifier((DOMAIN, load_id), loaded_entry.entry_id)
        assert device is not None
        assert device.name == title
        assert device.via_device_id == panel.id
        assert device.config_entry_id == loaded_entry.entry_id
        assert device.config_subentry_id == load_id


async def test_removing_the_entry_forgets_its_storage(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, hass_storage: dict[str, Any]
) -> None:
    await set_number(hass, BASE, 9000)
    await hass.config_entries.async_unload(loaded_entry.entry_id)
    assert f"{DOMAIN}.{loaded_entry.entry_id}" in hass_storage
    await hass.config_entries.async_remove(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert f"{DOMAIN}.{loaded_entry.entry_id}" not in hass_storage


@pytest.mark.parametrize(
    "panel_loads",
    [[load_subentry("Water heater", WATER_HEATER_DATA | {"power_sensor": "sensor.water_heater_power"})]],
)
async def test_missing_entity_raises_a_repairs_issue_until_it_returns(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    issues = ir.async_get(hass)
    missing = "sensor.water_heater_power"
    issue_id = f"missing_{loaded_entry.entry_id}_{missing}"
    await advance(hass, freezer, 30)
    assert issues.async_get_issue(DOMAIN, issue_id) is None  # a grace period first
    await advance(hass, freezer, 40)
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "entity_missing"
    assert issue.translation_placeholders == {"entity_id": missing, "panel": "Main panel"}
    state = hass.states.get("binary_sensor.main_panel_sensor_problem")
    assert state.state == "on"
    assert state.attributes["missing_entities"] == [missing]
    # The panel is still controlled without it.
    assert hass.states.get("sensor.main_panel_controller_state").state == "normal"
    hass.states.async_set(missing, "1800", {"unit_of_measurement": "W"})
    await advance(hass, freezer, 5)
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    assert hass.states.get("binary_sensor.main_panel_sensor_problem").state == "off"
    # Unloading clears what it raised.
    hass.states.async_remove(missing)
    await advance(hass, freezer, 70)
    assert issues.async_get_issue(DOMAIN, issue_id) is not None
    await hass.config_entries.async_unload(loaded_entry.entry_id)
    assert issues.async_get_issue(DOMAIN, issue_id) is None


async def test_diagnostics(hass: HomeAssistant, hass_client, loaded_entry: MockConfigEntry) -> None:
    await set_number(hass, BASE, 3000)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, loaded_entry)
    assert diagnostics["entry"]["data"] == PANEL_DATA
    assert diagnostics["panel"]["rating_w"] == 9600
    assert diagnostics["site_sensors"] == [SITE]
    assert [load["actuator"] for load in diagnostics["loads"]] == [
        "input_boolean.water_heater",
        "input_number.ev_current",
    ]
    assert diagnostics["loads"][0]["config"]["name"] == "**REDACTED**"
    assert diagnostics["status"]["state"] == "restoring"
    assert diagnostics["status"]["limit"]["binding"] == "panel"
    ev_id = subentry_id(loaded_entry, "EV charger")
    assert diagnostics["memory"]["loads"][ev_id]["held"] == "reduced"
    assert diagnostics["recent_actions"][0]["load"] == "**REDACTED**"
    assert diagnostics["recent_actions"][0]["action"] == "set_level"
    assert diagnostics["enabled"] is True
