"""Automatic-reply decisions: greeting, out-of-hours and holiday messages."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from enum import Enum
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.autoreply import (
    AutoReplyDecision,
    AutoReplySettings,
    decide_on_customer_added,
    decide_on_customer_message,
    local_day_bounds,
)
from services.schedule import DEFAULT_BUSINESS_HOURS, WEEKDAYS, HolidayPeriod, Interval

UTC = timezone.utc
TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
NONE_SENT: frozenset[str] = frozenset()

TOKYO_SETTINGS = AutoReplySettings(
    timezone=TOKYO,
    hours=DEFAULT_BUSINESS_HOURS,
    holidays=(HolidayPeriod(date(2026, 12, 29), date(2027, 1, 3)),),
    greeting_message="友だち追加ありがとうございます。",
    out_of_hours_message="営業時間外です。",
    holiday_message="休業中です。",
)

# New York desk open overnight: Mon-Fri 21:00-24:00 and Tue-Sat 00:00-02:00.
NIGHT_SHIFT = tuple(
    ((Interval(0, 120),) if 1 <= i <= 5 else ()) + ((Interval(1260, 1440),) if i < 5 else ())
    for i in range(7)
)
NEW_YORK_SETTINGS = replace(TOKYO_SETTINGS, timezone=NEW_YORK, hours=NIGHT_SHIFT,
                            holidays=(HolidayPeriod(date(2026, 11, 26), date(2026, 11, 26)),))


def tokyo(*args: int) -> datetime:
    return datetime(*args, tzinfo=TOKYO)


def new_york(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK, fold=fold)


# --- greeting ---------------------------------------------------------------------------------

@pytest.mark.parametrize("channel", ["LINE", "LINE_WORKS"])
def test_greeting_is_sent_to_a_new_contact(channel):
    assert decide_on_customer_added(TOKYO_SETTINGS, channel, already_greeted=False) == AutoReplyDecision(
        "GREETING", "友だち追加ありがとうございます。"
    )


def test_no_greeting_over_email():
    assert decide_on_customer_added(TOKYO_SETTINGS, "EMAIL", already_greeted=False) is None


def test_no_second_greeting():
    assert decide_on_customer_added(TOKYO_SETTINGS, "LINE", already_greeted=True) is None


@pytest.mark.parametrize("text", ["", "   ", "\n\u3000"])
def test_empty_greeting_is_not_sent(text):
    settings = replace(TOKYO_SETTINGS, greeting_message=text)
    assert decide_on_customer_added(settings, "LINE", already_greeted=False) is None


def test_greeting_does_not_depend_on_hours_or_holidays():
    closed_forever = replace(TOKYO_SETTINGS, hours=((),) * 7)
    assert decide_on_customer_added(closed_forever, "LINE", already_greeted=False).kind == "GREETING"


def test_channel_enum_members_are_understood():
    class Channel(Enum):  # a plain Enum, as a GraphQL layer might pass
        LINE = "LINE"
        EMAIL = "EMAIL"

    assert decide_on_customer_added(TOKYO_SETTINGS, Channel.EMAIL, already_greeted=False) is None
    assert decide_on_customer_added(TOKYO_SETTINGS, Channel.LINE, already_greeted=False).kind == "GREETING"


def test_unknown_channel_is_a_programming_error():
    with pytest.raises(ValueError):
        decide_on_customer_added(TOKYO_SETTINGS, "email", already_greeted=False)


# --- customer messages: Tokyo -----------------------------------------------------------------

def decide(settings: AutoReplySettings, at: datetime, sent: set[str] | None = None):
    return decide_on_customer_message(settings, at, frozenset(sent or ()))


def test_nothing_during_business_hours():
    assert decide(TOKYO_SETTINGS, tokyo(2026, 11, 25, 10, 0)) is None
    assert decide(TOKYO_SETTINGS, tokyo(2026, 11, 25, 17, 59, 59)) is None


@pytest.mark.parametrize(
    "at",
    [tokyo(2026, 11, 25, 8, 59), tokyo(2026, 11, 25, 18, 0), tokyo(2026, 11, 28, 12, 0),  # Saturday
     datetime(2026, 11, 25, 10, 0, tzinfo=UTC)],  # 19:00 in Tokyo, though 10:00 in UTC
)
def test_out_of_hours(at):
    assert decide(TOKYO_SETTINGS, at) == AutoReplyDecision("OUT_OF_HOURS", "営業時間外です。")


@pytest.mark.parametrize(
    "at",
    [tokyo(2026, 12, 29, 0, 0), tokyo(2026, 12, 30, 10, 0),  # Wednesday, within the usual hours
     tokyo(2027, 1, 3, 23, 59), datetime(2026, 12, 28, 15, 0, tzinfo=UTC)],  # 12-29 00:00 in Tokyo
)
def test_holiday_takes_precedence(at):
    assert decide(TOKYO_SETTINGS, at) == AutoReplyDecision("HOLIDAY", "休業中です。")


def test_holiday_ends_at_local_midnight():
    assert decide(TOKYO_SETTINGS, tokyo(2027, 1, 4, 0, 0)).kind == "OUT_OF_HOURS"
    assert decide(TOKYO_SETTINGS, tokyo(2027, 1, 4, 9, 0)) is None


def test_empty_holiday_text_sends_nothing_and_does_not_fall_back():
    settings = replace(TOKYO_SETTINGS, holiday_message="")
    assert decide(settings, tokyo(2026, 12, 30, 20, 0)) is None  # closed AND holiday: still nothing
    assert decide(settings, tokyo(2026, 12, 28, 20, 0)).kind == "OUT_OF_HOURS"


def test_empty_out_of_hours_text_sends_nothing_but_holidays_still_answer():
    settings = replace(TOKYO_SETTINGS, out_of_hours_message="")
    assert decide(settings, tokyo(2026, 11, 25, 20, 0)) is None
    assert decide(settings, tokyo(2026, 12, 30, 20, 0)).kind == "HOLIDAY"


def test_once_per_kind_per_day():
    at = tokyo(2026, 11, 25, 20, 0)
    assert decide(TOKYO_SETTINGS, at, {"OUT_OF_HOURS"}) is None
    # Other kinds already sent today do not block this one.
    assert decide(TOKYO_SETTINGS, at, {"HOLIDAY", "GREETING"}).kind == "OUT_OF_HOURS"
    holiday = tokyo(2026, 12, 30, 10, 0)
    assert decide(TOKYO_SETTINGS, holiday, {"HOLIDAY"}) is None
    assert decide(TOKYO_SETTINGS, holiday, {"OUT_OF_HOURS"}).kind == "HOLIDAY"


def test_naive_time_is_refused():
    with pytest.raises(ValueError):
        decide(TOKYO_SETTINGS, datetime(2026, 11, 25, 20, 0))


# --- customer messages: New York, overnight hours and DST -------------------------------------

@pytest.mark.parametrize(
    ("at", "kind"),
    [
        (new_york(2026, 11, 23, 20, 59), "OUT_OF_HOURS"),   # Monday before the shift
        (new_york(2026, 11, 23, 21, 0), None),
        (new_york(2026, 11, 23, 23, 59), None),
        (new_york(2026, 11, 24, 0, 0), None),               # continuous through midnight
        (new_york(2026, 11, 24, 1, 59), None),
        (new_york(2026, 11, 24, 2, 0), "OUT_OF_HOURS"),
        (new_york(2026, 11, 25, 23, 0), None),              # Wednesday night
        (new_york(2026, 11, 26, 1, 0), "HOLIDAY"),          # Thanksgiving beats Thursday 00:00-02:00
        (new_york(2026, 11, 27, 0, 30), None),              # Friday early hours: open again
        (new_york(2026, 11, 29, 23, 0), "OUT_OF_HOURS"),    # Sunday: no shift
        (datetime(2026, 11, 24, 5, 0, tzinfo=UTC), None),   # 00:00 EST Tuesday
    ],
)
def test_new_york_night_shift(at, kind):
    decision = decide(NEW_YORK_SETTINGS, at)
    assert (decision.kind if decision else None) == kind


def test_new_york_fall_back_night():
    # Only Sunday 01:00-02:00 is open; on 2026-11-01 that wall-clock hour happens twice.
    settings = replace(NEW_YORK_SETTINGS, hours=tuple(
        (Interval(60, 120),) if name == "SUNDAY" else () for name in WEEKDAYS
    ))
    assert decide(settings, new_york(2026, 11, 1, 1, 30)) is None            # 01:30 EDT
    assert decide(settings, new_york(2026, 11, 1, 1, 30, fold=1)) is None    # 01:30 EST, an hour later
    assert decide(settings, new_york(2026, 11, 1, 2, 0)).kind == "OUT_OF_HOURS"


def test_new_york_spring_forward_night():
    settings = replace(NEW_YORK_SETTINGS, hours=tuple(
        (Interval(120, 180),) if name == "SUNDAY" else () for name in WEEKDAYS
    ))
    # 02:00-03:00 does not exist on 2026-03-08: 06:59Z is 01:59 EST, 07:00Z is 03:00 EDT.
    assert decide(settings, datetime(2026, 3, 8, 6, 59, tzinfo=UTC)).kind == "OUT_OF_HOURS"
    assert decide(settings, datetime(2026, 3, 8, 7, 0, tzinfo=UTC)).kind == "OUT_OF_HOURS"
    assert decide(settings, new_york(2026, 3, 15, 2, 30)) is None  # a normal Sunday


# --- local day bounds and "once per local day" ------------------------------------------------

@pytest.mark.parametrize(
    ("tz", "at", "start", "end"),
    [
        (TOKYO, tokyo(2026, 11, 25, 0, 30), datetime(2026, 11, 24, 15, tzinfo=UTC), datetime(2026, 11, 25, 15, tzinfo=UTC)),
        (TOKYO, datetime(2026, 11, 24, 15, 0, tzinfo=UTC), datetime(2026, 11, 24, 15, tzinfo=UTC), datetime(2026, 11, 25, 15, tzinfo=UTC)),
        (NEW_YORK, new_york(2026, 3, 8, 12), datetime(2026, 3, 8, 5, tzinfo=UTC), datetime(2026, 3, 9, 4, tzinfo=UTC)),
        (NEW_YORK, new_york(2026, 11, 1, 1, 30, fold=1), datetime(2026, 11, 1, 4, tzinfo=UTC), datetime(2026, 11, 2, 5, tzinfo=UTC)),
        (ZoneInfo("America/Havana"), datetime(2026, 3, 8, 12, tzinfo=UTC), datetime(2026, 3, 8, 5, tzinfo=UTC), datetime(2026, 3, 9, 4, tzinfo=UTC)),
    ],
)
def test_local_day_bounds(tz, at, start, end):
    got_start, got_end = local_day_bounds(tz, at)
    assert (got_start, got_end) == (start, end)
    assert got_start.tzinfo is UTC and got_end.tzinfo is UTC


def test_dst_days_have_23_and_25_hours():
    start, end = local_day_bounds(NEW_YORK, new_york(2026, 3, 8, 12))
    assert end - start == timedelta(hours=23)
    start, end = local_day_bounds(NEW_YORK, new_york(2026, 11, 1, 12))
    assert end - start == timedelta(hours=25)


@given(
    st.sampled_from([TOKYO, NEW_YORK, ZoneInfo("America/Havana"), ZoneInfo("America/Santiago"),
                     ZoneInfo("Australia/Lord_Howe"), ZoneInfo("Europe/London")]),
    st.datetimes(datetime(2025, 1, 1), datetime(2028, 12, 31), timezones=st.just(UTC)),
)
def test_local_day_bounds_property(tz, at):
    start, end = local_day_bounds(tz, at)
    day = at.astimezone(tz).date()
    assert start <= at < end
    assert start.astimezone(tz).date() == day
    assert (end - timedelta(microseconds=1)).astimezone(tz).date() == day
    assert end.astimezone(tz).date() == day + timedelta(days=1)
    assert (start - timedelta(microseconds=1)).astimezone(tz).date() < day
    assert timedelta(hours=22) <= end - start <= timedelta(hours=26)


class Room:
    """What a caller does: look up kinds sent within the local day, decide, store the reply."""

    def __init__(self, settings: AutoReplySettings) -> None:
        self.settings = settings
        self.sent: list[tuple[str, datetime]] = []

    def customer_writes(self, at: datetime) -> str | None:
        start, end = local_day_bounds(self.settings.timezone, at)
        kinds = frozenset(kind for kind, sent_at in self.sent if start <= sent_at < end)
        decision = decide_on_customer_message(self.settings, at, kinds)
        if decision is None:
            return None
        self.sent.append((decision.kind, at))
        return decision.kind


def test_once_per_local_calendar_day_in_tokyo():
    room = Room(TOKYO_SETTINGS)
    assert room.customer_writes(tokyo(2026, 11, 25, 18, 30)) == "OUT_OF_HOURS"
    assert room.customer_writes(tokyo(2026, 11, 25, 23, 59)) is None
    # 00:10 in Tokyo is still 2026-11-25 in UTC, but it is a new local day: send again.
    assert room.customer_writes(tokyo(2026, 11, 26, 0, 10)) == "OUT_OF_HOURS"
    assert room.customer_writes(tokyo(2026, 11, 26, 8, 0)) is None
    assert room.customer_writes(tokyo(2026, 11, 26, 10, 0)) is None  # open
    assert room.customer_writes(tokyo(2026, 11, 26, 19, 0)) is None  # already sent this local day
    assert room.customer_writes(tokyo(2026, 12, 29, 10, 0)) == "HOLIDAY"
    assert room.customer_writes(tokyo(2026, 12, 29, 22, 0)) is None
    assert room.customer_writes(tokyo(2026, 12, 30, 1, 0)) == "HOLIDAY"


def test_once_per_local_calendar_day_across_new_york_fall_back():
    settings = replace(NEW_YORK_SETTINGS, hours=((),) * 7, holidays=())
    room = Room(settings)
    assert room.customer_writes(new_york(2026, 11, 1, 0, 5)) == "OUT_OF_HOURS"
    assert room.customer_writes(new_york(2026, 11, 1, 23, 55)) is None  # same 25-hour local day
    assert room.customer_writes(new_york(2026, 11, 2, 0, 0)) == "OUT_OF_HOURS"
