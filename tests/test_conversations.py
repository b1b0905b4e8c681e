"""Conversations recorded by the messaging service: contacts, talk rooms, bots, messages and the
automatic replies they trigger; the lists on WindowAccount and what they cost in SQL."""
from __future__ import annotations

import asyncio
import logging
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from models import (AccountStatus, Bot, Contact, Message, TalkRoom, TalkRoomParticipant, WindowAccount)
from schema.ids import decode, encode
from tests.support import REMOVE_RESPONDER, errors_of, snapshot

UTC = timezone.utc
TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
ERRORS = "errors { field code message }"
ROOM = "room { id kind contact { id externalId } participants { id name } }"

REGISTER_BOT = f"""
mutation($input: RegisterBotInput!) {{ registerBot(input: $input) {{ bot {{ id name origin }} {ERRORS} }} }}"""

CUSTOMER_ADDED = f"""
mutation($input: RecordCustomerAddedInput!) {{
  recordCustomerAdded(input: $input) {{ contact {{ id name channel externalId }} autoReply {{ kind text }} {ERRORS} }}
}}"""

CUSTOMER_MESSAGE = f"""
mutation($input: RecordCustomerMessageInput!) {{
  recordCustomerMessage(input: $input) {{
    message {{ id senderType senderName content sentAt }} {ROOM} autoReply {{ kind text }} {ERRORS} }}
}}"""

RESPONDER_REPLY = f"""
mutation($input: RecordResponderReplyInput!) {{
  recordResponderReply(input: $input) {{ message {{ id senderType senderName content sentAt }} {ROOM} {ERRORS} }}
}}"""

UPDATE_SETTINGS = f"""
mutation($input: UpdateWindowSettingsInput!) {{ updateWindowSettings(input: $input) {{ windowAccount {{ id }} {ERRORS} }} }}"""

ADD_HOLIDAY = f"""
mutation($input: AddHolidayInput!) {{ addHoliday(input: $input) {{ windowAccount {{ id }} {ERRORS} }} }}"""

ACCOUNT_CONVERSATIONS = """
query($id: ID!, $first: Int, $after: String) { windowAccount(id: $id) {
  talkRooms(first: $first, after: $after) {
    edges { cursor node { id kind contact { id name } participants { id } } }
    pageInfo { hasNextPage endCursor } totalCount }
  contacts(first: $first, after: $after) {
    edges { cursor node { id name channel externalId } } pageInfo { hasNextPage endCursor } totalCount }
  bots { id name origin }
  historyCount
} }"""


# --- helpers ------------------------------------------------------------------------------

def at(zone: ZoneInfo, day: date, hour: int, minute: int = 0) -> str:
    return datetime.combine(day, time(hour, minute), zone).isoformat()


def future_weekday(weekday: int, weeks_ahead: int = 3) -> date:
    """A date `weekday` (0 = Monday) a few weeks from now: holidays must not start in the past."""
    start = date.today() + timedelta(weeks=weeks_ahead)
    return start + timedelta(days=(weekday - start.weekday()) % 7)


def next_fall_back_sunday() -> date:
    """The next first Sunday of November (US daylight saving ends: a 25-hour day in New York)."""
    year = date.today().year
    while True:
        day = date(year, 11, 1)
        day += timedelta(days=(6 - day.weekday()) % 7)
        if day > date.today() + timedelta(days=2):
            return day
        year += 1


def customer(external_id: str = "U1", name: str = "Taro", channel: str = "LINE") -> dict:
    return {"externalId": external_id, "name": name, "channel": channel}


async def conversation_snapshot() -> dict:
    """Every conversation row, and the account columns a recording writes."""
    return {
        "accounts": await WindowAccount.all().order_by("id").values("id", "status", "last_message_at", "updated_at"),
        "contacts": await Contact.all().order_by("id").values(
            "id", "account_id", "channel", "external_id", "name", "greeted_at"),
        "rooms": await TalkRoom.all().order_by("id").values("id", "account_id", "contact_id"),
        "participants": await TalkRoomParticipant.all().order_by("id").values("room_id", "member_id"),
        "bots": await Bot.all().order_by("id").values("id", "account_id", "name", "origin"),
        "messages": await Message.all().order_by("id").values(
            "id", "account_id", "contact_id", "room_id", "sender_type", "sender_name", "auto_reply_kind",
            "content", "sent_at"),
    }


async def everything() -> tuple[dict, dict]:
    return await snapshot(), await conversation_snapshot()


async def refused(world, mutation: str, input: dict, expected: list[tuple[str | None, str]]) -> dict:
    """The call fails with exactly `expected` and writes nothing."""
    before = await everything()
    payload = await world.mutate(mutation, input, token=world.operator)
    assert errors_of(payload) == expected
    assert await everything() == before
    return payload


