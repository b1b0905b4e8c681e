"""Business hours, holiday periods and the OPEN / CLOSED / HOLIDAY availability of a window account.

Pure domain logic, no I/O. Hours are minutes of the local day in the account's IANA zone (the
database stores them as JSON plus the zone name, never as times with fixed offsets), so daylight
saving time is handled here, once, with `zoneinfo`.
"""
from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from services.errors import BusinessError, ErrorCode, FieldError

WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
MINUTES_PER_DAY = 1440
MAX_INTERVALS_PER_DAY = 4
# How far ahead `availability` looks for the next change (about two years).
HORIZON_DAYS = 731

OPEN = "OPEN"
CLOSED = "CLOSED"
HOLIDAY = "HOLIDAY"

_FIELD = "businessHours"
_UTC = timezone.utc
_TIME_RE = re.compile(r"([0-9]{2}):([0-9]{2})")  # [0-9], not \d: \d also matches "０" and other scripts


@dataclass(frozen=True)
class Interval:
    """Half-open [start, end) in minutes of the local day; end may be 1440 (24:00)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if type(self.start) is not int or type(self.end) is not int:
            raise ValueError(f"interval bounds must be int minutes, got {self.start!r}, {self.end!r}")
        if not 0 <= self.start < self.end <= MINUTES_PER_DAY:
            raise ValueError(f"invalid interval {self.start}..{self.end}")

    def contains(self, minute: int) -> bool:
        return self.start <= minute < self.end

    def __str__(self) -> str:
        return f"{format_time(self.start)} to {format_time(self.end)}"


BusinessHours = tuple[tuple[Interval, ...], ...]  # 7 entries, Monday first, each sorted by start

_NINE_TO_SIX = (Interval(9 * 60, 18 * 60),)
DEFAULT_BUSINESS_HOURS: BusinessHours = (_NINE_TO_SIX,) * 5 + ((), ())


@dataclass(frozen=True)
class HolidayPeriod:
    """Whole local days, both ends inclusive."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"holiday period ends before it starts: {self.start}..{self.end}")

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    def overlaps(self, other: HolidayPeriod) -> bool:
        return self.start <= other.end and other.start <= self.end


# ---------------------------------------------------------------------------------------------
# Times of day
# ---------------------------------------------------------------------------------------------

def _parse_minutes(text: object, allow_24: bool) -> int | None:
    if not isinstance(text, str):
        return None
    match = _TIME_RE.fullmatch(text)
    if match is None:
        return None
    hours, minutes = int(match[1]), int(match[2])
    if hours < 24 and minutes < 60:
        return hours * 60 + minutes
    if allow_24 and hours == 24 and minutes == 0:
        return MINUTES_PER_DAY
    return None


def _time_rule(allow_24: bool) -> str:
    return "use HH:MM from 00:00 to 23:59" + (", or 24:00" if allow_24 else "")


def parse_time(text: str, *, allow_24: bool) -> int:
    """"HH:MM" -> minutes of the day. "24:00" only when allow_24 (the end of an interval)."""
    minutes = _parse_minutes(text, allow_24)
    if minutes is None:
        raise BusinessError.one(
            ErrorCode.INVALID, _FIELD, f"{text!r} is not a valid time; {_time_rule(allow_24)}."
        )
    return minutes


def format_time(minutes: int) -> str:
    if not 0 <= minutes <= MINUTES_PER_DAY:
        raise ValueError(f"minutes out of range: {minutes}")
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# ---------------------------------------------------------------------------------------------
# Updating business hours
# ---------------------------------------------------------------------------------------------

