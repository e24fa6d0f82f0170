"""The grid under the faults found against the reference VTN (issue 11, section 2), end to end.

Each test plays, on the spec-shaped fake VTN, the server behaviour that showed
the defect, in a real Home Assistant with our client on 127.0.0.1.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest

from custom_components.panel_capacity.const import CONF_GRID_SERVER, CONF_PROTOCOL_VERSION, DOMAIN
from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.const import CONF_CLIENT_ID, CONF_CLIENT_SECRET
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from . import test_grid_server
from .openadr_vtn import FEE_AT_ZERO_KW, FEE_ON_THE_KW, FEE_ONLY, CapacityUtility, FakeVtn
from .test_grid_server import (
    BINDING,
    CONNECTION,
    LIMIT,
    at,
    at_moment,
    cancel,
    poll,
    reserve,
    setup_panel,
)

# The server tests' fixtures: a fake VTN (3.1.0) serving the program "dycm", the clock at 12:00.
version = test_grid_server.version
vtn = test_grid_server.vtn

pytestmark = pytest.mark.usefixtures("socket_enabled")

SUBSCRIPTION = "sensor.main_panel_subscription"
LAST_REQUEST = "sensor.main_panel_last_reservation_request"


def offer() -> list[tuple[Any, timedelta, float, float]]:
    """4 kW more on offer every hour from 12:00 at 0.5 per kW."""
    return [(at(hour), timedelta(hours=1), 4.0, 0.5) for hour in range(12, 24)]


def business(vtn: FakeVtn, **options: Any) -> CapacityUtility:
    """The utility's business logic with a 5 kW subscription, installed."""
    utility = CapacityUtility(
        vtn,
        program_id=next(iter(vtn.programs)),
        ven_name="home-1",
        subscription_kw=5.0,
        availability=offer(),
        **options,
    )
    utility.install()
    return utility


def reauth_flows(hass: HomeAssistant) -> list[dict[str, Any]]:
    return [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"]["source"] == SOURCE_REAUTH
    ]


# ------------------------------------------- 1. what we cancelled stops raising the limit


async def test_a_cancelled_reservation_stops_raising_the_limit_while_the_server_still_lists_it(
    hass: HomeAssistant, house: None, vtn: FakeVtn, freezer: FrozenDateTimeFactory, state_of
) -> None:
    # The reference VTN deletes the report but has no business logic to withdraw the grant.
    utility = business(vtn, withdraw_on_delete=False)
    entry = await setup_panel(hass, vtn.url)
    first = await reserve(hass, entry, power_kw=1.5, max_fee_per_kw=1.0)
    second = await reserve(hass, entry, power_kw=1, max_fee_per_kw=1.0)
    assert [first["status"], second["status"]] == ["granted", "granted"]
    await at_moment(hass, freezer, at(12, 15))
    assert float(state_of(LIMIT)) == 7500
    cancelled = await cancel(hass, entry, first["request_id"])
    assert cancelled["status"] == "cancelled"
    assert vtn.deleted_reports  # the report is gone...
    assert len(utility.reservations) == 2  # ...and the grant still listed
    assert float(state_of(LIMIT)) == 6000  # at once: only the other grant raises it
    assert float(state_of("sensor.main_panel_reserved_capacity_now")) == 1.0
    assert float(state_of("sensor.main_panel_reservation_fees_committed")) == 0.5
    await poll(hass, freezer, 120)
    assert state_of(CONNECTION) == "connected"
    assert float(state_of(LIMIT)) == 6000  # polls that still list it change nothing
    # A new grant: the list is restated, still with the cancelled one, which still counts for nothing.
    third = await reserve(hass, entry, power_kw=0.5, max_fee_per_kw=1.0)
    assert third["status"] == "granted"
    assert len(utility.reservations) == 3
    assert float(state_of(LIMIT)) == 6500
    # The server restates its list without it at last: nothing more to take off.
    utility.reservations = [r for r in utility.reservations if r.report_id != vtn.deleted_reports[0]["id"]]
    utility._publish_reservations()
    await poll(hass, freezer, 60)
    assert float(state_of(LIMIT)) == 6500
    await at_moment(hass, freezer, at(13, 15))
    assert float(state_of(LIMIT)) == 5000


# ------------------------------ 2. a brief 401 is ridden out; polling never stops for good


