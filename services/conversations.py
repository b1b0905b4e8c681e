"""Conversations recorded by the messaging service: contacts, talk rooms, bots, messages.

Every recording runs in one transaction whose first statement is an UPDATE of the account row
(`_lock_active_account`): it takes the write lock (SQLite) or the row lock (PostgreSQL) before
anything is read, checks that the account is ACTIVE, and serialises all recordings of one
account, so "greet once", "one room per contact" and "one automatic reply of a kind per room and
local day" hold under concurrency. Automatic replies are decided by services.autoreply.

Reads for lists are batched by account (one statement per level, whatever the page size).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.functions import Count
from tortoise.models import Model

from cxtalk.db import atomic, execute, fetch
from models import (AutoReplyKind, Bot, BotOrigin, Channel, Contact, Member, Message, Responder, SenderType,
                    TalkRoom, TalkRoomParticipant, WindowAccount)
from services import text_rules
from services.autoreply import (AutoReplyDecision, decide_on_customer_added, decide_on_customer_message,
                                local_day_bounds)
from services.errors import BusinessError, ErrorCode, ErrorCollector
from services.pagination import Page, decode_cursor, page_size
from services.window_settings import autoreply_settings, holidays_of, supported_instant

NAME_MAX = 100  # contacts, bots, and sender names in the history
EXTERNAL_ID_MAX = 200
CONTENT_MAX = 10_000


@dataclass(frozen=True)
class ContactData:
    external_id: str
    name: str
    channel: Channel


@dataclass
class CustomerAdded:
    contact: Contact
    auto_reply: AutoReplyDecision | None


@dataclass
class CustomerMessage:
    message: Message
    room: TalkRoom
    auto_reply: AutoReplyDecision | None


@dataclass
class ResponderReply:
    message: Message
    room: TalkRoom


# --- validation ---------------------------------------------------------------------------

def instant(value: datetime | None, field: str) -> datetime:
    """The time of an event in UTC; now when not given. A time without offset is ambiguous."""
    if value is None:
        return datetime.now(timezone.utc)
    if value.tzinfo is None or value.utcoffset() is None:
        raise BusinessError.one(ErrorCode.INVALID, field, "Give the time with its UTC offset.")
    # Years far out (or past year 9999 once in UTC) would overflow the local-day arithmetic.
    return supported_instant(value, field)


def _external_id(value: str | None, field: str) -> str:
    # A machine identifier: kept exactly as given (no trimming or normalisation).
    if value is None or not value.strip():
        raise BusinessError.one(ErrorCode.REQUIRED, field, "Give the contact's identifier on its channel.")
    if text_rules.has_forbidden_chars(value):
        raise BusinessError.one(ErrorCode.INVALID, field, "The identifier must not contain control characters.")
    if len(value) > EXTERNAL_ID_MAX:
        raise BusinessError.one(ErrorCode.TOO_LONG, field, f"At most {EXTERNAL_ID_MAX} characters.")
    return value


def _contact(data: ContactData, errors: ErrorCollector) -> ContactData | None:
    external_id = errors.check(_external_id, data.external_id, "contact.externalId")
    name = errors.check(text_rules.required_text, data.name, "contact.name", NAME_MAX)
    if external_id is None or name is None:
        return None
    return ContactData(external_id=external_id, name=name, channel=Channel(data.channel))


def _content(value: str | None, field: str = "content") -> str:
    """Message text: line breaks unified to \\n, NFC, trimmed; 1..10000 characters."""
    text = (value or "").replace("\r\n", "\n").replace("\r", "\n")
    text = text_rules.clean_text(text)
    if not text:
        raise BusinessError.one(ErrorCode.REQUIRED, field, "Enter the message.")
    if len(text) > CONTENT_MAX:
        raise BusinessError.one(ErrorCode.TOO_LONG, field, f"At most {CONTENT_MAX} characters.")
    if text_rules.has_forbidden_chars(text, allow_newlines=True):
        raise BusinessError.one(ErrorCode.INVALID, field, "The message must not contain control characters.")
    return text


def _sender_name(name: str) -> str:
    return name[:NAME_MAX]


# --- the first statement of every recording -------------------------------------------------

_NOT_ACTIVE = "The window account is being reset or was reset."


async def _why_not_changed(conn: BaseDBAsyncClient, account_id: int, field: str) -> BusinessError:
    status = await WindowAccount.filter(id=account_id).using_db(conn).values_list("status", flat=True)
    if not status:
        return BusinessError.one(ErrorCode.NOT_FOUND, field, "No such window account.")
    return BusinessError.one(ErrorCode.ACCOUNT_NOT_ACTIVE, field, _NOT_ACTIVE)


async def _lock_active_account(conn: BaseDBAsyncClient, account_id: int, field: str,
                               message_at: datetime | None = None) -> None:
    """Lock an ACTIVE account of any domain (operators act on every domain). With `message_at`,
    `last_message_at` moves forward to it (never back: the service may record late arrivals)."""
    if message_at is None:
        changed = await execute(
            conn, "UPDATE window_accounts SET last_message_at = last_message_at WHERE id = ? AND status = 'ACTIVE'",
            account_id)
    else:
        changed = await execute(
            conn, "UPDATE window_accounts SET last_message_at = CASE WHEN last_message_at IS NULL"
                  " OR last_message_at < ? THEN ? ELSE last_message_at END WHERE id = ? AND status = 'ACTIVE'",
            message_at, message_at, account_id)
    if not changed:
        raise await _why_not_changed(conn, account_id, field)


async def _touch_last_message(conn: BaseDBAsyncClient, account_id: int, message_at: datetime) -> None:
    await execute(
        conn, "UPDATE window_accounts SET last_message_at = ? WHERE id = ?"
              " AND (last_message_at IS NULL OR last_message_at < ?)", message_at, account_id, message_at)


# --- shared steps ---------------------------------------------------------------------------

async def _upsert_contact(conn: BaseDBAsyncClient, account_id: int, data: ContactData) -> Contact:
    """Runs under the account lock, so two recordings cannot both create the same contact."""
    contact = await Contact.filter(account_id=account_id, channel=data.channel,
                                   external_id=data.external_id).using_db(conn).first()
    if contact is None:
        return await Contact.create(account_id=account_id, channel=data.channel, external_id=data.external_id,
                                    name=data.name, using_db=conn)
    if contact.name != data.name:
        contact.name = data.name
        await contact.save(update_fields=["name"], using_db=conn)
    return contact


async def _room_of(conn: BaseDBAsyncClient, account_id: int, contact_id: int) -> TalkRoom:
    """The contact's room while it exists (the newest, should there be several), else a new DIRECT one."""
    room = await TalkRoom.filter(account_id=account_id, contact_id=contact_id).using_db(conn) \
        .order_by("-id").first()
    if room is None:
        room = await TalkRoom.create(account_id=account_id, contact_id=contact_id, using_db=conn)
    return room


