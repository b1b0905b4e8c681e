"""Window settings of an account: time zone, business hours, automatic-reply texts, holidays."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cxtalk.db import atomic
from models import Holiday, WindowAccount
from services import holiday_rules, jobs, schedule, text_rules
from services.accounts import UNSET, lock_active_account
from services.auth import Actor
from services.autoreply import AutoReplySettings
from services.errors import BusinessError, ErrorCode, ErrorCollector
from services.pagination import BadPageArgument

MESSAGE_MAX = 500
# The instants the schedule can work with: local days, the next change (up to two years ahead)
# and every stored time stay far inside what `datetime` can hold (years 1..9999).
EARLIEST_INSTANT = datetime(1900, 1, 1, tzinfo=timezone.utc)
LATEST_INSTANT = datetime(9000, 1, 1, tzinfo=timezone.utc)
_IN_LIST_MAX = 1000  # ids per IN (...) list
_INTERVALS_REPORTED_ONE_BY_ONE = 20  # beyond: one error for the day, not one per interval
MESSAGE_FIELDS = {"greetingMessage": "greeting_message", "outOfHoursMessage": "out_of_hours_message",
                  "holidayMessage": "holiday_message"}


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def hours_of(account: WindowAccount) -> schedule.BusinessHours:
    if account.business_hours is None:
        return schedule.DEFAULT_BUSINESS_HOURS
    return schedule.hours_from_json(account.business_hours)


def periods(holidays: list[Holiday]) -> tuple[schedule.HolidayPeriod, ...]:
    return tuple(schedule.HolidayPeriod(h.start_date, h.end_date) for h in holidays)


async def holidays_of(account_id: int, conn=None) -> list[Holiday]:
    query = Holiday.filter(account_id=account_id).order_by("start_date", "id")
    return await (query.using_db(conn) if conn else query)


async def holidays_by_account(account_ids: list[int]) -> dict[int, list[Holiday]]:
    result: dict[int, list[Holiday]] = {a: [] for a in account_ids}
    for h in await Holiday.filter(account_id__in=account_ids).order_by("start_date", "id"):
        result[h.account_id].append(h)
    return result


def autoreply_settings(account: WindowAccount, holidays: list[Holiday]) -> AutoReplySettings:
    return AutoReplySettings(
        timezone=zone(account.timezone), hours=hours_of(account), holidays=periods(holidays),
        greeting_message=account.greeting_message, out_of_hours_message=account.out_of_hours_message,
        holiday_message=account.holiday_message)


class BadTimeArgument(BadPageArgument):
    """A time argument of a query that cannot be used (no UTC offset, or out of range). Queries
    have no payload `errors`: like a malformed cursor it is a top-level BAD_USER_INPUT error."""


def supported_instant(value: datetime, field: str) -> datetime:
    """`value` (aware) in UTC, if the service can work with it; INVALID otherwise."""
    try:
        utc = value.astimezone(timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00+09:00 is in year 0 in UTC
        utc = None
    if utc is None or not EARLIEST_INSTANT <= utc < LATEST_INSTANT:
        raise BusinessError.one(
            ErrorCode.INVALID, field,
            f"Give a time from {EARLIEST_INSTANT.year} to {LATEST_INSTANT.year - 1}.")
    return utc


def availability(account: WindowAccount, holidays: list[Holiday], at: datetime | None):
    at = at or datetime.now(timezone.utc)
    if at.tzinfo is None or at.utcoffset() is None:
        raise BadTimeArgument("Give the time 'at' with its UTC offset.")
    try:
        supported_instant(at, "at")
    except BusinessError as exc:
        raise BadTimeArgument(f"'at': {exc.errors[0].message}") from None
    return schedule.availability(hours_of(account), periods(holidays), zone(account.timezone), at)


def today_of(account: WindowAccount) -> date:
    return schedule.local_date(zone(account.timezone), datetime.now(timezone.utc))


# --- validation -----------------------------------------------------------------------------

def _timezone(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 64 or name not in _zone_names():
        raise BusinessError.one(ErrorCode.INVALID, "timezone", "Give an IANA time zone name such as Asia/Tokyo.")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise BusinessError.one(ErrorCode.INVALID, "timezone", "Unknown time zone.") from exc
    return name


_ZONES: set[str] | None = None


def _zone_names() -> set[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = available_timezones()
    return _ZONES


def _message(value: str | None, field: str) -> str:
    """Free text like a description: line breaks unified, NFC, trimmed; counted after that."""
    text = text_rules.clean_text(text_rules.unify_line_breaks(value or ""))
    if text_rules.has_forbidden_chars(text, allow_newlines=True):
        raise BusinessError.one(ErrorCode.INVALID, field, "The message must not contain control characters.")
    if len(text) > MESSAGE_MAX:
        raise BusinessError.one(ErrorCode.TOO_LONG, field, f"At most {MESSAGE_MAX} characters.")
    return text


def _business_hours_size(days: list) -> None:
    """Lists longer than any valid input get one error, not one per entry (10,000 copies of a day
    would otherwise answer 9,999 errors). Inputs of a plausible size get every error reported."""
    if len(days) > len(schedule.WEEKDAYS):
        raise BusinessError.one(ErrorCode.INVALID, "businessHours",
                                f"List each weekday at most once ({len(days)} days given).")
    for weekday, intervals in days:
        if len(intervals) > _INTERVALS_REPORTED_ONE_BY_ONE:
            raise BusinessError.one(
                ErrorCode.INVALID, "businessHours",
                f"{weekday} has {len(intervals)} intervals; at most {schedule.MAX_INTERVALS_PER_DAY} are allowed.")


# --- mutations ------------------------------------------------------------------------------

async def update_settings(actor: Actor, account_id: int, *, timezone_name=UNSET, business_hours=UNSET,
                          messages: dict[str, str | None] | None = None) -> WindowAccount:
    """Partial update: only the given fields change. `business_hours` is a list of
    (weekday, [(start, end), ...]); weekdays not listed keep their hours."""
    actor.require_admin()
    errors = ErrorCollector()
    changes: dict = {}
    if timezone_name is not UNSET and timezone_name is not None:
        changes["timezone"] = errors.check(_timezone, timezone_name)
    for field, value in (messages or {}).items():
        if value is not UNSET:
            changes[MESSAGE_FIELDS[field]] = errors.check(_message, value, field)
    if business_hours is not UNSET and business_hours is not None:
        errors.check(_business_hours_size, business_hours)
    errors.raise_if_any()

    async def work(conn):
        await lock_active_account(conn, actor, account_id, "accountId")
        account = await WindowAccount.get(id=account_id).using_db(conn)
        if business_hours is not UNSET and business_hours is not None:
            changes["business_hours"] = schedule.hours_to_json(
                schedule.apply_business_hours(hours_of(account), business_hours))
        for column, value in changes.items():
            setattr(account, column, value)
        if changes:
            await account.save(update_fields=list(changes), using_db=conn)
        return account

    account = await atomic(work)
    await jobs.publish("account", account.id)
    return account


async def add_holiday(actor: Actor, account_id: int, start: date, end: date, name: str | None) -> WindowAccount:
    actor.require_admin()
    label = None
    if name is not None and name.strip():
        label = text_rules.required_text(name, "name", 100)

    async def work(conn):
        await lock_active_account(conn, actor, account_id, "accountId")
        account = await WindowAccount.get(id=account_id).using_db(conn)
        existing = periods(await holidays_of(account_id, conn))
        holiday_rules.validate_new_holiday(start, end, today_of(account), existing)
        await Holiday.create(account_id=account_id, start_date=start, end_date=end, name=label, using_db=conn)
        return account

    account = await atomic(work)
    await jobs.publish("account", account.id)
    return account


async def delete_holidays(actor: Actor, account_id: int, holiday_ids: list[int]) -> WindowAccount:
    """All or nothing: an id that is not a holiday of this account refuses the whole call."""
    actor.require_admin()
    holiday_ids = list(dict.fromkeys(holiday_ids))
    if not holiday_ids:
        raise BusinessError.one(ErrorCode.REQUIRED, "holidayIds", "Choose at least one holiday.")

    async def work(conn):
        await lock_active_account(conn, actor, account_id, "accountId")
        missing = BusinessError.one(ErrorCode.NOT_FOUND, "holidayIds", "A chosen holiday does not exist.")
        # More ids than the account has holidays: refused without a statement per id. The IN lists
        # stay bounded either way (PostgreSQL takes at most 32767 parameters in one statement).
        if len(holiday_ids) > await Holiday.filter(account_id=account_id).using_db(conn).count():
            raise missing
        deleted = 0
        for start in range(0, len(holiday_ids), _IN_LIST_MAX):
            deleted += await Holiday.filter(account_id=account_id, id__in=holiday_ids[start:start + _IN_LIST_MAX]) \
                .using_db(conn).delete()
        if deleted != len(holiday_ids):
            raise missing
        return await WindowAccount.get(id=account_id).using_db(conn)

    account = await atomic(work)
    await jobs.publish("account", account.id)
    return account


async def import_national_holidays(actor: Actor, account_id: int, year: int) -> WindowAccount:
    """Adds each Japanese national holiday of `year` as a one-day period; days in the past or
    already inside a period are skipped."""
    actor.require_admin()

    async def work(conn):
        await lock_active_account(conn, actor, account_id, "accountId")
        account = await WindowAccount.get(id=account_id).using_db(conn)
        existing = periods(await holidays_of(account_id, conn))
        days = holiday_rules.holidays_to_import(year, today_of(account), existing)
        await Holiday.bulk_create([Holiday(account_id=account_id, start_date=d, end_date=d, name=n[:100])
                                   for d, n in days], using_db=conn)
        return account

    account = await atomic(work)
    await jobs.publish("account", account.id)
    return account