async def test_a_brief_401_is_ridden_out_and_refused_credentials_never_stop_polling(
    hass: HomeAssistant, house: None, vtn: FakeVtn, freezer: FrozenDateTimeFactory, state_of
) -> None:
    business(vtn)
    entry = await setup_panel(hass, vtn.url)
    grid = entry.runtime_data.grid
    # A token refused even once renewed, for one poll: no one is asked for anything.
    vtn.fail_next(401, count=2, path_contains="/events")
    await poll(hass, freezer, 60)
    assert state_of(CONNECTION) == "auth_failed"
    assert float(state_of(LIMIT)) == 5000
    assert reauth_flows(hass) == []
    await poll(hass, freezer, 120)
    assert state_of(CONNECTION) == "connected"
    assert grid.update_interval == timedelta(seconds=60)
    # Credentials refused poll after poll: asked for on the third, and the polls go on.
    vtn.reject_credentials = True
    vtn.revoke_tokens()
    await poll(hass, freezer, 60)
    await poll(hass, freezer, 120)
    assert reauth_flows(hass) == []
    await poll(hass, freezer, 120)
    assert state_of(CONNECTION) == "auth_failed"
    assert len(reauth_flows(hass)) == 1
    assert grid.update_interval == timedelta(seconds=120)
    # The server takes them again by itself: polling notices, the request for new ones is withdrawn.
    vtn.reject_credentials = False
    await poll(hass, freezer, 120)
    assert state_of(CONNECTION) == "connected"
    assert reauth_flows(hass) == []
    # Refused again; reauthentication with the same, valid secret: polling resumes at once.
    vtn.reject_credentials = True
    vtn.revoke_tokens()
    for seconds in (60, 120, 120):
        await poll(hass, freezer, seconds)
    flows = reauth_flows(hass)
    assert len(flows) == 1
    vtn.reject_credentials = False
    polls = len(vtn.requests)
    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {CONF_CLIENT_ID: "ha-ven", CONF_CLIENT_SECRET: "s3cret"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state_of(CONNECTION) == "connected"  # without waiting for the next poll
    assert grid.update_interval == timedelta(seconds=60)
    assert entry.runtime_data.grid is grid  # no reload was needed
    assert any(path == "/events" for _m, path, _q in vtn.requests[polls:])


async def test_saving_the_server_settings_unchanged_polls_again(
    hass: HomeAssistant, house: None, vtn: FakeVtn, freezer: FrozenDateTimeFactory, state_of
) -> None:
    business(vtn)
    entry = await setup_panel(hass, vtn.url)
    vtn.down = True
    await poll(hass, freezer, 60)
    assert state_of(CONNECTION) == "unreachable"
    vtn.down = False
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "grid_server"}
    )
    unchanged = {k: v for k, v in entry.data[CONF_GRID_SERVER].items() if k != CONF_CLIENT_SECRET}
    result = await hass.config_entries.options.async_configure(result["flow_id"], unchanged)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state_of(CONNECTION) == "connected"
    assert entry.runtime_data.grid.update_interval == timedelta(seconds=60)


# ------------------------------------------ 3. and 4. outages: back-off capped, envelopes kept


async def test_an_outage_keeps_the_envelope_to_its_end_and_a_returning_server_is_noticed_soon(
    hass: HomeAssistant, house: None, vtn: FakeVtn, freezer: FrozenDateTimeFactory, state_of
) -> None:
    utility = business(vtn)
    entry = await setup_panel(hass, vtn.url)
    grid = entry.runtime_data.grid
    utility.doe(at(12), timedelta(minutes=30), import_kw=[3.0, 4.0])
    await poll(hass, freezer, 60)
    assert float(state_of(LIMIT)) == 3000
    vtn.down = True
    intervals = []
    for _ in range(8):  # 13 minutes unreachable
        await poll(hass, freezer, grid.update_interval.total_seconds())
        intervals.append(grid.update_interval.total_seconds())
    assert state_of(CONNECTION) == "unreachable"
    assert max(intervals) == 120  # two poll intervals at most
    # The envelope the utility set for this interval still holds; the state says it is kept.
    assert state_of(BINDING) == "envelope"
    assert float(state_of(LIMIT)) == 3000
    assert hass.states.get(CONNECTION).attributes["retained"] == ["envelope", "subscription"]
    assert hass.states.get(SUBSCRIPTION).attributes["source"] == "retained"
    await at_moment(hass, freezer, at(12, 30))
    assert float(state_of(LIMIT)) == 4000  # its next interval, to the second
    await at_moment(hass, freezer, at(13))
    assert state_of(BINDING) == "subscription"  # run out: the subscription holds (User Guide 8.10.1)
    assert float(state_of(LIMIT)) == 5000
    # Back after an hour away: noticed within two poll intervals.
    vtn.down = False
    await poll(hass, freezer, 120)
    assert state_of(CONNECTION) == "connected"
    assert hass.states.get(CONNECTION).attributes["retained"] == []
    assert hass.states.get(SUBSCRIPTION).attributes["source"] == "server"
    assert grid.update_interval == timedelta(seconds=60)


