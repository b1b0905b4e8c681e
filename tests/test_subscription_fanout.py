"""Subscriptions share one read per change per process (cxtalk/broadcast.py), and every
subscriber still applies its own access rule (services/) to the shared row.

The subscriptions here run in this process through the real schema, the app's broadcaster and
a real Redis (the graphql-transport-ws framing is covered end to end in test_jobs_e2e.py), so
the statements a change costs can be counted (tests/sqlcount.py).
"""
from __future__ import annotations

import asyncio

import pytest
from starlette.websockets import WebSocket

from cxtalk.broadcast import Broadcaster, ReadFailed
from cxtalk.config import get_settings
from models import AccountStatus, ExportStatus, HistoryExport, WindowAccount
from schema import schema
from schema.context import Context
from schema.ids import decode, encode
from services import accounts, jobs
from services.auth import authenticate
from tests.sqlcount import counted_statements
from tests.support import REMOVE_RESPONDER, World

REQUEST = """mutation { requestHistoryExport(input: {}) { export { id status } errors { code } } }"""
EXPORT_UPDATED = "subscription($id: ID!) { historyExportUpdated(id: $id) { id status progress rowCount } }"
ACCOUNT_UPDATED = "subscription($id: ID!) { windowAccountUpdated(id: $id) { id status responderCount } }"
RESET = """mutation($input: ResetWindowAccountInput!) { resetWindowAccount(input: $input) {
  windowAccount { status } errors { code } } }"""
ENDED = "ended"


class InProcess:
    """One subscription as one WebSocket connection of the app would run it (its own context)."""

    def __init__(self, app, token: str, query: str, variables: dict):
        scope = {"type": "websocket", "app": app, "path": "/graphql", "headers": [], "query_string": b""}
        self.context = Context(request=WebSocket(scope, self._nothing, self._nothing), response=None,
                               settings=get_settings(), connection_params={"authorization": f"Bearer {token}"})
        self.query, self.variables = query, variables

    @staticmethod
    async def _nothing(*_):
        raise AssertionError("the schema must not use the socket")

    async def start(self) -> "InProcess":
        self.results = await schema.subscribe(self.query, variable_values=self.variables, context_value=self.context)
        return self

    async def next(self, timeout: float = 10):
        """The next result's data, its first error code, or ENDED."""
        try:
            result = await asyncio.wait_for(anext(self.results), timeout)
        except StopAsyncIteration:
            return ENDED
        if result.errors:
            return result.errors[0].extensions["code"]
        return next(iter(result.data.values()))

    async def close(self) -> None:
        await self.results.aclose()


async def subscribe(app, token: str, query: str, gid: str, count: int = 1) -> list[InProcess]:
    return list(await asyncio.gather(*(InProcess(app, token, query, {"id": gid}).start() for _ in range(count))))


async def next_of(subs: list[InProcess]) -> list:
    return list(await asyncio.gather(*(s.next() for s in subs)))


async def requested_export(world: World) -> tuple[str, int]:
    payload = (await world.api.data(REQUEST, token=world.admin))["requestHistoryExport"]
    assert payload["errors"] == [] and payload["export"]["status"] == "PENDING"  # no worker here: it stays so
    return payload["export"]["id"], decode(payload["export"]["id"], "HistoryExport")


@pytest.mark.parametrize("n", (1, 10, 100))
async def test_a_change_costs_one_statement_for_any_number_of_subscribers(app, world, n):
    gid, pk = await requested_export(world)
    subs = await subscribe(app, world.admin, EXPORT_UPDATED, gid, n)
    try:
        assert {s["status"] for s in await next_of(subs)} == {"PENDING"}
        await HistoryExport.filter(id=pk).update(status=ExportStatus.RUNNING, progress=0.5)
        with counted_statements() as sql:
            await jobs.publish("export", pk)  # what the worker does after its commit
            updates = await next_of(subs)
        assert updates == [{"id": gid, "status": "RUNNING", "progress": 0.5, "rowCount": None}] * n
        assert sql.count == 1 and "history_exports" in sql.sql()[0], sql.report()

        await HistoryExport.filter(id=pk).update(status=ExportStatus.READY, progress=1.0, row_count=7)
        with counted_statements() as sql:
            await jobs.publish("export", pk)
            assert {s["status"] for s in await next_of(subs)} == {"READY"}
            assert set(await next_of(subs)) == {ENDED}  # the final state ends every subscription
        assert sql.count == 1, sql.report()
    finally:
        for s in subs:
            await s.close()
    assert app.state.broadcaster.feeds == {}  # nothing left behind once everyone has gone


