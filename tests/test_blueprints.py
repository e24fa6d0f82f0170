"""The blueprints load into Home Assistant and do their job on real events of the integration."""

from __future__ import annotations

from pathlib import Path
import shutil

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

from .conftest import BASE, METER_ONLINE, advance, set_number, set_switch

BLUEPRINTS = Path(__file__).parent.parent / "blueprints"


@pytest.fixture
def blueprint_dir(hass: HomeAssistant, tmp_path: Path) -> None:
    """A config directory holding the repository's blueprints, as an import would place them."""
    hass.config.config_dir = str(tmp_path)
    shutil.copytree(BLUEPRINTS, tmp_path / "blueprints")


async def notify_automation(hass: HomeAssistant, entry: MockConfigEntry, include_restores: bool) -> None:
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "alias": "Tell me",
                "use_blueprint": {
                    "path": "panel_capacity/notify_on_actions.yaml",
                    "input": {
                        "panel": entry.entry_id,
                        "include_restores": include_restores,
                        "then": [{"event": "told", "event_data": {"message": "{{ message }}"}}],
                    },
                },
            }
        },
    )
    await hass.async_block_till_done()


@pytest.mark.usefixtures("blueprint_dir")
async def test_notify_on_shed_restore_and_fail_safe(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    await notify_automation(hass, loaded_entry, include_restores=True)
    told = async_capture_events(hass, "told")
    await set_number(hass, BASE, 3000)
    assert [event.data["message"] for event in told] == [
        "EV charger turned down (over limit): 8640 W of 7680 W."
    ]
    await set_number(hass, BASE, 1000)
    await advance(hass, freezer, 35)
    assert told[-1].data["message"] == "EV charger is back on."
    await set_switch(hass, METER_ONLINE, False)
    await advance(hass, freezer, 65)
    assert "Panel sensor silent: managed loads are in their safe state." in [e.data["message"] for e in told]
    await set_switch(hass, METER_ONLINE, True)
    assert told[-1].data["message"] == "Panel sensor is back."


@pytest.mark.usefixtures("blueprint_dir")
async def test_notify_without_restores(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    await notify_automation(hass, loaded_entry, include_restores=False)
    told = async_capture_events(hass, "told")
    await set_number(hass, BASE, 9000)
    assert [event.data["message"] for event in told] == [
        "EV charger turned off (over limit): 14640 W of 7680 W.",
        "Water heater turned off (over limit): 14640 W of 7680 W.",
        "Cannot get under the limit (14640 W of 7680 W) even with every load shed.",
    ]
    await set_number(hass, BASE, 500)
    await advance(hass, freezer, 300)
    assert len(told) == 3