async def ok(world, mutation: str, input: dict) -> dict:
    payload = await world.mutate(mutation, input, token=world.operator)
    assert payload["errors"] == [], payload["errors"]
    return payload


async def settings(world, account_id: str, **fields) -> None:
    payload = await world.mutate(UPDATE_SETTINGS, {"accountId": account_id, **fields})
    assert payload["errors"] == [], payload["errors"]


async def add_holiday(world, account_id: str, start: date, end: date) -> None:
    payload = await world.mutate(ADD_HOLIDAY, {"accountId": account_id, "startDate": start.isoformat(),
                                               "endDate": end.isoformat()})
    assert payload["errors"] == [], payload["errors"]


async def write(world, account_id: str, sent_at: str | None, contact: dict | None = None,
                content: str = "hello") -> dict:
    data = {"accountId": account_id, "contact": contact or customer(), "content": content}
    if sent_at is not None:
        data["sentAt"] = sent_at
    return await ok(world, CUSTOMER_MESSAGE, data)


async def reply_kind(world, account_id: str, sent_at: str, contact: dict | None = None) -> str | None:
    payload = await write(world, account_id, sent_at, contact)
    return payload["autoReply"] and payload["autoReply"]["kind"]


async def auto_replies(account_id: str) -> list[tuple[str, str]]:
    rows = await Message.filter(account_id=decode(account_id, "WindowAccount"), sender_type="AUTO_REPLY") \
        .order_by("id").values_list("auto_reply_kind", "content")
    return [(getattr(k, "value", k), c) for k, c in rows]


async def set_status(account_id: str, status: AccountStatus) -> None:
    await WindowAccount.filter(id=decode(account_id, "WindowAccount")).update(status=status)


async def conversations_of(world, account_id: str, first: int | None = None, after: str | None = None) -> dict:
    data = await world.api.data(ACCOUNT_CONVERSATIONS, {"id": account_id, "first": first, "after": after},
                                token=world.admin)
    return data["windowAccount"]


# --- access ---------------------------------------------------------------------------------

async def test_recording_needs_an_operator_token(world):
    account = await world.account()
    room_id = encode("TalkRoom", 1)
    calls = [
        (REGISTER_BOT, {"accountId": account["id"], "name": "Bot", "origin": "CX_TALK"}),
        (CUSTOMER_ADDED, {"accountId": account["id"], "contact": customer()}),
        (CUSTOMER_MESSAGE, {"accountId": account["id"], "contact": customer(), "content": "hi"}),
        (RESPONDER_REPLY, {"roomId": room_id, "responderId": world.member_ids[0], "content": "hi"}),
    ]
    before = await everything()
    for mutation, input in calls:
        assert await world.api.error_code(mutation, {"input": input}, token=world.admin) == "FORBIDDEN"
        assert await world.api.error_code(mutation, {"input": input}, token=world.member_tokens[0]) == "FORBIDDEN"
        assert await world.api.error_code(mutation, {"input": input}) == "UNAUTHENTICATED"
    assert await everything() == before


async def test_ids_of_the_wrong_type_are_malformed(world):
    account = await world.account()
    code = await world.api.error_code(CUSTOMER_MESSAGE, {"input": {
        "accountId": world.member_ids[0], "contact": customer(), "content": "hi"}}, token=world.operator)
    assert code == "BAD_USER_INPUT"
    code = await world.api.error_code(RESPONDER_REPLY, {"input": {
        "roomId": account["id"], "responderId": world.member_ids[0], "content": "hi"}}, token=world.operator)
    assert code == "BAD_USER_INPUT"


# --- bots ----------------------------------------------------------------------------------

async def test_register_bot(world):
    account = await world.account()
    first = await ok(world, REGISTER_BOT, {"accountId": account["id"], "name": "  FAQ bot ", "origin": "CX_TALK"})
    assert first["bot"]["name"] == "FAQ bot" and first["bot"]["origin"] == "CX_TALK"
    await ok(world, REGISTER_BOT, {"accountId": account["id"], "name": "x" * 100, "origin": "DEV_CONSOLE"})
    listed = await conversations_of(world, account["id"])
    assert [(b["name"], b["origin"]) for b in listed["bots"]] == [("FAQ bot", "CX_TALK"), ("x" * 100, "DEV_CONSOLE")]
    assert listed["bots"][0]["id"] == first["bot"]["id"]


@pytest.mark.parametrize("name, code", [("", "REQUIRED"), ("   ", "REQUIRED"), ("x" * 101, "TOO_LONG"),
                                        ("bad\x07bot", "INVALID")])
async def test_register_bot_checks_the_name(world, name, code):
    account = await world.account()
    await refused(world, REGISTER_BOT, {"accountId": account["id"], "name": name, "origin": "CX_TALK"},
                  [("name", code)])


