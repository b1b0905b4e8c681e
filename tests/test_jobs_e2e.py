"""The real service: API process + worker process + Redis, driven over HTTP and WebSocket,
including the faults the jobs must survive (killed worker, lost Redis, failing disk)."""
import asyncio
import hashlib
import os
import signal
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
import redis

from models import HistoryExport, WindowAccount
from schema.ids import decode, encode
from services import exports
from tests.history import seed_messages
from tests.processes import BIN, ApiServer, ServiceProcess
from tests.ws import Subscription

FAST_JOBS = {"JOB_LEASE_SECONDS": "2", "RECONCILE_EVERY_SECONDS": "1", "PENDING_GRACE_SECONDS": "1"}
EXPORT_FIELDS = "id status progress rowCount sha256 downloadUrl error"
REQUEST = f"""mutation($input: RequestHistoryExportInput!) {{ requestHistoryExport(input: $input) {{
  export {{ {EXPORT_FIELDS} }} errors {{ code }} }} }}"""
EXPORT_UPDATED = f"subscription($id: ID!) {{ historyExportUpdated(id: $id) {{ {EXPORT_FIELDS} }} }}"
ACCOUNT_UPDATED = "subscription($id: ID!) { windowAccountUpdated(id: $id) { id status name } }"


class Worker(ServiceProcess):
    def __init__(self, env=None, command: list[str] | None = None):
        super().__init__("worker", env={**FAST_JOBS, **(env or {})}, command=command)


@pytest.fixture
def api_server(api, redis_url):
    server = ApiServer(env=FAST_JOBS).start()
    yield server
    server.stop()


@pytest.fixture
def worker(api, redis_url):
    started = Worker().start()
    yield started
    started.stop()


def post(server, token, query, variables):
    response = httpx.post(f"{server.url}/graphql", json={"query": query, "variables": variables},
                          headers={"Authorization": f"Bearer {token}"}, timeout=30)
    body = response.json()
    assert "errors" not in body, body
    return next(iter(body["data"].values()))


def subscription_error(message: dict) -> str:
    """The error code of a subscription that failed (sent as 'error' or as 'next' with errors)."""
    errors = message["payload"] if message["type"] == "error" else message["payload"].get("errors")
    assert errors, message
    return errors[0]["extensions"]["code"]


def ws_url(server) -> str:
    return server.url.replace("http://", "ws://") + "/graphql"


async def wait_for(predicate, timeout=60, interval=0.1):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(interval)
    raise AssertionError("condition not met in time")


def export_files(pk: int) -> list[Path]:
    return sorted(p for p in exports.exports_dir().glob(f"*{pk}-*") if p.name.split("-")[0].lstrip(".") == str(pk))


async def test_export_ready_is_pushed_then_downloaded(world, api_server, worker):
    account = await world.account(handle="desk")
    await seed_messages(account["id"], 120)
    requested = post(api_server, world.admin, REQUEST, {"input": {}})["export"]
    async with Subscription(ws_url(api_server), world.admin, EXPORT_UPDATED, {"id": requested["id"]}) as sub:
        updates = [d["historyExportUpdated"] for d in await sub.until_complete()]
    assert updates[0]["status"] in ("PENDING", "RUNNING", "READY")
    assert updates[-1]["status"] == "READY" and updates[-1]["rowCount"] == 120
    statuses = [u["status"] for u in updates]
    assert statuses == sorted(statuses, key=["PENDING", "RUNNING", "READY"].index)
    download = httpx.get(updates[-1]["downloadUrl"].replace("http://testserver", api_server.url))
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == updates[-1]["sha256"]
    lines = download.content.decode("utf-8-sig").split("\r\n")
    assert lines[0].startswith("account_handle,") and len(lines) == 122  # header, rows, final CRLF
    # a client that subscribes after the end still gets the final state, then completion
    async with Subscription(ws_url(api_server), world.admin, EXPORT_UPDATED, {"id": requested["id"]}) as late:
        assert [d["historyExportUpdated"]["status"] for d in await late.until_complete()] == ["READY"]


