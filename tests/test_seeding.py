"""Bulk demo data (`services.seeding`, `cxtalk seed-demo`): exact counts, the invariants the live
service keeps, data the API and the export can use, and the command line."""
import csv
import io
import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from tortoise import Tortoise

from cxtalk import db
from models import Domain, Member, Message, Product
from schema.ids import decode, encode
from services import export_job, seeding, text_rules
from services.directory import create_domain
from services.errors import BusinessError
from tests.support import World
from tests.test_cli import cxtalk

REQUEST = """mutation($input: RequestHistoryExportInput!) { requestHistoryExport(input: $input) {
  export { id } errors { field code message } } }"""
GET = "query($id: ID!) { historyExport(id: $id) { status rowCount downloadUrl } }"
ACCOUNTS = """{ windowAccounts(first: 100) { totalCount edges { node {
  handle status responderCount historyCount bots { origin }
  contacts(first: 5) { totalCount edges { node { channel } } }
  talkRooms(first: 5) { totalCount edges { node { kind participants { id } contact { name } } } } } } } }"""
TORTOISE_TEXT = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00:00")


async def rows(sql: str, *params) -> list:
    return await db.fetch(Tortoise.get_connection("default"), sql, *params)


async def one(sql: str, *params):
    return (await rows(sql, *params))[0][0]


def as_utc(value) -> datetime:
    return (value if isinstance(value, datetime) else datetime.fromisoformat(value)).astimezone(timezone.utc)


async def assert_invariants(domain_id: int) -> None:
    """The rules of models/__init__.py and of the conversation services, checked in SQL."""
    for in_use, quantity, active in await rows(
            "SELECT p.in_use, p.quantity, (SELECT COUNT(*) FROM window_accounts a WHERE a.product_id = p.id"
            " AND a.status = 'ACTIVE') FROM products p WHERE p.domain_id = ?", domain_id):
        assert in_use == active <= quantity
    accounts = await rows("SELECT a.id, a.name, a.name_key, a.handle, a.handle_key, a.responder_count, p.responder_limit,"
                          " (SELECT COUNT(*) FROM responders r WHERE r.account_id = a.id)"
                          " FROM window_accounts a JOIN products p ON p.id = a.product_id WHERE a.domain_id = ?", domain_id)
    assert accounts
    for _, name, name_key, handle, handle_key, count, limit, responders in accounts:
        assert 1 <= count == responders <= limit
        assert name_key == text_rules.uniqueness_key(name) and handle_key == handle
        assert text_rules.handle(handle) == handle and len(name) <= text_rules.NAME_MAX
    # unique across the service (handles, invite tokens) and within the domain (names)
    assert await one("SELECT COUNT(*) - COUNT(DISTINCT handle_key) FROM window_accounts") == 0
    assert await one("SELECT COUNT(*) - COUNT(DISTINCT invite_token) FROM window_accounts") == 0
    assert await one("SELECT COUNT(*) - COUNT(DISTINCT name_key) FROM window_accounts WHERE domain_id = ?", domain_id) == 0
    # responders and room participants are members of the domain; participants respond for the room's account
    assert await one("SELECT COUNT(*) FROM responders r JOIN window_accounts a ON a.id = r.account_id"
                     " JOIN members m ON m.id = r.member_id WHERE a.domain_id = ? AND m.domain_id <> a.domain_id",
                     domain_id) == 0
    assert await one("SELECT COUNT(*) FROM talk_room_participants p JOIN talk_rooms t ON t.id = p.room_id"
                     " LEFT JOIN responders r ON r.account_id = t.account_id AND r.member_id = p.member_id"
                     " WHERE r.id IS NULL") == 0
    # every message: its account in the domain, its contact of that account, its room the contact's
    assert await one(
        "SELECT COUNT(*) FROM messages m JOIN window_accounts a ON a.id = m.account_id"
        " JOIN contacts c ON c.id = m.contact_id LEFT JOIN talk_rooms t ON t.id = m.room_id"
        " WHERE m.domain_id = ? AND (a.domain_id <> m.domain_id OR c.account_id <> m.account_id"
        " OR t.id IS NULL OR t.contact_id <> m.contact_id)", domain_id) == 0
    assert await one("SELECT COUNT(*) FROM messages m JOIN window_accounts a ON a.id = m.account_id"
                     " WHERE a.domain_id = ? AND m.domain_id <> a.domain_id", domain_id) == 0
    # sender names: the account's for automatic replies (which carry their kind), a participant's,
    # a bot of the account's, the contact's
    assert await one("SELECT COUNT(*) FROM messages m JOIN window_accounts a ON a.id = m.account_id"
                     " WHERE m.domain_id = ? AND ((m.sender_type = 'AUTO_REPLY') <> (m.auto_reply_kind IS NOT NULL)"
                     " OR (m.sender_type = 'AUTO_REPLY' AND m.sender_name <> a.name))", domain_id) == 0
    assert await one("SELECT COUNT(*) FROM messages m WHERE m.domain_id = ? AND m.sender_type = 'RESPONDER'"
                     " AND NOT EXISTS (SELECT 1 FROM talk_room_participants p JOIN members x ON x.id = p.member_id"
                     " WHERE p.room_id = m.room_id AND x.name = m.sender_name)", domain_id) == 0
    assert await one("SELECT COUNT(*) FROM messages m WHERE m.domain_id = ? AND m.sender_type = 'BOT'"
                     " AND NOT EXISTS (SELECT 1 FROM bots b WHERE b.account_id = m.account_id AND b.name = m.sender_name)",
                     domain_id) == 0
    assert await one("SELECT COUNT(*) FROM messages m JOIN contacts c ON c.id = m.contact_id WHERE m.domain_id = ?"
                     " AND m.sender_type = 'CUSTOMER' AND m.sender_name <> c.name", domain_id) == 0
    # greetings: once per contact, never by e-mail, and greeted_at says when
    greeted = await rows("SELECT c.channel, c.greeted_at, (SELECT COUNT(*) FROM messages m WHERE m.contact_id = c.id"
                         " AND m.auto_reply_kind = 'GREETING'), (SELECT MIN(m.sent_at) FROM messages m"
                         " WHERE m.contact_id = c.id AND m.auto_reply_kind = 'GREETING') FROM contacts c"
                         " JOIN window_accounts a ON a.id = c.account_id WHERE a.domain_id = ?", domain_id)
    for channel, greeted_at, greetings, first in greeted:
        assert greetings <= (0 if channel == "EMAIL" else 1)
        assert (greeted_at is None) == (greetings == 0)
        if greetings:
            assert as_utc(greeted_at) == as_utc(first)
    # last_message_at is the newest message of the account
    for last, newest in await rows("SELECT a.last_message_at, (SELECT MAX(m.sent_at) FROM messages m"
                                   " WHERE m.account_id = a.id) FROM window_accounts a WHERE a.domain_id = ?", domain_id):
        assert (last is None and newest is None) or as_utc(last) == as_utc(newest)