def apply_business_hours(
    current: BusinessHours, days: list[tuple[str, list[tuple[str, str]]]]
) -> BusinessHours:
    """Partial update: listed weekdays replace their intervals, the others keep `current`.

    All problems of the whole input are reported together so the form can show every one.
    """
    _check_shape(current)
    updated = list(current)
    errors: list[FieldError] = []
    seen: set[str] = set()
    for weekday, raw_intervals in days:
        if weekday not in WEEKDAYS:
            errors.append(_error(ErrorCode.INVALID, f"Unknown weekday {weekday!r}; use MONDAY to SUNDAY."))
            continue
        if weekday in seen:
            errors.append(_error(ErrorCode.INVALID, f"{weekday} is listed more than once."))
            continue
        seen.add(weekday)
        intervals, day_errors = _validate_day(weekday, raw_intervals)
        errors.extend(day_errors)
        updated[WEEKDAYS.index(weekday)] = intervals
    if errors:
        raise BusinessError(errors)
    return tuple(updated)


def _error(code: ErrorCode, message: str) -> FieldError:
    return FieldError(code, _FIELD, message)


def _validate_day(
    weekday: str, raw_intervals: Sequence[tuple[str, str]]
) -> tuple[tuple[Interval, ...], list[FieldError]]:
    errors: list[FieldError] = []
    if len(raw_intervals) > MAX_INTERVALS_PER_DAY:
        errors.append(_error(
            ErrorCode.INVALID,
            f"{weekday} has {len(raw_intervals)} intervals; at most {MAX_INTERVALS_PER_DAY} are allowed.",
        ))
    numbered: list[tuple[int, Interval]] = []  # 1-based position in the input, for messages
    for position, (start_text, end_text) in enumerate(raw_intervals, start=1):
        interval, interval_errors = _validate_interval(weekday, position, start_text, end_text)
        errors.extend(interval_errors)
        if interval is not None:
            numbered.append((position, interval))
    errors.extend(_overlap_errors(weekday, numbered))
    ordered = tuple(sorted((interval for _, interval in numbered), key=lambda i: i.start))
    return ordered, errors


def _validate_interval(
    weekday: str, position: int, start_text: str, end_text: str
) -> tuple[Interval | None, list[FieldError]]:
    label = f"{weekday} interval {position} ({start_text} to {end_text})"
    start = _parse_minutes(start_text, allow_24=False)
    end = _parse_minutes(end_text, allow_24=True)
    errors = []
    if start is None:
        errors.append(_error(
            ErrorCode.INVALID, f"{label}: start {start_text!r} is not a valid time; {_time_rule(False)}."
        ))
    if end is None:
        errors.append(_error(
            ErrorCode.INVALID, f"{label}: end {end_text!r} is not a valid time; {_time_rule(True)}."
        ))
    if start is None or end is None:
        return None, errors
    if start >= end:
        return None, [_error(ErrorCode.INVALID_RANGE, f"{label}: the start must be before the end.")]
    return Interval(start, end), []


def _overlap_errors(weekday: str, numbered: list[tuple[int, Interval]]) -> list[FieldError]:
    """Sweep in start order against the furthest-reaching interval so far: O(n log n), and an
    interval inside a long one is caught even when it does not touch its sorted neighbour."""
    errors = []
    reach: tuple[int, Interval] | None = None
    for position, interval in sorted(numbered, key=lambda item: (item[1].start, item[1].end, item[0])):
        if reach is not None and interval.start < reach[1].end:  # touching (start == end) is fine
            first, second = sorted([reach, (position, interval)], key=lambda item: item[0])
            errors.append(_error(
                ErrorCode.OVERLAPPING_INTERVALS,
                f"{weekday}: interval {first[0]} ({first[1]}) overlaps interval {second[0]} ({second[1]}).",
            ))
        if reach is None or interval.end > reach[1].end:
            reach = (position, interval)
    return errors


def _check_shape(hours: BusinessHours) -> None:
    if len(hours) != len(WEEKDAYS):
        raise ValueError(f"business hours need {len(WEEKDAYS)} days, got {len(hours)}")


# ---------------------------------------------------------------------------------------------
# Storage
# ---------------------------------------------------------------------------------------------

def hours_to_json(hours: BusinessHours) -> dict[str, list[list[int]]]:
    _check_shape(hours)
    return {name: [[i.start, i.end] for i in day] for name, day in zip(WEEKDAYS, hours)}


