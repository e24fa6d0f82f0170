"""The demo house of scripts/develop: its panel made through the flows, a plant whose meters add up, a leg shed early.

The house is config/configuration.yaml with the dev-only config/custom_components/demo_house.
"""

from __future__ import annotations

from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.panel_capacity.const import DOMAIN, EVENT_ACTION, SUBENTRY_LOAD, SUBENTRY_NODE
from custom_components.panel_capacity.engine import ROOT, Conductor, FlowSource
from homeassistant.core import Event, HomeAssistant, callback

from .conftest import advance, load_subentry, set_number, set_switch, settle
from .demo_house import EV, EXTRA, GARAGE, L1, L2, TOTAL, find_demo_house, set_up_demo_house, watts

HEAT_PUMP = "input_boolean.demo_heat_pump"
WATER_HEATER = "input_boolean.demo_water_heater"
SPACE_HEATER = "input_boolean.demo_space_heater"
PLUGGED_IN = "input_boolean.demo_ev_plugged_in"


@pytest.fixture
def expected_lingering_timers() -> bool:
    """The demo's meters report on a time pattern, which Home Assistant leaves scheduled when it stops."""
    return True


@pytest.fixture(autouse=True)
def _demo_house_found(monkeypatch: pytest.MonkeyPatch) -> None:
    find_demo_house(monkeypatch)


def the_panel(hass: HomeAssistant) -> Any:
    (entry,) = hass.config_entries.async_entries(DOMAIN)
    return entry


async def test_the_demo_adds_its_panel_garage_and_loads_through_the_flows(hass: HomeAssistant) -> None:
    await set_up_demo_house(hass)
    entry = the_panel(hass)
    assert entry.title == "Demo panel"
    assert entry.data["rating_a"] == 100
    assert (entry.data["site_sensor"], entry.data["l1_sensor"], entry.data["l2_sensor"]) == (TOTAL, L1, L2)
    nodes = {sid: sub for sid, sub in entry.subentries.items() if sub.subentry_type == SUBENTRY_NODE}
    ((garage_id, garage),) = nodes.items()
    assert garage.title == "Garage"
    assert dict(garage.data) == {
        "parent": ROOT,
        "rating_a": 40,
        "continuous_pct": 80,
        "conductors": ["l1", "l2"],
        "power_sensor": GARAGE,
    }
    loads = [sub for sub in entry.subentries.values() if sub.subentry_type == SUBENTRY_LOAD]
    wiring = [(sub.title, sub.data["node"], sub.data["conductors"]) for sub in loads]
    assert wiring == [  # most important first
        ("Heat pump", ROOT, ["l1", "l2"]),
        ("Water heater", ROOT, ["l1", "l2"]),
        ("EV charger", garage_id, ["l1", "l2"]),
        ("Space heater", garage_id, ["l1"]),
    ]
    root = entry.runtime_data.coordinator.data.nodes[ROOT]
    assert root.conductors[Conductor.L1].limit.effective_w == 9600
    assert root.conductors[Conductor.L2].source is FlowSource.MEASURED
    assert entry.runtime_data.coordinator.data.nodes[garage_id].total.limit.effective_w == 7680
    # A second start: the demo adds nothing more.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


async def test_the_meters_add_up_and_follow_each_load(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, state_of
) -> None:
    """The true plant: a 240 V load half on each leg, a 120 V load all on its own; the garage holds its loads.

    The clock stands still (freezer) but when moved, so the replayed minute does not change under the test.
    """
    await set_up_demo_house(hass)
    await advance(hass, freezer, 5)  # the meters' first report with the replayed data
    # Monitor only: Panel Capacity watches and does nothing, so only this test moves the loads.
    await hass.services.async_call(
        "switch", "turn_off", {"entity_id": "switch.demo_panel_capacity_management"}, blocking=True
    )
    await settle(hass)
    assert state_of("sensor.demo_panel_controller_state") == "monitoring"
    for entity_id in (HEAT_PUMP, WATER_HEATER, SPACE_HEATER, PLUGGED_IN):
        await set_switch(hass, entity_id, True)
    await set_number(hass, EV, 32)

    def meters() -> tuple[float, float, float, float]:
        return watts(hass, TOTAL), watts(hass, L1), watts(hass, L2), watts(hass, GARAGE)

    replayed_l1 = watts(hass, "sensor.demo_house_consumption_l1_real_data")
    replayed_l2 = watts(hass, "sensor.demo_house_consumption_l2_real_data")
    assert replayed_l1 + replayed_l2 == watts(hass, "sensor.demo_house_consumption_real_data")
    total, l1, l2, garage = meters()
    assert total == l1 + l2
    # Everything on, as at the first start: 3000 + 4500 + 32 A x 240 V on both legs, 1500 on L1.
    assert l1 == replayed_l1 + (3000 + 4500 + 7680) / 2 + 1500
    assert l2 == replayed_l2 + (3000 + 4500 + 7680) / 2
    assert garage == 7680 + 1500
    for entity_id, on_l1, on_l2, in_garage in (
        (HEAT_PUMP, 1500, 1500, 0),
        (WATER_HEATER, 2250, 2250, 0),
        (SPACE_HEATER, 1500, 0, 1500),
        (PLUGGED_IN, 3840, 3840, 7680),
    ):
        await set_switch(hass, entity_id, False)
        after = meters()
        assert after == (total - on_l1 - on_l2, l1 - on_l1, l2 - on_l2, garage - in_garage), entity_id
        total, l1, l2, garage = after
    assert garage == 0
    await set_switch(hass, PLUGGED_IN, True)
    await set_number(hass, EV, 10)
    assert meters() == (total + 2400, l1 + 1200, l2 + 1200, 2400)
    await set_number(hass, EXTRA, 2000)  # the slider's extra load is on L1
    assert meters() == (total + 4400, l1 + 3200, l2 + 1200, 2400)