async def test_register_bot_needs_an_active_account(world):
    account = await world.account()
    await refused(world, REGISTER_BOT, {"accountId": encode("WindowAccount", 99999), "name": "B",
                                        "origin": "CX_TALK"}, [("accountId", "NOT_FOUND")])
    await set_status(account["id"], AccountStatus.RESETTING)
    payload = await refused(world, REGISTER_BOT, {"accountId": account["id"], "name": "B", "origin": "CX_TALK"},
                            [("accountId", "ACCOUNT_NOT_ACTIVE")])
    assert payload["bot"] is None


# --- customers added: the greeting -------------------------------------------------------------

async def test_greeting_is_sent_once_and_stored(world):
    account = await world.account(name="Support Desk")
    await settings(world, account["id"], greetingMessage="Welcome!")
    added_at = "2030-01-07T10:00:00+09:00"
    payload = await ok(world, CUSTOMER_ADDED, {"accountId": account["id"], "contact": customer(), "at": added_at})
    assert payload["autoReply"] == {"kind": "GREETING", "text": "Welcome!"}
    assert payload["contact"]["name"] == "Taro" and payload["contact"]["channel"] == "LINE"
    message = await Message.get(account_id=decode(account["id"], "WindowAccount"))
    assert (message.sender_type.value, message.auto_reply_kind.value, message.sender_name, message.content) == \
        ("AUTO_REPLY", "GREETING", "Support Desk", "Welcome!")
    assert message.sent_at == datetime(2030, 1, 7, 1, 0, tzinfo=UTC)
    room = await TalkRoom.get(id=message.room_id)
    assert room.contact_id == decode(payload["contact"]["id"], "Contact")

    # Added again (blocked and unblocked, or a renamed customer): the same contact, no second greeting.
    again = await ok(world, CUSTOMER_ADDED, {"accountId": account["id"], "contact": customer(name="Taro Y")})
    assert again["autoReply"] is None
    assert again["contact"]["id"] == payload["contact"]["id"] and again["contact"]["name"] == "Taro Y"
    assert await Message.all().count() == 1 and await TalkRoom.all().count() == 1
    assert await Contact.all().count() == 1

    # The greeting opened the room the customer's first message goes to.
    written = await write(world, account["id"], None, customer(name="Taro Y"))
    assert decode(written["room"]["id"], "TalkRoom") == room.id
    assert written["message"]["senderName"] == "Taro Y"


async def test_no_greeting_over_email_and_contacts_are_per_channel_and_account(world):
    account = await world.account()
    other = await world.account(name="Sales", handle="sales")
    for a in (account, other):
        await settings(world, a["id"], greetingMessage="Welcome!")
    mail = await ok(world, CUSTOMER_ADDED, {"accountId": account["id"], "contact": customer("U1", channel="EMAIL")})
    assert mail["autoReply"] is None
    assert await Message.all().count() == 0 and await TalkRoom.all().count() == 0
    assert (await Contact.get(id=decode(mail["contact"]["id"], "Contact"))).greeted_at is None
    # The same external id on another channel, or of another account, is another contact.
    line = await ok(world, CUSTOMER_ADDED, {"accountId": account["id"], "contact": customer("U1", channel="LINE")})
    works = await ok(world, CUSTOMER_ADDED, {"accountId": other["id"], "contact": customer("U1", channel="LINE")})
    assert line["autoReply"]["kind"] == works["autoReply"]["kind"] == "GREETING"
    assert len({mail["contact"]["id"], line["contact"]["id"], works["contact"]["id"]}) == 3


async def test_empty_greeting_sends_nothing_and_does_not_count_as_greeted(world):
    account = await world.account()
    await settings(world, account["id"], greetingMessage="")
    payload = await ok(world, CUSTOMER_ADDED, {"accountId": account["id"], "contact": customer()})
    assert payload["autoReply"] is None
    assert await Message.all().count() == 0 and await TalkRoom.all().count() == 0
    # Once a greeting is configured, a customer who was never greeted gets it when added again.
    await settings(world, account["id"], greetingMessage="Hello there")
    payload = await ok(world, CUSTOMER_ADDED, {"accountId": account["id"], "contact": customer()})
    assert payload["autoReply"] == {"kind": "GREETING", "text": "Hello there"}


async def test_parallel_adds_greet_once(world):
    account = await world.account()
    await settings(world, account["id"], greetingMessage="Welcome!")
    payloads = await asyncio.gather(*[
        world.mutate(CUSTOMER_ADDED, {"accountId": account["id"], "contact": customer("U-race")},
                     token=world.operator) for _ in range(5)])
    assert all(p["errors"] == [] for p in payloads)
    assert sorted(bool(p["autoReply"]) for p in payloads) == [False] * 4 + [True]
    assert len({p["contact"]["id"] for p in payloads}) == 1
    assert await Contact.all().count() == 1 and await TalkRoom.all().count() == 1
    assert await auto_replies(account["id"]) == [("GREETING", "Welcome!")]