def hours_from_json(data: dict[str, list[list[int]]]) -> BusinessHours:
    """Strict: stored hours were validated on write, so anything odd is corruption (ValueError)."""
    if set(data) != set(WEEKDAYS):
        raise ValueError(f"stored business hours must have exactly the keys {WEEKDAYS}, got {sorted(data)}")
    days = []
    for name in WEEKDAYS:
        day = tuple(sorted((Interval(start, end) for start, end in data[name]), key=lambda i: i.start))
        if len(day) > MAX_INTERVALS_PER_DAY or any(a.end > b.start for a, b in zip(day, day[1:])):
            raise ValueError(f"stored business hours of {name} are invalid: {data[name]!r}")
        days.append(day)
    return tuple(days)


# ---------------------------------------------------------------------------------------------
# Local days and instants
# ---------------------------------------------------------------------------------------------

def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("a timezone-aware datetime is required")


def local_date(tz: ZoneInfo, at: datetime) -> date:
    """The calendar date of `at` in the account's zone ("today" for that account)."""
    _require_aware(at)
    return at.astimezone(tz).date()


def _offset(tz: ZoneInfo, timestamp: int) -> timedelta:
    return datetime.fromtimestamp(timestamp, tz).utcoffset()  # type: ignore[return-value]


def start_of_local_day(tz: ZoneInfo, day: date) -> datetime:
    """The first instant (UTC) whose local date in `tz` is `day`.

    Usually local midnight. If midnight is repeated (fall-back) it is the first occurrence; if it
    is skipped (spring-forward at 00:00, e.g. America/Havana) the day starts at the transition.
    """
    naive = datetime.combine(day, time())
    first = naive.replace(tzinfo=tz, fold=0).astimezone(_UTC)
    second = naive.replace(tzinfo=tz, fold=1).astimezone(_UTC)
    if first <= second:
        return first
    # Skipped midnight: fold=1 lands before the gap, fold=0 after it. Find the jump.
    low, high = math.floor(second.timestamp()), math.ceil(first.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).date() >= day:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, _UTC)


def transition_between(tz: ZoneInfo, low: datetime, high: datetime) -> datetime | None:
    """The instant in (low, high] where the UTC offset changes (at most one per local day)."""
    low_s, high_s = math.floor(low.timestamp()), math.ceil(high.timestamp())
    before = _offset(tz, low_s)
    if _offset(tz, high_s) == before:
        return None
    while high_s - low_s > 1:
        middle = (low_s + high_s) // 2
        if _offset(tz, middle) == before:
            low_s = middle
        else:
            high_s = middle
    return datetime.fromtimestamp(high_s, _UTC)


# ---------------------------------------------------------------------------------------------
# Availability
# ---------------------------------------------------------------------------------------------

class _HolidayIndex:
    """Holiday periods merged into disjoint runs, for O(log n) "is this date a holiday"."""

    def __init__(self, periods: Sequence[HolidayPeriod]) -> None:
        runs: list[list[date]] = []
        for period in sorted(periods, key=lambda p: p.start):
            if runs and period.start <= runs[-1][1] + timedelta(days=1):
                runs[-1][1] = max(runs[-1][1], period.end)
            else:
                runs.append([period.start, period.end])
        self._starts = [run[0] for run in runs]
        self._ends = [run[1] for run in runs]

    def contains(self, day: date) -> bool:
        i = bisect.bisect_right(self._starts, day) - 1
        return i >= 0 and day <= self._ends[i]

    def any_ending_on_or_after(self, day: date) -> bool:
        return bool(self._ends) and self._ends[-1] >= day


def _state(hours: BusinessHours, index: _HolidayIndex, tz: ZoneInfo, at: datetime) -> str:
    local = at.astimezone(tz)
    day = local.date()
    if index.contains(day):  # a holiday beats business hours
        return HOLIDAY
    minute = local.hour * 60 + local.minute
    return OPEN if any(i.contains(minute) for i in hours[day.weekday()]) else CLOSED