@pytest.mark.parametrize("n", (1, 10, 50))
async def test_an_account_change_costs_six_statements_for_any_number_of_subscribers(app, world, n):
    account = await world.account(handle="desk", name="Desk", responders=world.member_ids[:2])
    gid, pk = account["id"], decode(account["id"], "WindowAccount")
    tokens = [world.admin, *world.member_tokens[:2]]
    subs = [s for i in range(n) for s in await subscribe(app, tokens[i % 3], ACCOUNT_UPDATED, gid)]
    try:
        assert {s["status"] for s in await next_of(subs)} == {"ACTIVE"}
        await WindowAccount.filter(id=pk).update(name="Front desk")
        with counted_statements() as sql:
            await jobs.publish("account", pk)
            assert {s["responderCount"] for s in await next_of(subs)} == {2}
        # the account and its responders' member ids, whoever and however many subscribe, then
        # once for all of them the GraphQL account's product, responders (pairs, members) and holidays
        assert sql.count == 6 and "window_accounts" in sql.sql()[0] and "responders" in sql.sql()[1], sql.report()
    finally:
        for s in subs:
            await s.close()


async def test_subscribers_of_one_row_each_apply_their_own_rule(app, world):
    gid, pk = await requested_export(world)
    other = await World.build(world.api, name="Other")
    [mine] = await subscribe(app, world.admin, EXPORT_UPDATED, gid)
    try:
        assert (await mine.next())["status"] == "PENDING"
        # the same feed (the row is already being watched), other callers
        [theirs] = await subscribe(app, other.admin, EXPORT_UPDATED, gid)
        assert await theirs.next() == "NOT_FOUND"  # another domain's export reads as missing
        [missing] = await subscribe(app, world.admin, EXPORT_UPDATED, encode("HistoryExport", pk + 1000))
        assert await missing.next() == "NOT_FOUND"
        [member] = await subscribe(app, world.member_tokens[0], EXPORT_UPDATED, gid)
        assert await member.next() == "FORBIDDEN"
        await HistoryExport.filter(id=pk).update(status=ExportStatus.RUNNING)
        await jobs.publish("export", pk)
        assert (await mine.next())["status"] == "RUNNING"
    finally:
        await mine.close()


async def test_a_member_who_loses_access_sees_the_end_while_the_others_go_on(app, world):
    account = await world.account(handle="desk", name="Desk", responders=world.member_ids[:2])
    gid = account["id"]
    [admin] = await subscribe(app, world.admin, ACCOUNT_UPDATED, gid)
    [kept] = await subscribe(app, world.member_tokens[0], ACCOUNT_UPDATED, gid)
    [removed] = await subscribe(app, world.member_tokens[1], ACCOUNT_UPDATED, gid)
    subs = [admin, kept, removed]
    try:
        assert await next_of(subs) == [{"id": gid, "status": "ACTIVE", "responderCount": 2}] * 3
        [outsider] = await subscribe(app, world.member_tokens[2], ACCOUNT_UPDATED, gid)
        assert await outsider.next() == "NOT_FOUND"  # not a responder: reads like a missing account

        payload = await world.mutate(REMOVE_RESPONDER, {"accountId": gid, "memberId": world.member_ids[1]})
        assert payload["errors"] == []
        assert await next_of(subs) == [{"id": gid, "status": "ACTIVE", "responderCount": 1}] * 2 + [ENDED]

        payload = await world.mutate(RESET, {"id": gid, "confirmHandle": "desk"})  # no worker: stays RESETTING
        assert payload == {"windowAccount": {"status": "RESETTING"}, "errors": []}
        assert await next_of([admin, kept]) == [{"id": gid, "status": "RESETTING", "responderCount": 0}, ENDED]
    finally:
        for s in subs:
            await s.close()


