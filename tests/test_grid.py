"""The grid's pure code: lenient parsing, the limit schedule, the reservation answers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
import math

import pytest

from custom_components.panel_capacity.grid.model import (
    FOREVER,
    GridDataError,
    canonical_payload,
    format_duration,
    parse_datetime,
    parse_duration,
    parse_event,
    parse_program,
    target_names,
)
from custom_components.panel_capacity.grid.reservations import (
    RequestError,
    Reservation,
    ReservationStatus,
    check_request,
    fingerprint,
    infer_answer,
    least_over,
    request_report,
)
from custom_components.panel_capacity.grid.schedule import (
    DailyWindow,
    GridPolicy,
    ScheduleError,
    Window,
    build_schedule,
    grid_terms,
    next_change,
    next_daily_boundary,
    parse_daily_schedule,
)
from custom_components.panel_capacity.grid.state import (
    Heard,
    grid_state,
    heard_answer,
    heard_nothing,
    in_force,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def at(hour: int, minute: int = 0) -> datetime:
    return NOW.replace(hour=hour, minute=minute)


def event(event_id: str, intervals: list[dict], **fields) -> dict:
    return {
        "id": event_id,
        "programID": "0",
        "modificationDateTime": "2026-06-01 11:00:00",
        "intervals": intervals,
    } | fields


def payload(name: str, value) -> dict:
    return {"type": name, "values": [value]}


# ----------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-06-01T18:00:00Z", at(18)),
        ("2026-06-01T20:00:00+02:00", at(18)),
        ("2026-06-01 18:00:00", at(18)),  # naive and space separated: UTC
        ("2026-06-01T18:00:00.250Z", at(18) + timedelta(milliseconds=250)),
        ("0001-01-01", NOW),  # "now"
        ("0001-01-01T00:00:00Z", NOW),
    ],
)
def test_datetimes_are_read_leniently(text, expected):
    assert parse_datetime(text, NOW) == expected


@pytest.mark.parametrize("text", ["", "yesterday", None, 17, "2026-13-01T00:00:00Z"])
def test_bad_datetimes_are_refused(text):
    with pytest.raises(GridDataError):
        parse_datetime(text, NOW)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT30M", 1800), ("PT1H30M", 5400), ("P1D", 86400), ("P1W", 604800), ("PT0.5S", 0.5), ("pt15m", 900)],
)
def test_durations(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


def test_p9999y_is_forever():
    assert parse_duration("P9999Y") == FOREVER
    assert parse_duration("P5000Y") == FOREVER


@pytest.mark.parametrize("text", ["", "P", "PT", "30M", "-PT1H", "P1H", None])
def test_bad_durations_are_refused(text):
    with pytest.raises(GridDataError):
        parse_duration(text)


def test_format_duration_round_trips():
    for seconds in (900, 3600, 5400, 3725, 0):
        assert parse_duration(format_duration(timedelta(seconds=seconds))).total_seconds() == seconds


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("IMPORT_CAPACITY_AVAILABLE_PRICE", "IMPORT_CAPACITY_AVAILABLE_PRICE"),
        ("IMPORT_CAPACITY_AVAILABLE_FEE", "IMPORT_CAPACITY_AVAILABLE_PRICE"),
        ("CAPACITY_AVAILABLE_FEE", "IMPORT_CAPACITY_AVAILABLE_PRICE"),
        ("CAPACITY_SUBSCRIPTION", "IMPORT_CAPACITY_SUBSCRIPTION"),
        ("CAPACITY_RESERVATION", "IMPORT_CAPACITY_RESERVATION"),
        ("capacity_reservation_fee", "IMPORT_CAPACITY_RESERVATION_FEE"),
        ("EXPORT_CAPACITY_AVAILABLE_FEE", "EXPORT_CAPACITY_AVAILABLE_PRICE"),
    ],
)
def test_payload_aliases(name, canonical):
    assert canonical_payload(name) == canonical


def test_payload_names_that_are_not_strings():
    assert canonical_payload(None) is None
    assert canonical_payload("X" * 129) is None


def test_both_target_formats():
    assert target_names(["home-1", "group-a"]) == ("home-1", "group-a")
    maps = [{"type": "VEN_NAME", "values": ["home-1"]}, {"type": "GROUP", "values": ["a", 2]}]
    assert target_names(maps) == ("home-1", "a")  # values are strings
    assert target_names(None) == ()
    assert target_names([None, {"type": "X"}]) == ()


def test_doe_event_back_to_back_intervals():
    raw = event(
        "7",
        [
            {
                "id": 0,
                "payloads": [payload("IMPORT_CAPACITY_LIMIT", 10.0), payload("EXPORT_CAPACITY_LIMIT", 4.0)],
            },
            {
                "id": 1,
                "payloads": [payload("IMPORT_CAPACITY_LIMIT", 8.0), payload("EXPORT_CAPACITY_LIMIT", 6.0)],
            },
        ],
        intervalPeriod={"start": "2026-06-01T18:00:00Z", "duration": "PT30M"},
        payloadDescriptors=[{"payloadType": "IMPORT_CAPACITY_LIMIT", "units": "KW"}],
    )
    parsed = parse_event(raw, NOW)
    assert [(slot.start, slot.end) for slot in parsed.slots] == [(at(18), at(18, 30)), (at(18, 30), at(19))]
    assert parsed.slots[0].values == {"IMPORT_CAPACITY_LIMIT": 10_000.0, "EXPORT_CAPACITY_LIMIT": 4_000.0}
    assert parsed.slots[1].values["IMPORT_CAPACITY_LIMIT"] == 8_000.0
    assert parsed.skipped == ()


def test_units_scale_values():
    raw = event(
        "1",
        [{"payloads": [payload("IMPORT_CAPACITY_LIMIT", 9000)]}],
        intervalPeriod={"start": "0001-01-01", "duration": "P9999Y"},
        payloadDescriptors=[{"payloadType": "IMPORT_CAPACITY_LIMIT", "units": "W"}],
    )
    slot = parse_event(raw, NOW).slots[0]
    assert slot.values["IMPORT_CAPACITY_LIMIT"] == 9000.0
    assert slot.start == NOW
    assert slot.end == datetime.max.replace(tzinfo=UTC)


@pytest.mark.parametrize("value", [-1.0, math.nan, math.inf, 1e9, "5", True, None])
def test_absurd_values_are_dropped(value):
    raw = event(
        "1",
        [{"payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [value]}]}],
        intervalPeriod={"start": "2026-06-01T00:00:00Z", "duration": "PT1H"},
    )
    parsed = parse_event(raw, NOW)
    assert parsed.slots == ()
    assert parsed.skipped


def test_unknown_units_are_dropped():
    raw = event(
        "1",
        [{"payloads": [payload("IMPORT_CAPACITY_LIMIT", 5)]}],
        intervalPeriod={"start": "2026-06-01T00:00:00Z", "duration": "PT1H"},
        payloadDescriptors=[{"payloadType": "IMPORT_CAPACITY_LIMIT", "units": "HORSEPOWER"}],
    )
    assert parse_event(raw, NOW).slots == ()


def test_malformed_intervals_are_skipped_not_fatal():
    raw = event(
        "1",
        [
            "nonsense",
            {"id": 1, "intervalPeriod": {"start": "not a time", "duration": "PT1H"}, "payloads": []},
            {"id": 2, "payloads": [payload("IMPORT_CAPACITY_LIMIT", 5)]},  # no period anywhere
            {
                "id": 3,
                "intervalPeriod": {"start": "2026-06-01T18:00:00Z", "duration": "PT1H"},
                "payloads": ["x", {"values": [1]}, payload("IMPORT_CAPACITY_LIMIT", 5)],
            },
        ],
    )
    parsed = parse_event(raw, NOW)
    assert len(parsed.slots) == 1
    assert parsed.slots[0].values == {"IMPORT_CAPACITY_LIMIT": 5000.0}
    assert len(parsed.skipped) == 5


@pytest.mark.parametrize(
    "raw",
    [
        None,
        [],
        {"intervals": []},  # no id
        {"id": True, "intervals": []},
        {"id": "1", "intervals": "nope"},
        {"id": 10**30, "intervals": []},
        {"id": "1", "intervals": [], "intervalPeriod": {"start": "garbage"}},
    ],
)
def test_unusable_events_are_refused(raw):
    with pytest.raises(GridDataError):
        parse_event(raw, NOW)


def test_report_descriptor_marks_the_request_event_and_targets_both_formats():
    raw = event(
        "0",
        [{"payloads": [payload("IMPORT_CAPACITY_SUBSCRIPTION", 6.0)]}],
        intervalPeriod={"start": "2025-01-01T00:00:00Z", "duration": "P9999Y"},
        reportDescriptors=[{"payloadType": "IMPORT_RESERVATION_CAPACITY", "units": "KW"}],
        targets=[{"type": "VEN_NAME", "values": ["home-1"]}],
        priority=2,
    )
    parsed = parse_event(raw, NOW)
    assert parsed.report_requested
    assert parsed.targets == ("home-1",)
    assert parsed.priority == 2


def test_programs():
    assert parse_program({"id": 3, "programName": "dycm"}).program_id == "3"
    assert parse_program({"id": "p-1", "programName": 7}).name == ""
    with pytest.raises(GridDataError):
        parse_program({"programName": "x"})
    with pytest.raises(GridDataError):
        parse_program("x")


# ----------------------------------------------------------------- schedule


def schedule_of(*raws: dict):
    return build_schedule(parse_event(raw, NOW) for raw in raws)


SUBSCRIPTION = event(
    "0",
    [{"payloads": [payload("IMPORT_CAPACITY_SUBSCRIPTION", 6.0)]}],
    intervalPeriod={"start": "2025-01-01T00:00:00Z", "duration": "P9999Y"},
    reportDescriptors=[{"payloadType": "IMPORT_RESERVATION_CAPACITY"}],
)


def reservation_event(*grants: tuple[datetime, str, float, float], modified: str = "m1") -> dict:
    return event(
        "1",
        [
            {
                "id": index,
                "intervalPeriod": {"start": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "duration": duration},
                "payloads": [
                    payload("IMPORT_CAPACITY_RESERVATION", kw),
                    payload("IMPORT_CAPACITY_RESERVATION_FEE", fee),
                ],
            }
            for index, (start, duration, kw, fee) in enumerate(grants)
        ],
        modificationDateTime=modified,
    )


def availability_event(start: datetime, *slots: tuple[float, float], modified: str = "a1") -> dict:
    return event(
        "2",
        [
            {
                "id": index,
                "payloads": [
                    payload("IMPORT_CAPACITY_AVAILABLE", kw),
                    payload("CAPACITY_AVAILABLE_FEE", price),
                ],
            }
            for index, (kw, price) in enumerate(slots)
        ],
        intervalPeriod={"start": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "duration": "PT1H"},
        modificationDateTime=modified,
    )


def test_subscription_holds_and_reservation_adds_only_inside_its_interval():
    schedule = schedule_of(SUBSCRIPTION, reservation_event((at(18), "PT1H", 5.0, 0.5)))
    policy = GridPolicy()
    before = grid_terms(schedule, policy, at(17, 59))
    assert before.import_terms == {"subscription": 6000.0}
    assert before.subscription_source == "server"
    inside = grid_terms(schedule, policy, at(18))
    assert inside.import_terms == {"reservation": 11000.0}
    assert inside.reserved_w == 5000.0
    last_second = grid_terms(schedule, policy, at(18, 59) + timedelta(seconds=59))
    assert last_second.import_terms == {"reservation": 11000.0}
    after = grid_terms(schedule, policy, at(19))
    assert after.import_terms == {"subscription": 6000.0}
    assert schedule.request_event_id == "0"


def test_without_a_report_descriptor_requests_answer_the_subscription_event():
    bare = {key: value for key, value in SUBSCRIPTION.items() if key != "reportDescriptors"}
    assert schedule_of(bare).request_event_id == "0"
    assert schedule_of().request_event_id is None


def test_configured_subscription_is_the_fallback():
    policy = GridPolicy(subscription_w=7000.0)
    assert grid_terms(None, policy, NOW).import_terms == {"subscription": 7000.0}
    assert grid_terms(None, policy, NOW).subscription_source == "configured"
    # The server's subscription takes over while it is announced.
    assert grid_terms(schedule_of(SUBSCRIPTION), policy, NOW).import_terms == {"subscription": 6000.0}


def test_envelope_runs_out_and_the_subscription_holds():
    doe = event(
        "5",
        [{"payloads": [payload("IMPORT_CAPACITY_LIMIT", 4.0), payload("EXPORT_CAPACITY_LIMIT", 3.0)]}],
        intervalPeriod={"start": "2026-06-01T12:00:00Z", "duration": "PT30M"},
    )
    schedule = schedule_of(SUBSCRIPTION, doe)
    inside = grid_terms(schedule, GridPolicy(), at(12, 10))
    assert inside.import_terms == {"subscription": 6000.0, "envelope": 4000.0}
    assert inside.export_terms == {"envelope": 3000.0}
    after = grid_terms(schedule, GridPolicy(), at(12, 30))
    assert after.import_terms == {"subscription": 6000.0}
    assert after.export_terms == {}
    assert next_change(schedule, at(12, 10)) == at(12, 30)
    assert next_change(schedule, at(12, 30)) is None


def test_overlapping_envelopes_take_the_lowest():
    first = event(
        "5",
        [{"payloads": [payload("IMPORT_CAPACITY_LIMIT", 4.0)]}],
        intervalPeriod={"start": "2026-06-01T12:00:00Z", "duration": "PT1H"},
    )
    second = event(
        "6",
        [{"payloads": [payload("IMPORT_CAPACITY_LIMIT", 3.0)]}],
        intervalPeriod={"start": "2026-06-01T12:30:00Z", "duration": "PT1H"},
    )
    schedule = schedule_of(first, second)
    assert grid_terms(schedule, GridPolicy(), at(12, 10)).import_terms == {"envelope": 4000.0}
    assert grid_terms(schedule, GridPolicy(), at(12, 40)).import_terms == {"envelope": 3000.0}


def test_an_event_without_intervals_only_asks_for_reports():
    parsed = parse_event(
        {"id": "4", "reportDescriptors": [{"payloadType": "IMPORT_CAPACITY_RESERVATION"}]}, NOW
    )
    assert parsed.slots == ()
    assert parsed.report_requested  # the User Guide's example names it so
    assert (
        schedule_of(
            {"id": "4", "reportDescriptors": [{"payloadType": "CAPACITY_RESERVATION"}]}
        ).request_event_id
        == "4"
    )


@pytest.mark.parametrize(
    "raw",
    [
        {"id": "1", "payloadDescriptors": 5, "reportDescriptors": True, "intervals": []},
        {
            "id": "1",
            "intervalPeriod": {"start": "2026-06-01T00:00:00Z", "duration": "PT1H"},
            "intervals": [{"payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [10**400]}]}],
        },
        {
            "id": "1",
            "intervals": [
                {
                    "intervalPeriod": {"start": "9999-12-31T23:30:00Z", "duration": "PT1H"},
                    "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [1]}],
                }
            ],
        },
        {
            "id": "1",
            "intervals": [
                {
                    "intervalPeriod": {"start": "9999-12-31T23:30:00-05:00", "duration": "PT1H"},
                    "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [1]}],
                }
            ],
        },
        {"id": "1", "targets": [{"type": "VEN_NAME", "values": [10**5000]}], "intervals": []},
    ],
    ids=["wrong-types", "huge-integer", "end-beyond-calendar", "offset-beyond-calendar", "huge-target"],
)
def test_wrong_types_and_overflows_leave_out_only_what_is_bad(raw):
    parsed = parse_event(raw, NOW)
    assert parsed.slots == ()


def test_now_is_when_the_event_was_first_seen():
    raw = event(
        "8",
        [{"payloads": [payload("IMPORT_CAPACITY_LIMIT", 3.0)]}],
        intervalPeriod={"start": "0001-01-01", "duration": "PT30M"},
    )
    later = NOW + timedelta(minutes=40)
    assert parse_event(raw, later, first_seen=NOW).slots[0].end == NOW + timedelta(minutes=30)
    assert parse_event(raw, later).slots[0].start == later
    # The fingerprint follows what the server sent, not the time it was read.
    assert parse_event(raw, later, NOW).fingerprint == parse_event(raw, later + timedelta(1)).fingerprint


def test_restated_lists_and_newer_events():
    old_grants = reservation_event((at(18), "PT1H", 5.0, 0.5))
    # The server posts the full list again as a new event instead of updating the old one.
    new_grants = reservation_event((at(18), "PT1H", 5.0, 0.5), (at(19), "PT1H", 2.0, 0.5)) | {
        "id": "21",
        "modificationDateTime": "2026-06-01 11:30:00",
    }
    schedule = schedule_of(SUBSCRIPTION, old_grants, new_grants)
    assert grid_terms(schedule, GridPolicy(), at(18, 30)).reserved_w == 5000.0  # not counted twice
    assert grid_terms(schedule, GridPolicy(), at(19, 30)).reserved_w == 2000.0
    # An empty restated list (every grant gone) means no reservation at all.
    emptied = {
        "id": "22",
        "modificationDateTime": "2026-06-01 11:45:00",
        "intervals": [],
        "payloadDescriptors": [{"payloadType": "IMPORT_CAPACITY_RESERVATION", "units": "KW"}],
    }
    assert (
        grid_terms(schedule_of(SUBSCRIPTION, old_grants, emptied), GridPolicy(), at(18, 30)).reserved_w == 0.0
    )
    # A newer subscription and a newer envelope replace the older ones, even when higher.
    higher = event(
        "30",
        [{"payloads": [payload("IMPORT_CAPACITY_SUBSCRIPTION", 8.0)]}],
        intervalPeriod={"start": "2026-01-01T00:00:00Z", "duration": "P9999Y"},
        modificationDateTime="2026-06-01 11:50:00",
    )
    doe_old = event(
        "31",
        [{"payloads": [payload("IMPORT_CAPACITY_LIMIT", 3.0)]}],
        intervalPeriod={"start": "2026-06-01T12:00:00Z", "duration": "PT1H"},
    )
    doe_new = event(
        "32",
        [{"payloads": [payload("IMPORT_CAPACITY_LIMIT", 4.0)]}],
        intervalPeriod={"start": "2026-06-01T12:00:00Z", "duration": "PT1H"},
        modificationDateTime="2026-06-01 11:55:00",
    )
    terms = grid_terms(schedule_of(SUBSCRIPTION, higher, doe_old, doe_new), GridPolicy(), at(12, 30))
    assert terms.import_terms == {"subscription": 8000.0, "envelope": 4000.0}


def test_emergencies():
    alert = event(
        "9",
        [{"payloads": [{"type": "ALERT_GRID_EMERGENCY", "values": ["Grid under stress"]}]}],
        intervalPeriod={"start": "2026-06-01T12:00:00Z", "duration": "PT1H"},
    )
    with_number = event(
        "10",
        [
            {
                "payloads": [
                    payload("IMPORT_CAPACITY_LIMIT", 2.0),
                    {"type": "ALERT_BLACK_START", "values": ["x"]},
                ]
            }
        ],
        intervalPeriod={"start": "2026-06-01T13:00:00Z", "duration": "PT1H"},
    )
    named_only = event(
        "12",
        [{"payloads": [payload("IMPORT_CAPACITY_LIMIT", 2.5)]}],
        eventName="emergency",
        intervalPeriod={"start": "2026-06-01T16:00:00Z", "duration": "PT1H"},
    )
    simple = event(
        "11",
        [{"payloads": [payload("SIMPLE", 3)]}],
        intervalPeriod={"start": "2026-06-01T14:00:00Z", "duration": "PT1H"},
    )
    schedule = schedule_of(SUBSCRIPTION, alert, with_number, simple, named_only)
    policy = GridPolicy(emergency_limit_w=1500.0)
    assert grid_terms(schedule, policy, at(12, 5)).import_terms["emergency"] == 1500.0
    assert grid_terms(schedule, policy, at(13, 5)).import_terms["emergency"] == 2000.0
    assert "envelope" not in grid_terms(schedule, policy, at(13, 5)).import_terms
    assert grid_terms(schedule, policy, at(14, 5)).import_terms["emergency"] == 1500.0
    assert "emergency" not in grid_terms(schedule, policy, at(15)).import_terms
    # A name is not an emergency: its limit is an envelope.
    assert grid_terms(schedule, policy, at(16, 5)).import_terms == {
        "subscription": 6000.0,
        "envelope": 2500.0,
    }


def test_daily_schedule():
    windows = parse_daily_schedule("17:00-21:00 5\n22:00-06:00 3.5kW, 10:00-11:00 2500 W\n\n")
    assert windows == (
        DailyWindow(time(17), time(21), 5000.0),
        DailyWindow(time(22), time(6), 3500.0),
        DailyWindow(time(10), time(11), 2500.0),
    )
    policy = GridPolicy(daily=windows)
    assert grid_terms(None, policy, NOW, time(18)).import_terms == {"schedule": 5000.0}
    assert grid_terms(None, policy, NOW, time(23)).import_terms == {"schedule": 3500.0}
    assert grid_terms(None, policy, NOW, time(5, 59)).import_terms == {"schedule": 3500.0}
    assert grid_terms(None, policy, NOW, time(6)).import_terms == {}
    assert grid_terms(None, policy, NOW, time(21)).import_terms == {}
    whole_day = parse_daily_schedule("00:00-24:00 4")
    assert whole_day[0].covers(time(12))
    local = datetime(2026, 6, 1, 20, 30, tzinfo=UTC)
    assert next_daily_boundary(windows, local) == datetime(2026, 6, 1, 21, 0, tzinfo=UTC)
    assert next_daily_boundary((), local) is None


@pytest.mark.parametrize(
    "text", ["17-21 5", "25:00-26:00 5", "10:00-10:00 5", "10:00-11:00", "10:00-11:00 -5", "10:00-24:30 1"]
)
def test_bad_daily_schedule_lines(text):
    with pytest.raises(ScheduleError) as err:
        parse_daily_schedule(f"17:00-18:00 5\n{text}")
    assert err.value.line == 2


def test_export_terms_from_policy_and_server():
    terms = grid_terms(schedule_of(EXPORT_SUBSCRIPTION), GridPolicy(export_limit_w=3000.0), NOW)
    assert terms.export_terms == {"subscription": 5000.0, "schedule": 3000.0}


# ------------------------------------------------------------- reservations


def request(start=None, hours=1, kw=5.0, fee=1.0, schedule=None, **fields) -> Reservation:
    schedule = schedule or schedule_of(SUBSCRIPTION)
    return Reservation(
        request_id=fields.pop("request_id", "r1"),
        start=start or at(18),
        end=(start or at(18)) + timedelta(hours=hours),
        requested_w=kw * 1000,
        max_fee=fee,
        posted_at=NOW,
        reservation_fp=fields.pop("reservation_fp", fingerprint(schedule.reservation_fingerprint)),
        availability_fp=fingerprint(schedule.availability_fingerprint),
        **fields,
    )


def test_pending_until_the_server_changes_an_event_or_a_while_passes():
    before = schedule_of(SUBSCRIPTION, availability_event(at(18), (3.0, 0.5)))
    pending = request(schedule=before)
    assert infer_answer(pending, before, [], NOW).status is ReservationStatus.PENDING
    assert infer_answer(pending, before, [], NOW + timedelta(seconds=119)).status is ReservationStatus.PENDING
    # A server that refuses without touching its events: read the availability as it stands.
    late = infer_answer(pending, before, [], NOW + timedelta(seconds=120))
    assert late.status is ReservationStatus.DENIED_NO_CAPACITY
    priced = schedule_of(SUBSCRIPTION, availability_event(at(18), (8.0, 2.0)))
    asked = request(schedule=priced, fee=1.0)
    assert infer_answer(asked, priced, [], NOW + timedelta(seconds=125)).required_fee == 2.0


def test_granted_with_the_fee_charged():
    before = schedule_of(SUBSCRIPTION, availability_event(at(18), (8.0, 0.5)))
    asked = request(schedule=before, fee=1.0)
    after = schedule_of(
        SUBSCRIPTION,
        availability_event(at(18), (3.0, 0.5), modified="a2"),
        reservation_event((at(18), "PT1H", 5.0, 0.5)),
    )
    answer = infer_answer(asked, after, [], NOW)
    assert answer.status is ReservationStatus.GRANTED
    assert answer.granted_w == 5000.0
    assert answer.fee == 0.5
    assert answer.committed_fee == 2.5


def test_granted_over_two_intervals_of_different_prices():
    before = schedule_of(SUBSCRIPTION)
    asked = request(schedule=before, hours=2)
    after = schedule_of(
        SUBSCRIPTION, reservation_event((at(18), "PT1H", 5.0, 0.5), (at(19), "PT1H", 5.0, 0.8))
    )
    answer = infer_answer(asked, after, [], NOW)
    assert answer.status is ReservationStatus.GRANTED
    assert answer.fee == 0.8  # the highest of the two prices


def test_a_partial_grant_is_not_a_grant():
    before = schedule_of(SUBSCRIPTION)
    asked = request(schedule=before, hours=2)
    after = schedule_of(
        SUBSCRIPTION,
        reservation_event((at(18), "PT1H", 5.0, 0.5)),
        availability_event(at(18), (0.0, 0.0), (0.0, 0.0)),
    )
    assert infer_answer(asked, after, [], NOW).status is ReservationStatus.DENIED_NO_CAPACITY


def test_other_grants_are_not_mistaken_for_this_one():
    first = request(request_id="r0", status=ReservationStatus.GRANTED, granted_w=5000.0)
    before = schedule_of(SUBSCRIPTION, reservation_event((at(18), "PT1H", 5.0, 0.5)))
    second = request(schedule=before, kw=2.0)
    # The server changed the event, but the listed capacity is only the first grant.
    after = schedule_of(
        SUBSCRIPTION,
        reservation_event((at(18), "PT1H", 5.0, 0.5), modified="m2"),
        availability_event(at(18), (1.0, 0.2)),
    )
    assert infer_answer(second, after, [first, second], NOW).status is ReservationStatus.DENIED_NO_CAPACITY
    granted = schedule_of(
        SUBSCRIPTION, reservation_event((at(18), "PT1H", 5.0, 0.5), (at(18), "PT1H", 2.0, 0.4), modified="m3")
    )
    answer = infer_answer(second, granted, [first, second], NOW)
    assert answer.status is ReservationStatus.GRANTED
    assert answer.fee == 0.4  # the interval that matches the request exactly


def test_denied_fee_required():
    before = schedule_of(SUBSCRIPTION, availability_event(at(18), (8.0, 2.0)))
    asked = request(schedule=before, fee=1.0)
    after = schedule_of(SUBSCRIPTION, availability_event(at(18), (8.0, 2.0), modified="a2"))
    answer = infer_answer(asked, after, [], NOW)
    assert answer.status is ReservationStatus.DENIED_FEE_REQUIRED
    assert answer.required_fee == 2.0


def test_denied_no_capacity():
    before = schedule_of(SUBSCRIPTION, availability_event(at(18), (3.0, 0.5)))
    asked = request(schedule=before, kw=5.0)
    after = schedule_of(SUBSCRIPTION, availability_event(at(18), (3.0, 0.5), modified="a2"))
    assert infer_answer(asked, after, [], NOW).status is ReservationStatus.DENIED_NO_CAPACITY
    # No availability listed at all over the request: no capacity either.
    elsewhere = schedule_of(SUBSCRIPTION, availability_event(at(8), (9.0, 0.1), modified="a3"))
    assert infer_answer(asked, elsewhere, [], NOW).status is ReservationStatus.DENIED_NO_CAPACITY


def test_available_at_the_price_but_not_granted_waits_then_is_denied():
    before = schedule_of(SUBSCRIPTION, availability_event(at(18), (8.0, 0.5)))
    asked = request(schedule=before, fee=1.0)
    after = schedule_of(SUBSCRIPTION, availability_event(at(18), (8.0, 0.5), modified="a2"))
    assert infer_answer(asked, after, [], NOW + timedelta(seconds=119)).status is ReservationStatus.PENDING
    late = infer_answer(asked, after, [], NOW + timedelta(seconds=120))
    assert late.status is ReservationStatus.DENIED_NO_CAPACITY


def test_a_grant_taken_back_and_cancelled_requests():
    granted = request(status=ReservationStatus.GRANTED, granted_w=5000.0, fee=0.5)
    assert (
        infer_answer(granted, schedule_of(SUBSCRIPTION), [], NOW).status
        is ReservationStatus.DENIED_NO_CAPACITY
    )
    still = schedule_of(SUBSCRIPTION, reservation_event((at(18), "PT1H", 5.0, 0.5)))
    assert infer_answer(granted, still, [granted], NOW).status is ReservationStatus.GRANTED
    cancelled = request(status=ReservationStatus.CANCELLED)
    assert infer_answer(cancelled, still, [], NOW) is cancelled


def test_least_over():
    windows = [Window(at(18), at(19), 5000.0), Window(at(18, 30), at(19, 30), 2000.0)]
    assert least_over(windows, at(18), at(19), add=True) == 5000.0
    assert least_over(windows, at(18, 30), at(19), add=True) == 7000.0
    assert least_over(windows, at(18, 30), at(19), add=False) == 5000.0
    assert least_over(windows, at(19), at(20), add=True) == 0.0  # 19:30-20:00 uncovered


def test_request_report_shape():
    reservation = request(kw=5.0, fee=0.75)
    report = request_report(reservation, "0", "home-1", None, "USD_PER_KW")
    assert report["eventID"] == "0"
    assert report["clientName"] == "home-1"
    assert "programID" not in report
    resource = report["resources"][0]
    assert resource["resourceName"] == "AGGREGATED_REPORT"
    assert resource["intervalPeriod"] == {"start": "2026-06-01T18:00:00Z", "duration": "PT1H"}
    assert resource["intervals"][0]["payloads"] == [
        {"type": "IMPORT_RESERVATION_CAPACITY", "values": [5.0]},
        {"type": "IMPORT_RESERVATION_FEE", "values": [0.75]},
    ]
    assert [d["payloadType"] for d in report["payloadDescriptors"]] == [
        "IMPORT_RESERVATION_CAPACITY",
        "IMPORT_RESERVATION_FEE",
    ]
    assert request_report(reservation, "0", "home-1", "42", "EUR_PER_KW")["programID"] == "42"


@pytest.mark.parametrize(
    ("args", "key"),
    [
        ((at(18), timedelta(hours=1), 0.0, 1.0), "invalid_power"),
        ((at(18), timedelta(hours=1), math.nan, 1.0), "invalid_power"),
        ((at(18), timedelta(hours=1), 2e6, 1.0), "invalid_power"),
        ((at(18), timedelta(hours=1), 5000.0, -1.0), "invalid_fee"),
        ((at(18), timedelta(0), 5000.0, 1.0), "invalid_duration"),
        ((at(18), timedelta(days=8), 5000.0, 1.0), "invalid_duration"),
        ((at(10), timedelta(hours=1), 5000.0, 1.0), "in_the_past"),
    ],
)
def test_requests_that_make_no_sense(args, key):
    with pytest.raises(RequestError) as err:
        check_request(*args, NOW)
    assert err.value.key == key


def test_reservations_round_trip_through_storage():
    original = request(
        status=ReservationStatus.GRANTED, granted_w=5000.0, fee=0.5, report_id="7", decided_at=NOW
    )
    assert Reservation.from_dict(original.as_dict()) == original
    assert Reservation.from_dict({"request_id": "x"}) is None
    assert Reservation.from_dict("garbage") is None
    damaged = original.as_dict() | {"requested_w": -5}
    assert Reservation.from_dict(damaged) is None


def test_answers_only_move_forward():
    granted = request(status=ReservationStatus.GRANTED, granted_w=5000.0, fee=0.5)
    # Over: the server prunes the grant, the answer stays.
    assert infer_answer(granted, schedule_of(SUBSCRIPTION), [], at(19)).status is ReservationStatus.GRANTED
    # Under way: only the time still to come must be listed.
    rest = schedule_of(SUBSCRIPTION, reservation_event((at(18, 30), "PT30M", 5.0, 0.5)))
    assert infer_answer(granted, rest, [], at(18, 40)).status is ReservationStatus.GRANTED
    # A denial stays a denial when the availability changes...
    before = schedule_of(SUBSCRIPTION, availability_event(at(18), (8.0, 2.0)))
    denied = infer_answer(
        request(schedule=before, fee=1.0),
        schedule_of(SUBSCRIPTION, availability_event(at(18), (8.0, 2.0), modified="a2")),
        [],
        NOW,
    )
    assert denied.status is ReservationStatus.DENIED_FEE_REQUIRED
    cheaper_but_short = schedule_of(SUBSCRIPTION, availability_event(at(18), (1.0, 0.1), modified="a3"))
    assert infer_answer(denied, cheaper_but_short, [], NOW) is denied
    # ...and turns into a grant when a slow server grants after all (at a fee the customer offered)...
    late_grant = schedule_of(SUBSCRIPTION, reservation_event((at(18), "PT1H", 5.0, 1.0)))
    assert infer_answer(denied, late_grant, [], NOW).status is ReservationStatus.GRANTED
    # ...but not when it lists the reservation at a fee above that: that is still the fee it asks.
    dearer = schedule_of(SUBSCRIPTION, reservation_event((at(18), "PT1H", 5.0, 2.0)))
    assert infer_answer(denied, dearer, [], NOW) is denied


def test_two_requests_for_one_grant_are_decided_in_order():
    before = schedule_of(SUBSCRIPTION)
    first = request(schedule=before, kw=3.0, request_id="r1")
    second = request(schedule=before, kw=3.0, request_id="r2")
    after = schedule_of(
        SUBSCRIPTION, reservation_event((at(18), "PT1H", 3.0, 0.5)), availability_event(at(18), (1.0, 0.5))
    )
    answered: list[Reservation] = []
    for _ in range(3):  # the same answer on every poll
        answered = []
        for reservation in (first, second):
            answered.append(infer_answer(reservation, after, answered, NOW + timedelta(minutes=5)))
        first, second = answered
        assert [r.status for r in answered] == [
            ReservationStatus.GRANTED,
            ReservationStatus.DENIED_NO_CAPACITY,
        ]


# ------------------------------------------------- the grid's state, decided in one place

DOE = event(
    "5",
    [
        {"payloads": [payload("IMPORT_CAPACITY_LIMIT", 4.0), payload("EXPORT_CAPACITY_LIMIT", 3.0)]},
        {"payloads": [payload("IMPORT_CAPACITY_LIMIT", 5.0), payload("EXPORT_CAPACITY_LIMIT", 2.0)]},
    ],
    intervalPeriod={"start": "2026-06-01T12:00:00Z", "duration": "PT30M"},
)
EXPORT_SUBSCRIPTION = event(
    "3",
    [{"payloads": [payload("EXPORT_CAPACITY_SUBSCRIPTION", 5.0)]}],
    intervalPeriod={"start": "2025-01-01T00:00:00Z", "duration": "P9999Y"},
)
EMERGENCY_PAYLOADS = [payload("IMPORT_CAPACITY_LIMIT", 1.0), payload("ALERT_GRID_EMERGENCY", "x")]
EMERGENCY = event(
    "6",
    [{"payloads": EMERGENCY_PAYLOADS}],
    intervalPeriod={"start": "2026-06-01T12:00:00Z", "duration": "PT2H"},
)


def state(heard: Heard, moment: datetime, asked=(), policy=None):
    return grid_state(heard, list(asked), policy or GridPolicy(), moment, moment)


def test_the_present_answer_decides_and_says_so():
    heard = heard_answer(Heard(), schedule_of(SUBSCRIPTION, DOE, EXPORT_SUBSCRIPTION), NOW)
    now = state(heard, NOW)
    assert now.terms.import_terms == {"subscription": 6000.0, "envelope": 4000.0}
    assert now.terms.export_terms == {"envelope": 3000.0, "subscription": 5000.0}
    assert now.terms.subscription_source == "server"
    assert now.terms.retained == ()
    assert (now.since, now.until) == (NOW, at(12, 30))  # the envelope's next interval
    assert now.holds_at(at(12, 29))
    assert not now.holds_at(at(12, 30))
    assert (heard.subscription_w, heard.export_subscription_w) == (6000.0, 5000.0)


def test_unreachable_what_was_said_holds_to_its_own_end_and_is_marked():
    heard = heard_nothing(heard_answer(Heard(), schedule_of(SUBSCRIPTION, DOE, EXPORT_SUBSCRIPTION), NOW))
    assert heard_nothing(heard) is heard
    now = state(heard, at(12, 45))
    assert now.terms.import_terms == {"subscription": 6000.0, "envelope": 5000.0}
    assert now.terms.retained == ("envelope", "export_envelope", "export_subscription", "subscription")
    assert now.terms.subscription_source == "retained"
    later = state(heard, at(13))  # the envelope has run out: the subscription holds
    assert later.terms.import_terms == {"subscription": 6000.0}
    assert later.terms.retained == ("export_subscription", "subscription")


def test_an_empty_answer_keeps_the_limits_each_to_its_end_a_fuller_one_cancels_what_it_dropped():
    heard = heard_answer(Heard(), schedule_of(SUBSCRIPTION, DOE, EMERGENCY), NOW)
    empty = heard_answer(heard, schedule_of(), at(12, 10))
    assert empty.current
    kept = state(empty, at(12, 40))
    assert kept.terms.import_terms == {"subscription": 6000.0, "envelope": 5000.0, "emergency": 1000.0}
    assert kept.terms.retained == ("emergency", "envelope", "export_envelope", "subscription")
    # Still empty, later: what is kept stays kept, to its own end.
    still = heard_answer(empty, schedule_of(), at(12, 50))
    assert state(still, at(12, 55)).terms.import_terms["envelope"] == 5000.0
    assert state(still, at(13, 30)).terms.import_terms == {"subscription": 6000.0, "emergency": 1000.0}
    # The server lists events again, without those: deleted, so cancelled (User Guide 7.9);
    # the subscription holds until a new one is announced.
    back = heard_answer(still, schedule_of(availability_event(at(18), (3.0, 0.5))), at(12, 56))
    terms = state(back, at(12, 57)).terms
    assert terms.import_terms == {"subscription": 6000.0}
    assert terms.subscription_source == "retained"
    announced = heard_answer(back, schedule_of(SUBSCRIPTION), at(12, 58))
    assert state(announced, at(12, 58)).terms.subscription_source == "server"


def test_before_any_answer_the_stored_subscription_and_grants_hold():
    granted = request(status=ReservationStatus.GRANTED, granted_w=2000.0, fee=0.5)
    heard = Heard(subscription_w=6000.0)
    assert state(heard, at(18), [granted]).terms.import_terms == {"reservation": 8000.0}
    assert state(heard, at(17), [granted]).terms.subscription_source == "retained"
    assert state(heard, at(17), [granted]).until == at(18)
    # Without anything stored: the options, and the daily schedule's edges.
    policy = GridPolicy(subscription_w=4000.0, daily=parse_daily_schedule("17:00-21:00 3"))
    nothing = state(Heard(), at(16), policy=policy)
    assert nothing.terms.import_terms == {"subscription": 4000.0}
    assert nothing.terms.subscription_source == "configured"
    assert nothing.until == at(17)


def grant_list(*grants: tuple[datetime, str, float, float], modified: str = "m1"):
    return schedule_of(SUBSCRIPTION, reservation_event(*grants, modified=modified))


def test_what_we_cancelled_stops_raising_the_limit_whether_or_not_the_server_lists_it():
    listed = grant_list((at(18), "PT1H", 2.0, 0.5), (at(18), "PT1H", 1.0, 0.5))
    fp = fingerprint(listed.reservation_fingerprint)
    first = request(kw=2.0, status=ReservationStatus.GRANTED, granted_w=2000.0, fee=0.5)
    second = request(kw=1.0, request_id="r2", status=ReservationStatus.GRANTED, granted_w=1000.0, fee=0.5)
    cancelled = replace(
        first, status=ReservationStatus.CANCELLED, granted_w=0.0, cancelled_w=2000.0, reservation_fp=fp
    )
    heard = heard_answer(Heard(), listed, NOW)
    assert state(heard, at(18), [first, second]).terms.reserved_w == 3000.0
    assert state(heard, at(18), [cancelled, second]).terms.reserved_w == 1000.0  # its own interval left out
    # A server that lists the two as one: taken off while the list is as it was at the cancellation...
    merged = grant_list((at(18), "PT1H", 3.0, 0.5))
    merged_cancel = replace(cancelled, reservation_fp=fingerprint(merged.reservation_fingerprint))
    merged_heard = heard_answer(Heard(), merged, NOW)
    assert state(merged_heard, at(18), [merged_cancel, second]).terms.reserved_w == 1000.0
    assert state(merged_heard, at(19), [merged_cancel, second]).terms.reserved_w == 0.0
    # ...and not once the server has restated its list (without it).
    restated = heard_answer(Heard(), grant_list((at(18), "PT1H", 1.0, 0.5), modified="m2"), NOW)
    assert state(restated, at(18), [merged_cancel, second]).terms.reserved_w == 1000.0
    # Never below nothing.
    alone_list = grant_list((at(18), "PT1H", 1.0, 0.5))
    alone = heard_answer(Heard(), alone_list, NOW)
    alone_cancel = replace(cancelled, reservation_fp=fingerprint(alone_list.reservation_fingerprint))
    assert state(alone, at(18), [alone_cancel]).terms.import_terms == {"subscription": 6000.0}
    # A cancelled request that was never granted takes nothing off.
    never = replace(alone_cancel, cancelled_w=0.0)
    assert state(alone, at(18), [never]).terms.reserved_w == 1000.0


def test_a_new_request_is_not_answered_by_a_cancelled_grant_still_listed():
    before = grant_list((at(18), "PT1H", 2.0, 0.5))
    cancelled = request(
        kw=2.0,
        status=ReservationStatus.CANCELLED,
        cancelled_w=2000.0,
        reservation_fp=fingerprint(before.reservation_fingerprint),
    )
    asked = request(kw=2.0, request_id="r2", schedule=before)
    restated = heard_answer(Heard(), grant_list((at(18), "PT1H", 2.0, 0.5), modified="m2"), NOW)
    answer = infer_answer(asked, in_force(restated, [cancelled, asked]), [cancelled], NOW)
    assert answer.status is ReservationStatus.DENIED_NO_CAPACITY  # what is listed is the cancelled grant
    granted = heard_answer(
        Heard(), grant_list((at(18), "PT1H", 2.0, 0.5), (at(18), "PT1H", 2.0, 0.5), modified="m3"), NOW
    )
    answer = infer_answer(asked, in_force(granted, [cancelled, asked]), [cancelled], NOW)
    assert answer.status is ReservationStatus.GRANTED


def fee_event(*intervals: tuple[datetime, str, list[dict]], modified: str = "m1") -> dict:
    return event(
        "1",
        [
            {
                "id": index,
                "intervalPeriod": {"start": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "duration": duration},
                "payloads": payloads,
            }
            for index, (start, duration, payloads) in enumerate(intervals)
        ],
        payloadDescriptors=[{"payloadType": "IMPORT_CAPACITY_RESERVATION_FEE", "currency": "USD"}],
        modificationDateTime=modified,
    )


@pytest.mark.parametrize(
    "payloads",
    [
        [payload("IMPORT_CAPACITY_RESERVATION", 0.0), payload("IMPORT_CAPACITY_RESERVATION_FEE", 0.8)],
        [payload("IMPORT_CAPACITY_RESERVATION_FEE", 0.8)],  # the fee alone
        [payload("CAPACITY_RESERVATION", 0), payload("CAPACITY_RESERVATION_FEE", 0.8)],  # the guide's names
        [payload("IMPORT_CAPACITY_RESERVATION", 5.0), payload("IMPORT_CAPACITY_RESERVATION_FEE", 0.8)],
    ],
    ids=["zero-kw", "fee-only", "short-names", "kw-at-a-higher-fee"],
)
def test_a_fee_asked_in_the_reservation_event(payloads):
    asked = request(kw=5.0, fee=0.5)
    quoted = schedule_of(SUBSCRIPTION, fee_event((at(18), "PT1H", payloads)))
    answer = infer_answer(asked, quoted, [], NOW)
    assert answer.status is ReservationStatus.DENIED_FEE_REQUIRED
    assert answer.required_fee == 0.8
    assert answer.granted_w == 0.0
    # Whatever the server lists for it, a price asked raises nothing.
    heard = heard_answer(Heard(), quoted, NOW)
    assert state(heard, at(18), [answer]).terms.import_terms == {"subscription": 6000.0}
    # A fee this home offered, or one over another time, is not a fee asked for this request.
    assert _status(request(kw=5.0, fee=0.8), quoted) is not ReservationStatus.DENIED_FEE_REQUIRED
    elsewhere = schedule_of(SUBSCRIPTION, fee_event((at(20), "PT1H", payloads)))
    assert _status(asked, elsewhere) is ReservationStatus.DENIED_NO_CAPACITY


def _status(reservation: Reservation, schedule) -> ReservationStatus:
    return infer_answer(reservation, schedule, [], NOW).status


def test_a_request_waiting_keeps_what_is_listed_for_it_at_its_fee():
    listed = grant_list((at(18), "PT1H", 2.0, 0.5))
    waiting = request(kw=2.0, fee=0.5)
    quoted = replace(request(kw=2.0, fee=0.1, request_id="r0"), status=ReservationStatus.DENIED_FEE_REQUIRED)
    heard = heard_answer(Heard(), listed, NOW)
    # The denied one is offered less than the interval's fee, but the waiting one offers it: kept.
    assert state(heard, at(18), [quoted, waiting]).terms.reserved_w == 2000.0
    assert state(heard, at(18), [quoted]).terms.reserved_w == 0.0


def test_cancelled_reservations_round_trip_through_storage():
    cancelled = request(status=ReservationStatus.CANCELLED, cancelled_w=2000.0, reservation_fp="x")
    assert Reservation.from_dict(cancelled.as_dict()) == cancelled
    assert Reservation.from_dict(cancelled.as_dict() | {"cancelled_w": -1}) is None
    older = {key: value for key, value in cancelled.as_dict().items() if key != "cancelled_w"}
    assert Reservation.from_dict(older).cancelled_w == 0.0  # stored before it existed