# ------------------------------------- 5. an empty answer keeps what the utility set, and says so


async def test_a_server_that_lost_its_data_keeps_the_subscription_and_envelope_until_restated(
    hass: HomeAssistant, house: None, vtn: FakeVtn, freezer: FrozenDateTimeFactory, state_of
) -> None:
    utility = business(vtn)
    entry = await setup_panel(hass, vtn.url)
    utility.doe(at(12), timedelta(hours=1), import_kw=[3.0])
    await poll(hass, freezer, 60)
    assert float(state_of(LIMIT)) == 3000
    vtn.restart()  # in memory: programs, events, vens and tokens gone
    await poll(hass, freezer, 60)  # the events of the program as known: none
    assert float(state_of(LIMIT)) == 3000
    assert hass.states.get(SUBSCRIPTION).attributes["source"] == "retained"
    assert hass.states.get(CONNECTION).attributes["retained"] == ["envelope", "subscription"]
    await poll(hass, freezer, 60)  # looked up again: no such program now
    assert state_of(CONNECTION) == "program_not_found"
    await at_moment(hass, freezer, at(13))
    assert state_of(BINDING) == "subscription"
    assert float(state_of(LIMIT)) == 5000  # the subscription holds until the utility states a new one
    # The utility sets itself up again, with a new subscription.
    program = vtn.add_program("dycm")
    utility.program_id = program["id"]
    utility.subscription_kw = 6.0
    utility.install()
    await poll(hass, freezer, 120)
    assert state_of(CONNECTION) == "connected"
    assert float(state_of(LIMIT)) == 6000
    assert hass.states.get(SUBSCRIPTION).attributes["source"] == "server"
    assert [ven["venName"] for ven in vtn.vens.values()] == ["home-1"]  # it registered itself again
    assert entry.runtime_data.grid.data.heard.subscription_w == 6000


async def test_an_event_deleted_while_others_remain_is_cancelled_but_the_subscription_is_kept(
    hass: HomeAssistant, house: None, vtn: FakeVtn, freezer: FrozenDateTimeFactory, state_of
) -> None:
    utility = business(vtn)
    await setup_panel(hass, vtn.url)
    doe = utility.doe(at(12), timedelta(hours=1), import_kw=[3.0])
    await poll(hass, freezer, 60)
    assert float(state_of(LIMIT)) == 3000
    vtn.delete_event(doe["id"])  # User Guide 7.9: deleting an event cancels it
    await poll(hass, freezer, 60)
    assert float(state_of(LIMIT)) == 5000
    assert utility.subscription_event_id is not None
    vtn.delete_event(utility.subscription_event_id)  # the availability event is still there
    await poll(hass, freezer, 60)
    assert float(state_of(LIMIT)) == 5000
    assert hass.states.get(SUBSCRIPTION).attributes["source"] == "retained"


# --------------------------------------------- 6. every way the User Guide lets a fee be asked


@pytest.mark.parametrize("fee_answer", [FEE_AT_ZERO_KW, FEE_ONLY, FEE_ON_THE_KW])
async def test_a_fee_asked_inside_the_reservation_event(
    hass: HomeAssistant, house: None, vtn: FakeVtn, freezer: FrozenDateTimeFactory, state_of, fee_answer: str
) -> None:
    # No availability event: the reservation event alone says what reserving costs.
    business(vtn, fee_answer=fee_answer, announce_availability=False)
    entry = await setup_panel(hass, vtn.url)
    low = await reserve(hass, entry, power_kw=2, max_fee_per_kw=0.1)
    assert low["status"] == "denied_fee_required"
    assert low["required_fee_per_kw"] == 0.5
    assert low["granted_kw"] == 0.0
    await at_moment(hass, freezer, at(12, 15))
    assert float(state_of(LIMIT)) == 5000  # a price asked is not capacity granted
    assert float(state_of("sensor.main_panel_reservation_fees_committed")) == 0.0
    fair = await reserve(hass, entry, power_kw=2, max_fee_per_kw=0.5)
    assert fair["status"] == "granted"
    assert fair["fee_per_kw"] == 0.5
    assert float(state_of(LIMIT)) == 7000
    assert state_of(LAST_REQUEST) == "granted"
    await poll(hass, freezer, 60)
    assert entry.runtime_data.grid.reservation(low["request_id"]).status.value == "denied_fee_required"