async def _store(conn: BaseDBAsyncClient, account: WindowAccount, contact_id: int, room_id: int | None,
                 sender_type: SenderType, sender_name: str, content: str, sent_at: datetime,
                 kind: str | None = None) -> Message:
    return await Message.create(
        domain_id=account.domain_id, account_id=account.id, contact_id=contact_id, room_id=room_id,
        sender_type=sender_type, sender_name=_sender_name(sender_name),
        auto_reply_kind=AutoReplyKind(kind) if kind else None, content=content, sent_at=sent_at, using_db=conn)


async def _kinds_sent_on_local_day(conn: BaseDBAsyncClient, room_id: int, tz, at: datetime) -> frozenset[str]:
    start, end = local_day_bounds(tz, at)
    kinds = await Message.filter(room_id=room_id, auto_reply_kind__isnull=False, sent_at__gte=start,
                                 sent_at__lt=end).using_db(conn).distinct().values_list("auto_reply_kind", flat=True)
    return frozenset(getattr(k, "value", k) for k in kinds)


# --- operator mutations ----------------------------------------------------------------------

async def register_bot(account_id: int, name: str, origin: BotOrigin) -> Bot:
    name = text_rules.required_text(name, "name", NAME_MAX)
    origin = BotOrigin(origin)

    async def work(conn):
        await _lock_active_account(conn, account_id, "accountId")
        return await Bot.create(account_id=account_id, name=name, origin=origin, using_db=conn)

    return await atomic(work)


