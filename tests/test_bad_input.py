"""Bad input through the GraphQL API (SPEC §3 "Errors"): a clear typed error — payload `errors`
with a code, or a top-level BAD_USER_INPUT / validation error — never a fault, and nothing written.

Runs on SQLite and on PostgreSQL (DATABASE_URL), which refuses NUL in text and counts parameters.

- every string limit at n and n + 1 characters, for ASCII, Japanese, astral-plane emoji and
  combining marks (lengths count code points after NFC; contact external IDs are machine
  identifiers kept exactly as sent, so they count the code points sent);
- NUL, other control characters, line separators and lone surrogates in every string input;
- huge lists of IDs and members, integers at and beyond the 32-bit range;
- wrong-type, missing and foreign IDs on the ID fields tests/test_auth_tenancy.py does not cover;
- impossible dates and times, times without offset, years 1 and 9999;
- malformed request bodies.
"""
from __future__ import annotations

import json
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable
from zoneinfo import ZoneInfo

import httpx
import pytest

from models import (ApiToken, AuditEvent, Bot, Contact, Domain, HistoryExport, Holiday, Member, Message, Product,
                    Responder, TalkRoom, TalkRoomParticipant, WindowAccount)
from schema.ids import encode
from tests.support import (ADD_RESPONDERS, CREATE_ACCOUNT, GRANT_PRODUCT, PROVISION_MEMBERS, UPDATE_ACCOUNT, World,
                           errors_of)

ERRORS = "errors { field code message }"
SETTINGS = "settings { timezone greetingMessage outOfHoursMessage holidayMessage holidays { id startDate name } }"
UPDATE_SETTINGS = f"""mutation($input: UpdateWindowSettingsInput!) {{ updateWindowSettings(input: $input) {{
  windowAccount {{ id {SETTINGS} }} {ERRORS} }} }}"""
ADD_HOLIDAY = f"""mutation($input: AddHolidayInput!) {{ addHoliday(input: $input) {{
  windowAccount {{ id {SETTINGS} }} {ERRORS} }} }}"""
DELETE_HOLIDAYS = f"""mutation($input: DeleteHolidaysInput!) {{ deleteHolidays(input: $input) {{
  windowAccount {{ id {SETTINGS} }} {ERRORS} }} }}"""
IMPORT_HOLIDAYS = f"""mutation($input: ImportNationalHolidaysInput!) {{ importNationalHolidays(input: $input) {{
  windowAccount {{ id }} {ERRORS} }} }}"""
RESET = f"""mutation($input: ResetWindowAccountInput!) {{ resetWindowAccount(input: $input) {{
  windowAccount {{ id status }} {ERRORS} }} }}"""
REQUEST_EXPORT = f"""mutation($input: RequestHistoryExportInput!) {{ requestHistoryExport(input: $input) {{
  export {{ id status }} {ERRORS} }} }}"""
CANCEL_EXPORT = f"""mutation($input: CancelHistoryExportInput!) {{ cancelHistoryExport(input: $input) {{
  export {{ id status }} {ERRORS} }} }}"""
HISTORY_EXPORT = "query($id: ID!) { historyExport(id: $id) { id status } }"
REGISTER_BOT = f"""mutation($input: RegisterBotInput!) {{ registerBot(input: $input) {{ bot {{ id name }} {ERRORS} }} }}"""
CUSTOMER_ADDED = f"""mutation($input: RecordCustomerAddedInput!) {{ recordCustomerAdded(input: $input) {{
  contact {{ id name externalId }} autoReply {{ kind }} {ERRORS} }} }}"""
CUSTOMER_MESSAGE = f"""mutation($input: RecordCustomerMessageInput!) {{ recordCustomerMessage(input: $input) {{
  message {{ id content }} room {{ id }} autoReply {{ kind }} {ERRORS} }} }}"""
RESPONDER_REPLY = f"""mutation($input: RecordResponderReplyInput!) {{ recordResponderReply(input: $input) {{
  message {{ id content }} room {{ id }} {ERRORS} }} }}"""
NODE = "query($id: ID!) { node(id: $id) { id __typename } }"
AVAILABILITY = "query($id: ID!, $at: DateTime) { windowAccount(id: $id) { availability(at: $at) { state nextChangeAt } } }"
WINDOW_ACCOUNTS = "query($search: String) { windowAccounts(search: $search, first: 100) { totalCount edges { node { id } } } }"
MEMBERS = "query($search: String) { members(search: $search, first: 100) { totalCount edges { node { id } } } }"
AUDIT = "query($filter: AuditEventFilter) { auditEvents(first: 100, filter: $filter) { totalCount } }"

TOKYO = ZoneInfo("Asia/Tokyo")
INT_MAX = 2**31 - 1


# --- helpers -------------------------------------------------------------------------------

async def everything() -> dict:
    """Every row of every table a request can write, except the audit log (which records refused
    calls too): equal snapshots mean nothing was written."""
    result = {}
    for model in (Domain, Member, ApiToken, Product, WindowAccount, Responder, Holiday, Contact, TalkRoom,
                  TalkRoomParticipant, Bot, Message, HistoryExport):
        result[model.__name__] = await model.all().order_by("id").values()
    return result


def no_fault(body: dict) -> None:
    for error in body.get("errors") or []:
        assert (error.get("extensions") or {}).get("code") != "INTERNAL_SERVER_ERROR", body


