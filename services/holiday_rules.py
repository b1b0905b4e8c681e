"""Rules for an account's holiday periods and the import of Japanese national holidays.

Pure domain logic: callers pass "today" in the account's zone (`schedule.local_date`) and the
periods already stored. National holidays come from the maintained `holidays` package, never
from a hand-written table.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import holidays

from services.errors import BusinessError, ErrorCode, FieldError
from services.schedule import HolidayPeriod

MAX_HOLIDAY_DAYS = 366
# The years the library's Japan calendar covers (1949: the National Holidays Act took effect).
MIN_NATIONAL_HOLIDAY_YEAR = holidays.Japan.start_year
MAX_NATIONAL_HOLIDAY_YEAR = holidays.Japan.end_year


def validate_new_holiday(
    start: date, end: date, today: date, existing: Sequence[HolidayPeriod]
) -> None:
    """Raise every applicable error at once; overlap is checked only for a well-formed range
    (comparing a reversed or oversized range with stored periods would only add noise)."""
    errors: list[FieldError] = []
    range_ok = True
    if end < start:
        range_ok = False
        errors.append(FieldError(
            ErrorCode.INVALID_RANGE, "endDate", f"The end date {end} is before the start date {start}."
        ))
    elif (end - start).days + 1 > MAX_HOLIDAY_DAYS:
        range_ok = False
        errors.append(FieldError(
            ErrorCode.INVALID_RANGE, "endDate",
            f"A holiday period can span at most {MAX_HOLIDAY_DAYS} days; {start} to {end} "
            f"spans {(end - start).days + 1}.",
        ))
    if start < today:
        errors.append(FieldError(
            ErrorCode.HOLIDAY_IN_PAST, "startDate", f"The start date {start} is before today ({today})."
        ))
    if range_ok:
        new = HolidayPeriod(start, end)
        for period in sorted(existing, key=lambda p: p.start):
            if new.overlaps(period):
                errors.append(FieldError(
                    ErrorCode.HOLIDAY_OVERLAP, "startDate",
                    f"{start} to {end} overlaps the holiday period {period.start} to {period.end}.",
                ))
    if errors:
        raise BusinessError(errors)


def national_holidays(year: int) -> list[tuple[date, str]]:
    """Japanese national holidays of `year` (names in Japanese), sorted by date."""
    if (
        type(year) is not int
        or not MIN_NATIONAL_HOLIDAY_YEAR <= year <= MAX_NATIONAL_HOLIDAY_YEAR
    ):
        raise BusinessError.one(
            ErrorCode.INVALID, "year",
            f"National holidays are available for the years {MIN_NATIONAL_HOLIDAY_YEAR} to "
            f"{MAX_NATIONAL_HOLIDAY_YEAR}; got {year!r}.",
        )
    calendar = holidays.country_holidays("JP", years=year, language="ja")
    return sorted(calendar.items())


def holidays_to_import(
    year: int, today: date, existing: Sequence[HolidayPeriod]
) -> list[tuple[date, str]]:
    """The national holidays of `year` that can still be added as one-day periods: past days and
    days already inside a stored period are skipped (not errors), so an import can be repeated."""
    return [
        (day, name)
        for day, name in national_holidays(year)
        if day >= today and not any(period.contains(day) for period in existing)
    ]
