"""Which automatic reply (greeting, out-of-hours, holiday) an event triggers, if any.

Pure decisions: the caller loads the settings and the history facts it needs (was the contact
greeted, which kinds this room already got on the local day), asks here, and stores the result.
The decision depends only on the given instant, so "what would be sent at T" is answerable.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from services.schedule import (
    CLOSED,
    HOLIDAY,
    BusinessHours,
    HolidayPeriod,
    local_date,
    start_of_local_day,
    state_at,
)

GREETING = "GREETING"
OUT_OF_HOURS = "OUT_OF_HOURS"
HOLIDAY_REPLY = "HOLIDAY"
CHANNELS = ("LINE_WORKS", "LINE", "EMAIL")
_NO_GREETING_CHANNELS = frozenset({"EMAIL"})  # customers who write by e-mail never get a greeting


@dataclass(frozen=True)
class AutoReplySettings:
    timezone: ZoneInfo
    hours: BusinessHours
    holidays: tuple[HolidayPeriod, ...]
    greeting_message: str
    out_of_hours_message: str
    holiday_message: str


@dataclass(frozen=True)
class AutoReplyDecision:
    kind: str  # "GREETING" | "OUT_OF_HOURS" | "HOLIDAY"
    text: str


def _sendable(text: str) -> bool:
    # Empty means "do not send"; white space alone would arrive as an empty-looking bubble.
    return bool(text.strip())


def _channel_name(channel: object) -> str:
    name = getattr(channel, "value", channel)  # accept a Channel enum member as well as its name
    if name not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    return name


def decide_on_customer_added(
    settings: AutoReplySettings, channel: str, already_greeted: bool
) -> AutoReplyDecision | None:
    """The greeting, once per contact of the account, never over e-mail, never if empty."""
    if _channel_name(channel) in _NO_GREETING_CHANNELS or already_greeted:
        return None
    if not _sendable(settings.greeting_message):
        return None
    return AutoReplyDecision(GREETING, settings.greeting_message)


def decide_on_customer_message(
    settings: AutoReplySettings, at: datetime, kinds_sent_today: frozenset[str]
) -> AutoReplyDecision | None:
    """Holiday message during a holiday, out-of-hours message outside business hours, nothing
    when open. A holiday with an empty text sends nothing (no fallback to out-of-hours). Each
    kind at most once per room per local day: `kinds_sent_today` is what the room already got
    within `local_day_bounds(settings.timezone, at)`."""
    state = state_at(settings.hours, settings.holidays, settings.timezone, at)
    if state == HOLIDAY:
        kind, text = HOLIDAY_REPLY, settings.holiday_message
    elif state == CLOSED:
        kind, text = OUT_OF_HOURS, settings.out_of_hours_message
    else:
        return None
    if kind in kinds_sent_today or not _sendable(text):
        return None
    return AutoReplyDecision(kind, text)


def local_day_bounds(tz: ZoneInfo, at: datetime) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the local calendar day containing `at`: 24 hours, or 23 / 25 on
    daylight-saving days, so "once per day" follows the account's calendar, not UTC's."""
    day = local_date(tz, at)
    start = start_of_local_day(tz, day)
    end = start_of_local_day(tz, day + timedelta(days=1))
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)