@pytest.mark.parametrize("contact, expected", [
    (customer(external_id=""), [("contact.externalId", "REQUIRED")]),
    (customer(external_id="x" * 201), [("contact.externalId", "TOO_LONG")]),
    (customer(external_id="a\nb"), [("contact.externalId", "INVALID")]),
    (customer(name=" "), [("contact.name", "REQUIRED")]),
    (customer(name="n" * 101), [("contact.name", "TOO_LONG")]),
    (customer(name="a\x00b"), [("contact.name", "INVALID")]),
])
async def test_customer_added_checks_the_contact(world, contact, expected):
    account = await world.account()
    await settings(world, account["id"], greetingMessage="Welcome!")
    await refused(world, CUSTOMER_ADDED, {"accountId": account["id"], "contact": contact}, expected)


async def test_customer_added_needs_an_active_account_and_an_offset(world):
    account = await world.account()
    await settings(world, account["id"], greetingMessage="Welcome!")
    await refused(world, CUSTOMER_ADDED, {"accountId": account["id"], "contact": customer(),
                                          "at": "2030-01-07T10:00:00"}, [("at", "INVALID")])
    await refused(world, CUSTOMER_ADDED, {"accountId": encode("WindowAccount", 99999), "contact": customer()},
                  [("accountId", "NOT_FOUND")])
    await set_status(account["id"], AccountStatus.RESETTING)
    payload = await refused(world, CUSTOMER_ADDED, {"accountId": account["id"], "contact": customer()},
                            [("accountId", "ACCOUNT_NOT_ACTIVE")])
    assert payload["contact"] is None and payload["autoReply"] is None


# --- customer messages ----------------------------------------------------------------------

async def test_customer_messages_share_the_contacts_room(world):
    account = await world.account()
    first = await write(world, account["id"], "2030-01-07T10:00:00+09:00", content="  first\r\nline  ")
    assert first["message"]["senderType"] == "CUSTOMER" and first["message"]["senderName"] == "Taro"
    assert first["message"]["content"] == "first\nline"
    assert datetime.fromisoformat(first["message"]["sentAt"]) == datetime(2030, 1, 7, 1, 0, tzinfo=UTC)
    assert first["room"]["kind"] == "DIRECT" and first["room"]["participants"] == []
    assert first["room"]["contact"]["externalId"] == "U1"
    assert first["autoReply"] is None  # Monday 10:00 in Tokyo: open
    second = await write(world, account["id"], "2030-01-07T10:05:00+09:00")
    assert second["room"]["id"] == first["room"]["id"]
    someone_else = await write(world, account["id"], "2030-01-07T10:06:00+09:00", customer("U2", "Hanako"))
    assert someone_else["room"]["id"] != first["room"]["id"]
    assert someone_else["message"]["senderName"] == "Hanako"
    # sentAt defaults to now.
    now = await write(world, account["id"], None)
    assert abs(datetime.fromisoformat(now["message"]["sentAt"]) - datetime.now(UTC)) < timedelta(minutes=1)
    assert (await WindowAccount.get(id=decode(account["id"], "WindowAccount"))).last_message_at is not None


@pytest.mark.parametrize("content, code", [("", "REQUIRED"), (" \n ", "REQUIRED"), ("x" * 10001, "TOO_LONG"),
                                           ("bell\x07", "INVALID")])
async def test_customer_message_checks_the_content(world, content, code):
    account = await world.account()
    await refused(world, CUSTOMER_MESSAGE, {"accountId": account["id"], "contact": customer(), "content": content},
                  [("content", code)])


async def test_customer_message_of_ten_thousand_characters_is_stored(world):
    account = await world.account()
    payload = await write(world, account["id"], None, content="あ" * 10000)
    assert len(payload["message"]["content"]) == 10000


async def test_customer_message_refusals_write_nothing(world):
    account = await world.account()
    await settings(world, account["id"], outOfHoursMessage="Closed")
    await write(world, account["id"], "2030-01-07T10:00:00+09:00")
    message = {"accountId": account["id"], "contact": customer("U9", "New"), "content": "hi"}
    await refused(world, CUSTOMER_MESSAGE, {**message, "sentAt": "2030-01-07T23:00:00"}, [("sentAt", "INVALID")])
    await refused(world, CUSTOMER_MESSAGE, {**message, "accountId": encode("WindowAccount", 99999)},
                  [("accountId", "NOT_FOUND")])
    # Two failures of the input are reported together.
    await refused(world, CUSTOMER_MESSAGE, {**message, "content": "", "contact": customer(name="")},
                  [("contact.name", "REQUIRED"), ("content", "REQUIRED")])
    await set_status(account["id"], AccountStatus.RESETTING)
    payload = await refused(world, CUSTOMER_MESSAGE, {**message, "sentAt": "2030-01-07T23:00:00+09:00"},
                            [("accountId", "ACCOUNT_NOT_ACTIVE")])
    assert payload["message"] is None and payload["room"] is None and payload["autoReply"] is None