async def send(world: World, query: str, variables: dict | None = None, token: str | None = None) -> dict:
    """POST as JSON with every non-ASCII character escaped, so lone surrogates travel as the
    JSON escapes (\\ud800) a client can send; the answer is never a fault."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    response = await world.api.client.post("/graphql", content=body, headers={
        "Authorization": f"Bearer {token or world.admin}", "content-type": "application/json"})
    assert response.status_code in (200, 400), (response.status_code, response.text)
    result = response.json()
    no_fault(result)
    return result


async def payload(world: World, query: str, variables: dict, token: str | None = None) -> dict:
    body = await send(world, query, variables, token)
    assert not body.get("errors"), body
    (value,) = body["data"].values()
    return value


async def refused(world: World, query: str, variables: dict, expected: list[tuple[str | None, str]],
                  token: str | None = None) -> dict:
    """Exactly the `expected` payload errors, no object in the payload, nothing written."""
    before = await everything()
    result = await payload(world, query, variables, token)
    assert errors_of(result) == expected, result["errors"]
    for key, value in result.items():
        if key != "errors":
            assert value in (None, []), (key, result)
    assert await everything() == before
    return result


def top_level(body: dict, code: str | None, where: str | None = None) -> None:
    """A top-level error and no data. `code=None`: a GraphQL validation error of a variable
    (graphql-core gives those no extensions code) that names `where`, e.g. "$input' ... at .sentAt"."""
    assert body.get("errors"), body
    data = body.get("data")
    assert data is None or all(value is None for value in data.values()), body
    for error in body["errors"]:
        got = (error.get("extensions") or {}).get("code")
        if code is None:
            assert error["message"].startswith("Variable '$"), body
            assert got in (None, "BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"), body
            if where is not None:
                assert where in error["message"], (where, body)
        else:
            assert got == code, body


async def refused_top_level(world: World, query: str, variables: dict, code: str | None,
                            token: str | None = None, where: str | None = None) -> None:
    before = await everything()
    top_level(await send(world, query, variables, token), code, where)
    assert await everything() == before


def is_postgres() -> bool:
    import os
    return os.environ["DATABASE_URL"].startswith("postgres")


def future(days: int) -> str:
    return (datetime.now(TOKYO).date() + timedelta(days=days)).isoformat()


@dataclass
class Ctx:
    world: World
    extra: str  # a product with free units and room for 3 responders
    account: str  # "Support" / support, responders m0 and m1
    room: str  # a talk room of the account
    holiday: str  # a holiday of the account


@pytest.fixture
async def ctx(world) -> Ctx:
    m = world.member_ids
    extra = await world.grant("Extra", 3, 5)
    account = await world.account(name="Support", handle="support", responders=[m[0], m[1]], product_id=extra)
    message = await payload(world, CUSTOMER_MESSAGE, {"input": {
        "accountId": account["id"], "contact": {"externalId": "U1", "name": "Taro", "channel": "LINE"},
        "content": "hello"}}, token=world.operator)
    assert message["errors"] == []
    holiday = await payload(world, ADD_HOLIDAY, {"input": {
        "accountId": account["id"], "startDate": future(10), "endDate": future(11), "name": "Break"}})
    assert holiday["errors"] == []
    return Ctx(world, extra, account["id"], message["room"]["id"],
               holiday["windowAccount"]["settings"]["holidays"][0]["id"])


# --- the string inputs --------------------------------------------------------------------------

@dataclass(frozen=True)
class Text:
    """One string input: how to send a value in it, and where the stored value comes back."""
    name: str
    limit: int | None  # characters; None: no length rule of its own
    field: str  # the `field` of its errors
    call: Callable[[Ctx, str], tuple[str, dict, str]]  # value -> (query, variables, token kind)
    stored: Callable[[dict], str] | None = None  # the stored value, from the success payload
    exact: bool = False  # kept exactly as sent (no NFC), counted in code points sent
    suffix: str = ""  # a fixed ending the value needs (an email's domain), counted in the limit


def _admin(query: str, build) -> Callable[[Ctx, str], tuple[str, dict, str]]:
    return lambda c, v: (query, {"input": build(c, v)}, "admin")


def _operator(query: str, build) -> Callable[[Ctx, str], tuple[str, dict, str]]:
    return lambda c, v: (query, {"input": build(c, v)}, "operator")


def _settings_field(name: str) -> Text:
    return Text(f"{name}", 500, name, _admin(UPDATE_SETTINGS, lambda c, v: {"accountId": c.account, name: v}),
                lambda p: p["windowAccount"]["settings"][name])


def _contact(c: Ctx, **fields) -> dict:
    return {"externalId": "U-new", "name": "Hanako", "channel": "LINE", **fields}


TEXTS = [
    Text("account name (create)", 20, "name", _admin(CREATE_ACCOUNT, lambda c, v: {
        "productId": c.extra, "name": v, "handle": "fresh", "responderIds": [c.world.member_ids[2]]}),
        lambda p: p["windowAccount"]["name"]),
    Text("account name (update)", 20, "name", _admin(UPDATE_ACCOUNT, lambda c, v: {"id": c.account, "name": v}),
         lambda p: p["windowAccount"]["name"]),
    Text("description (create)", 100, "description", _admin(CREATE_ACCOUNT, lambda c, v: {
        "productId": c.extra, "name": "Fresh", "handle": "fresh", "responderIds": [c.world.member_ids[2]],
        "description": v}), lambda p: p["windowAccount"]["description"]),
    Text("description (update)", 100, "description", _admin(UPDATE_ACCOUNT, lambda c, v: {
        "id": c.account, "description": v}), lambda p: p["windowAccount"]["description"]),
    _settings_field("greetingMessage"),
    _settings_field("outOfHoursMessage"),
    _settings_field("holidayMessage"),
    Text("holiday name", 100, "name", _admin(ADD_HOLIDAY, lambda c, v: {
        "accountId": c.account, "startDate": future(30), "endDate": future(30), "name": v}),
        lambda p: next(h["name"] for h in p["windowAccount"]["settings"]["holidays"] if h["startDate"] == future(30))),
    Text("bot name", 100, "name", _operator(REGISTER_BOT, lambda c, v: {
        "accountId": c.account, "name": v, "origin": "CX_TALK"}), lambda p: p["bot"]["name"]),
    Text("contact name", 100, "contact.name", _operator(CUSTOMER_ADDED, lambda c, v: {
        "accountId": c.account, "contact": _contact(c, name=v)}), lambda p: p["contact"]["name"]),
    Text("contact externalId", 200, "contact.externalId", _operator(CUSTOMER_ADDED, lambda c, v: {
        "accountId": c.account, "contact": _contact(c, externalId=v)}), lambda p: p["contact"]["externalId"],
        exact=True),
    Text("customer message content", 10_000, "content", _operator(CUSTOMER_MESSAGE, lambda c, v: {
        "accountId": c.account, "contact": _contact(c), "content": v}), lambda p: p["message"]["content"]),
    Text("responder reply content", 10_000, "content", _operator(RESPONDER_REPLY, lambda c, v: {
        "roomId": c.room, "responderId": c.world.member_ids[0], "content": v}), lambda p: p["message"]["content"]),
    Text("member name", 100, "members[0].name", _operator(PROVISION_MEMBERS, lambda c, v: {
        "domainId": c.world.domain_id, "members": [{"name": v, "email": "new@acme.example"}]}),
        lambda p: p["members"][0]["name"]),
    Text("member email", 254, "members[0].email", _operator(PROVISION_MEMBERS, lambda c, v: {
        "domainId": c.world.domain_id, "members": [{"name": "New", "email": v}]}),
        lambda p: p["members"][0]["email"], suffix="@acme.example"),
    Text("product name", 100, "name", _operator(GRANT_PRODUCT, lambda c, v: {
        "domainId": c.world.domain_id, "name": v, "responderLimit": 1, "quantity": 1}),
        lambda p: p["product"]["name"]),
]

# Strings with a rule of their own rather than a length; control characters refuse them too.
OTHER_STRINGS = [
    Text("handle", None, "handle", _admin(CREATE_ACCOUNT, lambda c, v: {
        "productId": c.extra, "name": "Fresh", "handle": v, "responderIds": [c.world.member_ids[2]]})),
    Text("timezone", None, "timezone", _admin(UPDATE_SETTINGS, lambda c, v: {"accountId": c.account, "timezone": v})),
    Text("business hours start", None, "businessHours", _admin(UPDATE_SETTINGS, lambda c, v: {
        "accountId": c.account, "businessHours": [{"weekday": "MONDAY", "intervals": [{"start": v, "end": "18:00"}]}]})),
    Text("business hours end", None, "businessHours", _admin(UPDATE_SETTINGS, lambda c, v: {
        "accountId": c.account, "businessHours": [{"weekday": "MONDAY", "intervals": [{"start": "09:00", "end": v}]}]})),
    Text("confirmHandle", None, "confirmHandle", _admin(RESET, lambda c, v: {"id": c.account, "confirmHandle": v})),
]
OTHER_CODES = {"handle": "HANDLE_INVALID", "confirmHandle": "CONFIRMATION_MISMATCH"}

UNITS = {"ascii": "x", "japanese": "あ", "emoji": "😀", "combining": "e\u0301"}


def text_of(spec: Text, kind: str, n: int) -> str:
    """A value of `n` characters as the rule counts them: after NFC (e + U+0301 is one é), or the
    code points sent for an exact identifier."""
    body = n - len(spec.suffix)
    value = UNITS[kind] * body
    if spec.exact:
        value = value[:body]
    return value + spec.suffix


def token_of(ctx: Ctx, kind: str) -> str:
    return ctx.world.operator if kind == "operator" else ctx.world.admin


@pytest.mark.parametrize("kind", list(UNITS))
@pytest.mark.parametrize("spec", TEXTS, ids=[t.name for t in TEXTS])
async def test_string_limits_at_n_and_n_plus_one(ctx, spec, kind):
    longest = text_of(spec, kind, spec.limit)
    over = text_of(spec, kind, spec.limit + 1)
    if kind == "combining" and not spec.exact:
        assert len(longest) > spec.limit  # more code points than the limit: NFC makes them fit
    query, variables, who = spec.call(ctx, over)
    await refused(ctx.world, query, variables, [(spec.field, "TOO_LONG")], token=token_of(ctx, who))
    query, variables, who = spec.call(ctx, longest)
    result = await payload(ctx.world, query, variables, token=token_of(ctx, who))
    assert result["errors"] == [], result["errors"]
    expected = longest if spec.exact else unicodedata.normalize("NFC", longest)
    assert spec.stored(result) == expected
    assert len(spec.stored(result)) == spec.limit


async def test_a_huge_string_is_refused_quickly(ctx):
    for spec in (TEXTS[0], TEXTS[11]):  # account name, message content
        query, variables, who = spec.call(ctx, "長" * 1_000_000)
        started = time.monotonic()
        await refused(ctx.world, query, variables, [(spec.field, "TOO_LONG")], token=token_of(ctx, who))
        assert time.monotonic() - started < 10


# --- control characters and lone surrogates ----------------------------------------------------

CONTROL = {
    "NUL": "\x00", "BEL": "\x07", "ESC": "\x1b", "DEL": "\x7f", "NEL": "\x85",
    "LINE SEPARATOR": "\u2028", "PARAGRAPH SEPARATOR": "\u2029",
    "lone high surrogate": "\ud800", "lone low surrogate": "\udfff", "reversed pair": "\udc00\ud800",
}
FREE_TEXT = {"description (create)", "description (update)", "greetingMessage", "outOfHoursMessage",
             "holidayMessage", "customer message content", "responder reply content"}


@pytest.mark.parametrize("spec", TEXTS + OTHER_STRINGS, ids=[t.name for t in TEXTS + OTHER_STRINGS])
async def test_control_characters_and_lone_surrogates_are_invalid(ctx, spec):
    code = OTHER_CODES.get(spec.name, "INVALID")
    for label, char in CONTROL.items():
        value = f"ab{char}cd"
        if spec.name == "member email":
            value = f"ab{char}cd@acme.example"
        elif spec.name in ("business hours start", "business hours end"):
            value = f"09:{char}00" if spec.name.endswith("start") else f"18:00{char}"
        query, variables, who = spec.call(ctx, value)
        try:
            await refused(ctx.world, query, variables, [(spec.field, code)], token=token_of(ctx, who))
        except AssertionError as exc:
            raise AssertionError(f"{label}: {exc}") from exc
    if spec.name == "confirmHandle":  # the account was not reset by any of them
        assert (await WindowAccount.get(handle="support")).status.value == "ACTIVE"


@pytest.mark.parametrize("spec", [t for t in TEXTS if t.name in FREE_TEXT], ids=sorted(FREE_TEXT, key=[
    t.name for t in TEXTS].index))
async def test_free_text_keeps_line_breaks_and_tabs_and_unifies_crlf(ctx, spec):
    query, variables, who = spec.call(ctx, "  line 1\r\nline 2\rline\t3\n ")
    result = await payload(ctx.world, query, variables, token=token_of(ctx, who))
    assert result["errors"] == []
    assert spec.stored(result) == "line 1\nline 2\nline\t3"


@pytest.mark.parametrize("spec", [t for t in TEXTS if t.name not in FREE_TEXT],
                         ids=[t.name for t in TEXTS if t.name not in FREE_TEXT])
async def test_one_line_texts_refuse_line_breaks_and_tabs_inside(ctx, spec):
    for char in ("\n", "\r\n", "\t", "\r"):
        value = f"ab{char}cd" + spec.suffix
        query, variables, who = spec.call(ctx, value)
        await refused(ctx.world, query, variables, [(spec.field, "INVALID")], token=token_of(ctx, who))


async def test_name_keys_of_expanding_characters_fit_their_column(ctx):
    """U+FDFA is one character that NFKC turns into 18: the uniqueness key of a 20-character name
    must still fit its column (PostgreSQL refuses an over-long value), and still collide."""
    name = "\ufdfa" * 20
    result = await payload(ctx.world, UPDATE_ACCOUNT, {"input": {"id": ctx.account, "name": name}})
    assert result["errors"] == [] and result["windowAccount"]["name"] == name
    await refused(ctx.world, CREATE_ACCOUNT, {"input": {
        "productId": ctx.extra, "name": name, "handle": "fresh", "responderIds": [ctx.world.member_ids[2]]}},
        [("name", "NAME_TAKEN")])
    other = "\ufdfa" * 19 + "x"
    created = await payload(ctx.world, CREATE_ACCOUNT, {"input": {
        "productId": ctx.extra, "name": other, "handle": "fresh", "responderIds": [ctx.world.member_ids[2]]}})
    assert created["errors"] == []


async def test_email_whose_casefolded_key_is_too_long_is_too_long(ctx):
    """'ß' casefolds to 'ss': a 254-character address of them has a 495-character key."""
    for email in ("ß" * 241 + "@acme.example", "\ufb03" * 241 + "@acme.example"):
        await refused(ctx.world, PROVISION_MEMBERS, {"input": {"domainId": ctx.world.domain_id, "members": [
            {"name": "New", "email": email}]}}, [("members[0].email", "TOO_LONG")], token=ctx.world.operator)
    fits = "ß" * 120 + "@acme.example"
    result = await payload(ctx.world, PROVISION_MEMBERS, {"input": {"domainId": ctx.world.domain_id, "members": [
        {"name": "New", "email": fits}]}}, token=ctx.world.operator)
    assert result["errors"] == [] and result["members"][0]["email"] == fits


async def test_search_arguments_drop_control_characters(ctx):
    world = ctx.world
    for query, clean in ((WINDOW_ACCOUNTS, "Support"), (MEMBERS, "Member 1")):
        expected = await send(world, query, {"search": clean})
        total = next(iter(expected["data"].values()))["totalCount"]
        assert total >= 1
        for char in CONTROL.values():
            dirty = clean[:3] + char + clean[3:]
            assert await send(world, query, {"search": dirty}) == expected, repr(char)
            assert next(iter((await send(world, query, {"search": char}))["data"].values()))["totalCount"] >= total


# --- huge lists ---------------------------------------------------------------------------------

def many(type_name: str, n: int, start: int = 100_000) -> list[str]:
    return [encode(type_name, start + i) for i in range(n)]


async def timed_refusal(world, query, variables, expected, token=None):
    started = time.monotonic()
    await refused(world, query, variables, expected, token=token)
    assert time.monotonic() - started < 20, "a huge list must be refused fast"


@pytest.mark.parametrize("n", [10_000, 40_000])  # 40,000: more than PostgreSQL's 32,767 parameters
async def test_huge_id_lists_are_refused_fast_and_write_nothing(ctx, n):
    world, m = ctx.world, ctx.world.member_ids
    await timed_refusal(world, CREATE_ACCOUNT, {"input": {
        "productId": ctx.extra, "name": "Fresh", "handle": "fresh", "responderIds": [m[2], *many("Member", n)]}},
        [("responderIds", "NOT_FOUND")])
    await timed_refusal(world, ADD_RESPONDERS, {"input": {
        "accountId": ctx.account, "memberIds": [m[2], *many("Member", n)]}}, [("memberIds", "NOT_FOUND")])
    await timed_refusal(world, DELETE_HOLIDAYS, {"input": {
        "accountId": ctx.account, "holidayIds": [ctx.holiday, *many("Holiday", n)]}}, [("holidayIds", "NOT_FOUND")])
    assert await Holiday.all().count() == 1


@pytest.mark.parametrize("n, code", [(10_000, "NOT_FOUND"), (40_000, "INVALID")])
async def test_huge_account_id_list_of_an_export_is_refused(ctx, n, code):
    # beyond MAX_ACCOUNT_IDS the list is refused before the database sees it
    await timed_refusal(ctx.world, REQUEST_EXPORT, {"input": {"accountIds": [ctx.account, *many("WindowAccount", n)]}},
                        [("accountIds", code)])


async def test_a_list_of_one_id_repeated_is_that_id(ctx):
    m = ctx.world.member_ids
    created = await payload(ctx.world, CREATE_ACCOUNT, {"input": {
        "productId": ctx.extra, "name": "Fresh", "handle": "fresh", "responderIds": [m[2]] * 10_000}})
    assert created["errors"] == [] and created["windowAccount"]["responderCount"] == 1
    deleted = await payload(ctx.world, DELETE_HOLIDAYS, {"input": {
        "accountId": ctx.account, "holidayIds": [ctx.holiday] * 10_000}})
    assert deleted["errors"] == [] and deleted["windowAccount"]["settings"]["holidays"] == []


async def test_ten_thousand_real_members_beyond_the_limit_write_nothing(ctx):
    world = ctx.world
    ids = []
    for batch in range(10):
        people = [{"name": f"Bulk {batch}-{i}", "email": f"bulk{batch}-{i}@acme.example"} for i in range(1000)]
        result = await payload(world, PROVISION_MEMBERS, {"input": {"domainId": world.domain_id, "members": people}},
                               token=world.operator)
        assert result["errors"] == []
        ids += [member["id"] for member in result["members"]]
    await timed_refusal(world, CREATE_ACCOUNT, {"input": {
        "productId": ctx.extra, "name": "Fresh", "handle": "fresh", "responderIds": ids}},
        [("responderIds", "RESPONDER_LIMIT_REACHED")])
    await timed_refusal(world, ADD_RESPONDERS, {"input": {"accountId": ctx.account, "memberIds": ids}},
                        [("memberIds", "RESPONDER_LIMIT_REACHED")])


async def test_provisioning_at_most_a_thousand_members_per_call(ctx):
    world = ctx.world
    people = [{"name": f"P {i}", "email": f"p{i}@acme.example"} for i in range(1001)]
    await timed_refusal(world, PROVISION_MEMBERS, {"input": {"domainId": world.domain_id, "members": people}},
                        [("members", "INVALID")], token=world.operator)
    result = await payload(world, PROVISION_MEMBERS, {"input": {"domainId": world.domain_id, "members": people[:1000]}},
                           token=world.operator)
    assert result["errors"] == [] and len(result["members"]) == 1000


async def test_huge_business_hours_lists_are_invalid(ctx):
    world = ctx.world
    day = {"weekday": "MONDAY", "intervals": [{"start": "09:00", "end": "18:00"}]}
    await timed_refusal(world, UPDATE_SETTINGS, {"input": {"accountId": ctx.account, "businessHours": [day] * 10_000}},
                        [("businessHours", "INVALID")])
    minutes = [{"start": f"{h:02d}:{m:02d}", "end": f"{h:02d}:{m + 1:02d}"} for h in range(24) for m in range(0, 59, 2)]
    await timed_refusal(world, UPDATE_SETTINGS, {"input": {"accountId": ctx.account, "businessHours": [
        {"weekday": "TUESDAY", "intervals": minutes * 10}]}}, [("businessHours", "INVALID")])
    # a plausible form still gets every error at once
    before = await everything()
    result = await payload(world, UPDATE_SETTINGS, {"input": {"accountId": ctx.account, "businessHours": [
        {"weekday": "MONDAY", "intervals": [{"start": "09:00", "end": "12:00"}] * 5}]}})
    assert result["windowAccount"] is None and len(result["errors"]) > 1
    assert {e["field"] for e in result["errors"]} == {"businessHours"}
    assert await everything() == before


# --- integers ---------------------------------------------------------------------------------

def grant(ctx: Ctx, **values) -> dict:
    return {"input": {"domainId": ctx.world.domain_id, "name": "Premium", "responderLimit": 5, "quantity": 3, **values}}


@pytest.mark.parametrize("field", ["responderLimit", "quantity"])
async def test_grant_product_integers(ctx, field):
    world = ctx.world
    for value in (-1, -INT_MAX - 1, 1_000_001, INT_MAX):
        await refused(world, GRANT_PRODUCT, grant(ctx, **{field: value}), [(field, "INVALID")], token=world.operator)
    for value in (2**31, -(2**31) - 1, 2**63, 1.5, "3"):
        await refused_top_level(world, GRANT_PRODUCT, grant(ctx, **{field: value}), None, token=world.operator,
                                where=f"at .{field}")
    result = await payload(world, GRANT_PRODUCT, grant(ctx, **{field: 1_000_000}), token=world.operator)
    assert result["errors"] == []


async def test_import_national_holidays_year(ctx):
    world = ctx.world
    for year in (-1, 0, 1948, 10_000, INT_MAX, -INT_MAX - 1):
        await refused(world, IMPORT_HOLIDAYS, {"input": {"accountId": ctx.account, "year": year}},
                      [("year", "INVALID")])
    for year in (2**31, -(2**31) - 1, 2026.5, "2026"):
        await refused_top_level(world, IMPORT_HOLIDAYS, {"input": {"accountId": ctx.account, "year": year}}, None,
                                where="at .year")


FIRST_QUERIES = {
    "windowAccounts": "query($first: Int) { windowAccounts(first: $first) { totalCount edges { node { id } } } }",
    "members": "query($first: Int) { members(first: $first) { totalCount edges { node { id } } } }",
    "historyExports": "query($first: Int) { historyExports(first: $first) { totalCount edges { node { id } } } }",
    "auditEvents": "query($first: Int) { auditEvents(first: $first) { totalCount edges { node { id } } } }",
    "talkRooms": """query($id: ID!, $first: Int) { windowAccount(id: $id) {
        talkRooms(first: $first) { totalCount edges { node { id } } } } }""",
    "contacts": """query($id: ID!, $first: Int) { windowAccount(id: $id) {
        contacts(first: $first) { totalCount edges { node { id } } } } }""",
}


@pytest.mark.parametrize("name", list(FIRST_QUERIES))
async def test_first_at_and_beyond_the_32_bit_range(ctx, name):
    world, query = ctx.world, FIRST_QUERIES[name]
    base = {"id": ctx.account} if "$id" in query else {}
    body = await send(world, query, {**base, "first": INT_MAX})
    assert not body.get("errors"), body
    for first in (-1, -INT_MAX - 1):
        body = await send(world, query, {**base, "first": first})
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body
    for first in (2**31, -(2**31) - 1, 1.5, "10"):
        top_level(await send(world, query, {**base, "first": first}), None, where="$first")


# --- IDs: wrong type, malformed, missing, of another domain --------------------------------------

MALFORMED = ["abc", "", "   ", "ＩＤ", "\x00", "\ud800", "\x00" * 50, encode("Holiday", 2**31), encode("Bogus", 1)]


@dataclass
class Foreign:
    other: World
    account: str  # Support of the other domain (handle "othersupport")
    holiday: str
    export: str  # a PENDING export of the other domain
    room: str
    same_domain_account: str  # a second account of this domain
    same_domain_holiday: str  # a holiday of that second account


@pytest.fixture
async def foreign(ctx) -> Foreign:
    world = ctx.world
    other = await World.build(world.api, name="Other")
    theirs = await other.account(name="Support", handle="othersupport")
    holiday = await payload(world, ADD_HOLIDAY, {"input": {
        "accountId": theirs["id"], "startDate": future(5), "endDate": future(5)}}, token=other.admin)
    export = await payload(world, REQUEST_EXPORT, {"input": {}}, token=other.admin)
    room = await payload(world, CUSTOMER_MESSAGE, {"input": {
        "accountId": theirs["id"], "contact": _contact(ctx), "content": "hi"}}, token=world.operator)
    second = await world.account(name="Sales", handle="sales", responders=[world.member_ids[3]],
                                 product_id=ctx.extra)
    second_holiday = await payload(world, ADD_HOLIDAY, {"input": {
        "accountId": second["id"], "startDate": future(40), "endDate": future(40)}})
    return Foreign(other, theirs["id"], holiday["windowAccount"]["settings"]["holidays"][0]["id"],
                   export["export"]["id"], room["room"]["id"], second["id"],
                   second_holiday["windowAccount"]["settings"]["holidays"][0]["id"])


def admin_id_cases(ctx: Ctx, f: Foreign) -> list[tuple[str, str, Callable[[object], dict], str, list]]:
    """(case, query, variables for an ID value, wrong-type ID, [(foreign or missing ID, field)])."""
    m = ctx.world.member_ids
    return [
        ("updateWindowSettings.accountId", UPDATE_SETTINGS,
         lambda v: {"input": {"accountId": v, "greetingMessage": "hi"}}, m[0],
         [(f.account, "accountId"), (encode("WindowAccount", 99999), "accountId")]),
        ("addHoliday.accountId", ADD_HOLIDAY,
         lambda v: {"input": {"accountId": v, "startDate": future(60), "endDate": future(60)}}, m[0],
         [(f.account, "accountId"), (encode("WindowAccount", 99999), "accountId")]),
        ("deleteHolidays.accountId", DELETE_HOLIDAYS,
         lambda v: {"input": {"accountId": v, "holidayIds": [ctx.holiday]}}, m[0],
         [(f.account, "accountId"), (encode("WindowAccount", 99999), "accountId")]),
        ("deleteHolidays.holidayIds", DELETE_HOLIDAYS,
         lambda v: {"input": {"accountId": ctx.account, "holidayIds": [ctx.holiday, v]}}, ctx.account,
         [(f.same_domain_holiday, "holidayIds"), (f.holiday, "holidayIds"), (encode("Holiday", 99999), "holidayIds")]),
        ("importNationalHolidays.accountId", IMPORT_HOLIDAYS,
         lambda v: {"input": {"accountId": v, "year": datetime.now(TOKYO).year + 1}}, m[0],
         [(f.account, "accountId"), (encode("WindowAccount", 99999), "accountId")]),
        ("resetWindowAccount.id", RESET,
         lambda v: {"input": {"id": v, "confirmHandle": "othersupport"}}, m[0],
         [(f.account, "id"), (encode("WindowAccount", 99999), "id")]),
        ("requestHistoryExport.accountIds", REQUEST_EXPORT,
         lambda v: {"input": {"accountIds": [ctx.account, v]}}, m[0],
         [(f.account, "accountIds"), (encode("WindowAccount", 99999), "accountIds")]),
        ("cancelHistoryExport.id", CANCEL_EXPORT, lambda v: {"input": {"id": v}}, ctx.account,
         [(f.export, "id"), (encode("HistoryExport", 99999), "id")]),
    ]


ADMIN_ID_CASES = ["updateWindowSettings.accountId", "addHoliday.accountId", "deleteHolidays.accountId",
                  "deleteHolidays.holidayIds", "importNationalHolidays.accountId", "resetWindowAccount.id",
                  "requestHistoryExport.accountIds", "cancelHistoryExport.id"]


@pytest.mark.parametrize("case", ADMIN_ID_CASES)
async def test_admin_id_fields_wrong_type_malformed_foreign_and_missing(ctx, foreign, case):
    world = ctx.world
    _, query, build, wrong_type, not_found = {c[0]: c for c in admin_id_cases(ctx, foreign)}[case]
    for value in [wrong_type, *MALFORMED]:
        await refused_top_level(world, query, build(value), "BAD_USER_INPUT")
    for value, field in not_found:
        await refused(world, query, build(value), [(field, "NOT_FOUND")])
    # the other domain's objects are untouched
    assert (await WindowAccount.get(handle="othersupport")).status.value == "ACTIVE"
    assert (await HistoryExport.get(domain_id=(await WindowAccount.get(handle="othersupport")).domain_id)) \
        .status.value == "PENDING"


@pytest.mark.parametrize("variant", ["NUL", "!", "space", "newline", "padding", "leading zero"])
async def test_only_the_canonical_form_of_an_id_is_an_id(ctx, variant):
    import base64
    canonical = encode("WindowAccount", 1)  # "V2luZG93QWNjb3VudDox": 20 characters, no padding
    raw = lambda text: base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")  # noqa: E731
    value = {"NUL": canonical + "\x00", "!": canonical + "!", "space": canonical[:4] + " " + canonical[4:],
             "newline": canonical + "\n", "padding": canonical + "====",
             "leading zero": raw("WindowAccount:01")}[variant]
    body = await send(ctx.world, "query($id: ID!) { windowAccount(id: $id) { id } }", {"id": value})
    top_level(body, "BAD_USER_INPUT")


async def test_history_export_and_node_ids(ctx, foreign):
    world = ctx.world
    mine = await payload(world, REQUEST_EXPORT, {"input": {}})
    assert mine["errors"] == []
    before = await everything()
    assert (await send(world, HISTORY_EXPORT, {"id": mine["export"]["id"]}))["data"]["historyExport"]["id"] \
        == mine["export"]["id"]
    assert await send(world, HISTORY_EXPORT, {"id": foreign.export}) == {"data": {"historyExport": None}}
    assert await send(world, HISTORY_EXPORT, {"id": encode("HistoryExport", 99999)}) == {"data": {"historyExport": None}}
    for value in [ctx.account, *MALFORMED]:
        top_level(await send(world, HISTORY_EXPORT, {"id": value}), "BAD_USER_INPUT")
    # node(): an export or a holiday of another domain is null like a missing one
    for gid in (foreign.export, foreign.holiday, encode("HistoryExport", 99999), encode("Holiday", 99999)):
        assert await send(world, NODE, {"id": gid}) == {"data": {"node": None}}, gid
    for gid, type_name in ((mine["export"]["id"], "HistoryExport"), (ctx.holiday, "Holiday")):
        assert await send(world, NODE, {"id": gid}) == {"data": {"node": {"id": gid, "__typename": type_name}}}
    # a member sees no export, and no holiday of an account they do not respond for
    assert await send(world, NODE, {"id": mine["export"]["id"]}, token=world.member_tokens[0]) == \
        {"data": {"node": None}}
    assert await send(world, NODE, {"id": ctx.holiday}, token=world.member_tokens[3]) == {"data": {"node": None}}
    assert await everything() == before


def operator_id_cases(ctx: Ctx, f: Foreign) -> list[tuple[str, str, Callable[[object], dict], str, list]]:
    m = ctx.world.member_ids
    contact = {"externalId": "U-ids", "name": "Ids", "channel": "LINE"}
    return [
        ("registerBot.accountId", REGISTER_BOT, lambda v: {"input": {"accountId": v, "name": "B", "origin": "CX_TALK"}},
         m[0], [(encode("WindowAccount", 99999), "accountId")]),
        ("recordCustomerAdded.accountId", CUSTOMER_ADDED, lambda v: {"input": {"accountId": v, "contact": contact}},
         m[0], [(encode("WindowAccount", 99999), "accountId")]),
        ("recordCustomerMessage.accountId", CUSTOMER_MESSAGE,
         lambda v: {"input": {"accountId": v, "contact": contact, "content": "hi"}},
         ctx.room, [(encode("WindowAccount", 99999), "accountId")]),
        ("recordResponderReply.roomId", RESPONDER_REPLY,
         lambda v: {"input": {"roomId": v, "responderId": m[0], "content": "hi"}},
         ctx.account, [(encode("TalkRoom", 99999), "roomId")]),
        # a member of another domain than the room's is, for that room, a member that does not exist
        ("recordResponderReply.responderId", RESPONDER_REPLY,
         lambda v: {"input": {"roomId": ctx.room, "responderId": v, "content": "hi"}},
         ctx.account, [(f.other.member_ids[0], "responderId"), (f.other.admin_id, "responderId"),
                       (encode("Member", 99999), "responderId")]),
    ]


OPERATOR_ID_CASES = ["registerBot.accountId", "recordCustomerAdded.accountId", "recordCustomerMessage.accountId",
                     "recordResponderReply.roomId", "recordResponderReply.responderId"]


@pytest.mark.parametrize("case", OPERATOR_ID_CASES)
async def test_operator_id_fields_wrong_type_malformed_and_missing(ctx, foreign, case):
    """Operators act on every domain: an account ID of any domain is theirs to name; what must
    hold is the type, the shape and the existence of each ID."""
    world = ctx.world
    _, query, build, wrong_type, not_found = {c[0]: c for c in operator_id_cases(ctx, foreign)}[case]
    for value in [wrong_type, *MALFORMED]:
        await refused_top_level(world, query, build(value), "BAD_USER_INPUT", token=world.operator)
    for value, field in not_found:
        await refused(world, query, build(value), [(field, "NOT_FOUND")], token=world.operator)


async def test_a_room_of_another_domain_takes_only_that_domains_responders(ctx, foreign):
    """The other domain's room with this domain's responder: NOT_FOUND; with its own: recorded."""
    other = foreign.other
    await refused(ctx.world, RESPONDER_REPLY, {"input": {"roomId": foreign.room, "responderId": ctx.world.member_ids[0],
                                                         "content": "hi"}},
                  [("responderId", "NOT_FOUND")], token=ctx.world.operator)
    result = await payload(ctx.world, RESPONDER_REPLY, {"input": {
        "roomId": foreign.room, "responderId": other.member_ids[0], "content": "hi"}}, token=ctx.world.operator)
    assert result["errors"] == [] and result["room"]["id"] == foreign.room


# --- dates and times -------------------------------------------------------------------------

UNPARSABLE_DATETIMES = ["2026-02-30T10:00:00+09:00", "2026-13-01T10:00:00+09:00", "2026-00-10T10:00:00+09:00",
                        "2026-01-01T10:60:00+09:00", "2026-01-01T10:00:00+25:00",
                        "0000-01-01T00:00:00+00:00", "10000-01-01T00:00:00+00:00", "yesterday", "", "\x00",
                        "2026-01-01T10:00:00+09:00\x00", "\ud800", 1767225600, True]
# Parsed, but outside what the service can work with (and in UTC outside years 1..9999 for two).
OUT_OF_RANGE_DATETIMES = ["0001-01-01T00:00:00+00:00", "0001-01-01T00:00:00+14:00", "1899-12-31T23:59:59+00:00",
                          "9999-12-31T23:59:59+00:00", "9999-12-31T23:00:00-12:00", "9000-01-01T00:00:00+00:00"]


def datetime_cases(ctx: Ctx) -> list[tuple[str, str, Callable[[object], dict], str]]:
    contact = {"externalId": "U-time", "name": "Time", "channel": "LINE"}
    return [
        ("recordCustomerAdded.at", CUSTOMER_ADDED,
         lambda v: {"input": {"accountId": ctx.account, "contact": contact, "at": v}}, "at"),
        ("recordCustomerMessage.sentAt", CUSTOMER_MESSAGE,
         lambda v: {"input": {"accountId": ctx.account, "contact": contact, "content": "hi", "sentAt": v}}, "sentAt"),
        ("recordResponderReply.sentAt", RESPONDER_REPLY,
         lambda v: {"input": {"roomId": ctx.room, "responderId": ctx.world.member_ids[0], "content": "hi",
                              "sentAt": v}}, "sentAt"),
    ]


@pytest.mark.parametrize("case", ["recordCustomerAdded.at", "recordCustomerMessage.sentAt",
                                  "recordResponderReply.sentAt"])
async def test_event_times(ctx, case):
    world = ctx.world
    _, query, build, field = {c[0]: c for c in datetime_cases(ctx)}[case]
    for value in UNPARSABLE_DATETIMES:
        await refused_top_level(world, query, build(value), None, token=world.operator, where=f"at .{field}")
    for value in ("2030-01-07T10:00:00", *OUT_OF_RANGE_DATETIMES):  # no offset, or out of range
        await refused(world, query, build(value), [(field, "INVALID")], token=world.operator)
    for value in ("2030-01-07T10:00:00Z", "8999-12-31T23:59:59+09:00", "1900-01-01T09:00:00+09:00"):
        result = await payload(world, query, build(value), token=world.operator)
        assert result["errors"] == [], (value, result)


async def test_availability_at(ctx):
    world = ctx.world
    before = await everything()
    for value in UNPARSABLE_DATETIMES:
        top_level(await send(world, AVAILABILITY, {"id": ctx.account, "at": value}), None, where="$at")
    for value in ("2030-01-07T10:00:00", *OUT_OF_RANGE_DATETIMES):
        top_level(await send(world, AVAILABILITY, {"id": ctx.account, "at": value}), "BAD_USER_INPUT")
    # far in the future, still in range: an answer
    for value in ("8999-12-31T23:59:59+09:00", "8999-12-30T23:59:59-12:00", "1900-01-01T00:00:00+00:00"):
        body = await send(world, AVAILABILITY, {"id": ctx.account, "at": value})
        assert not body.get("errors"), (value, body)
        assert body["data"]["windowAccount"]["availability"]["state"] in ("OPEN", "CLOSED", "HOLIDAY")
    assert await everything() == before


async def test_holiday_dates(ctx):
    world = ctx.world
    for bad in ["2030-02-30", "2030-13-01", "2030-00-10", "0000-01-01", "10000-01-01", "2030-1-1x", "", "\x00",
                "\ud800", "2030-01-01T00:00:00+09:00", 20300101]:
        for field in ("startDate", "endDate"):
            dates = {"startDate": future(50), "endDate": future(50), field: bad}
            await refused_top_level(world, ADD_HOLIDAY, {"input": {"accountId": ctx.account, **dates}}, None,
                                    where=f"at .{field}")
    await refused(world, ADD_HOLIDAY, {"input": {"accountId": ctx.account, "startDate": "0001-01-01",
                                                 "endDate": "0001-01-01"}}, [("startDate", "HOLIDAY_IN_PAST")])
    await refused(world, ADD_HOLIDAY, {"input": {"accountId": ctx.account, "startDate": "9999-12-31",
                                                 "endDate": "0001-01-01"}}, [("endDate", "INVALID_RANGE")])
    await refused(world, ADD_HOLIDAY, {"input": {"accountId": ctx.account, "startDate": future(50),
                                                 "endDate": "9999-12-31"}}, [("endDate", "INVALID_RANGE")])
    # the last day there is: allowed, and availability around it still answers
    result = await payload(world, ADD_HOLIDAY, {"input": {"accountId": ctx.account, "startDate": "9999-12-31",
                                                          "endDate": "9999-12-31"}})
    assert result["errors"] == []
    body = await send(world, AVAILABILITY, {"id": ctx.account, "at": None})
    assert not body.get("errors"), body


async def test_export_time_window(ctx):
    world = ctx.world
    for value in UNPARSABLE_DATETIMES:
        for field in ("since", "until"):
            await refused_top_level(world, REQUEST_EXPORT, {"input": {field: value}}, None, where=f"at .{field}")
    await refused(world, REQUEST_EXPORT, {"input": {"since": "2026-02-01T00:00:00+09:00",
                                                    "until": "2026-02-01T00:00:00+09:00"}}, [("until", "INVALID_RANGE")])


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+09:00", "9999-12-31T23:00:00-12:00"])
async def test_export_times_outside_the_supported_range_are_invalid(ctx, value):
    await refused(ctx.world, REQUEST_EXPORT, {"input": {"since": value}}, [("since", "INVALID")])


async def test_export_times_without_offset_are_invalid(ctx):
    await refused(ctx.world, REQUEST_EXPORT, {"input": {"since": "2026-01-01T00:00:00",
                                                        "until": "2026-02-01T00:00:00+09:00"}}, [("since", "INVALID")])


async def test_audit_filter_times_outside_the_range_are_bad_user_input(ctx):
    body = await send(ctx.world, AUDIT, {"filter": {"since": "0001-01-01T00:00:00+09:00"}})
    top_level(body, "BAD_USER_INPUT")


@pytest.mark.parametrize("char", ["\x00", "\ud800"], ids=["NUL", "lone surrogate"])
async def test_audit_filter_action_with_nul_or_surrogate(ctx, char):
    body = await send(ctx.world, AUDIT, {"filter": {"action": f"updateWindowSettings{char}"}})
    assert not body.get("errors"), body


async def test_refused_calls_with_nul_or_surrogates_are_still_audited(ctx):
    for char in ("\x00", "\ud800"):
        before = await AuditEvent.all().count()
        await refused(ctx.world, UPDATE_ACCOUNT, {"input": {"id": ctx.account, "description": f"a{char}"}},
                      [("description", "INVALID")])
        assert await AuditEvent.all().count() == before + 1, repr(char)


# --- request bodies ----------------------------------------------------------------------------

@pytest.fixture
async def lenient_client(app):
    """A client that sees the status of an unhandled exception instead of re-raising it."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


