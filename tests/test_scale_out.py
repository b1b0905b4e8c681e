"""Scale-out: two API processes (A, B) and two worker processes against one database (SQLite
file or PostgreSQL, per DATABASE_URL) and one Redis, as in a deployment behind a load balancer.

- a client subscribed on A is pushed READY for an export requested through B, and both serve
  the same file;
- an export runs while an account of the same domain is reset: both finish, and the export
  holds the reset account's history up to the watermark, nothing recorded after it;
- parallel export requests through A and B make one export, run exactly once;
- limits hold across processes while the workers run jobs.

Each ends with: nothing lost, nothing duplicated (one READY export file with the right row count
and SHA-256, reset accounts RESET with rooms and CX_TALK bots gone, no temporary file).
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from datetime import datetime, timezone

import httpx
import pytest
import pytest_asyncio
import redis

from cxtalk.broadcast import RECHECK_SECONDS  # a subscription's row is re-read at least this often anyway
from cxtalk.embedded_redis import EmbeddedRedis
from models import HistoryExport, Product, Responder, WindowAccount
from schema.ids import decode
from tests.processes import ApiServer
from tests.support import ADD_RESPONDERS, CREATE_ACCOUNT, World
from tests.test_faults import (EXPORT_UPDATED, RECORD, REQUEST, RESET, Worker, assert_one_ready_export,
                               assert_reset_clean, export_status, post, seed_account, wait_export_final, wait_reset,
                               ws_url)
from tests.ws import Subscription

# No crash here: a lease long enough that pausing the workers for a moment never lets one
# worker take a job over from the other; the reconciler still runs every second.
SCALE_JOBS = {"JOB_LEASE_SECONDS": "10", "RECONCILE_EVERY_SECONDS": "1", "PENDING_GRACE_SECONDS": "1"}


class Cluster:
    def __init__(self, redis: EmbeddedRedis):
        self.redis = redis
        env = {**SCALE_JOBS, "REDIS_URL": redis.url}
        self.apis = [ApiServer(env=env), ApiServer(env=env)]
        self.workers = [Worker(env=env), Worker(env=env)]

    def start(self) -> "Cluster":
        try:
            for process in [*self.workers, *self.apis]:
                process.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for process in [*self.workers, *self.apis]:
            process.stop()

    @contextlib.contextmanager
    def workers_paused(self):
        """SIGSTOP both workers (no job can start or finish meanwhile), SIGCONT on leaving."""
        for worker in self.workers:
            worker.pause()
        try:
            yield
        finally:
            for worker in self.workers:
                worker.resume()

    def assert_alive(self) -> None:
        for process in [*self.workers, *self.apis]:
            assert process.process.poll() is None, process.output()[-3000:]


@pytest.fixture(scope="module")
def cluster(app, tmp_path_factory):
    with EmbeddedRedis(tmp_path_factory.mktemp("scale-out-redis")) as own_redis:
        started = Cluster(own_redis).start()
        yield started
        started.stop()


@pytest_asyncio.fixture
async def ab(cluster, api):
    """The two API processes, checked alive after the test. Ids restart with the emptied tables
    and arq keeps job results for a while: Redis starts empty too, or arq would refuse this
    test's `export-1` as a duplicate of the last test's."""
    with redis.Redis.from_url(cluster.redis.url) as client:
        client.flushall()
    yield cluster.apis
    cluster.assert_alive()


async def fire(servers, token: str, query: str, inputs: list[dict]) -> list[dict]:
    """Every request at once, alternating between the API processes; the payloads, in order."""
    async with httpx.AsyncClient(timeout=60) as client:
        async def one(i, input):
            response = await client.post(f"{servers[i % len(servers)].url}/graphql",
                                         json={"query": query, "variables": {"input": input}},
                                         headers={"Authorization": f"Bearer {token}"})
            body = response.json()
            assert response.status_code == 200 and "errors" not in body, (response.status_code, body)
            return next(iter(body["data"].values()))

        return await asyncio.gather(*(one(i, input) for i, input in enumerate(inputs)))


def outcome(payloads) -> Counter:
    return Counter(p["errors"][0]["code"] if p["errors"] else "OK" for p in payloads)


async def test_subscriber_on_a_is_pushed_ready_for_an_export_requested_through_b(world, cluster, ab):
    a, b = ab
    account = await world.account(handle="desk", name="Desk")
    await seed_account(account["id"], messages=30_000, rooms=10)
    received: list[tuple[float, dict]] = []
    with cluster.workers_paused():  # the export cannot start before the subscriber listens
        requested = post(b, world.admin, REQUEST, {"input": {}})
        assert requested["errors"] == [] and requested["export"]["status"] == "PENDING"
        gid = requested["export"]["id"]
        sub = await Subscription(ws_url(a), world.admin, EXPORT_UPDATED, {"id": gid}).__aenter__()
        first = await sub.next()  # the current state
        assert first["type"] == "next", first
        received.append((time.monotonic(), first["payload"]["data"]["historyExportUpdated"]))
    try:
        while True:
            message = await sub.next(timeout=45)
            if message["type"] == "complete":
                break
            assert message["type"] == "next" and "errors" not in message["payload"], message
            received.append((time.monotonic(), message["payload"]["data"]["historyExportUpdated"]))
    finally:
        await sub.__aexit__(None, None, None)
    got_ready = datetime.now(timezone.utc)
    statuses = [u["status"] for _, u in received]
    assert statuses[0] == "PENDING" and statuses[-1] == "READY", statuses
    assert statuses == sorted(statuses, key=["PENDING", "RUNNING", "READY"].index)
    # Pushed through Redis from the worker to A, not found by A's periodic re-read: the first
    # change came well before a re-read could have happened, and READY right after it was recorded.
    assert received[1][0] - received[0][0] < RECHECK_SECONDS - 1.5, [t - received[0][0] for t, _ in received]
    pk = decode(gid, "HistoryExport")
    finished = (await HistoryExport.get(id=pk)).finished_at
    assert (got_ready - finished).total_seconds() < RECHECK_SECONDS - 2, (finished, got_ready)
    assert received[-1][1]["rowCount"] == 30_000
    # downloaded through A and through B: the same bytes, whose SHA-256 is the recorded one
    await assert_one_ready_export(pk, 30_000, [a, b], world.admin, attempt=1)


async def test_export_running_while_an_account_of_the_domain_is_reset(world, cluster, ab):
    a, b = ab
    desk = await world.account(handle="desk", name="Desk")
    shop = await world.account(handle="shop", name="Shop", responders=world.member_ids[1:2])
    reset_one = await seed_account(desk["id"], messages=20_000, rooms=3_000, contacts=30)
    await seed_account(shop["id"], messages=20_000, contacts=30,
                       start=datetime(2026, 1, 5, 0, 0, 30, tzinfo=timezone.utc))  # interleaved in time
    with cluster.workers_paused():
        requested = post(a, world.admin, REQUEST, {"input": {}})  # the watermark: 40,000 messages
        assert requested["errors"] == []
        pk = decode(requested["export"]["id"], "HistoryExport")
        payload = post(b, world.admin, RESET, {"input": {"id": desk["id"], "confirmHandle": "desk"}})
        assert payload == {"windowAccount": {"id": desk["id"], "status": "RESETTING"}, "errors": []}
        # after the watermark: a message to the other account, and the freed handle taken by a new account
        later = post(b, world.operator, RECORD, {"input": {"accountId": shop["id"], "content": "after the request",
                                                          "contact": {"externalId": "late", "name": "遅い",
                                                                      "channel": "LINE"}}})
        assert later["errors"] == []
        refused = post(a, world.operator, RECORD, {"input": {"accountId": desk["id"], "content": "to a reset account",
                                                            "contact": {"externalId": "x", "name": "x",
                                                                        "channel": "LINE"}}})
        assert refused["errors"] == [{"code": "ACCOUNT_NOT_ACTIVE"}]
        again = await world.account(handle="desk", name="Desk")  # name, handle and product unit were freed
        reused = post(a, world.operator, RECORD, {"input": {"accountId": again["id"], "content": "new desk",
                                                           "contact": {"externalId": "n", "name": "新",
                                                                       "channel": "LINE"}}})
        assert reused["errors"] == []
    # both jobs now run at once, one on each worker or both on one
    await asyncio.gather(wait_export_final(pk, timeout=60), wait_reset(reset_one.pk, timeout=60))

    rows = await assert_one_ready_export(pk, 40_000, [a, b], world.admin, attempt=1)
    by_handle = Counter(r["account_handle"] for r in rows)
    assert by_handle == {"desk": 20_000, "shop": 20_000}
    assert {r["content"] for r in rows if r["account_handle"] == "desk"} == {
        f"desk message {i}" for i in range(20_000)}  # all of the reset account's history, none of the new one's
    assert not {"after the request", "new desk"} & {r["content"] for r in rows}
    await assert_reset_clean(reset_one)
    assert (await WindowAccount.get(id=decode(again["id"], "WindowAccount"))).status.value == "ACTIVE"


async def test_parallel_export_requests_through_a_and_b_make_one_export_run_once(world, cluster, ab):
    a, b = ab
    account = await world.account(handle="desk", name="Desk")
    await seed_account(account["id"], messages=20_000, rooms=10)
    with cluster.workers_paused():  # none can finish while the requests race
        results = await fire([a, b], world.admin, REQUEST, [{} for _ in range(10)])
    assert outcome(results) == Counter({"OK": 1, "EXPORT_IN_PROGRESS": 9}), outcome(results)
    created = next(r["export"] for r in results if not r["errors"])
    assert {r["export"]["id"] for r in results} == {created["id"]}  # the others were given that one
    pk = decode(created["id"], "HistoryExport")
    await wait_export_final(pk, timeout=60)
    assert await HistoryExport.all().count() == 1
    await assert_one_ready_export(pk, 20_000, [a, b], world.admin, attempt=1)  # claimed and written once


@pytest_asyncio.fixture
async def big_world(api) -> World:
    return await World.build(api, members=12, responder_limit=3, quantity=3)


async def test_limits_hold_across_api_processes_while_the_workers_run(big_world, cluster, ab):
    w = big_world
    a, b = ab
    target = await w.account(handle="desk", name="Desk", responders=[w.member_ids[0]])
    old = await w.account(handle="old", name="Old", responders=[w.member_ids[1]])
    reset_one = await seed_account(old["id"], messages=15_000, rooms=3_000, contacts=30)
    requested = post(a, w.admin, REQUEST, {"input": {}})  # the workers run it during the races
    assert requested["errors"] == []
    pk = decode(requested["export"]["id"], "HistoryExport")
    payload = post(b, w.admin, RESET, {"input": {"id": old["id"], "confirmHandle": "old"}})  # frees a unit
    assert payload["errors"] == []

    adds = [{"accountId": target["id"], "memberIds": [m]} for m in w.member_ids[1:11]]
    creates = [{"productId": w.product_id, "name": f"New {i}", "handle": f"new{i}", "responderIds": [w.member_ids[11]]}
               for i in range(6)]
    added, created = await asyncio.gather(fire([a, b], w.admin, ADD_RESPONDERS, adds),
                                          fire([b, a], w.admin, CREATE_ACCOUNT, creates))
    assert outcome(added) == Counter({"OK": 2, "RESPONDER_LIMIT_REACHED": 8})
    assert outcome(created) == Counter({"OK": 2, "PRODUCT_EXHAUSTED": 4})  # 3 purchased: desk + 2
    row = await WindowAccount.get(id=decode(target["id"], "WindowAccount"))
    assert row.responder_count == 3 == await Responder.filter(account_id=row.id).count()
    product = await Product.get(id=decode(w.product_id, "Product"))
    assert product.in_use == 3 == await WindowAccount.filter(status="ACTIVE").count()

    await asyncio.gather(wait_export_final(pk, timeout=60), wait_reset(reset_one.pk, timeout=60))
    assert await export_status(pk) == "READY"
    await assert_one_ready_export(pk, 15_000, [a, b], w.admin, attempt=1)
    await assert_reset_clean(reset_one)
