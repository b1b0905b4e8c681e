"""Business hours parsing/updating and the availability state machine (incl. DST)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.errors import BusinessError, ErrorCode
from services.schedule import (
    DEFAULT_BUSINESS_HOURS,
    HORIZON_DAYS,
    WEEKDAYS,
    HolidayPeriod,
    Interval,
    apply_business_hours,
    availability,
    format_time,
    hours_from_json,
    hours_to_json,
    local_date,
    parse_time,
    start_of_local_day,
    state_at,
)

UTC = timezone.utc
TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
HAVANA = ZoneInfo("America/Havana")  # springs forward at local midnight: 00:00 -> 01:00
SANTIAGO = ZoneInfo("America/Santiago")  # falls back at midnight: 00:00 -> 23:00 the day before
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")  # half-hour DST shift


def hours(**days: list[tuple[int, int]]) -> tuple[tuple[Interval, ...], ...]:
    """hours(MONDAY=[(540, 1080)]) -> BusinessHours; unnamed days closed."""
    assert set(days) <= set(WEEKDAYS)
    return tuple(tuple(Interval(a, b) for a, b in days.get(name, [])) for name in WEEKDAYS)


def codes(exc: pytest.ExceptionInfo[BusinessError]) -> list[tuple[ErrorCode, str | None]]:
    return [(e.code, e.field) for e in exc.value.errors]


ALWAYS_OPEN = hours(**{name: [(0, 1440)] for name in WEEKDAYS})
NEVER_OPEN = hours()


# --- constants --------------------------------------------------------------------------------

def test_weekday_index_is_date_weekday():
    monday = date(2026, 11, 23)
    for offset, name in enumerate(WEEKDAYS):
        assert WEEKDAYS[(monday + timedelta(days=offset)).weekday()] == name


def test_default_hours_are_weekdays_nine_to_six():
    assert DEFAULT_BUSINESS_HOURS == hours(
        **{name: [(540, 1080)] for name in WEEKDAYS[:5]}
    )
    assert DEFAULT_BUSINESS_HOURS[5] == () and DEFAULT_BUSINESS_HOURS[6] == ()


# --- parse_time / format_time -----------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "allow_24", "expected"),
    [("00:00", False, 0), ("09:30", False, 570), ("23:59", False, 1439), ("24:00", True, 1440),
     ("00:00", True, 0), ("18:05", True, 1085)],
)
def test_parse_time_accepts(text, allow_24, expected):
    assert parse_time(text, allow_24=allow_24) == expected


@pytest.mark.parametrize(
    "text",
    ["24:00", "9:00", "09:0", "0900", "09-00", "24:01", "25:00", "12:60", "99:99", "", " 09:00",
     "09:00 ", "09:00\n", "０９:００", "٠٩:٠٠", "+9:00", "-1:00", "09:00:00", "aa:bb", None, 540],
)
def test_parse_time_rejects(text):
    with pytest.raises(BusinessError) as exc:
        parse_time(text, allow_24=False)
    assert codes(exc) == [(ErrorCode.INVALID, "businessHours")]


@pytest.mark.parametrize("text", ["24:01", "24:30", "25:00"])
def test_parse_time_only_allows_exactly_24_00(text):
    with pytest.raises(BusinessError):
        parse_time(text, allow_24=True)


def test_format_time():
    assert [format_time(m) for m in (0, 540, 1439, 1440)] == ["00:00", "09:00", "23:59", "24:00"]
    for bad in (-1, 1441):
        with pytest.raises(ValueError):
            format_time(bad)


@given(st.integers(0, 1440))
def test_format_then_parse_round_trips(minutes):
    assert parse_time(format_time(minutes), allow_24=True) == minutes


@pytest.mark.parametrize(("start", "end"), [(0, 0), (600, 540), (-1, 10), (0, 1441), (1440, 1440)])
def test_interval_rejects_invalid_bounds(start, end):
    with pytest.raises(ValueError):
        Interval(start, end)


def test_holiday_period_rejects_reversed_range():
    with pytest.raises(ValueError):
        HolidayPeriod(date(2026, 5, 2), date(2026, 5, 1))


# --- apply_business_hours ---------------------------------------------------------------------

def test_partial_update_keeps_unlisted_days():
    updated = apply_business_hours(
        DEFAULT_BUSINESS_HOURS,
        [("MONDAY", [("10:00", "12:00"), ("13:00", "17:00")]), ("SATURDAY", [("10:00", "14:00")])],
    )
    assert updated[0] == (Interval(600, 720), Interval(780, 1020))
    assert updated[5] == (Interval(600, 840),)
    for untouched in (1, 2, 3, 4, 6):
        assert updated[untouched] == DEFAULT_BUSINESS_HOURS[untouched]


def test_empty_list_closes_the_day_and_empty_update_changes_nothing():
    assert apply_business_hours(DEFAULT_BUSINESS_HOURS, [("FRIDAY", [])])[4] == ()
    assert apply_business_hours(DEFAULT_BUSINESS_HOURS, []) == DEFAULT_BUSINESS_HOURS


def test_intervals_are_stored_sorted_and_touching_is_allowed():
    updated = apply_business_hours(
        NEVER_OPEN, [("TUESDAY", [("12:00", "13:00"), ("21:00", "24:00"), ("09:00", "12:00"), ("00:00", "02:00")])]
    )
    assert updated[1] == (Interval(0, 120), Interval(540, 720), Interval(720, 780), Interval(1260, 1440))


def test_four_intervals_allowed_five_rejected():
    four = [("01:00", "02:00"), ("03:00", "04:00"), ("05:00", "06:00"), ("07:00", "08:00")]
    assert len(apply_business_hours(NEVER_OPEN, [("MONDAY", four)])[0]) == 4
    with pytest.raises(BusinessError) as exc:
        apply_business_hours(NEVER_OPEN, [("MONDAY", four + [("09:00", "10:00")])])
    assert codes(exc) == [(ErrorCode.INVALID, "businessHours")]
    assert "MONDAY" in exc.value.errors[0].message and "at most 4" in exc.value.errors[0].message


@pytest.mark.parametrize(
    ("start", "end"), [("10:00", "10:00"), ("18:00", "09:00"), ("09:00", "00:00"), ("23:59", "00:00")]
)
def test_start_not_before_end_is_invalid_range(start, end):
    with pytest.raises(BusinessError) as exc:
        apply_business_hours(NEVER_OPEN, [("WEDNESDAY", [(start, end)])])
    assert codes(exc) == [(ErrorCode.INVALID_RANGE, "businessHours")]
    assert "WEDNESDAY interval 1" in exc.value.errors[0].message


def test_24_00_is_an_end_only():
    with pytest.raises(BusinessError) as exc:
        apply_business_hours(NEVER_OPEN, [("MONDAY", [("24:00", "24:00")])])
    assert codes(exc) == [(ErrorCode.INVALID, "businessHours")]
    assert "start" in exc.value.errors[0].message


@pytest.mark.parametrize(
    "intervals",
    [
        [("09:00", "12:00"), ("11:59", "13:00")],
        [("09:00", "18:00"), ("10:00", "11:00")],  # nested
        [("09:00", "12:00"), ("09:00", "12:00")],  # identical
        [("00:00", "24:00"), ("23:00", "24:00")],
    ],
)
def test_overlapping_intervals(intervals):
    with pytest.raises(BusinessError) as exc:
        apply_business_hours(NEVER_OPEN, [("THURSDAY", intervals)])
    assert codes(exc) == [(ErrorCode.OVERLAPPING_INTERVALS, "businessHours")]
    message = exc.value.errors[0].message
    assert "THURSDAY" in message and "interval 1" in message and "interval 2" in message


def test_overlap_with_a_long_interval_is_found_past_its_sorted_neighbour():
    # 09-18 contains 10-11 and 12-13; 10-11 and 12-13 do not touch each other.
    with pytest.raises(BusinessError) as exc:
        apply_business_hours(NEVER_OPEN, [("MONDAY", [("12:00", "13:00"), ("10:00", "11:00"), ("09:00", "18:00")])])
    assert [e.code for e in exc.value.errors] == [ErrorCode.OVERLAPPING_INTERVALS] * 2
    messages = " ".join(e.message for e in exc.value.errors)
    assert "interval 1 (12:00 to 13:00)" in messages and "interval 2 (10:00 to 11:00)" in messages


def test_unknown_and_duplicate_weekdays():
    with pytest.raises(BusinessError) as exc:
        apply_business_hours(
            NEVER_OPEN,
            [("MONDAY", []), ("monday", []), ("HOLIDAY", []), ("MONDAY", [("09:00", "10:00")])],
        )
    assert codes(exc) == [(ErrorCode.INVALID, "businessHours")] * 3
    messages = [e.message for e in exc.value.errors]
    assert "'monday'" in messages[0] and "'HOLIDAY'" in messages[1]
    assert "MONDAY is listed more than once" in messages[2]


def test_all_errors_of_all_days_are_reported_together():
    with pytest.raises(BusinessError) as exc:
        apply_business_hours(
            DEFAULT_BUSINESS_HOURS,
            [
                ("MONDAY", [("9:00", "10:00"), ("10:00", "25:00")]),
                ("TUESDAY", [("12:00", "11:00")]),
                ("WEDNESDAY", [("09:00", "12:00"), ("11:00", "13:00")]),
                ("FRIDAY", [("09:00", "17:00")]),  # valid; still nothing is applied
                ("SUNDAY", [("01:00", "02:00")] * 5),
            ],
        )
    assert [e.code for e in exc.value.errors] == [
        ErrorCode.INVALID, ErrorCode.INVALID,            # MONDAY: bad start, bad end
        ErrorCode.INVALID_RANGE,                          # TUESDAY
        ErrorCode.OVERLAPPING_INTERVALS,                  # WEDNESDAY
        ErrorCode.INVALID,                                # SUNDAY: too many
    ] + [ErrorCode.OVERLAPPING_INTERVALS] * 4             # SUNDAY: the copies overlap
    assert all(e.field == "businessHours" for e in exc.value.errors)
    first = exc.value.errors[0].message
    assert first.startswith("MONDAY interval 1") and "'9:00'" in first
    assert exc.value.errors[1].message.startswith("MONDAY interval 2") and "'25:00'" in exc.value.errors[1].message


def test_current_hours_must_have_seven_days():
    with pytest.raises(ValueError):
        apply_business_hours(DEFAULT_BUSINESS_HOURS[:6], [])


def day_strategy() -> st.SearchStrategy[list[tuple[int, int]]]:
    """Up to 4 sorted, non-overlapping (possibly touching) intervals of one day."""
    minute = st.one_of(st.integers(0, 48).map(lambda half_hours: half_hours * 30), st.integers(0, 1440))

    def to_intervals(points: list[int]) -> list[tuple[int, int]]:
        points = sorted(points)
        return [(points[i], points[i + 1]) for i in range(0, len(points) - 1, 2) if points[i] < points[i + 1]]

    return st.lists(minute, max_size=8).map(to_intervals)


hours_strategy = st.tuples(*[day_strategy() for _ in WEEKDAYS]).map(
    lambda days: tuple(tuple(Interval(a, b) for a, b in day) for day in days)
)


@given(hours_strategy, st.data())
def test_valid_input_is_applied_exactly(target, data):
    days = [
        (name, [(format_time(i.start), format_time(i.end)) for i in data.draw(st.permutations(day))])
        for name, day in zip(WEEKDAYS, target)
    ]
    listed = data.draw(st.lists(st.sampled_from(range(7)), unique=True))
    updated = apply_business_hours(DEFAULT_BUSINESS_HOURS, [days[i] for i in listed])
    for i in range(7):
        assert updated[i] == (target[i] if i in listed else DEFAULT_BUSINESS_HOURS[i])


# --- JSON storage -----------------------------------------------------------------------------

def test_json_shape():
    assert hours_to_json(DEFAULT_BUSINESS_HOURS) == {
        "MONDAY": [[540, 1080]], "TUESDAY": [[540, 1080]], "WEDNESDAY": [[540, 1080]],
        "THURSDAY": [[540, 1080]], "FRIDAY": [[540, 1080]], "SATURDAY": [], "SUNDAY": [],
    }


@given(hours_strategy)
def test_json_round_trip(h):
    assert hours_from_json(hours_to_json(h)) == h


@pytest.mark.parametrize(
    "patch",
    [{"MONDAY": None}, {"FUNDAY": []}, {"MONDAY": [[600, 540]]}, {"MONDAY": [[540, 700], [600, 800]]},
     {"MONDAY": [[0, 60]] * 5}, {"MONDAY": [["09:00", "10:00"]]}],
)
def test_hours_from_json_rejects_corrupt_data(patch):
    data = hours_to_json(DEFAULT_BUSINESS_HOURS)
    for key, value in patch.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    with pytest.raises((ValueError, TypeError)):
        hours_from_json(data)


# --- local days -------------------------------------------------------------------------------

def test_local_date_uses_the_account_zone():
    at = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)
    assert local_date(TOKYO, at) == date(2026, 11, 25)
    assert local_date(NEW_YORK, at) == date(2026, 11, 24)
    with pytest.raises(ValueError):
        local_date(TOKYO, datetime(2026, 11, 24, 15, 30))


@pytest.mark.parametrize(
    ("tz", "day", "expected_utc"),
    [
        (TOKYO, date(2026, 11, 25), datetime(2026, 11, 24, 15, tzinfo=UTC)),
        (NEW_YORK, date(2026, 3, 8), datetime(2026, 3, 8, 5, tzinfo=UTC)),
        (NEW_YORK, date(2026, 3, 9), datetime(2026, 3, 9, 4, tzinfo=UTC)),
        (NEW_YORK, date(2026, 11, 2), datetime(2026, 11, 2, 5, tzinfo=UTC)),
        (HAVANA, date(2026, 3, 8), datetime(2026, 3, 8, 5, tzinfo=UTC)),  # 00:00 skipped: starts 01:00 CDT
        (SANTIAGO, date(2026, 4, 5), datetime(2026, 4, 5, 4, tzinfo=UTC)),
    ],
)
def test_start_of_local_day(tz, day, expected_utc):
    start = start_of_local_day(tz, day)
    assert start == expected_utc
    assert start.astimezone(tz).date() == day
    assert (start - timedelta(microseconds=1)).astimezone(tz).date() < day


# --- availability: plain cases (Tokyo) -------------------------------------------------------

def at_tokyo(*args: int) -> datetime:
    return datetime(*args, tzinfo=TOKYO)


# 2026-11-25 is a Wednesday, 2026-11-27 a Friday, 2026-11-29 a Sunday.
@pytest.mark.parametrize(
    ("at", "state", "next_change"),
    [
        (at_tokyo(2026, 11, 25, 10, 0), "OPEN", at_tokyo(2026, 11, 25, 18, 0)),
        (at_tokyo(2026, 11, 25, 9, 0), "OPEN", at_tokyo(2026, 11, 25, 18, 0)),
        (at_tokyo(2026, 11, 25, 8, 59, 59, 999999), "CLOSED", at_tokyo(2026, 11, 25, 9, 0)),
        (at_tokyo(2026, 11, 25, 17, 59, 59), "OPEN", at_tokyo(2026, 11, 25, 18, 0)),
        (at_tokyo(2026, 11, 25, 18, 0), "CLOSED", at_tokyo(2026, 11, 26, 9, 0)),
        (at_tokyo(2026, 11, 27, 19, 0), "CLOSED", at_tokyo(2026, 11, 30, 9, 0)),
        (at_tokyo(2026, 11, 29, 0, 0), "CLOSED", at_tokyo(2026, 11, 30, 9, 0)),
    ],
)
def test_default_hours_in_tokyo(at, state, next_change):
    got_state, got_next = availability(DEFAULT_BUSINESS_HOURS, [], TOKYO, at)
    assert (got_state, got_next) == (state, next_change)
    assert got_next.tzinfo is TOKYO and got_next.utcoffset() == timedelta(hours=9)


def test_at_in_another_zone_is_converted():
    at = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo
    state, nxt = availability(DEFAULT_BUSINESS_HOURS, [], TOKYO, at)
    assert state == "OPEN" and nxt == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    assert nxt.tzinfo is TOKYO


def test_naive_at_is_refused():
    with pytest.raises(ValueError):
        availability(DEFAULT_BUSINESS_HOURS, [], TOKYO, datetime(2026, 11, 25, 10))


OVERNIGHT = hours(SUNDAY=[(1260, 1440)], MONDAY=[(0, 120), (540, 1080)])


@pytest.mark.parametrize(
    ("at", "state", "next_change"),
    [
        (at_tokyo(2026, 11, 29, 22, 0), "OPEN", at_tokyo(2026, 11, 30, 2, 0)),
        (at_tokyo(2026, 11, 29, 23, 59, 59), "OPEN", at_tokyo(2026, 11, 30, 2, 0)),
        (at_tokyo(2026, 11, 30, 0, 0), "OPEN", at_tokyo(2026, 11, 30, 2, 0)),
        (at_tokyo(2026, 11, 29, 20, 0), "CLOSED", at_tokyo(2026, 11, 29, 21, 0)),
        (at_tokyo(2026, 11, 30, 2, 0), "CLOSED", at_tokyo(2026, 11, 30, 9, 0)),
        (at_tokyo(2026, 11, 30, 18, 0), "CLOSED", at_tokyo(2026, 12, 6, 21, 0)),
    ],
)
def test_overnight_stretch_is_continuous(at, state, next_change):
    assert availability(OVERNIGHT, [], TOKYO, at) == (state, next_change)


def test_saturday_to_sunday_wraps_around_the_week():
    h = hours(SUNDAY=[(0, 60)], SATURDAY=[(1380, 1440)])
    assert availability(h, [], TOKYO, at_tokyo(2026, 11, 28, 23, 30)) == ("OPEN", at_tokyo(2026, 11, 29, 1, 0))


def test_touching_intervals_are_one_open_stretch():
    h = hours(WEDNESDAY=[(540, 720), (720, 780)])
    assert availability(h, [], TOKYO, at_tokyo(2026, 11, 25, 11, 0)) == ("OPEN", at_tokyo(2026, 11, 25, 13, 0))


# --- availability: holidays ------------------------------------------------------------------

def test_holiday_beats_business_hours_and_ends_at_local_midnight():
    holiday = [HolidayPeriod(date(2026, 11, 25), date(2026, 11, 26))]
    state, nxt = availability(DEFAULT_BUSINESS_HOURS, holiday, TOKYO, at_tokyo(2026, 11, 25, 10, 0))
    assert state == "HOLIDAY"
    assert nxt == at_tokyo(2026, 11, 27, 0, 0)  # Friday 00:00 -> CLOSED until 09:00
    assert state_at(DEFAULT_BUSINESS_HOURS, holiday, TOKYO, nxt) == "CLOSED"


def test_holiday_starts_at_local_midnight_even_inside_an_open_stretch():
    holiday = [HolidayPeriod(date(2026, 11, 30), date(2026, 11, 30))]
    assert availability(OVERNIGHT, holiday, TOKYO, at_tokyo(2026, 11, 29, 22, 0)) == (
        "OPEN", at_tokyo(2026, 11, 30, 0, 0)
    )


def test_holiday_ending_into_open_hours():
    holiday = [HolidayPeriod(date(2026, 11, 29), date(2026, 11, 29))]  # Sunday
    # Monday 00:00 is inside OVERNIGHT's Monday 00:00-02:00: HOLIDAY -> OPEN at midnight.
    assert availability(OVERNIGHT, holiday, TOKYO, at_tokyo(2026, 11, 29, 22, 0)) == (
        "HOLIDAY", at_tokyo(2026, 11, 30, 0, 0)
    )


def test_adjacent_and_overlapping_periods_chain():
    holidays = [
        HolidayPeriod(date(2026, 12, 29), date(2026, 12, 31)),
        HolidayPeriod(date(2027, 1, 1), date(2027, 1, 3)),
        HolidayPeriod(date(2027, 1, 2), date(2027, 1, 4)),
    ]
    assert availability(DEFAULT_BUSINESS_HOURS, holidays, TOKYO, at_tokyo(2026, 12, 30, 12)) == (
        "HOLIDAY", at_tokyo(2027, 1, 5, 0, 0)
    )


def test_past_holidays_do_not_matter():
    holidays = [HolidayPeriod(date(2026, 1, 1), date(2026, 1, 3))]
    assert availability(ALWAYS_OPEN, holidays, TOKYO, at_tokyo(2026, 11, 25, 10)) == ("OPEN", None)


@pytest.mark.parametrize("h", [ALWAYS_OPEN, NEVER_OPEN])
def test_state_that_never_changes_has_no_next_change(h):
    state, nxt = availability(h, [], TOKYO, at_tokyo(2026, 11, 25, 10))
    assert state == ("OPEN" if h is ALWAYS_OPEN else "CLOSED") and nxt is None


def test_round_the_clock_made_of_touching_intervals_never_changes():
    h = hours(**{name: [(0, 720), (720, 1440)] for name in WEEKDAYS})
    assert availability(h, [], NEW_YORK, datetime(2026, 3, 8, 1, 30, tzinfo=NEW_YORK)) == ("OPEN", None)


def test_round_the_clock_until_a_future_holiday():
    holidays = [HolidayPeriod(date(2027, 5, 1), date(2027, 5, 5))]
    state, nxt = availability(ALWAYS_OPEN, holidays, TOKYO, at_tokyo(2026, 11, 25, 10))
    assert (state, nxt) == ("OPEN", at_tokyo(2027, 5, 1, 0, 0))
    assert availability(ALWAYS_OPEN, holidays, TOKYO, nxt) == ("HOLIDAY", at_tokyo(2027, 5, 6, 0, 0))
    assert availability(ALWAYS_OPEN, holidays, TOKYO, at_tokyo(2027, 5, 6, 0, 0)) == ("OPEN", None)


def test_never_open_holiday_ends_into_closed_forever():
    holidays = [HolidayPeriod(date(2026, 11, 25), date(2026, 11, 25))]
    assert availability(NEVER_OPEN, holidays, TOKYO, at_tokyo(2026, 11, 25, 3)) == (
        "HOLIDAY", at_tokyo(2026, 11, 26, 0, 0)
    )
    assert availability(NEVER_OPEN, holidays, TOKYO, at_tokyo(2026, 11, 26, 0)) == ("CLOSED", None)


def test_changes_beyond_the_horizon_are_not_reported():
    at = at_tokyo(2026, 11, 25, 10)
    near = [HolidayPeriod(date(2028, 11, 1), date(2028, 11, 1))]  # within ~2 years
    far_day = at.date() + timedelta(days=HORIZON_DAYS + 30)
    far = [HolidayPeriod(far_day, far_day)]
    assert availability(NEVER_OPEN, near, TOKYO, at) == ("CLOSED", at_tokyo(2028, 11, 1, 0, 0))
    assert availability(NEVER_OPEN, far, TOKYO, at) == ("CLOSED", None)


# --- availability: daylight saving time (America/New_York) ------------------------------------
# 2026-03-08 (Sunday): 02:00 EST -> 03:00 EDT (07:00Z). 2026-11-01 (Sunday): 02:00 EDT -> 01:00 EST (06:00Z).

def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("sunday", "at", "state", "next_change"),
    [
        # 01:00-03:00 is only one real hour on the spring-forward night.
        ([(60, 180)], utc(2026, 3, 8, 6, 30), "OPEN", utc(2026, 3, 8, 7, 0)),
        # 02:30-04:00 opens when the clock jumps from 02:00 to 03:00.
        ([(150, 240)], utc(2026, 3, 8, 6, 59), "CLOSED", utc(2026, 3, 8, 7, 0)),
        ([(150, 240)], utc(2026, 3, 8, 7, 0), "OPEN", utc(2026, 3, 8, 8, 0)),
        # 02:00-02:30 does not exist that night: the next opening is a week later (EDT).
        ([(120, 150)], utc(2026, 3, 8, 6, 0), "CLOSED", utc(2026, 3, 15, 6, 0)),
        # 01:00-02:00 lasts two real hours on the fall-back night (01:00 EDT to 02:00 EST).
        ([(60, 120)], utc(2026, 11, 1, 5, 30), "OPEN", utc(2026, 11, 1, 7, 0)),
        # 00:30-01:30 opens twice: 00:30-01:30 EDT, then again 01:00-01:30 EST.
        ([(30, 90)], utc(2026, 11, 1, 5, 0), "OPEN", utc(2026, 11, 1, 5, 30)),
        ([(30, 90)], utc(2026, 11, 1, 5, 45), "CLOSED", utc(2026, 11, 1, 6, 0)),
        ([(30, 90)], utc(2026, 11, 1, 6, 0), "OPEN", utc(2026, 11, 1, 6, 30)),
        # 01:15-01:45 also happens twice, each time at the wall-clock bounds.
        ([(75, 105)], utc(2026, 11, 1, 5, 0), "CLOSED", utc(2026, 11, 1, 5, 15)),
        ([(75, 105)], utc(2026, 11, 1, 5, 45), "CLOSED", utc(2026, 11, 1, 6, 15)),
        ([(75, 105)], utc(2026, 11, 1, 6, 15), "OPEN", utc(2026, 11, 1, 6, 45)),
        # 02:00-03:00 on the fall-back night starts after the repeated hour.
        ([(120, 180)], utc(2026, 11, 1, 5, 30), "CLOSED", utc(2026, 11, 1, 7, 0)),
    ],
)
def test_new_york_dst_nights(sunday, at, state, next_change):
    got_state, got_next = availability(hours(SUNDAY=sunday), [], NEW_YORK, at)
    assert got_next.tzinfo is NEW_YORK
    # Compare in UTC: by PEP 495 a time in the repeated hour never equals a datetime of another zone.
    assert (got_state, got_next.astimezone(UTC)) == (state, next_change)


def test_new_york_fall_back_next_change_keeps_the_fold():
    _, nxt = availability(hours(SUNDAY=[(30, 90)]), [], NEW_YORK, utc(2026, 11, 1, 5, 45))
    assert (nxt.hour, nxt.minute, nxt.fold) == (1, 0, 1)
    assert nxt.utcoffset() == timedelta(hours=-5)


def test_new_york_business_day_after_spring_forward_uses_the_new_offset():
    # Friday 18:00 EST -> Monday 09:00 EDT (13:00Z, not 14:00Z).
    state, nxt = availability(DEFAULT_BUSINESS_HOURS, [], NEW_YORK, datetime(2026, 3, 6, 19, tzinfo=NEW_YORK))
    assert state == "CLOSED" and nxt == utc(2026, 3, 9, 13, 0)


def test_new_york_holiday_on_the_fall_back_day_lasts_25_hours():
    holidays = [HolidayPeriod(date(2026, 11, 1), date(2026, 11, 1))]
    state, nxt = availability(ALWAYS_OPEN, holidays, NEW_YORK, utc(2026, 11, 1, 4, 0))
    assert state == "HOLIDAY" and nxt == utc(2026, 11, 2, 5, 0)
    assert nxt - start_of_local_day(NEW_YORK, date(2026, 11, 1)) == timedelta(hours=25)


def test_holiday_whose_midnight_is_skipped_starts_at_the_transition():
    holidays = [HolidayPeriod(date(2026, 3, 8), date(2026, 3, 8))]
    state, nxt = availability(NEVER_OPEN, holidays, HAVANA, datetime(2026, 3, 7, 22, tzinfo=HAVANA))
    assert state == "CLOSED" and nxt == utc(2026, 3, 8, 5, 0)


# --- properties -------------------------------------------------------------------------------

ZONES = [TOKYO, NEW_YORK, HAVANA, SANTIAGO, LORD_HOWE, ZoneInfo("Europe/London"), ZoneInfo("Asia/Kolkata"),
         ZoneInfo("UTC")]


def _transitions(tz: ZoneInfo) -> list[datetime]:
    found, t = [], utc(2026, 1, 1)
    previous = t.astimezone(tz).utcoffset()
    while t < utc(2027, 1, 1):
        t += timedelta(minutes=30)
        offset = t.astimezone(tz).utcoffset()
        if offset != previous:
            found.append(t)
            previous = offset
    return found


TRANSITIONS = {tz.key: _transitions(tz) for tz in ZONES}


@st.composite
def scenario(draw):
    tz = draw(st.sampled_from(ZONES))
    if TRANSITIONS[tz.key] and draw(st.booleans()):  # half the time: near a DST transition
        at = draw(st.sampled_from(TRANSITIONS[tz.key])) + timedelta(minutes=draw(st.integers(-2880, 2880)))
    else:
        at = draw(st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 31), timezones=st.just(UTC)))
    at += timedelta(seconds=draw(st.sampled_from([0, 0, 30, 59])))
    today = at.astimezone(tz).date()
    periods = []
    for _ in range(draw(st.integers(0, 3))):
        start = today + timedelta(days=draw(st.integers(-5, 30)))
        periods.append(HolidayPeriod(start, start + timedelta(days=draw(st.integers(0, 6)))))
    return draw(hours_strategy), periods, tz, at.astimezone(draw(st.sampled_from([UTC, tz, TOKYO])))


def _between(low: datetime, high: datetime, fraction: float) -> datetime:
    """An instant in [low, high): floor, never rounding up to `high` itself."""
    low, high = low.astimezone(UTC), high.astimezone(UTC)  # real elapsed time, not wall-clock
    total = (high - low) // timedelta(microseconds=1)
    return low + timedelta(microseconds=min(int(total * fraction), total - 1))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario(), st.lists(st.floats(0, 1, exclude_max=True), min_size=5, max_size=20))
def test_state_is_constant_until_next_change_and_differs_there(case, fractions):
    h, periods, tz, at = case
    state, nxt = availability(h, periods, tz, at)
    if nxt is None:
        samples = [_between(at, at + timedelta(days=30), f) for f in fractions]
    else:
        assert nxt > at and nxt.tzinfo is tz
        assert availability(h, periods, tz, nxt)[0] != state
        # In UTC: arithmetic on two datetimes of the same ZoneInfo is wall-clock arithmetic.
        samples = [_between(at, nxt, f) for f in fractions] + [nxt.astimezone(UTC) - timedelta(microseconds=1)]
    for instant in samples:
        assert availability(h, periods, tz, instant)[0] == state, instant


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_next_change_matches_a_minute_by_minute_scan(case):
    """Oracle: the state is constant within each UTC minute (bounds and these zones' offsets are
    whole minutes), so scanning minute starts finds the exact first change."""
    h, periods, tz, at = case
    state, nxt = availability(h, periods, tz, at)
    limit = at + timedelta(days=8)
    t = at.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    expected = None
    while t <= limit:
        if state_at(h, periods, tz, t) != state:
            expected = t
            break
        t += timedelta(minutes=1)
    if expected is None:
        assert nxt is None or nxt > limit
    else:
        assert nxt.astimezone(UTC) == expected  # UTC: see test_new_york_dst_nights