async def record_customer_added(account_id: int, contact: ContactData, at: datetime | None) -> CustomerAdded:
    """Upsert the contact; greet once per contact (never over e-mail, never with an empty text).
    A greeting opens the contact's DIRECT room if it has none and is stored in the history."""
    errors = ErrorCollector()
    data = _contact(contact, errors)
    at = errors.check(instant, at, "at")
    errors.raise_if_any()

    async def work(conn):
        await _lock_active_account(conn, account_id, "accountId")
        account = await WindowAccount.get(id=account_id).using_db(conn)
        row = await _upsert_contact(conn, account_id, data)
        # The greeting does not depend on holidays: no need to load them.
        decision = decide_on_customer_added(autoreply_settings(account, []), row.channel,
                                            already_greeted=row.greeted_at is not None)
        if decision is None:
            return CustomerAdded(row, None)
        # Conditional: of two parallel adds, only one marks the contact greeted and sends.
        if not await execute(
                conn, "UPDATE contacts SET greeted_at = ? WHERE id = ? AND greeted_at IS NULL", at, row.id):
            return CustomerAdded(row, None)
        row.greeted_at = at
        room = await _room_of(conn, account_id, row.id)
        await _store(conn, account, row.id, room.id, SenderType.AUTO_REPLY, account.name, decision.text, at,
                     decision.kind)
        await _touch_last_message(conn, account_id, at)
        return CustomerAdded(row, decision)

    return await atomic(work)


async def record_customer_message(account_id: int, contact: ContactData, content: str,
                                  sent_at: datetime | None) -> CustomerMessage:
    """Store the customer's message in the contact's room (opened if needed), then the holiday or
    out-of-hours reply it triggers, at most once per kind, room and local day."""
    errors = ErrorCollector()
    data = _contact(contact, errors)
    text = errors.check(_content, content)
    sent_at = errors.check(instant, sent_at, "sentAt")
    errors.raise_if_any()

    async def work(conn):
        await _lock_active_account(conn, account_id, "accountId", sent_at)
        account = await WindowAccount.get(id=account_id).using_db(conn)
        row = await _upsert_contact(conn, account_id, data)
        room = await _room_of(conn, account_id, row.id)
        message = await _store(conn, account, row.id, room.id, SenderType.CUSTOMER, row.name, text, sent_at)
        settings = autoreply_settings(account, await holidays_of(account_id, conn))
        sent_today = await _kinds_sent_on_local_day(conn, room.id, settings.timezone, sent_at)
        decision = decide_on_customer_message(settings, sent_at, sent_today)
        if decision is not None:
            await _store(conn, account, row.id, room.id, SenderType.AUTO_REPLY, account.name, decision.text,
                         sent_at, decision.kind)
        return CustomerMessage(message, room, decision)

    return await atomic(work)


async def record_responder_reply(room_id: int, responder_id: int, content: str,
                                 sent_at: datetime | None) -> ResponderReply:
    """A responder of the room's account answers; they join the room's participants."""
    errors = ErrorCollector()
    text = errors.check(_content, content)
    sent_at = errors.check(instant, sent_at, "sentAt")
    errors.raise_if_any()

    async def work(conn):
        # First statement: lock the room's account (found through the room) before reading.
        changed = await execute(
            conn, "UPDATE window_accounts SET last_message_at = CASE WHEN last_message_at IS NULL"
                  " OR last_message_at < ? THEN ? ELSE last_message_at END"
                  " WHERE id = (SELECT account_id FROM talk_rooms WHERE talk_rooms.id = ?) AND status = 'ACTIVE'",
            sent_at, sent_at, room_id)
        room = await TalkRoom.filter(id=room_id).using_db(conn).first()
        if room is None:
            raise BusinessError.one(ErrorCode.NOT_FOUND, "roomId", "No such talk room.")
        if not changed:
            raise BusinessError.one(ErrorCode.ACCOUNT_NOT_ACTIVE, "roomId", _NOT_ACTIVE)
        account = await WindowAccount.get(id=room.account_id).using_db(conn)
        # A member of another domain than the room's is, for this room, a member that does not exist.
        member = await Member.filter(id=responder_id, domain_id=account.domain_id).using_db(conn).first()
        if member is None:
            raise BusinessError.one(ErrorCode.NOT_FOUND, "responderId", "No such member.")
        if not await Responder.filter(account_id=room.account_id, member_id=member.id).using_db(conn).exists():
            raise BusinessError.one(ErrorCode.NOT_A_RESPONDER, "responderId",
                                    "This member does not respond for the room's window account.")
        if not await TalkRoomParticipant.filter(room_id=room.id, member_id=member.id).using_db(conn).exists():
            await TalkRoomParticipant.create(room_id=room.id, member_id=member.id, using_db=conn)
        message = await _store(conn, account, room.contact_id, room.id, SenderType.RESPONDER, member.name, text,
                               sent_at)
        return ResponderReply(message, room)

    return await atomic(work)


