"""Every list query costs a fixed number of SQL statements, whatever the page size (ENGINEERING.md:
"no N+1"). Each list and nested list is filled with 1, 10 and 100 items (the nested lists of one
account; the other accounts hold one of each, so every level has n parents without n² rows), read
with `first` set to that size, and the statements the request sends are counted (tests/sqlcount.py).
The counts are exact constants: a new N+1 changes them at 10 and 100, an extra query everywhere.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from models import (AccountStatus, AuditEvent, Bot, Contact, CsvEncoding, ExportFormat, ExportStatus,
                    HistoryExport, Holiday, Member, Message, Product, Responder, Role, SenderType, TalkRoom,
                    TalkRoomParticipant, WindowAccount)
from schema.ids import decode, encode
from tests.sqlcount import counted_statements

SIZES = (1, 10, 100)

# Statements per request, the same for every size; "1 token" is the caller's token lookup.
EXPECTED = {
    # 1 token, COUNT, the page; per level one batch: products, responders (+ their members),
    # holidays, totals of talk rooms / contacts, bots, history counts, the first ids of every
    # account's talk-room / contact page (one UNION ALL each), talk-room rows, contact rows,
    # isResponder, participants (joined to members), the rooms' contacts.
    "windowAccounts": 18,
    "windowAccounts (member)": 18,
    "members": 4,  # 1 token, COUNT, the page, isResponder
    "productUsage": 2,  # 1 token, the products
    "historyExports": 5,  # 1 token, COUNT, the page, requestedBy, isResponder
    "auditEvents": 5,  # 1 token, COUNT, the page, actor, isResponder
    "viewer": 19,  # 1 token, member, domain, accounts, then the 15 batches of an account's fields
    "windowAccount": 17,  # 1 token, the account, its 15 batches
    "node WindowAccount": 17,
    "node Member": 3,  # 1 token, the member, isResponder
    "node HistoryExport": 4,  # 1 token, the export, requestedBy, isResponder
    "node Product": 2,
    "node Domain": 2,
    # 1 token, the room, its account's visibility, participants (joined to members), the contact,
    # isResponder
    "node TalkRoom": 6,
    "node Contact": 3,  # 1 token, the row, its account's visibility
    "node Bot": 3,
    "node Holiday": 3,
    "node Message": 3,
}

MEMBER = "id name email role isResponder"
PRODUCT = "id name responderLimit purchasedQuantity accountsInUse available"
ACCOUNT = f"""
  id handle name description imageUrl inviteUrl qrCodeUrl startedOn status responderCount
  product {{ {PRODUCT} }}
  responders {{ {MEMBER} }}
  settings {{ timezone businessHours {{ weekday intervals {{ start end }} }}
              greetingMessage outOfHoursMessage holidayMessage holidays {{ id startDate endDate name }} }}
  availability {{ state nextChangeAt }}
  talkRooms(first: $n) {{
    edges {{ cursor node {{ id kind contact {{ id name channel externalId }} participants {{ {MEMBER} }} }} }}
    pageInfo {{ hasNextPage endCursor }} totalCount }}
  contacts(first: $n) {{
    edges {{ cursor node {{ id name channel externalId }} }} pageInfo {{ hasNextPage endCursor }} totalCount }}
  bots {{ id name origin }}
  historyCount