BODIES = {
    "not JSON": (b'{"query": ', 400),
    "variables not an object": (b'{"query": "{ viewer { role } }", "variables": [1]}', 400),
    "query not a string": (b'{"query": 5}', 400),
    "no query": (b"{}", 400),
    "a batch": (b'[{"query": "{ viewer { role } }"}]', 400),
    "NUL in the query text": (json.dumps({"query": "{ viewer { role } }\u0000"}).encode(), 200),
}
FAULTY_BODIES = {
    "invalid UTF-8": b'{"query": "{ viewer { role } }\xff"}',
    "a JSON string": b'"{ viewer { role } }"',  # noqa: Q000
    "JSON null": b"null",
    "lone surrogate in operationName": json.dumps({"query": "{ viewer { role } }", "operationName": "\ud800"}).encode(),
}


@pytest.mark.parametrize("label", list(BODIES))
async def test_malformed_request_bodies_are_refused(world, lenient_client, label):
    content, status = BODIES[label]
    response = await lenient_client.post("/graphql", content=content, headers={
        "Authorization": f"Bearer {world.admin}", "content-type": "application/json"})
    assert response.status_code == status, response.text
    if status == 200:
        body = response.json()
        assert body["data"] is None and body["errors"][0]["message"].startswith("Syntax Error")


@pytest.mark.parametrize("label", list(FAULTY_BODIES))
async def test_request_bodies_that_fault_today(world, lenient_client, label):
    response = await lenient_client.post("/graphql", content=FAULTY_BODIES[label], headers={
        "Authorization": f"Bearer {world.admin}", "content-type": "application/json"})
    assert response.status_code == 400, (response.status_code, response.text)