async def leave_talk_rooms(conn: BaseDBAsyncClient, account_id: int, member_id: int) -> int:
    """The member leaves every talk room of the account (inside the caller's transaction)."""
    return await execute(
        conn, "DELETE FROM talk_room_participants WHERE member_id = ?"
              " AND room_id IN (SELECT id FROM talk_rooms WHERE account_id = ?)", member_id, account_id)


# --- reads, batched by key -------------------------------------------------------------------

_UNION_PARTS = 100  # accounts per statement (a page of accounts is at most 100)


async def _pages_by_account(model: type[Model], account_ids: list[int], first: int | None,
                            after: str | None) -> dict[int, Page]:
    """One keyset page per account, ordered by id, in three statements whatever the number of
    accounts (up to 100) and the page size: the totals (GROUP BY), the first `size + 1` ids
    after the cursor of every account (one index range with LIMIT per account, joined by
    UNION ALL, so a big account is not scanned), and those rows."""
    size = page_size(first)
    after_id = decode_cursor(after) if after is not None else 0
    account_ids = list(dict.fromkeys(account_ids))
    totals = dict(await model.filter(account_id__in=account_ids).group_by("account_id")
                  .annotate(n=Count("id")).values_list("account_id", "n"))
    pages = {a: Page(items=[], has_next=size == 0 and totals.get(a, 0) > 0, total=totals.get(a, 0))
             for a in account_ids}
    wanted = [a for a in account_ids if totals.get(a)]
    if size == 0 or not wanted:
        return pages
    conn, table = model._meta.db, model._meta.db_table
    ids: list[int] = []
    for start in range(0, len(wanted), _UNION_PARTS):
        chunk = wanted[start:start + _UNION_PARTS]
        sql = " UNION ALL ".join(
            f"SELECT id FROM (SELECT id FROM {table} WHERE account_id = ? AND id > ? ORDER BY id LIMIT ?) AS p{i}"
            for i in range(len(chunk)))
        params = [value for account_id in chunk for value in (account_id, after_id, size + 1)]
        ids += [row[0] for row in await fetch(conn, sql, *params)]
    found: dict[int, list] = defaultdict(list)
    for item in await model.filter(id__in=ids).order_by("id"):
        found[item.account_id].append(item)
    for account_id, items in found.items():
        page = pages[account_id]
        page.items, page.has_next = items[:size], len(items) > size
    return pages


async def talk_room_pages(account_ids: list[int], first: int | None, after: str | None) -> dict[int, Page]:
    return await _pages_by_account(TalkRoom, account_ids, first, after)


async def contact_pages(account_ids: list[int], first: int | None, after: str | None) -> dict[int, Page]:
    return await _pages_by_account(Contact, account_ids, first, after)


async def participants_by_room(room_ids: list[int]) -> dict[int, list[Member]]:
    result: dict[int, list[Member]] = {r: [] for r in room_ids}
    for row in await TalkRoomParticipant.filter(room_id__in=room_ids).order_by("id").select_related("member"):
        result[row.room_id].append(row.member)
    return result


async def contacts_by_ids(contact_ids: list[int]) -> dict[int, Contact]:
    return {c.id: c for c in await Contact.filter(id__in=contact_ids)}


async def bots_by_account(account_ids: list[int]) -> dict[int, list[Bot]]:
    result: dict[int, list[Bot]] = {a: [] for a in account_ids}
    for bot in await Bot.filter(account_id__in=account_ids).order_by("id"):
        result[bot.account_id].append(bot)
    return result


async def history_counts(account_ids: list[int]) -> dict[int, int]:
    """Every message of each account, automatic replies included."""
    counts = dict(await Message.filter(account_id__in=account_ids).group_by("account_id")
                  .annotate(n=Count("id")).values_list("account_id", "n"))
    return {a: counts.get(a, 0) for a in account_ids}