async def test_subscriptions_check_the_token_and_the_domain(world, api_server):
    from tests.support import World
    export = post(api_server, world.admin, REQUEST, {"input": {}})["export"]
    other = await World.build(world.api, name="Other")
    async with Subscription(ws_url(api_server), other.admin, EXPORT_UPDATED, {"id": export["id"]}) as sub:
        assert subscription_error(await sub.next()) == "NOT_FOUND"
    async with Subscription(ws_url(api_server), world.admin, EXPORT_UPDATED,
                            {"id": encode("HistoryExport", 424242)}) as sub:
        assert subscription_error(await sub.next()) == "NOT_FOUND"  # same as another domain's
    async with Subscription(ws_url(api_server), "nonsense", EXPORT_UPDATED, {"id": export["id"]}) as sub:
        assert subscription_error(await sub.next()) == "UNAUTHENTICATED"
    async with Subscription(ws_url(api_server), world.member_tokens[0], EXPORT_UPDATED, {"id": export["id"]}) as sub:
        assert subscription_error(await sub.next()) == "FORBIDDEN"


async def test_reset_progress_is_pushed(world, api_server, worker):
    account = await world.account(handle="desk", name="Desk")
    await seed_messages(account["id"], 5)
    async with Subscription(ws_url(api_server), world.admin, ACCOUNT_UPDATED, {"id": account["id"]}) as sub:
        first = await sub.next()
        assert first["payload"]["data"]["windowAccountUpdated"]["status"] == "ACTIVE"
        payload = post(api_server, world.admin, """mutation($input: ResetWindowAccountInput!) {
            resetWindowAccount(input: $input) { windowAccount { status } errors { code } } }""",
                       {"input": {"id": account["id"], "confirmHandle": "desk"}})
        assert payload == {"windowAccount": {"status": "RESETTING"}, "errors": []}
        rest = [d["windowAccountUpdated"]["status"] for d in await sub.until_complete()]
    assert rest[-1] == "RESET" and set(rest) <= {"RESETTING", "RESET"}
    assert (await WindowAccount.get(id=decode(account["id"], "WindowAccount"))).status.value == "RESET"


async def test_killed_worker_mid_export_finishes_after_restart_with_one_file(world, api_server):
    account = await world.account(handle="desk")
    await seed_messages(account["id"], 60_000)
    first = Worker().start()
    requested = post(api_server, world.admin, REQUEST, {"input": {}})["export"]
    pk = decode(requested["id"], "HistoryExport")

    async def running_with_progress():
        row = await HistoryExport.get(id=pk)
        return row.status.value == "RUNNING" and row.progress > 0

    await wait_for(running_with_progress, interval=0.01)
    first.stop(signal.SIGKILL)
    assert (await HistoryExport.get(id=pk)).status.value == "RUNNING"
    assert not [p for p in export_files(pk) if not p.name.startswith(".")]  # nothing visible half-written
    second = Worker().start()
    try:
        async def ready():
            return (await HistoryExport.get(id=pk)).status.value == "READY"
        await wait_for(ready, timeout=90)
    finally:
        second.stop()
    row = await HistoryExport.get(id=pk)
    assert row.attempt == 2 and row.row_count == 60_000
    files = export_files(pk)
    assert [p.name for p in files] == [row.file_name]  # exactly one file, no temporary left
    assert hashlib.sha256(files[0].read_bytes()).hexdigest() == row.sha256


async def test_lost_redis_queue_is_reconciled(world, api_server, redis_url):
    account = await world.account(handle="desk")
    await seed_messages(account["id"], 10)
    requested = post(api_server, world.admin, REQUEST, {"input": {}})["export"]  # enqueued, no worker yet
    redis.Redis.from_url(redis_url).flushall()  # the queue is gone
    pk = decode(requested["id"], "HistoryExport")
    started = Worker().start()
    try:
        async def ready():
            return (await HistoryExport.get(id=pk)).status.value == "READY"
        await wait_for(ready, timeout=60)
    finally:
        started.stop()