async def test_seeding_gives_exact_counts_and_keeps_every_invariant(world):
    domain_id = decode(world.domain_id, "Domain")
    before = datetime.now(timezone.utc)
    report = await seeding.seed_demo(domain_id, accounts=3, contacts=60, messages=3000)
    assert (report.domain_id, report.accounts, report.contacts, report.talk_rooms, report.messages) == (
        domain_id, 3, 60, 60, 3000)
    assert report.seconds > 0 and report.members_provisioned == len(seeding._DEMO_STAFF)  # the world has 5 members
    assert await Message.filter(domain_id=domain_id).count() == 3000
    assert await one("SELECT COUNT(*) FROM window_accounts WHERE domain_id = ? AND status = 'ACTIVE'"
                     " AND handle LIKE ?", domain_id, f"demo{domain_id}x%") == 3
    assert await one("SELECT COUNT(*) FROM contacts c JOIN window_accounts a ON a.id = c.account_id"
                     " WHERE a.domain_id = ?", domain_id) == 60
    assert await one("SELECT COUNT(*) FROM talk_rooms t JOIN window_accounts a ON a.id = t.account_id"
                     " WHERE a.domain_id = ?", domain_id) == 60
    assert await one("SELECT COUNT(*) FROM responders r JOIN window_accounts a ON a.id = r.account_id"
                     " WHERE a.domain_id = ?", domain_id) == report.responders
    assert await one("SELECT COUNT(*) FROM bots b JOIN window_accounts a ON a.id = b.account_id"
                     " WHERE a.domain_id = ?", domain_id) == report.bots
    product = await Product.get(domain_id=domain_id, name=seeding.DEMO_PRODUCT)
    assert (product.quantity, product.in_use, product.responder_limit) == (3, 3, seeding.DEMO_RESPONDER_LIMIT)
    await assert_invariants(domain_id)

    # realistic variety
    kinds = {tuple(r) for r in await rows("SELECT DISTINCT sender_type, auto_reply_kind FROM messages")}
    assert kinds == {("CUSTOMER", None), ("RESPONDER", None), ("BOT", None), ("AUTO_REPLY", "GREETING"),
                     ("AUTO_REPLY", "OUT_OF_HOURS"), ("AUTO_REPLY", "HOLIDAY")}
    assert {r[0] for r in await rows("SELECT DISTINCT channel FROM contacts")} == {"LINE_WORKS", "LINE", "EMAIL"}
    assert {r[0] for r in await rows("SELECT DISTINCT origin FROM bots")} == {"CX_TALK", "DEV_CONSOLE"}
    names = [r[0] for r in await rows("SELECT name FROM contacts")]
    assert any(re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", n) for n in names) and any(n.isascii() for n in names)
    assert await one("SELECT COUNT(*) FROM (SELECT room_id FROM talk_room_participants GROUP BY room_id"
                     " HAVING COUNT(*) = 2) AS g") == report.group_rooms > 0
    contents = {r[0] for r in await rows("SELECT DISTINCT content FROM messages")}
    for needle in (",", '"', "\n"):
        assert any(needle in c for c in contents), needle
    assert {c[0] for c in contents} >= {"=", "+"}
    # times: the last year, in UTC, stored as Tortoise stores them (the export orders by the text)
    raw = [r[0] for r in await rows("SELECT sent_at FROM messages")]
    if isinstance(raw[0], str):
        assert all(TORTOISE_TEXT.fullmatch(t) for t in raw)
    times = [as_utc(t) for t in raw]
    assert before - timedelta(days=366) <= min(times) and max(times) <= datetime.now(timezone.utc)
    assert max(times) - min(times) > timedelta(days=300)


async def test_the_api_reads_the_seeded_accounts(world):
    report = await seeding.seed_demo(decode(world.domain_id, "Domain"), accounts=2, contacts=12, messages=500)
    data = await world.api.data(ACCOUNTS, token=world.admin)
    accounts = [e["node"] for e in data["windowAccounts"]["edges"]]
    assert data["windowAccounts"]["totalCount"] == 2
    assert sum(a["historyCount"] for a in accounts) == 500
    assert [a["talkRooms"]["totalCount"] for a in accounts] == [6, 6]
    assert [a["contacts"]["totalCount"] for a in accounts] == [6, 6]
    for account in accounts:
        assert account["status"] == "ACTIVE" and account["responderCount"] >= 1
        assert {b["origin"] for b in account["bots"]} == {"CX_TALK", "DEV_CONSOLE"}
        for room in account["talkRooms"]["edges"]:
            assert room["node"]["kind"] == ("GROUP" if len(room["node"]["participants"]) >= 2 else "DIRECT")
    assert sum(len(a["bots"]) for a in accounts) == report.bots


async def test_an_export_of_the_seeded_history_works(world):
    await seeding.seed_demo(decode(world.domain_id, "Domain"), accounts=2, contacts=20, messages=800)
    payload = await world.mutate(REQUEST, {})
    assert payload["errors"] == []
    assert await export_job.run_export(decode(payload["export"]["id"], "HistoryExport")) == "ready"
    ready = (await world.api.data(GET, {"id": payload["export"]["id"]}, token=world.admin))["historyExport"]
    assert ready["status"] == "READY" and ready["rowCount"] == 800
    body = (await world.api.client.get(ready["downloadUrl"].replace("http://testserver", ""))).content
    table = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    header, lines = table[0], table[1:]
    assert header[4] == "sent_at" and len(lines) == 800
    sent = [datetime.fromisoformat(r[4]) for r in lines]
    assert sent == sorted(sent) and all(r[4].endswith("+09:00") for r in lines)
    expected = [(r[0], r[1]) for r in await rows("SELECT content, sent_at FROM messages ORDER BY sent_at, id")]
    assert [r[7] for r in lines] == [("'" + c if c[0] in "=+-@" else c) for c, _ in expected]
    assert not any(r[7][0] in "=+-@" for r in lines)  # the formula guard


async def test_seeding_twice_adds_more_and_other_domains_stay_apart(world):
    domain_id = decode(world.domain_id, "Domain")
    first = await seeding.seed_demo(domain_id, accounts=2, contacts=10, messages=300)
    second = await seeding.seed_demo(domain_id, accounts=3, contacts=9, messages=200, seed=7)
    assert first.members_provisioned == len(seeding._DEMO_STAFF) and second.members_provisioned == 0
    assert await Message.filter(domain_id=domain_id).count() == 500
    handles = [r[0] for r in await rows("SELECT handle FROM window_accounts WHERE domain_id = ? ORDER BY id", domain_id)]
    assert handles == [f"demo{domain_id}x{n}" for n in range(1, 6)]
    product = await Product.get(domain_id=domain_id, name=seeding.DEMO_PRODUCT)
    assert (product.quantity, product.in_use) == (5, 5)
    other = await World.build(world.api, name="Other")
    other_id = decode(other.domain_id, "Domain")
    await seeding.seed_demo(other_id, accounts=1, contacts=3, messages=50)
    assert await Message.filter(domain_id=other_id).count() == 50
    assert await Message.filter(domain_id=domain_id).count() == 500
    await assert_invariants(domain_id)
    await assert_invariants(other_id)


async def test_refusals_write_nothing(world):
    domain_id = decode(world.domain_id, "Domain")
    with pytest.raises(BusinessError) as missing:
        await seeding.seed_demo(987654)
    assert [(e.field, e.code.value) for e in missing.value.errors] == [("domainId", "NOT_FOUND")]
    with pytest.raises(BusinessError) as invalid:
        await seeding.seed_demo(domain_id, accounts=0, contacts=-1, messages=-5)
    assert [(e.field, e.code.value) for e in invalid.value.errors] == [
        ("accounts", "INVALID"), ("contacts", "INVALID"), ("messages", "INVALID")]
    with pytest.raises(BusinessError):
        await seeding.seed_demo(domain_id, accounts=5, contacts=4)  # a contact for every account
    assert not await Product.filter(name=seeding.DEMO_PRODUCT).exists()
    assert await Member.filter(domain_id=domain_id).count() == 5
    assert await one("SELECT COUNT(*) FROM window_accounts") == 0


async def test_with_row_checks_on_postgres_the_result_is_the_same(world, monkeypatch):
    """On PostgreSQL the fast path skips the per-row foreign-key triggers when the role may;
    the checked path (any other role) must give the same data. On SQLite: the one path."""
    monkeypatch.setattr(seeding, "SKIP_ROW_CHECKS", False)
    domain_id = decode(world.domain_id, "Domain")
    await seeding.seed_demo(domain_id, accounts=2, contacts=8, messages=700)
    assert await Message.filter(domain_id=domain_id).count() == 700
    await assert_invariants(domain_id)


async def test_the_demo_of_cxtalk_dev_has_a_history_seeded_once(api):
    from cxtalk.devrun import DEMO_DOMAIN, seed_demo_domain

    token = await seed_demo_domain()
    domain = await Domain.get(name=DEMO_DOMAIN)
    assert await Message.filter(domain_id=domain.id).count() == 2000
    assert await one("SELECT COUNT(*) FROM window_accounts WHERE domain_id = ?", domain.id) == 3
    await assert_invariants(domain.id)
    await seed_demo_domain()  # the domain exists: nothing more
    assert await Message.filter(domain_id=domain.id).count() == 2000
    data = await api.data("{ windowAccounts { edges { node { historyCount } } } }", token=token)
    assert sum(e["node"]["historyCount"] for e in data["windowAccounts"]["edges"]) == 2000


async def test_cli_seed_demo(api):
    created = await create_domain("CLI Demo", "Admin", "admin@cli.example")
    gid = encode("Domain", created.domain.id)
    done = cxtalk("seed-demo", "--domain", gid, "--accounts", "2", "--contacts", "10", "--messages", "400")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    printed = json.loads(lines[0])
    assert {k: printed[k] for k in ("domainId", "accounts", "contacts", "talkRooms", "messages")} == {
        "domainId": gid, "accounts": 2, "contacts": 10, "talkRooms": 10, "messages": 400}
    assert printed["seconds"] > 0
    assert await Message.filter(domain_id=created.domain.id).count() == 400
    await assert_invariants(created.domain.id)

    for domain, expected in [(encode("Domain", 987654), "domainId: NOT_FOUND"),
                             (encode("Member", created.domain.id), "Expected an ID of a Domain"),
                             ("not-an-id", "Malformed ID")]:
        refused = cxtalk("seed-demo", "--domain", domain)
        assert refused.returncode == 2 and expected in refused.stderr and refused.stdout == ""
    refused = cxtalk("seed-demo", "--domain", gid, "--contacts", "1", "--accounts", "2")
    assert refused.returncode == 2 and "contacts: INVALID" in refused.stderr
    assert await Message.filter(domain_id=created.domain.id).count() == 400