# --- automatic replies ---------------------------------------------------------------------

async def test_out_of_hours_reply_once_per_room_and_local_day_in_tokyo(world):
    account = await world.account(name="Desk")
    await settings(world, account["id"], outOfHoursMessage="We are closed.")
    monday = future_weekday(0)
    tuesday = monday + timedelta(days=1)
    assert await reply_kind(world, account["id"], at(TOKYO, monday, 20)) == "OUT_OF_HOURS"
    assert await reply_kind(world, account["id"], at(TOKYO, monday, 23, 59)) is None  # same room, same day
    # Tuesday 00:30 in Tokyo is still Monday in UTC: a new local day, so a new reply.
    assert await reply_kind(world, account["id"], at(TOKYO, tuesday, 0, 30)) == "OUT_OF_HOURS"
    assert await reply_kind(world, account["id"], at(TOKYO, tuesday, 10)) is None  # open
    assert await reply_kind(world, account["id"], at(TOKYO, tuesday, 19)) is None  # already sent on Tuesday
    # Another customer's room gets its own reply.
    assert await reply_kind(world, account["id"], at(TOKYO, tuesday, 19), customer("U2")) == "OUT_OF_HOURS"
    replies = await Message.filter(sender_type="AUTO_REPLY").order_by("id")
    assert [(m.sender_name, m.content) for m in replies] == [("Desk", "We are closed.")] * 3
    assert replies[0].sent_at == datetime.combine(monday, time(20), TOKYO)
    assert (await conversations_of(world, account["id"]))["historyCount"] == 6 + 3  # 6 customer + 3 replies


async def test_holiday_reply_takes_precedence_over_hours(world):
    account = await world.account()
    await settings(world, account["id"], outOfHoursMessage="Closed", holidayMessage="Holiday")
    wednesday = future_weekday(2)
    await add_holiday(world, account["id"], wednesday, wednesday)
    assert await reply_kind(world, account["id"], at(TOKYO, wednesday, 10)) == "HOLIDAY"  # inside usual hours
    assert await reply_kind(world, account["id"], at(TOKYO, wednesday, 20)) is None  # holiday all day, sent
    assert await reply_kind(world, account["id"], at(TOKYO, wednesday + timedelta(days=1), 20)) == "OUT_OF_HOURS"
    assert await reply_kind(world, account["id"], at(TOKYO, wednesday + timedelta(days=1), 10)) is None
    assert await auto_replies(account["id"]) == [("HOLIDAY", "Holiday"), ("OUT_OF_HOURS", "Closed")]


async def test_empty_texts_send_nothing(world):
    account = await world.account()
    await settings(world, account["id"], outOfHoursMessage="", holidayMessage="")
    friday = future_weekday(4)
    await add_holiday(world, account["id"], friday, friday)
    assert await reply_kind(world, account["id"], at(TOKYO, friday - timedelta(days=1), 22)) is None
    # An empty holiday text does not fall back to the out-of-hours text.
    await settings(world, account["id"], outOfHoursMessage="Closed")
    assert await reply_kind(world, account["id"], at(TOKYO, friday, 22)) is None
    assert await auto_replies(account["id"]) == []
    assert await Message.all().count() == 2


async def test_overnight_hours_and_a_daylight_saving_day_in_new_york(world):
    account = await world.account()
    week = [{"weekday": d, "intervals": []} for d in ("WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")]
    await settings(world, account["id"], timezone="America/New_York", outOfHoursMessage="Closed", businessHours=[
        {"weekday": "MONDAY", "intervals": [{"start": "21:00", "end": "24:00"}]},
        {"weekday": "TUESDAY", "intervals": [{"start": "00:00", "end": "02:00"}]}, *week])
    monday = future_weekday(0)
    tuesday = monday + timedelta(days=1)
    night = customer("night")
    assert await reply_kind(world, account["id"], at(NEW_YORK, monday, 21, 30), night) is None
    assert await reply_kind(world, account["id"], at(NEW_YORK, monday, 23, 59), night) is None
    assert await reply_kind(world, account["id"], at(NEW_YORK, tuesday, 0, 0), night) is None  # continuous
    assert await reply_kind(world, account["id"], at(NEW_YORK, tuesday, 1, 59), night) is None
    assert await reply_kind(world, account["id"], at(NEW_YORK, tuesday, 2, 0), night) == "OUT_OF_HOURS"

    # The Sunday daylight saving ends has 25 hours: 00:30 EDT and 23:30 EST are 24 hours apart
    # but the same local day, so only one reply; Monday 00:30 EST is a new day.
    sunday = next_fall_back_sunday()
    dst = customer("dst")
    early = datetime.combine(sunday, time(4, 30), UTC)  # 00:30 EDT
    late = early + timedelta(hours=24)  # 23:30 EST, same Sunday
    assert late.astimezone(NEW_YORK).date() == sunday
    assert await reply_kind(world, account["id"], early.isoformat(), dst) == "OUT_OF_HOURS"
    assert await reply_kind(world, account["id"], late.isoformat(), dst) is None
    assert await reply_kind(world, account["id"], (late + timedelta(hours=1)).isoformat(), dst) == "OUT_OF_HOURS"