async def test_failing_disk_write_marks_failed_and_leaves_no_file(world, api_server):
    account = await world.account(handle="desk", name="長い窓口アカウント名称です１２３４")
    long_name = "とても長いお客様のお名前" * 8  # long repeated columns: the file outgrows the database
    await seed_messages(account["id"], 40_000, contact_name=long_name, content=lambda i: "x")
    database = os.environ["DATABASE_URL"]
    limit_kb = 8 * 1024
    if database.startswith("sqlite://"):
        path = database[len("sqlite://"):]
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        limit_kb += os.path.getsize(path) // 1024  # the database itself may still grow a little
    requested = post(api_server, world.admin, REQUEST, {"input": {}})["export"]
    pk = decode(requested["id"], "HistoryExport")
    # a shell sets the file size limit, then becomes the worker
    limited = Worker(command=["bash", "-c", f"ulimit -f {limit_kb} && exec {BIN}/cxtalk worker"]).start()
    try:
        async def failed():
            return (await HistoryExport.get(id=pk)).status.value in ("FAILED", "READY")
        await wait_for(failed, timeout=90)
    finally:
        limited.stop()
    row = await HistoryExport.get(id=pk)
    assert row.status.value == "FAILED", (row.status, row.row_count)
    assert "File too large" in row.error or "EFBIG" in row.error or "Errno 27" in row.error, row.error
    assert export_files(pk) == []
    again = post(api_server, world.admin, REQUEST, {"input": {}})  # a failed export does not block the next
    assert again["errors"] == []


async def test_redis_restarted_mid_job_the_job_finishes_and_the_worker_carries_on(world, tmp_path):
    from cxtalk.embedded_redis import EmbeddedRedis

    own_redis = EmbeddedRedis(tmp_path / "redis").start()
    env = {"REDIS_URL": own_redis.url}
    server = ApiServer(env={**FAST_JOBS, **env}).start()
    started = Worker(env=env).start()
    try:
        account = await world.account(handle="desk")
        await seed_messages(account["id"], 60_000)
        first = decode(post(server, world.admin, REQUEST, {"input": {}})["export"]["id"], "HistoryExport")

        async def running():
            row = await HistoryExport.get(id=first)
            return row.status.value == "RUNNING" and row.progress > 0

        await wait_for(running, interval=0.01)
        own_redis.stop()  # Redis goes away in the middle of the job
        await asyncio.sleep(1)
        own_redis = EmbeddedRedis(tmp_path / "redis", port=own_redis.port).start()

        async def ready(pk):
            return (await HistoryExport.get(id=pk)).status.value == "READY"

        await wait_for(lambda: ready(first), timeout=90)
        assert (await HistoryExport.get(id=first)).row_count == 60_000
        # the worker survived the outage: the next export runs too
        second = decode(post(server, world.admin, REQUEST, {"input": {}})["export"]["id"], "HistoryExport")
        await wait_for(lambda: ready(second), timeout=60)
    finally:
        started.stop()
        server.stop()
        own_redis.stop()


async def test_websocket_origins_and_subscription_cap(world):
    import json

    import websockets
    from websockets.exceptions import InvalidStatus

    server = ApiServer(env={**FAST_JOBS, "ALLOWED_ORIGINS": "https://admin.example.com"}).start()
    try:
        export = post(server, world.admin, REQUEST, {"input": {}})["export"]
        with pytest.raises(InvalidStatus):
            await websockets.connect(ws_url(server), subprotocols=["graphql-transport-ws"],
                                     origin="https://evil.example.com")
        async with websockets.connect(ws_url(server), subprotocols=["graphql-transport-ws"],
                                      origin="https://admin.example.com") as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {world.admin}"}}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            for i in range(21):
                await ws.send(json.dumps({"id": str(i), "type": "subscribe", "payload": {
                    "query": EXPORT_UPDATED, "variables": {"id": export["id"]}}}))
            refused = None
            for _ in range(60):  # the first 20 each send their current state
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if message["type"] == "error":
                    refused = message
                    break
            assert refused["id"] == "20" and refused["payload"][0]["message"] == "Subscription limit reached"
    finally:
        server.stop()