def state_at(
    hours: BusinessHours, holidays: Sequence[HolidayPeriod], tz: ZoneInfo, at: datetime
) -> str:
    """"HOLIDAY", "OPEN" or "CLOSED" at the instant `at` (aware, any zone)."""
    _require_aware(at)
    _check_shape(hours)
    return _state(hours, _HolidayIndex(holidays), tz, at)


def availability(
    hours: BusinessHours, holidays: Sequence[HolidayPeriod], tz: ZoneInfo, at: datetime
) -> tuple[str, datetime | None]:
    """The state at `at` and the first later instant (in `tz`) where it differs.

    The next change is None when the state never changes, or not within HORIZON_DAYS.
    """
    _require_aware(at)
    _check_shape(hours)
    index = _HolidayIndex(holidays)
    state = _state(hours, index, tz, at)
    today = local_date(tz, at)
    if (
        state != HOLIDAY
        and _same_every_minute(hours)
        and not index.any_ending_on_or_after(today - timedelta(days=1))
    ):
        return state, None  # shortcut for the common "never changes" cases: no 2-year scan
    change = _next_change(hours, index, tz, at, state, today)
    return state, None if change is None else change.astimezone(tz)


def _same_every_minute(hours: BusinessHours) -> bool:
    """True if the weekly pattern is all closed or all open round the clock (DST cannot matter)."""
    if all(not day for day in hours):
        return True
    for day in hours:
        covered = 0
        for interval in day:  # sorted and non-overlapping: full coverage means they chain 0..1440
            if interval.start != covered:
                return False
            covered = interval.end
        if covered != MINUTES_PER_DAY:
            return False
    return True


def _next_change(
    hours: BusinessHours, index: _HolidayIndex, tz: ZoneInfo, at: datetime, state: str, today: date
) -> datetime | None:
    """Walk the sorted boundary candidates of a growing window of days; the first candidate whose
    state differs is the answer because the state is constant between consecutive candidates."""
    at_utc = at.astimezone(_UTC)
    first_day = today - timedelta(days=1)  # a fall-back can replay wall times of the day before
    span = 8
    while True:
        last_day = today + timedelta(days=span)
        # Candidates of days after last_day cannot fall before this (offsets move < 2 days).
        safe_until = start_of_local_day(tz, last_day) - timedelta(days=2)
        for instant in sorted(set(_candidates(hours, tz, first_day, last_day))):
            if instant <= at_utc:
                continue
            if instant >= safe_until:
                break
            if _state(hours, index, tz, instant) != state:
                return instant
        if span >= HORIZON_DAYS:
            return None
        span = min(span * 4, HORIZON_DAYS)


def _candidates(hours: BusinessHours, tz: ZoneInfo, first_day: date, last_day: date) -> Iterator[datetime]:
    """Every instant where the state may change: the local wall clock reaching a day start or an
    interval bound (both occurrences of a repeated wall time), plus each UTC-offset transition
    (where the wall clock jumps, e.g. back into an interval on a fall-back night)."""
    day = first_day
    while day <= last_day:
        walls = {0}
        for interval in hours[day.weekday()]:
            walls.add(interval.start)
            walls.add(interval.end % MINUTES_PER_DAY)  # 24:00 is the next day's 00:00
        for minute in walls:
            naive = datetime.combine(day, time(minute // 60, minute % 60))
            yield naive.replace(tzinfo=tz, fold=0).astimezone(_UTC)
            yield naive.replace(tzinfo=tz, fold=1).astimezone(_UTC)
        next_day = day + timedelta(days=1)
        transition = transition_between(
            tz, _naive_midnight(tz, day), _naive_midnight(tz, next_day)
        )
        if transition is not None:
            yield transition
        day = next_day


def _naive_midnight(tz: ZoneInfo, day: date) -> datetime:
    # Only used to bracket transitions: consecutive days' brackets tile the timeline.
    return datetime.combine(day, time(), tzinfo=tz).astimezone(_UTC)
