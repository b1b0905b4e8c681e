"""Faults of the servers the jobs depend on, with the real API and worker processes:

- PostgreSQL restarted while a reset job and while an export job is in the middle of its work
  (PostgreSQL only, and only a server the tests may restart: CXTALK_TEST_PG_DIR, see .ci/run);
  the job's own connection dropped while the server stays up; a reset job dying twice in a row
  (PostgreSQL only: row and table locks hold a job at a known point, pg_terminate_backend);
- Redis stopped (gone, not flushed) while mutations enqueue their jobs;
- Redis paused with SIGSTOP (accepts connections, never answers): nothing may hang.

Each ends the same way: nothing lost, nothing duplicated. Exactly one READY export file with the
right row count and SHA-256 (downloaded through the API), accounts RESET with their rooms and
CX_TALK bots gone (history, contacts and DEV_CONSOLE bots kept), no temporary file left.
(A full disk during an export is covered by tests/test_jobs_e2e.py, with `ulimit -f`.)
The helpers here are shared with tests/test_scale_out.py.
"""
from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from cxtalk.embedded_redis import EmbeddedRedis
from models import (AccountStatus, Bot, BotOrigin, Channel, Contact, HistoryExport, Message, Responder, SenderType,
                    TalkRoom, WindowAccount)
from schema.ids import decode, encode
from services import exports
from tests.processes import ApiServer, ServiceProcess
from tests.ws import Subscription

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ["DATABASE_URL"]  # set by conftest (imported first)
PG_DIR = os.environ.get("CXTALK_TEST_PG_DIR")
FAST_JOBS = {"JOB_LEASE_SECONDS": "2", "RECONCILE_EVERY_SECONDS": "1", "PENDING_GRACE_SECONDS": "1"}
PROMPT_SECONDS = 6.0  # a request touching a paused Redis: each Redis call is bounded by 2 s

EXPORT_FIELDS = "id status progress rowCount sha256 downloadUrl error"
REQUEST = f"""mutation($input: RequestHistoryExportInput!) {{ requestHistoryExport(input: $input) {{
  export {{ {EXPORT_FIELDS} }} errors {{ code }} }} }}"""
GET_EXPORT = f"query($id: ID!) {{ historyExport(id: $id) {{ {EXPORT_FIELDS} }} }}"
EXPORT_UPDATED = f"subscription($id: ID!) {{ historyExportUpdated(id: $id) {{ {EXPORT_FIELDS} }} }}"
RESET = """mutation($input: ResetWindowAccountInput!) { resetWindowAccount(input: $input) {
  windowAccount { id status } errors { code } } }"""
RECORD = """mutation($input: RecordCustomerMessageInput!) { recordCustomerMessage(input: $input) {
  message { content } errors { code } } }"""
VIEWER = "{ viewer { windowAccounts { id } } }"


# --- processes ----------------------------------------------------------------------------------

class Worker(ServiceProcess):
    def __init__(self, env: dict | None = None):
        super().__init__("worker", env={**FAST_JOBS, **(env or {})})

    def pause(self) -> None:
        os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.killpg(self.process.pid, signal.SIGCONT)


def stop_promptly(process: ServiceProcess, within: float = 8.0) -> None:
    """SIGTERM must end a worker or server well before a supervisor's SIGKILL (10 s)."""
    started = time.monotonic()
    code = process.stop(signal.SIGTERM, timeout=within)
    elapsed = time.monotonic() - started
    assert elapsed < within and code == 0, (
        f"{process.args[0]} took {elapsed:.1f} s to stop on SIGTERM (exit {code})\n{process.output()[-2000:]}")