@pytest.mark.parametrize("status", list(AccountStatus))
async def test_the_rule_on_a_shared_row_agrees_with_the_query(world, status):
    """accounts.can_see_account (on the shared row) and accounts.visible_accounts (in SQL) are
    the same rule: every kind of caller, every status."""
    other = await World.build(world.api, name="Other")
    account = await world.account(handle="desk", name="Desk", responders=world.member_ids[:1])
    pk = decode(account["id"], "WindowAccount")
    await WindowAccount.filter(id=pk).update(status=status)
    callers = {"admin": world.admin, "responder": world.member_tokens[0], "member": world.member_tokens[1],
               "other admin": other.admin, "other member": other.member_tokens[0]}
    shared = await accounts.read_watched_account_unscoped(pk)
    seen = {}
    for name, token in callers.items():
        actor = await authenticate(token)
        by_query = await accounts.get_account(actor, pk) is not None
        by_rule = accounts.visible_watched_account(actor, shared) is not None
        assert by_query == by_rule, (name, status)
        seen[name] = by_rule
    assert seen == {"admin": True, "responder": status is AccountStatus.ACTIVE, "member": False,
                    "other admin": False, "other member": False}


# --- the feed itself (cxtalk/broadcast.py), without Redis: changes are announced by hand -----

class Reads:
    """A read whose results the test hands out one by one (None: raise)."""

    def __init__(self):
        self.calls = 0
        self.results: asyncio.Queue = asyncio.Queue()

    async def __call__(self):
        self.calls += 1
        value = await self.results.get()
        if value is None:
            raise ConnectionError("database away")
        return value


async def test_a_failed_shared_read_does_not_end_the_feed():
    broadcaster, read = Broadcaster(None, recheck_seconds=60), Reads()
    async with broadcaster.watch("cxtalk:export:1", read) as inbox:
        await read.results.put(None)
        failed = await asyncio.wait_for(inbox.get(), 5)
        assert isinstance(failed, ReadFailed) and isinstance(failed.error, ConnectionError)
        broadcaster._changed("cxtalk:export:1")
        await read.results.put("v2")
        assert await asyncio.wait_for(inbox.get(), 5) == "v2"
    assert broadcaster.feeds == {}


async def test_a_subscriber_joining_during_a_read_gets_a_read_that_started_after_it():
    broadcaster, read = Broadcaster(None, recheck_seconds=60), Reads()
    async with broadcaster.watch("cxtalk:export:1", read) as first:
        await asyncio.sleep(0.05)
        assert read.calls == 1  # in flight
        async with broadcaster.watch("cxtalk:export:1", read) as second:
            await read.results.put("old")  # the in-flight read may predate the second's listening
            assert await asyncio.wait_for(first.get(), 5) == "old"
            await read.results.put("new")
            assert await asyncio.wait_for(second.get(), 5) == "new"  # never "old"
            assert await asyncio.wait_for(first.get(), 5) == "new"
            assert read.calls == 2


async def test_the_feed_reads_again_without_any_message():
    broadcaster, read = Broadcaster(None, recheck_seconds=0.2), Reads()
    async with broadcaster.watch("cxtalk:export:1", read) as inbox:
        for value in ("v1", "v2", "v3"):
            await read.results.put(value)
        assert [await asyncio.wait_for(inbox.get(), 5) for _ in range(3)] == ["v1", "v2", "v3"]
        task = broadcaster.feeds["cxtalk:export:1"].task
    await asyncio.sleep(0)
    assert task.cancelled() or task.done()