"""
EXPORT = f"""id status format csvEncoding progress rowCount sha256 downloadUrl expiresAt createdAt finishedAt
  error since until requestedBy {{ {MEMBER} }}"""

WINDOW_ACCOUNTS = f"""query($n: Int!) {{ windowAccounts(first: $n) {{
  edges {{ cursor node {{ {ACCOUNT} }} }} pageInfo {{ hasNextPage endCursor }} totalCount }} }}"""
WINDOW_ACCOUNT = f"query($id: ID!, $n: Int!) {{ windowAccount(id: $id) {{ {ACCOUNT} }} }}"
MEMBERS = f"""query($n: Int!) {{ members(first: $n) {{
  edges {{ cursor node {{ {MEMBER} }} }} pageInfo {{ hasNextPage endCursor }} totalCount }} }}"""
PRODUCT_USAGE = f"query {{ productUsage {{ totalPurchased accountsInUse products {{ {PRODUCT} }} }} }}"
HISTORY_EXPORTS = f"""query($n: Int!) {{ historyExports(first: $n) {{
  edges {{ cursor node {{ {EXPORT} }} }} pageInfo {{ hasNextPage endCursor }} totalCount }} }}"""
# Not member.isResponder: it would load the viewer, who is the only responder when n = 1.
VIEWER = f"""query($n: Int!) {{ viewer {{
  member {{ id name email role }} domain {{ id name }} role services windowAccounts {{ {ACCOUNT} }} }} }}"""
AUDIT_EVENTS = f"""query($n: Int!) {{ auditEvents(first: $n) {{
  edges {{ cursor node {{ id action actorKind targetType targetId changes outcome clientAddress createdAt
                        actor {{ {MEMBER} }} }} }}
  pageInfo {{ hasNextPage endCursor }} totalCount }} }}"""
NODE = {
    "WindowAccount": f"""query($id: ID!, $n: Int!) {{ node(id: $id) {{ __typename
      ... on WindowAccount {{ {ACCOUNT} }} }} }}""",
    "Member": f"query($id: ID!) {{ node(id: $id) {{ __typename ... on Member {{ {MEMBER} }} }} }}",
    "Product": f"query($id: ID!) {{ node(id: $id) {{ __typename ... on Product {{ {PRODUCT} }} }} }}",
    "HistoryExport": f"query($id: ID!) {{ node(id: $id) {{ __typename ... on HistoryExport {{ {EXPORT} }} }} }}",
    "Domain": "query($id: ID!) { node(id: $id) { __typename ... on Domain { id name } } }",
    "TalkRoom": f"""query($id: ID!) {{ node(id: $id) {{ __typename ... on TalkRoom {{
      id kind contact {{ id name channel externalId }} participants {{ {MEMBER} }} }} }} }}""",
    "Contact": "query($id: ID!) { node(id: $id) { __typename ... on Contact { id name channel externalId } } }",
    "Bot": "query($id: ID!) { node(id: $id) { __typename ... on Bot { id name origin } } }",
    "Holiday": "query($id: ID!) { node(id: $id) { __typename ... on Holiday { id startDate endDate name } } }",
    "Message": """query($id: ID!) { node(id: $id) { __typename ... on Message {
      id senderType senderName content sentAt } } }""",
}


# --- data: n items in every list, written in bulk ------------------------------------------

class Data:
    def __init__(self, n: int, domain_id: int, responder_ids: list[int], account_ids: list[int],
                 product_ids: list[int], export_ids: list[int], audit_ids: list[int]):
        self.n, self.domain_id, self.responder_ids = n, domain_id, responder_ids
        self.account_ids, self.product_ids = account_ids, product_ids
        self.export_ids, self.audit_ids = export_ids, audit_ids

    def size(self, account_id: int) -> int:
        """Items in each nested list of the account: n in the first (the widest), 1 in the others."""
        return self.n if account_id == self.account_ids[0] else 1


async def build(world, n: int) -> Data:
    """n of everything, so that every level of every query has n parents and n children:
    n products; n accounts, one per product; the first account with n responders, n holidays,
    n contacts, n talk rooms (its first room with the n responders as participants, the others
    with one), n bots and n messages, every other account with one of each (the world's first
    member, the viewer, responds for all); n history exports and n audit events, each by a
    different member; at least n members."""
    domain_id = decode(world.domain_id, "Domain")
    viewer_id = decode(world.member_ids[0], "Member")
    await Member.bulk_create([Member(domain_id=domain_id, name=f"Bulk {i}", email=f"bulk{i}@acme.example",
                                     email_key=f"bulk{i}@acme.example", role=Role.MEMBER) for i in range(n - 1)])
    extra = list(await Member.filter(domain_id=domain_id, name__startswith="Bulk ").order_by("id")
                 .values_list("id", flat=True))
    responder_ids = [viewer_id, *extra]

    # The world's product becomes the first of n, each with one account in use.
    await Product.filter(id=decode(world.product_id, "Product")).update(responder_limit=n, quantity=1, in_use=1)
    await Product.bulk_create([Product(domain_id=domain_id, name=f"Product {i}", responder_limit=n, quantity=1,
                                       in_use=1) for i in range(1, n)])
    product_ids = list(await Product.filter(domain_id=domain_id).order_by("id").values_list("id", flat=True))

    today = date.today()
    await WindowAccount.bulk_create([WindowAccount(
        domain_id=domain_id, product_id=product_ids[i], name=f"Desk {i}", name_key=f"desk {i}",
        handle=f"desk{i}", handle_key=f"desk{i}", invite_token=f"invite-{i}", timezone="Asia/Tokyo",
        started_on=today, status=AccountStatus.ACTIVE, responder_count=n if i == 0 else 1,
        greeting_message="Hello", out_of_hours_message="Closed", holiday_message="Holiday") for i in range(n)])
    account_ids = list(await WindowAccount.filter(domain_id=domain_id).order_by("id").values_list("id", flat=True))
    sizes = {a: (n if a == account_ids[0] else 1) for a in account_ids}

    await Responder.bulk_create([Responder(account_id=a, member_id=m)
                                 for a in account_ids for m in responder_ids[:sizes[a]]])
    await Holiday.bulk_create([Holiday(account_id=a, start_date=today + timedelta(days=7 * i + 1),
                                       end_date=today + timedelta(days=7 * i + 2), name=f"Holiday {i}")
                               for a in account_ids for i in range(sizes[a])])
    await Contact.bulk_create([Contact(account_id=a, channel="LINE", external_id=f"{a}-{i}", name=f"Customer {i}")
                               for a in account_ids for i in range(sizes[a])])
    contacts = await Contact.filter(account_id__in=account_ids).order_by("id").values_list("id", "account_id")
    await TalkRoom.bulk_create([TalkRoom(account_id=a, contact_id=c) for c, a in contacts])
    rooms = await TalkRoom.filter(account_id__in=account_ids).order_by("id").values_list("id", "account_id",
                                                                                         "contact_id")
    by_account: dict[int, list[int]] = {}
    for room_id, account_id, _ in rooms:
        by_account.setdefault(account_id, []).append(room_id)
    participants = []
    for account_id, room_ids in by_account.items():
        participants += [TalkRoomParticipant(room_id=room_ids[0], member_id=m)
                         for m in responder_ids[:sizes[account_id]]]
        participants += [TalkRoomParticipant(room_id=r, member_id=responder_ids[j])
                         for j, r in enumerate(room_ids) if j > 0]
    await TalkRoomParticipant.bulk_create(participants)
    await Bot.bulk_create([Bot(account_id=a, name=f"Bot {i}", origin="CX_TALK")
                           for a in account_ids for i in range(sizes[a])])
    sent = datetime(2026, 1, 5, tzinfo=timezone.utc)
    await Message.bulk_create([Message(domain_id=domain_id, account_id=a, contact_id=c, room_id=r,
                                       sender_type=SenderType.CUSTOMER, sender_name="Customer", content="hi",
                                       sent_at=sent) for (r, a, c) in rooms])

    requesters = list(await Member.filter(domain_id=domain_id).order_by("id").limit(n).values_list("id", flat=True))
    await HistoryExport.bulk_create([HistoryExport(
        domain_id=domain_id, requested_by_id=requesters[i], status=ExportStatus.READY, format=ExportFormat.CSV,
        csv_encoding=CsvEncoding.UTF8_BOM, watermark_id=0, progress=1.0, row_count=0, sha256="0" * 64,
        file_name=f"export-{i}.csv", finished_at=sent, expires_at=datetime.now(timezone.utc) + timedelta(days=1))
        for i in range(n)])
    export_ids = list(await HistoryExport.filter(domain_id=domain_id).order_by("id").values_list("id", flat=True))
    await AuditEvent.bulk_create([AuditEvent(
        domain_id=domain_id, actor_kind="MEMBER", actor_member_id=requesters[i], action="updateWindowAccount",
        target_type="WindowAccount", target_id=account_ids[i], changes={"name": f"Desk {i}"}, outcome="OK",
        client_address="127.0.0.1") for i in range(n)])
    audit_ids = list(await AuditEvent.filter(domain_id=domain_id, action="updateWindowAccount", outcome="OK",
                                             client_address="127.0.0.1").order_by("-id").values_list("id", flat=True))
    assert len(requesters) == len(export_ids) == len(audit_ids) == len(account_ids) == len(product_ids) == n
    return Data(n, domain_id, responder_ids, account_ids, product_ids, export_ids, audit_ids)


# --- what each response must hold (a short list would make the count meaningless) ----------

def check_account(account: dict, size: int) -> None:
    assert len(account["responders"]) == size and all(m["isResponder"] for m in account["responders"])
    assert len(account["settings"]["holidays"]) == size and len(account["settings"]["businessHours"]) == 7
    assert account["availability"]["state"] in ("OPEN", "CLOSED", "HOLIDAY")
    rooms = account["talkRooms"]
    assert rooms["totalCount"] == size and len(rooms["edges"]) == size and rooms["pageInfo"]["hasNextPage"] is False
    first, *others = [e["node"] for e in rooms["edges"]]
    assert len(first["participants"]) == size and first["kind"] == ("GROUP" if size >= 2 else "DIRECT")
    assert all(len(r["participants"]) == 1 and r["kind"] == "DIRECT" for r in others)
    assert all(r["contact"]["id"] for r in [first, *others])
    assert account["contacts"]["totalCount"] == size and len(account["contacts"]["edges"]) == size
    assert len(account["bots"]) == size and account["historyCount"] == size
    assert account["product"]["accountsInUse"] == 1


def check_accounts(accounts: list[dict], data: Data) -> None:
    assert [decode(a["id"], "WindowAccount") for a in accounts] == data.account_ids
    assert len({a["product"]["id"] for a in accounts}) == data.n
    for account in accounts:
        check_account(account, data.size(decode(account["id"], "WindowAccount")))


def edges(connection: dict) -> list[dict]:
    return [e["node"] for e in connection["edges"]]


async def observe(world, data: Data) -> dict[str, tuple[int, str]]:
    """Run every list query once; the statements each sent, and their listing for messages."""
    n, observed = data.n, {}

    async def run(name: str, query: str, variables: dict, token: str) -> dict:
        with counted_statements() as sql:
            result = await world.api.data(query, variables, token=token)
        observed[name] = (sql.count, sql.report())
        return result

    result = await run("windowAccounts", WINDOW_ACCOUNTS, {"n": n}, world.admin)
    assert result["windowAccounts"]["totalCount"] == n
    check_accounts(edges(result["windowAccounts"]), data)

    result = await run("windowAccounts (member)", WINDOW_ACCOUNTS, {"n": n}, world.member_tokens[0])
    check_accounts(edges(result["windowAccounts"]), data)

    result = await run("members", MEMBERS, {"n": n}, world.admin)
    members = edges(result["members"])
    assert len(members) == n and result["members"]["totalCount"] >= n
    assert {decode(m["id"], "Member") for m in members if m["isResponder"]} == \
        {decode(m["id"], "Member") for m in members} & set(data.responder_ids)

    result = await run("productUsage", PRODUCT_USAGE, {}, world.admin)
    usage = result["productUsage"]
    assert [decode(p["id"], "Product") for p in usage["products"]] == data.product_ids
    assert usage["totalPurchased"] == n and usage["accountsInUse"] == n

    result = await run("historyExports", HISTORY_EXPORTS, {"n": n}, world.admin)
    exports = edges(result["historyExports"])
    assert sorted(decode(e["id"], "HistoryExport") for e in exports) == data.export_ids
    assert len({e["requestedBy"]["id"] for e in exports}) == n and all(e["downloadUrl"] for e in exports)

    result = await run("auditEvents", AUDIT_EVENTS, {"n": n}, world.admin)
    events = edges(result["auditEvents"])
    assert [decode(e["id"], "AuditEvent") for e in events] == data.audit_ids
    assert len({e["actor"]["id"] for e in events}) == n

    result = await run("viewer", VIEWER, {"n": n}, world.member_tokens[0])
    viewer = result["viewer"]
    assert viewer["member"]["id"] == world.member_ids[0] and viewer["services"] == ["CX_TALK"]
    check_accounts(viewer["windowAccounts"], data)

    widest = encode("WindowAccount", data.account_ids[0])
    result = await run("windowAccount", WINDOW_ACCOUNT, {"id": widest, "n": n}, world.admin)
    check_account(result["windowAccount"], n)

    result = await run("node WindowAccount", NODE["WindowAccount"], {"id": widest, "n": n}, world.admin)
    check_account(result["node"], n)
    for type_name, pk in (("Member", data.responder_ids[-1]), ("HistoryExport", data.export_ids[-1]),
                          ("Product", data.product_ids[-1]), ("Domain", data.domain_id)):
        result = await run(f"node {type_name}", NODE[type_name], {"id": encode(type_name, pk)}, world.admin)
        assert result["node"]["__typename"] == type_name

    first = data.account_ids[0]  # the widest account: its first room has the n responders in it
    parts = {"TalkRoom": TalkRoom, "Contact": Contact, "Bot": Bot, "Holiday": Holiday, "Message": Message}
    for type_name, model in parts.items():
        pk = (await model.filter(account_id=first).order_by("id").first()).id
        result = await run(f"node {type_name}", NODE[type_name], {"id": encode(type_name, pk)}, world.admin)
        assert result["node"]["__typename"] == type_name
        if type_name == "TalkRoom":
            room = result["node"]
            assert len(room["participants"]) == n and room["kind"] == ("GROUP" if n >= 2 else "DIRECT")
    return observed


@pytest.mark.parametrize("n", SIZES)
async def test_list_queries_send_a_fixed_number_of_statements(world, n):
    data = await build(world, n)
    observed = await observe(world, data)
    counts = {name: count for name, (count, _) in observed.items()}
    wrong = [f"{name}: expected {EXPECTED.get(name)}, sent {count}\n{listing}"
             for name, (count, listing) in observed.items() if count != EXPECTED.get(name)]
    assert counts == EXPECTED, f"n={n}\n" + "\n\n".join(wrong)


async def test_the_counter_sees_every_kind_of_statement(world):
    """The counter itself: reads, writes, bulk inserts, scripts and transactions, on this database."""
    from tortoise import Tortoise
    from tortoise.transactions import in_transaction

    domain_id = decode(world.domain_id, "Domain")
    with counted_statements() as sql:
        await Member.filter(domain_id=domain_id).count()  # execute_query
        await Member.filter(domain_id=domain_id).values("id")  # execute_query_dict
        member = await Member.create(domain_id=domain_id, name="Counted", email="c@acme.example",
                                     email_key="c@acme.example")  # execute_insert
        await Bot.bulk_create([])  # nothing sent
        async with in_transaction() as conn:  # BEGIN, UPDATE, COMMIT
            await Member.filter(id=member.id).using_db(conn).update(name="Counted 2")
        await Tortoise.get_connection("default").execute_script("SELECT 1")  # execute_script
    kinds = [" ".join(s.split()[:1]).upper() for s in sql.sql()]
    assert kinds == ["SELECT", "SELECT", "INSERT", "BEGIN", "UPDATE", "COMMIT", "SELECT"], sql.report()
    with counted_statements() as outer:
        with counted_statements() as inner:
            await Member.filter(domain_id=domain_id).count()
        await Member.filter(domain_id=domain_id).count()
    assert (inner.count, outer.count) == (1, 2)
    with counted_statements() as after:
        pass
    await Member.filter(domain_id=domain_id).count()
    assert after.count == 0


# --- the one mutation that returns a list it writes ------------------------------------------

PROVISION = """mutation($input: ProvisionMembersInput!) { provisionMembers(input: $input) {
  members { id name email role isResponder } errors { field code message } } }"""


@pytest.mark.parametrize("n", SIZES)
async def test_provisioning_members_sends_a_fixed_number_of_statements(world, n):
    """n new members, then the same n renamed plus n new ones: one batch per kind of write."""

    async def provision(people: list[tuple[str, str]], stored: list[tuple[str, str]]):
        with counted_statements() as sql:
            payload = await world.mutate(PROVISION, {"domainId": world.domain_id, "members": [
                {"name": name, "email": email} for name, email in people]}, token=world.operator)
        assert payload["errors"] == []
        assert [(m["name"], m["email"]) for m in payload["members"]] == stored
        assert all(m["role"] == "MEMBER" and m["isResponder"] is False for m in payload["members"])
        return payload["members"], sql

    first = [(f"New {i}", f"new{i}@acme.example") for i in range(n)]
    created, sql = await provision(first, first)
    # 1 token, the domain, BEGIN, existing rows, one INSERT (executemany), the new rows, COMMIT,
    # the audit event, isResponder.
    assert sql.count == 9, sql.report()
    again = [(f"Renamed {i}", f"NEW{i}@acme.example") for i in range(n)] + \
        [(f"Newer {i}", f"newer{i}@acme.example") for i in range(n)]
    # A rename keeps the address as first stored; new members are stored as given.
    stored = [(f"Renamed {i}", f"new{i}@acme.example") for i in range(n)] + again[n:]
    mixed, sql = await provision(again, stored)
    assert sql.count == 10, sql.report()  # and one UPDATE for the renames
    assert [m["id"] for m in mixed[:n]] == [m["id"] for m in created]
    rows = await Member.filter(domain_id=decode(world.domain_id, "Domain"), email_key__startswith="new") \
        .order_by("id").values_list("name", "email")
    assert rows == stored