# --- responder replies ----------------------------------------------------------------------

async def test_responders_join_the_room_and_two_make_it_a_group(world):
    account = await world.account(responders=world.member_ids[:2])
    room_id = (await write(world, account["id"], None))["room"]["id"]
    first = await ok(world, RESPONDER_REPLY, {"roomId": room_id, "responderId": world.member_ids[0],
                                              "content": "Hello, how can I help?",
                                              "sentAt": "2030-01-07T10:01:00+09:00"})
    assert first["message"]["senderType"] == "RESPONDER"
    assert first["message"]["senderName"] == "Acme Member 0"
    assert first["room"]["id"] == room_id and first["room"]["kind"] == "DIRECT"
    assert [p["id"] for p in first["room"]["participants"]] == [world.member_ids[0]]
    again = await ok(world, RESPONDER_REPLY, {"roomId": room_id, "responderId": world.member_ids[0], "content": "."})
    assert [p["id"] for p in again["room"]["participants"]] == [world.member_ids[0]]
    group = await ok(world, RESPONDER_REPLY, {"roomId": room_id, "responderId": world.member_ids[1], "content": "Hi"})
    assert group["room"]["kind"] == "GROUP"
    assert [p["id"] for p in group["room"]["participants"]] == world.member_ids[:2]
    message = await Message.get(id=decode(first["message"]["id"], "Message"))
    assert message.contact_id == decode(first["room"]["contact"]["id"], "Contact")
    assert (await conversations_of(world, account["id"]))["historyCount"] == 4


async def test_responder_reply_refusals_write_nothing(world):
    account = await world.account(responders=[world.member_ids[0]])
    room_id = (await write(world, account["id"], None))["room"]["id"]
    reply = {"roomId": room_id, "responderId": world.member_ids[0], "content": "hi"}
    await refused(world, RESPONDER_REPLY, {**reply, "roomId": encode("TalkRoom", 99999)}, [("roomId", "NOT_FOUND")])
    await refused(world, RESPONDER_REPLY, {**reply, "responderId": encode("Member", 99999)},
                  [("responderId", "NOT_FOUND")])
    await refused(world, RESPONDER_REPLY, {**reply, "responderId": world.member_ids[1]},
                  [("responderId", "NOT_A_RESPONDER")])
    await refused(world, RESPONDER_REPLY, {**reply, "content": ""}, [("content", "REQUIRED")])
    await refused(world, RESPONDER_REPLY, {**reply, "content": "x" * 10001}, [("content", "TOO_LONG")])
    await refused(world, RESPONDER_REPLY, {**reply, "sentAt": "2030-01-07T10:00:00"}, [("sentAt", "INVALID")])
    await set_status(account["id"], AccountStatus.RESETTING)
    payload = await refused(world, RESPONDER_REPLY, reply, [("roomId", "ACCOUNT_NOT_ACTIVE")])
    assert payload["message"] is None and payload["room"] is None


