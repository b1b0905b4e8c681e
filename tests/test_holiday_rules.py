"""Holiday period validation and the import of Japanese national holidays."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.errors import BusinessError, ErrorCode
from services.holiday_rules import (
    MAX_HOLIDAY_DAYS,
    holidays_to_import,
    national_holidays,
    validate_new_holiday,
)
from services.schedule import HolidayPeriod

TODAY = date(2026, 11, 25)
NEW_YEAR = HolidayPeriod(date(2026, 12, 29), date(2027, 1, 3))


def errors_of(start: date, end: date, today: date = TODAY, existing=()) -> list[tuple[ErrorCode, str]]:
    try:
        validate_new_holiday(start, end, today, list(existing))
    except BusinessError as exc:
        return [(e.code, e.field) for e in exc.errors]
    return []


# --- validate_new_holiday ---------------------------------------------------------------------

def test_valid_periods():
    assert errors_of(TODAY, TODAY) == []  # today is allowed, one day is allowed
    assert errors_of(TODAY, TODAY + timedelta(days=MAX_HOLIDAY_DAYS - 1)) == []  # exactly 366 days
    # Adjacent to an existing period (no shared day) is fine on both sides.
    assert errors_of(date(2026, 12, 20), date(2026, 12, 28), existing=[NEW_YEAR]) == []
    assert errors_of(date(2027, 1, 4), date(2027, 1, 4), existing=[NEW_YEAR]) == []


def test_end_before_start():
    assert errors_of(date(2026, 12, 2), date(2026, 12, 1)) == [(ErrorCode.INVALID_RANGE, "endDate")]


def test_span_over_366_days():
    assert MAX_HOLIDAY_DAYS == 366
    assert errors_of(TODAY, TODAY + timedelta(days=366)) == [(ErrorCode.INVALID_RANGE, "endDate")]


def test_start_in_the_past():
    assert errors_of(TODAY - timedelta(days=1), TODAY + timedelta(days=3)) == [
        (ErrorCode.HOLIDAY_IN_PAST, "startDate")
    ]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2026, 12, 29), date(2026, 12, 29)),  # first day
        (date(2027, 1, 3), date(2027, 1, 10)),     # last day
        (date(2026, 12, 1), date(2027, 2, 1)),     # contains it
        (date(2026, 12, 31), date(2027, 1, 1)),    # inside it
    ],
)
def test_overlap_is_inclusive(start, end):
    assert errors_of(start, end, existing=[NEW_YEAR]) == [(ErrorCode.HOLIDAY_OVERLAP, "startDate")]


def test_each_overlapped_period_is_reported_with_its_dates():
    golden_week = HolidayPeriod(date(2027, 5, 1), date(2027, 5, 5))
    with pytest.raises(BusinessError) as exc:
        validate_new_holiday(date(2026, 12, 1), date(2027, 6, 1), TODAY, [golden_week, NEW_YEAR])
    assert [(e.code, e.field) for e in exc.value.errors] == [(ErrorCode.HOLIDAY_OVERLAP, "startDate")] * 2
    assert "2026-12-29 to 2027-01-03" in exc.value.errors[0].message
    assert "2027-05-01 to 2027-05-05" in exc.value.errors[1].message


def test_past_and_overlap_are_reported_together():
    existing = [HolidayPeriod(TODAY, TODAY + timedelta(days=2))]
    assert errors_of(TODAY - timedelta(days=3), TODAY, existing=existing) == [
        (ErrorCode.HOLIDAY_IN_PAST, "startDate"), (ErrorCode.HOLIDAY_OVERLAP, "startDate")
    ]


def test_overlap_is_not_checked_for_an_invalid_range():
    existing = [NEW_YEAR]
    assert errors_of(date(2027, 1, 2), date(2026, 12, 30), existing=existing) == [
        (ErrorCode.INVALID_RANGE, "endDate")
    ]
    assert errors_of(date(2026, 12, 1), date(2027, 12, 31), existing=existing) == [
        (ErrorCode.INVALID_RANGE, "endDate")
    ]


def test_reversed_range_in_the_past_reports_both():
    assert errors_of(TODAY - timedelta(days=1), TODAY - timedelta(days=5)) == [
        (ErrorCode.INVALID_RANGE, "endDate"), (ErrorCode.HOLIDAY_IN_PAST, "startDate")
    ]


days = st.integers(-10, 60).map(lambda n: TODAY + timedelta(days=n))


@given(days, st.integers(0, 10), st.lists(st.tuples(days, st.integers(0, 10)), max_size=4))
def test_overlap_iff_a_day_is_shared(start, length, raw_existing):
    end = start + timedelta(days=length)
    existing = [HolidayPeriod(s, s + timedelta(days=n)) for s, n in raw_existing]
    new_days = {start + timedelta(days=i) for i in range(length + 1)}
    shared = sum(
        1 for p in existing if new_days & {p.start + timedelta(days=i) for i in range((p.end - p.start).days + 1)}
    )
    got = errors_of(start, end, existing=existing)
    assert got.count((ErrorCode.HOLIDAY_OVERLAP, "startDate")) == shared
    assert ((ErrorCode.HOLIDAY_IN_PAST, "startDate") in got) == (start < TODAY)


# --- national holidays ------------------------------------------------------------------------

def test_national_holidays_2026_in_japanese_sorted():
    got = national_holidays(2026)
    assert got == sorted(got)
    assert got[0] == (date(2026, 1, 1), "元日")
    assert (date(2026, 5, 6), "振替休日") in got          # substitute holiday for Sunday 5/3
    assert (date(2026, 9, 22), "国民の休日") in got       # sandwiched "citizens' holiday"
    assert (date(2026, 11, 23), "勤労感謝の日") in got
    assert len(got) == 18
    assert all(d.year == 2026 for d, _ in got)


def test_national_holidays_follow_the_law_of_that_year():
    assert (date(2019, 5, 1), "天皇の即位の日") in national_holidays(2019)  # one-off holiday
    assert date(2019, 12, 23) not in dict(national_holidays(2019))          # emperor's birthday moved
    assert (date(2018, 12, 23), "天皇誕生日") in national_holidays(2018)


@pytest.mark.parametrize("year", [1949, 2099])
def test_supported_year_bounds(year):
    assert national_holidays(year)


@pytest.mark.parametrize("year", [1948, 2100, -1, 0, True, "2026", 2026.0])
def test_unsupported_year(year):
    with pytest.raises(BusinessError) as exc:
        national_holidays(year)
    assert [(e.code, e.field) for e in exc.value.errors] == [(ErrorCode.INVALID, "year")]


def test_import_skips_past_days_and_days_inside_existing_periods():
    today = date(2026, 9, 22)
    existing = [HolidayPeriod(date(2026, 10, 10), date(2026, 10, 12)), HolidayPeriod(date(2026, 11, 23), date(2026, 11, 23))]
    assert holidays_to_import(2026, today, existing) == [
        (date(2026, 9, 22), "国民の休日"),   # today counts
        (date(2026, 9, 23), "秋分の日"),
        (date(2026, 11, 3), "文化の日"),
    ]


def test_import_of_a_past_year_is_empty_and_of_a_future_year_complete():
    assert holidays_to_import(2025, TODAY, []) == []
    assert holidays_to_import(2027, TODAY, []) == national_holidays(2027)


def test_import_of_an_unsupported_year_is_an_error():
    with pytest.raises(BusinessError):
        holidays_to_import(2100, TODAY, [])


def test_imported_days_pass_validation_one_by_one():
    """Importing is repeatable: each day to import is a valid new one-day period, and after adding
    them a second import finds nothing."""
    existing = [NEW_YEAR]
    today = date(2026, 12, 30)
    added = list(existing)
    for day, _ in holidays_to_import(2027, today, existing):
        validate_new_holiday(day, day, today, added)
        added.append(HolidayPeriod(day, day))
    assert len(added) > 1
    assert holidays_to_import(2027, today, added) == []