async def test_a_leg_over_its_limit_while_the_total_is_under_within_the_first_minutes(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """What a newcomer sees: a leg (80 A, 9.6 kW) relieved while the house is under its 19.2 kW."""
    seen: dict[str, float] = {}
    leg_sheds: list[dict[str, Any]] = []
    reasons: list[str] = []

    @callback
    def record(event: Event) -> None:
        if event.event_type == EVENT_ACTION:
            reasons.append(event.data["reason"])
        if event.event_type == "state_changed" and event.data["entity_id"] == TOTAL:
            seen["total"] = float(event.data["new_state"].state)
        elif (
            event.event_type == EVENT_ACTION
            and event.data["reason"] == "over_limit"
            and (event.data["node_id"], event.data["limit_w"]) == ("main", 9600)
            and event.data["conductor"] in ("l1", "l2")
            and seen["total"] < 19200
        ):
            leg_sheds.append(dict(event.data))

    hass.bus.async_listen("*", record)
    await set_up_demo_house(hass)
    await advance(hass, freezer, 180)
    assert leg_sheds, "no load was shed for a leg in the first 3 minutes"
    shed = leg_sheds[0]
    assert shed["site_power_w"] > 9600  # the leg's reading
    assert shed["load"] in ("Heat pump", "Water heater", "EV charger", "Space heater")
    # The panel got its whole configuration before the loads came on: nothing was given back
    # by a reload in between (and shed again).
    assert "released" not in reasons


async def test_a_panel_made_by_the_earlier_demo_keeps_working(hass: HomeAssistant, state_of) -> None:
    """A config/ made before the tree: a 60 A panel measured by its total, three loads, version 1."""
    switch = {"min_on_s": 0, "min_off_s": 60, "never_shed": False}
    ev = {"unit": "A", "min": 6, "max": 32, "step": 1, "allow_off": True}
    entry = MockConfigEntry(
        domain=DOMAIN,
        version=1,
        title="Demo panel",
        data={
            "supply": "split_phase",
            "rating_a": 60,
            "voltage_v": 240,
            "continuous_pct": 80,
            "metering": "net",
            "site_sensor": TOTAL,
        },
        subentries_data=[
            load_subentry(
                "Heat pump",
                switch | {"actuator": HEAT_PUMP, "nominal_w": 3000, "min_on_s": 180, "min_off_s": 180},
            ),
            load_subentry("Water heater", switch | {"actuator": WATER_HEATER, "nominal_w": 4500}),
            load_subentry(
                "EV charger",
                switch
                | ev
                | {"actuator": EV, "power_sensor": "sensor.demo_ev_charger_power", "min_off_s": 0},
            ),
        ],
    )
    entry.add_to_hass(hass)
    await set_up_demo_house(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert the_panel(hass) is entry  # the demo adds no second panel
    assert entry.version == 2
    assert not [sub for sub in entry.subentries.values() if sub.subentry_type == SUBENTRY_NODE]
    # Measured by its total as before: the house of today's demo (12 kW and more) is shed to 11.52 kW.
    await set_switch(hass, HEAT_PUMP, True)
    await set_switch(hass, WATER_HEATER, True)
    await set_switch(hass, PLUGGED_IN, True)
    await set_number(hass, EV, 32)
    await settle(hass)
    assert watts(hass, TOTAL) <= 11520
    assert state_of("sensor.ev_charger_state") in ("reduced", "shed", "held_off")