# ---------------------------------------------------------- 7. the VEN registers itself


@pytest.mark.parametrize("version", ["3.1.0", "3.0.1"])
async def test_the_ven_registers_itself_and_says_until_the_utility_grants_it_targets(
    hass: HomeAssistant, house: None, freezer: FrozenDateTimeFactory, state_of, version: str
) -> None:
    freezer.move_to(at(12))
    vtn = FakeVtn(version, ven_registered=False, enforce_ven_targets=True)
    vtn.add_program("dycm")
    business(vtn)
    async with vtn.serve():
        entry = await setup_panel(hass, vtn.url, **{CONF_PROTOCOL_VERSION: version})
        # It created its ven object: the utility has not granted it any target yet, so the
        # events targeted at this home stay invisible, and the state says why.
        assert [(ven["venName"], ven["targets"]) for ven in vtn.vens.values()] == [("home-1", [])]
        assert state_of(CONNECTION) == "not_registered"
        assert hass.states.get(CONNECTION).attributes["ven_id"] == next(iter(vtn.vens))
        # It answers at every poll: nothing that moves each poll reaches the recorder.
        assert hass.states.get(CONNECTION).attributes["last_success"] is None
        assert float(state_of(LIMIT)) == 7680  # the panel's own limit
        posts = [r for r in vtn.recorded if r.method == "POST" and r.path == "/vens"]
        assert len(posts) == 1
        if version == "3.1.0":
            assert b'"objectType":"VEN_VEN_REQUEST"' in posts[0].body
        vtn.grant_targets("home-1", vtn.targets_for("home-1"))
        await poll(hass, freezer, 60)
        assert state_of(CONNECTION) == "connected"
        assert float(state_of(LIMIT)) == 5000
        assert len([r for r in vtn.recorded if r.method == "POST" and r.path == "/vens"]) == 1
        # Registered and reading its events: its ven object is read again only hourly.
        reads = len([r for r in vtn.recorded if r.path == "/vens"])
        await poll(hass, freezer, 120)
        assert len([r for r in vtn.recorded if r.path == "/vens"]) == reads
        await hass.config_entries.async_unload(entry.entry_id)


async def test_a_ven_that_may_not_register_says_the_utility_has_not_registered_it(
    hass: HomeAssistant, house: None, freezer: FrozenDateTimeFactory, state_of
) -> None:
    freezer.move_to(at(12))
    vtn = FakeVtn(
        ven_registered=False,
        enforce_ven_targets=True,
        scopes=("read_targets", "read_ven_objects", "write_reports"),  # no write_vens
    )
    vtn.add_program("dycm")
    business(vtn)
    async with vtn.serve():
        entry = await setup_panel(hass, vtn.url)
        assert vtn.vens == {}
        assert state_of(CONNECTION) == "not_registered"
        assert hass.states.get(CONNECTION).attributes["ven_id"] is None
        # The utility registers it: found at the next poll, its events read.
        vtn.add_ven("home-1", vtn.targets_for("home-1"))
        await poll(hass, freezer, 60)
        assert state_of(CONNECTION) == "connected"
        assert float(state_of(LIMIT)) == 5000
        await hass.config_entries.async_unload(entry.entry_id)


async def test_targets_granted_through_the_ven_object_are_this_homes(
    hass: HomeAssistant, house: None, freezer: FrozenDateTimeFactory, state_of
) -> None:
    freezer.move_to(at(12))
    vtn = FakeVtn("3.0.1", ven_targets=[{"type": "GROUP", "values": ["feeder-7"]}])
    program = vtn.add_program("dycm")
    vtn.add_event(
        program["id"],
        eventName="feeder envelope",
        targets=[{"type": "GROUP", "values": ["feeder-7"]}],
        intervalPeriod={"start": "2026-06-01T00:00:00Z", "duration": "P1D"},
        intervals=[{"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [3.0]}]}],
    )
    async with vtn.serve():
        entry = await setup_panel(hass, vtn.url, **{CONF_PROTOCOL_VERSION: "3.0.1"})
        assert state_of(BINDING) == "envelope"
        assert float(state_of(LIMIT)) == 3000
        await hass.config_entries.async_unload(entry.entry_id)
