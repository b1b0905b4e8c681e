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

MESSAGE_MAX = 500
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


def availability(account: WindowAccount, holidays: list[Holiday], at: datetime | None):
    at = at or datetime.now(timezone.utc)
    if at.tzinfo is None:
        raise BusinessError.one(ErrorCode.INVALID, "at", "Give the time with its UTC offset.")
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
    text = (value or "").strip()
    if text_rules.has_forbidden_chars(text, allow_newlines=True):
        raise BusinessError.one(ErrorCode.INVALID, field, "The message must not contain control characters.")
    if len(text) > MESSAGE_MAX:
        raise BusinessError.one(ErrorCode.TOO_LONG, field, f"At most {MESSAGE_MAX} characters.")
    return text


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
        deleted = await Holiday.filter(account_id=account_id, id__in=holiday_ids).using_db(conn).delete()
        if deleted != len(holiday_ids):
            raise BusinessError.one(ErrorCode.NOT_FOUND, "holidayIds", "A chosen holiday does not exist.")
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