async def test_a_removed_responder_leaves_every_room_of_that_account_only(world):
    await world.grant("Wide", 3, 2)
    usage = await world.api.data("{ productUsage { products { id name } } }", token=world.admin)
    wide = next(p["id"] for p in usage["productUsage"]["products"] if p["name"] == "Wide")
    account = await world.account(responders=world.member_ids[:2], product_id=wide)
    other = await world.account(name="Sales", handle="sales", responders=[world.member_ids[0]], product_id=wide)
    rooms = [(await write(world, account["id"], None, customer(f"U{i}")))["room"]["id"] for i in range(2)]
    other_room = (await write(world, other["id"], None))["room"]["id"]
    for room_id in rooms:
        for member_id in world.member_ids[:2]:
            await ok(world, RESPONDER_REPLY, {"roomId": room_id, "responderId": member_id, "content": "hi"})
    await ok(world, RESPONDER_REPLY, {"roomId": other_room, "responderId": world.member_ids[0], "content": "hi"})
    before = await conversations_of(world, account["id"])
    assert [e["node"]["kind"] for e in before["talkRooms"]["edges"]] == ["GROUP", "GROUP"]

    payload = await world.mutate(REMOVE_RESPONDER, {"accountId": account["id"], "memberId": world.member_ids[0]})
    assert payload["errors"] == []
    after = await conversations_of(world, account["id"])
    assert [e["node"]["kind"] for e in after["talkRooms"]["edges"]] == ["DIRECT", "DIRECT"]
    assert [[p["id"] for p in e["node"]["participants"]] for e in after["talkRooms"]["edges"]] == \
        [[world.member_ids[1]]] * 2
    assert after["historyCount"] == before["historyCount"]  # their messages stay in the history
    # Still a responder of the other account: still in its room.
    assert await TalkRoomParticipant.filter(room_id=decode(other_room, "TalkRoom"),
                                            member_id=decode(world.member_ids[0], "Member")).exists()
    # And no longer able to reply in the first account's rooms.
    await refused(world, RESPONDER_REPLY, {"roomId": rooms[0], "responderId": world.member_ids[0], "content": "x"},
                  [("responderId", "NOT_A_RESPONDER")])


async def test_a_refused_removal_keeps_the_participants(world):
    account = await world.account(responders=[world.member_ids[0]])
    room_id = (await write(world, account["id"], None))["room"]["id"]
    await ok(world, RESPONDER_REPLY, {"roomId": room_id, "responderId": world.member_ids[0], "content": "hi"})
    before = await everything()
    payload = await world.mutate(REMOVE_RESPONDER, {"accountId": account["id"], "memberId": world.member_ids[0]})
    assert errors_of(payload) == [("memberId", "LAST_RESPONDER")]
    assert await everything() == before


# --- history and lists ----------------------------------------------------------------------

async def test_messages_stay_when_their_room_is_deleted(world):
    account = await world.account()
    await settings(world, account["id"], outOfHoursMessage="Closed")
    first = await write(world, account["id"], at(TOKYO, future_weekday(5), 12))  # Saturday: closed
    assert first["autoReply"]["kind"] == "OUT_OF_HOURS"
    assert (await conversations_of(world, account["id"]))["historyCount"] == 2
    room_id = decode(first["room"]["id"], "TalkRoom")
    await TalkRoom.filter(id=room_id).delete()
    assert await Message.filter(room_id=None).count() == 2
    listed = await conversations_of(world, account["id"])
    assert listed["historyCount"] == 2 and listed["talkRooms"]["totalCount"] == 0
    assert listed["contacts"]["totalCount"] == 1
    # The contact's next message opens a new room, which has not had today's reply yet.
    again = await write(world, account["id"], at(TOKYO, future_weekday(5), 13))
    assert again["room"]["id"] != first["room"]["id"]
    assert again["autoReply"]["kind"] == "OUT_OF_HOURS"
    assert (await conversations_of(world, account["id"]))["historyCount"] == 4