def post(server, token: str, query: str, variables: dict | None = None, timeout: float = 30) -> dict:
    """The one root field of a request that must have no top-level errors."""
    response = httpx.post(f"{server.url}/graphql", json={"query": query, "variables": variables or {}},
                          headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, (response.status_code, body)
    return next(iter(body["data"].values()))


def timed_post(server, token: str, query: str, variables: dict | None = None) -> tuple[dict, float]:
    started = time.monotonic()
    result = post(server, token, query, variables, timeout=PROMPT_SECONDS * 3)
    return result, time.monotonic() - started


def ws_url(server) -> str:
    return server.url.replace("http://", "ws://") + "/graphql"


async def wait_for(predicate, timeout: float = 60, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"{what}: not met within {timeout} s")


async def export_status(pk: int) -> str:
    return (await HistoryExport.get(id=pk)).status.value


async def account_status(pk: int) -> str:
    return (await WindowAccount.get(id=pk)).status.value


async def wait_export_final(pk: int, timeout: float = 60) -> None:
    async def final():
        return await export_status(pk) in ("READY", "FAILED", "CANCELED", "EXPIRED")
    await wait_for(final, timeout, what=f"export {pk} final")


async def wait_reset(pk: int, timeout: float = 60) -> None:
    async def done():
        return await account_status(pk) == "RESET"
    await wait_for(done, timeout, what=f"account {pk} RESET")


# --- data ---------------------------------------------------------------------------------------

@dataclass
class Seeded:
    pk: int
    messages: int
    contacts: int
    rooms: int
    cx_bots: int
    dev_bots: int
    room_ids: list[int]


async def seed_account(account_gid: str, messages: int, rooms: int = 0, contacts: int = 5,
                       start: datetime | None = None, step_seconds: int = 60, cx_bots: int = 2,
                       dev_bots: int = 1) -> Seeded:
    """History of one account as the messaging service leaves it: contacts, talk rooms, messages
    (every other one in a room), bots of both origins."""
    account = await WindowAccount.get(id=decode(account_gid, "WindowAccount"))
    people = [await Contact.create(account_id=account.id, channel=Channel.LINE, external_id=f"{account.handle}-{i}",
                                   name=f"顧客 {i}") for i in range(contacts)]
    if rooms:
        await TalkRoom.bulk_create([TalkRoom(account_id=account.id, contact_id=people[i % contacts].id)
                                    for i in range(rooms)], batch_size=1000)
    room_ids = await TalkRoom.filter(account_id=account.id).order_by("id").values_list("id", flat=True)
    start = start or datetime(2026, 1, 5, tzinfo=timezone.utc)
    await Message.bulk_create([
        Message(domain_id=account.domain_id, account_id=account.id, contact_id=people[i % contacts].id,
                room_id=room_ids[i % len(room_ids)] if room_ids and i % 2 else None,
                sender_type=SenderType.CUSTOMER if i % 2 == 0 else SenderType.RESPONDER,
                sender_name=people[i % contacts].name if i % 2 == 0 else "担当者",
                content=f"{account.handle} message {i}", sent_at=start + timedelta(seconds=i * step_seconds))
        for i in range(messages)], batch_size=2000)
    for i in range(cx_bots):
        await Bot.create(account_id=account.id, name=f"bot {i}", origin=BotOrigin.CX_TALK)
    for i in range(dev_bots):
        await Bot.create(account_id=account.id, name=f"dev bot {i}", origin=BotOrigin.DEV_CONSOLE)
    return Seeded(account.id, messages, contacts, rooms, cx_bots, dev_bots, list(room_ids))


# --- the end state every test checks -------------------------------------------------------------

def files_on_disk() -> tuple[list[str], list[str]]:
    """(export files, temporary files) in the exports directory."""
    directory = exports.exports_dir()
    names = sorted(p.name for p in directory.iterdir()) if directory.exists() else []
    return [n for n in names if not n.startswith(".")], [n for n in names if n.startswith(".")]


async def assert_one_ready_export(pk: int, rows: int, servers, token: str, attempt: int | None = None) -> list[dict]:
    """The export is READY with `rows` rows; its file is the only file and no temporary file is
    left; every API process serves the same bytes, whose SHA-256 is the recorded one.
    Returns the rows of the file."""
    row = await HistoryExport.get(id=pk)
    assert row.status.value == "READY", (row.status, row.error)
    assert row.row_count == rows == row.total_rows, (row.row_count, row.total_rows, rows)
    assert row.active_domain_id is None and row.lease_until is None and row.progress == 1.0
    if attempt is not None:
        assert row.attempt == attempt, row.attempt
    assert files_on_disk() == ([row.file_name], []), files_on_disk()
    content = (exports.exports_dir() / row.file_name).read_bytes()
    assert hashlib.sha256(content).hexdigest() == row.sha256
    for server in servers:
        export = post(server, token, GET_EXPORT, {"id": pk_to_gid(pk)})
        assert export["status"] == "READY" and export["sha256"] == row.sha256 and export["rowCount"] == rows
        download = httpx.get(export["downloadUrl"].replace("http://testserver", server.url), timeout=30)
        assert download.status_code == 200 and download.content == content, download.status_code
    parsed = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"), newline="")))
    assert len(parsed) == rows
    assert [r["sent_at"] for r in parsed] == sorted(r["sent_at"] for r in parsed)  # one zone in these tests
    return parsed


def pk_to_gid(pk: int) -> str:
    return encode("HistoryExport", pk)


async def assert_reset_clean(seeded: Seeded) -> None:
    pk = seeded.pk
    account = await WindowAccount.get(id=pk)
    assert account.status is AccountStatus.RESET and account.reset_lease_until is None
    assert account.name_key is None and account.handle_key is None
    assert await TalkRoom.filter(account_id=pk).count() == 0
    assert await Bot.filter(account_id=pk, origin=BotOrigin.CX_TALK).count() == 0
    assert await Bot.filter(account_id=pk, origin=BotOrigin.DEV_CONSOLE).count() == seeded.dev_bots
    assert await Responder.filter(account_id=pk).count() == 0
    assert await Contact.filter(account_id=pk).count() == seeded.contacts
    assert await Message.filter(account_id=pk).count() == seeded.messages  # the whole history stays
    assert await Message.filter(account_id=pk, room_id__isnull=False).count() == 0


# --- PostgreSQL restarted in the middle of a job ------------------------------------------------

needs_restartable_postgres = pytest.mark.skipif(
    not (DATABASE_URL.startswith("postgres") and PG_DIR),
    reason="needs DATABASE_URL=postgres://... and CXTALK_TEST_PG_DIR (the cluster directory of a throw-away "
           "server the tests may restart, as started by scripts/start-postgres.sh; .ci/run sets both)")


def _asyncpg_dsn() -> str:
    return DATABASE_URL.replace("postgres://", "postgresql://", 1).split("?")[0]


async def _script(*args: str, timeout: float) -> None:
    process = await asyncio.create_subprocess_exec(
        "bash", str(ROOT / "scripts" / "start-postgres.sh"), *args,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode == 0, output.decode(errors="replace")


async def restart_postgres(down_seconds: float = 1.0) -> None:
    """`stop fast` terminates every session (the worker's query in flight among them); the
    server stays down for a moment, then comes back on the same port with the same data.
    (The test's own event loop keeps running meanwhile, so its pool sees its connections close.)"""
    await _script("stop", PG_DIR, "fast", timeout=60)
    await asyncio.sleep(down_seconds)
    await _script(PG_DIR, str(urlsplit(DATABASE_URL).port or 5432), timeout=90)
    await asyncio.sleep(0.2)


async def _waiting_locks(monitor) -> int:
    return await monitor.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted")


@pytest.fixture
def private_redis(tmp_path):
    """A Redis of the test's own. Ids restart with the emptied tables, and arq keeps each job's
    result for a while: a job id of an earlier test (`export-1`, ...) left in a shared Redis would
    make arq refuse this test's enqueue of the same id, and the job would wait for the reconciler."""
    with EmbeddedRedis(tmp_path / "redis") as redis:
        yield redis


@pytest.fixture
def pg_processes(api, private_redis):
    """An API process and a worker process."""
    env = {"REDIS_URL": private_redis.url}
    server = ApiServer(env={**FAST_JOBS, **env}).start()
    worker = Worker(env=env).start()
    yield server, worker
    worker.stop()
    server.stop()


@needs_restartable_postgres
async def test_postgres_restarted_during_a_reset_job(world, pg_processes):
    import asyncpg

    server, worker = pg_processes
    account = await world.account(handle="desk", name="Desk")
    seeded = await seed_account(account["id"], messages=400, rooms=2000, contacts=20)
    locker = await asyncpg.connect(_asyncpg_dsn())
    monitor = await asyncpg.connect(_asyncpg_dsn())
    try:
        # A room in the middle is locked: the job deletes rooms in batches up to it, then waits.
        tx = locker.transaction()
        await tx.start()
        await locker.execute("SELECT id FROM talk_rooms WHERE id = $1 FOR UPDATE", seeded.room_ids[1200])
        payload = post(server, world.admin, RESET, {"input": {"id": account["id"], "confirmHandle": "desk"}})
        assert payload == {"windowAccount": {"id": account["id"], "status": "RESETTING"}, "errors": []}

        async def stuck_halfway():
            left = await monitor.fetchval("SELECT count(*) FROM talk_rooms WHERE account_id = $1", seeded.pk)
            return await _waiting_locks(monitor) > 0 and 0 < left < 2000

        await wait_for(stuck_halfway, timeout=30, what="reset job waiting halfway, some rooms deleted")
        await restart_postgres()  # kills the job's statement in flight (and the locker's session)
    finally:
        for conn in (monitor, locker):  # never leave a lock behind for the next test
            conn.terminate()

    # The API works again at once (its pool replaces dead connections) ...
    assert post(server, world.admin, VIEWER)["windowAccounts"] == []
    # ... and the worker's reconciler takes the job over once its lease expires.
    await wait_reset(seeded.pk, timeout=45)
    await assert_reset_clean(seeded)
    assert (await WindowAccount.get(id=seeded.pk)).reset_attempt >= 2
    assert worker.process.poll() is None, worker.output()[-2000:]


@needs_restartable_postgres
async def test_postgres_restarted_during_an_export_job(world, pg_processes):
    import asyncpg

    server, worker = pg_processes
    account = await world.account(handle="desk", name="Desk")
    await seed_account(account["id"], messages=12_000, rooms=10)
    table_lock = await asyncpg.connect(_asyncpg_dsn())
    row_lock = await asyncpg.connect(_asyncpg_dsn())
    monitor = await asyncpg.connect(_asyncpg_dsn())
    try:
        # 1. contacts locked: the job claims its row, counts, opens its file, then waits for its first batch
        table_tx = table_lock.transaction()
        await table_tx.start()
        await table_lock.execute("LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE")
        requested = post(server, world.admin, REQUEST, {"input": {}})
        assert requested["errors"] == [] and requested["export"]["status"] == "PENDING"
        pk = decode(requested["export"]["id"], "HistoryExport")

        async def waiting_for_first_batch():
            row = await HistoryExport.get(id=pk)
            assert row.status.value in ("PENDING", "RUNNING"), (row.status, row.error)
            return await _waiting_locks(monitor) > 0 and row.total_rows == 12_000

        await wait_for(waiting_for_first_batch, timeout=30, what="export job waiting for its first batch")
        # 2. its row locked, contacts released: rows are written, then a heartbeat (or the end) waits
        row_tx = row_lock.transaction()
        await row_tx.start()
        await row_lock.execute("SELECT id FROM history_exports WHERE id = $1 FOR UPDATE", pk)
        await table_tx.commit()

        async def waiting_with_rows_written():
            row = await HistoryExport.get(id=pk)
            assert row.status.value == "RUNNING", (row.status, row.error)
            written = [p.stat().st_size for p in exports.exports_dir().iterdir()] if exports.exports_dir().exists() else []
            return await _waiting_locks(monitor) > 0 and written and max(written) > 100_000

        await wait_for(waiting_with_rows_written, timeout=30, what="export job waiting with rows written")
        row = await HistoryExport.get(id=pk)
        assert row.status.value == "RUNNING" and row.attempt == 1, (row.status, row.error)
        await restart_postgres()
    finally:
        for conn in (monitor, table_lock, row_lock):  # never leave a lock behind for the next test
            conn.terminate()

    assert post(server, world.admin, GET_EXPORT, {"id": pk_to_gid(pk)})["status"] == "RUNNING"  # the API works at once
    await wait_export_final(pk, timeout=45)
    # attempt 1 died with the server; attempt 2 wrote the one and only file
    await assert_one_ready_export(pk, 12_000, [server], world.admin, attempt=2)
    assert worker.process.poll() is None, worker.output()[-2000:]


@needs_restartable_postgres
async def test_subscription_outlives_a_database_restart(world, pg_processes, private_redis):
    import asyncpg
    import redis

    from services import jobs

    server, worker = pg_processes
    account = await world.account(handle="desk", name="Desk")
    await seed_account(account["id"], messages=1_000, rooms=10)
    table_lock = await asyncpg.connect(_asyncpg_dsn())
    try:
        await table_lock.execute("BEGIN; LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE")  # the job waits to read
        requested = post(server, world.admin, REQUEST, {"input": {}})["export"]
        pk = decode(requested["id"], "HistoryExport")
        async with Subscription(ws_url(server), world.admin, EXPORT_UPDATED, {"id": requested["id"]}) as sub:
            first = await sub.next()
            assert first["payload"]["data"]["historyExportUpdated"]["status"] in ("PENDING", "RUNNING")
            await _script("stop", PG_DIR, "fast", timeout=60)
            with redis.Redis.from_url(private_redis.url) as client:  # a change notice while the database is down
                client.publish(jobs.channel("export", pk), "changed")
            await asyncio.sleep(0.5)
            await _script(PG_DIR, str(urlsplit(DATABASE_URL).port or 5432), timeout=90)
            updates = [d["historyExportUpdated"] for d in await sub.until_complete(timeout=45)]
        assert updates[-1]["status"] == "READY" and updates[-1]["rowCount"] == 1_000
    finally:
        table_lock.terminate()


@pytest.mark.skipif(not DATABASE_URL.startswith("postgres"), reason="PostgreSQL only (pg_terminate_backend)")
async def test_reset_job_dying_twice_in_a_row_is_retried_promptly_each_time(world, pg_processes):
    """Each attempt that dies is taken over once its lease (2 s here) runs out and the reconciler
    (every 1 s) sees it: the retries of one account must not be mistaken for one another."""
    import asyncpg

    server, worker = pg_processes
    account = await world.account(handle="desk", name="Desk")
    seeded = await seed_account(account["id"], messages=100, rooms=1000, contacts=5)
    locker = await asyncpg.connect(_asyncpg_dsn())
    monitor = await asyncpg.connect(_asyncpg_dsn())
    waiting_sql = "SELECT DISTINCT pid FROM pg_locks WHERE NOT granted"  # only the job waits, on our row lock
    try:
        tx = locker.transaction()
        await tx.start()
        await locker.execute("SELECT id FROM talk_rooms WHERE id = $1 FOR UPDATE", seeded.room_ids[600])
        payload = post(server, world.admin, RESET, {"input": {"id": account["id"], "confirmHandle": "desk"}})
        assert payload["errors"] == []
        for attempt in (1, 2, 3):
            async def attempt_waiting():
                row = await WindowAccount.get(id=seeded.pk)
                return row.reset_attempt == attempt and bool(await monitor.fetch(waiting_sql))

            # attempt 1 starts at once; the others once the lease of the one before ran out
            await wait_for(attempt_waiting, timeout=8, what=f"reset attempt {attempt} running")
            if attempt < 3:
                for record in await monitor.fetch(waiting_sql):
                    await monitor.execute("SELECT pg_terminate_backend($1)", record["pid"])
        await tx.rollback()
    finally:
        for conn in (monitor, locker):
            conn.terminate()
    await wait_reset(seeded.pk, timeout=30)
    await assert_reset_clean(seeded)
    assert (await WindowAccount.get(id=seeded.pk)).reset_attempt == 3


@pytest.mark.skipif(not DATABASE_URL.startswith("postgres"), reason="PostgreSQL only (pg_terminate_backend)")
async def test_dropped_database_connection_mid_export_is_retried_not_failed(world, pg_processes):
    """One connection dropped (failover, proxy restart, idle timeout) while the server stays up:
    the attempt dies, but a database that went away is no reason to fail the export."""
    import asyncpg

    server, worker = pg_processes
    account = await world.account(handle="desk", name="Desk")
    await seed_account(account["id"], messages=12_000, rooms=10)
    table_lock = await asyncpg.connect(_asyncpg_dsn())
    monitor = await asyncpg.connect(_asyncpg_dsn())
    try:
        table_tx = table_lock.transaction()
        await table_tx.start()
        await table_lock.execute("LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE")  # the job waits to read
        requested = post(server, world.admin, REQUEST, {"input": {}})
        pk = decode(requested["export"]["id"], "HistoryExport")
        waiting_sql = "SELECT pid FROM pg_locks WHERE NOT granted AND relation = 'contacts'::regclass"

        async def job_waiting():
            return bool(await monitor.fetch(waiting_sql))

        await wait_for(job_waiting, timeout=30, what="export job waiting to read")
        for record in await monitor.fetch(waiting_sql):
            await monitor.execute("SELECT pg_terminate_backend($1)", record["pid"])
        await table_tx.rollback()
    finally:
        for conn in (monitor, table_lock):
            conn.terminate()
    await wait_export_final(pk, timeout=30)
    await assert_one_ready_export(pk, 12_000, [server], world.admin, attempt=2)
    assert worker.process.poll() is None, worker.output()[-2000:]


# --- Redis stopped while mutations enqueue -------------------------------------------------------

async def test_redis_stopped_mutations_answer_and_jobs_run_once_it_is_back(world, tmp_path):
    account = await world.account(handle="desk", name="Desk")
    seeded = await seed_account(account["id"], messages=3_000, rooms=600)
    other = await world.account(handle="shop", name="Shop", responders=world.member_ids[1:2])
    await seed_account(other["id"], messages=2_000, start=datetime(2026, 1, 5, 0, 0, 30, tzinfo=timezone.utc))
    redis = EmbeddedRedis(tmp_path / "redis").start()
    env = {"REDIS_URL": redis.url, "RATE_LIMIT_PER_SECOND": "50"}  # the limiter's Redis call too
    server = ApiServer(env={**FAST_JOBS, **env}).start()
    worker = Worker(env=env).start()
    try:
        redis.stop()  # gone: connections refused

        requested, took = timed_post(server, world.admin, REQUEST, {"input": {}})
        assert took < 2.0, f"requestHistoryExport took {took:.1f} s with Redis down"
        assert requested["errors"] == [] and requested["export"]["status"] == "PENDING"
        pk = decode(requested["export"]["id"], "HistoryExport")
        payload, took = timed_post(server, world.admin, RESET, {"input": {"id": account["id"], "confirmHandle": "desk"}})
        assert took < 2.0, f"resetWindowAccount took {took:.1f} s with Redis down"
        assert payload == {"windowAccount": {"id": account["id"], "status": "RESETTING"}, "errors": []}
        again = post(server, world.admin, REQUEST, {"input": {}})  # the rule holds without Redis
        assert again["errors"] == [{"code": "EXPORT_IN_PROGRESS"}] and again["export"]["id"] == requested["export"]["id"]
        readyz = httpx.get(f"{server.url}/readyz", timeout=10)
        assert readyz.status_code == 503 and readyz.json()["redis"].startswith("error")

        await asyncio.sleep(2)  # nothing can run without Redis: the rows wait, untouched
        assert await export_status(pk) == "PENDING" and await account_status(seeded.pk) == "RESETTING"

        # a client subscribing during the outage gets the current state, and READY once Redis is back
        async with Subscription(ws_url(server), world.admin, EXPORT_UPDATED, {"id": requested["export"]["id"]}) as sub:
            first = await sub.next()
            assert first["payload"]["data"]["historyExportUpdated"]["status"] == "PENDING"
            redis = EmbeddedRedis(tmp_path / "redis", port=redis.port).start()  # same port, empty
            updates = [d["historyExportUpdated"] for d in await sub.until_complete(timeout=45)]
        assert updates[-1]["status"] == "READY" and updates[-1]["rowCount"] == 5_000
        await wait_reset(seeded.pk, timeout=30)
        await assert_reset_clean(seeded)
        await assert_one_ready_export(pk, 5_000, [server], world.admin, attempt=1)
        assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200
        assert worker.process.poll() is None, worker.output()[-2000:]
        # the worker restarted its arq loop during the outage; it still stops cleanly and at once
        stop_promptly(worker)
    finally:
        worker.stop()
        server.stop()
        redis.stop()


# --- Redis paused (SIGSTOP): accepts connections, answers nothing ---------------------------------

async def test_paused_redis_never_hangs_the_api_and_everything_recovers(world, tmp_path):
    account = await world.account(handle="desk", name="Desk")
    seeded = await seed_account(account["id"], messages=2_000, rooms=600)
    redis = EmbeddedRedis(tmp_path / "redis").start()
    env = {"REDIS_URL": redis.url, "RATE_LIMIT_PER_SECOND": "50"}
    server = ApiServer(env={**FAST_JOBS, **env}).start()
    worker = Worker(env=env).start()
    paused = False
    try:
        assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200
        os.kill(redis.process.pid, signal.SIGSTOP)
        paused = True

        started = time.monotonic()
        readyz = httpx.get(f"{server.url}/readyz", timeout=PROMPT_SECONDS * 3)
        took = time.monotonic() - started
        assert readyz.status_code == 503 and readyz.json()["redis"].startswith("error"), readyz.text
        assert took < PROMPT_SECONDS, f"/readyz took {took:.1f} s"
        _, took = timed_post(server, world.admin, VIEWER)  # only the rate limiter touches Redis
        assert took < 2.0, f"a plain query took {took:.1f} s"
        requested, took = timed_post(server, world.admin, REQUEST, {"input": {}})
        assert took < PROMPT_SECONDS, f"requestHistoryExport took {took:.1f} s"
        assert requested["errors"] == [] and requested["export"]["status"] == "PENDING"
        pk = decode(requested["export"]["id"], "HistoryExport")
        payload, took = timed_post(server, world.admin, RESET, {"input": {"id": account["id"], "confirmHandle": "desk"}})
        assert took < PROMPT_SECONDS, f"resetWindowAccount took {took:.1f} s"
        assert payload == {"windowAccount": {"id": account["id"], "status": "RESETTING"}, "errors": []}

        os.kill(redis.process.pid, signal.SIGCONT)
        paused = False
        await wait_export_final(pk, timeout=45)
        await wait_reset(seeded.pk, timeout=30)
        await assert_one_ready_export(pk, 2_000, [server], world.admin)
        await assert_reset_clean(seeded)

        async def ready():
            return httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200
        await wait_for(ready, timeout=15, what="/readyz 200 after SIGCONT")
        # and the service works as before: a new export runs and is pushed to a subscriber
        assert (await HistoryExport.get(id=pk)).status.value == "READY"
        second = post(server, world.admin, REQUEST, {"input": {}})["export"]
        async with Subscription(ws_url(server), world.admin, EXPORT_UPDATED, {"id": second["id"]}) as sub:
            updates = [d["historyExportUpdated"] for d in await sub.until_complete(timeout=45)]
        assert updates[-1]["status"] == "READY" and updates[-1]["rowCount"] == 2_000
        assert worker.process.poll() is None, worker.output()[-2000:]
    finally:
        if paused:
            os.kill(redis.process.pid, signal.SIGCONT)
        worker.stop()
        server.stop()
        redis.stop()