async def test_lists_page_by_id_and_count(world):
    account = await world.account()
    other = await world.account(name="Sales", handle="sales")
    for i in range(5):
        await write(world, account["id"], None, customer(f"U{i}", f"Customer {i}"))
    await write(world, other["id"], None, customer("X"))
    await ok(world, REGISTER_BOT, {"accountId": account["id"], "name": "B", "origin": "CX_TALK"})

    page = await conversations_of(world, account["id"], first=2)
    assert page["talkRooms"]["totalCount"] == 5 and page["contacts"]["totalCount"] == 5
    assert [e["node"]["contact"]["name"] for e in page["talkRooms"]["edges"]] == ["Customer 0", "Customer 1"]
    assert page["talkRooms"]["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["name"] for e in page["contacts"]["edges"]] == ["Customer 0", "Customer 1"]
    cursor = page["talkRooms"]["pageInfo"]["endCursor"]
    assert cursor == page["talkRooms"]["edges"][-1]["cursor"]
    rest = await world.api.data(ACCOUNT_CONVERSATIONS, {"id": account["id"], "first": 10, "after": cursor},
                                token=world.admin)
    rooms = rest["windowAccount"]["talkRooms"]
    assert [e["node"]["contact"]["name"] for e in rooms["edges"]] == ["Customer 2", "Customer 3", "Customer 4"]
    assert rooms["pageInfo"]["hasNextPage"] is False and rooms["totalCount"] == 5
    assert page["historyCount"] == 5 and len(page["bots"]) == 1
    empty = await conversations_of(world, other["id"], first=0)
    assert empty["talkRooms"]["edges"] == [] and empty["talkRooms"]["pageInfo"]["hasNextPage"] is True
    assert empty["bots"] == [] and empty["historyCount"] == 1
    # A responder of the account sees its conversations too.
    seen = await world.api.data(ACCOUNT_CONVERSATIONS, {"id": account["id"], "first": 1},
                                token=world.member_tokens[0])
    assert seen["windowAccount"]["talkRooms"]["totalCount"] == 5


async def test_first_is_capped_at_100(world):
    account = await world.account()
    account_id = decode(account["id"], "WindowAccount")
    await Contact.bulk_create([Contact(account_id=account_id, channel="LINE", external_id=f"U{i}", name=f"C{i}")
                               for i in range(101)])
    contacts = await Contact.filter(account_id=account_id).order_by("id")
    await TalkRoom.bulk_create([TalkRoom(account_id=account_id, contact_id=c.id) for c in contacts])
    page = await conversations_of(world, account["id"], first=500)
    assert len(page["talkRooms"]["edges"]) == 100 and page["talkRooms"]["pageInfo"]["hasNextPage"] is True
    assert len(page["contacts"]["edges"]) == 100 and page["contacts"]["totalCount"] == 101
    assert await world.api.error_code(ACCOUNT_CONVERSATIONS, {"id": account["id"], "first": -1},
                                      token=world.admin) == "BAD_USER_INPUT"


# --- cost: statements per request do not grow with the number of accounts ------------------------

NESTED = """
query($n: Int!) { windowAccounts(first: $n) { edges { node {
  talkRooms(first: 5) { totalCount pageInfo { hasNextPage } edges { node { kind participants { id } contact { id } } } }
  bots { id } historyCount
} } } }"""


class _Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage().lstrip().upper()
        if text.startswith(("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")):
            self.statements.append(record.getMessage())


@contextmanager
def counted_statements():
    logger = logging.getLogger("tortoise.db_client")
    handler, level, disabled = _Counter(), logger.level, logger.disabled
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.disabled = False
    try:
        yield handler.statements
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.disabled = disabled


async def _populate(account_ids: list[int], member_ids: list[int], domain_id: int) -> None:
    """Seven rooms per account (more than a page of 5), two responders in the first, a bot, messages."""
    contacts = [Contact(account_id=a, channel="LINE", external_id=f"{a}-{i}", name=f"C{a}-{i}")
                for a in account_ids for i in range(7)]
    await Contact.bulk_create(contacts)
    contacts = await Contact.filter(account_id__in=account_ids).order_by("id")
    await TalkRoom.bulk_create([TalkRoom(account_id=c.account_id, contact_id=c.id) for c in contacts])
    rooms = await TalkRoom.filter(account_id__in=account_ids).order_by("id")
    first_rooms = {}
    for room in rooms:
        first_rooms.setdefault(room.account_id, room)
    await TalkRoomParticipant.bulk_create([TalkRoomParticipant(room_id=r.id, member_id=m)
                                           for r in first_rooms.values() for m in member_ids])
    await Bot.bulk_create([Bot(account_id=a, name=f"Bot {a}", origin="CX_TALK") for a in account_ids])
    now = datetime.now(UTC)
    await Message.bulk_create([Message(domain_id=domain_id, account_id=r.account_id, contact_id=r.contact_id,
                                       room_id=r.id, sender_type="CUSTOMER", sender_name="C", content="hi",
                                       sent_at=now) for r in rooms])


async def test_nested_lists_cost_the_same_for_1_and_10_accounts(world):
    product = await world.grant("Many", 2, 10)
    for i in range(10):
        await world.account(name=f"Desk {i}", handle=f"desk{i}", responders=world.member_ids[:1], product_id=product)
    account_ids = list(await WindowAccount.all().order_by("id").values_list("id", flat=True))
    await _populate(account_ids, [decode(m, "Member") for m in world.member_ids[:2]],
                    decode(world.domain_id, "Domain"))

    costs = {}
    for n in (1, 10):
        with counted_statements() as statements:
            data = await world.api.data(NESTED, {"n": n}, token=world.admin)
        edges = data["windowAccounts"]["edges"]
        assert len(edges) == n
        for edge in edges:
            node = edge["node"]
            assert node["talkRooms"]["totalCount"] == 7 and node["talkRooms"]["pageInfo"]["hasNextPage"] is True
            rooms = node["talkRooms"]["edges"]
            assert len(rooms) == 5
            assert rooms[0]["node"]["kind"] == "GROUP" and len(rooms[0]["node"]["participants"]) == 2
            assert all(r["node"]["kind"] == "DIRECT" and r["node"]["contact"]["id"] for r in rooms[1:])
            assert len(node["bots"]) == 1 and node["historyCount"] == 7
        costs[n] = len(statements)
    assert costs[1] > 0
    assert costs[1] == costs[10], costs
