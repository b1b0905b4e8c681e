"""The export job: stream the history in time order into a file, with a lease on its row.

Each step is idempotent: a crashed or killed attempt leaves at most a temporary file, which its
writer removes or the next attempt ignores (file names carry the attempt number). Only the
attempt that still holds the lease may mark the export READY.

Speed (see README "Benchmarks"): the database does the joins and the formatting, every row leaves
it as its finished CSV or JSONL line, and Python only hashes and writes bytes. Where it lives:
- services/export_sql.py: the SQL that selects the rows and builds their lines, per database;
- services/export_zones.py: each zone's UTC offsets as stretches between transitions;
- services/export_sqlite.py and export_reader.py: SQLite, batches built by reader processes;
- services/export_postgres.py: PostgreSQL, one COPY;
- services/export_attempt.py: what both paths share (the attempt, heartbeats, stopping).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from functools import partial

from tortoise import Tortoise

from cxtalk.db import atomic, execute, fetch, is_postgres
from models import HistoryExport
from services import export_sql, jobs
from services.export_attempt import Attempt, Heartbeats, Stopped
from services.export_files import file_extension
from services.export_postgres import export_postgres
from services.export_sqlite import export_sqlite
from services.exports import exports_dir, ttl

log = logging.getLogger("cxtalk.export_job")


async def _claim(export_id: int) -> int | None:
    now = datetime.now(timezone.utc)

    async def work(conn):
        claimed = await execute(
            conn, "UPDATE history_exports SET status = 'RUNNING', attempt = attempt + 1, lease_until = ?,"
                  " started_at = ? WHERE id = ? AND (status = 'PENDING' OR (status = 'RUNNING' AND lease_until < ?))",
            now + timedelta(seconds=jobs.lease_seconds()), now, export_id, now)
        if not claimed:
            return None
        return (await HistoryExport.get(id=export_id).using_db(conn)).attempt

    return await atomic(work)


async def _heartbeat(export_id: int, attempt: int, progress: float, total: int | None = None) -> bool:
    """Report progress and renew the lease; False once the export was canceled or taken over."""
    lease = datetime.now(timezone.utc) + timedelta(seconds=jobs.lease_seconds())
    extra, params = ("", []) if total is None else (", total_rows = ?", [total])

    async def work(conn):
        return await execute(
            conn, f"UPDATE history_exports SET progress = ?, lease_until = ?{extra}"
                  " WHERE id = ? AND attempt = ? AND status = 'RUNNING'",
            progress, lease, *params, export_id, attempt)

    ours = await atomic(work) == 1
    if ours:
        await jobs.publish("export", export_id)
    return ours


async def _finish(export_id: int, attempt: int, **fields) -> bool:
    sets = ", ".join(f"{k} = ?" for k in fields)

    async def work(conn):
        return await execute(
            conn, f"UPDATE history_exports SET {sets}, active_domain_id = NULL, lease_until = NULL"
                  " WHERE id = ? AND attempt = ? AND status = 'RUNNING'", *fields.values(), export_id, attempt)

    done = await atomic(work) == 1
    if done:
        await jobs.publish("export", export_id)
    return done


def _remove_leftovers(export_id: int) -> None:
    """Files of earlier attempts that died (temporary or renamed before READY was recorded)."""
    for path in [*exports_dir().glob(f".{export_id}-*.tmp"), *exports_dir().glob(f"{export_id}-*")]:
        path.unlink(missing_ok=True)


async def _write_file(attempt: Attempt, final) -> tuple[int, str]:
    """The whole file, committed: (row_count, sha256). Raises Stopped when told to stop."""
    conn = Tortoise.get_connection("default")
    heartbeats = Heartbeats(partial(_heartbeat, attempt.export.id, attempt.number), attempt.total)
    if is_postgres(conn):
        return await export_postgres(attempt, final, heartbeats)
    return await export_sqlite(conn.filename, attempt, final, heartbeats)


def _database_lost(exc: BaseException) -> bool:
    """The database went away (restart, failover, dropped connection): not a reason to fail the
    export. The row stays RUNNING, its lease runs out, and the reconciler starts the next attempt."""
    import asyncpg
    from tortoise.exceptions import DBConnectionError

    pg = asyncpg.exceptions
    lost = (ConnectionRefusedError, DBConnectionError, pg.ConnectionDoesNotExistError, pg.ConnectionFailureError,
            pg.ClientCannotConnectError, pg.AdminShutdownError, pg.CrashShutdownError, pg.CannotConnectNowError,
            pg.IdleSessionTimeoutError)
    seen = 0
    while exc is not None and seen < 10:  # also when raised while unwinding (a transaction's exit...)
        if isinstance(exc, lost):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


async def run_export(export_id: int) -> str:
    attempt = await _claim(export_id)
    if attempt is None:
        return "not claimed"
    export = await HistoryExport.get(id=export_id)
    conn = Tortoise.get_connection("default")
    where, params = export_sql.where(export)
    total = (await fetch(conn, f"SELECT COUNT(*) FROM messages m WHERE {where}", *params))[0][0]
    if not await _heartbeat(export_id, attempt, 0.0, total):
        return "stopped"
    exports_dir().mkdir(parents=True, exist_ok=True)
    _remove_leftovers(export.id)
    final = exports_dir() / f"{export.id}-{attempt}.{file_extension(export.format.value)}"
    try:
        row_count, sha256 = await _write_file(Attempt(export, attempt, total), final)
    except Stopped:
        return "stopped"  # the writer removed its temporary file
    except Exception as exc:  # disk full, file size limit...: FAILED, with the reason
        if _database_lost(exc):
            raise  # temporary files are gone; the next attempt starts once the lease runs out
        log.exception("export %s attempt %s failed", export_id, attempt)
        await _finish(export_id, attempt, status="FAILED", error=f"{type(exc).__name__}: {exc}"[:500],
                      finished_at=datetime.now(timezone.utc))
        return "failed"
    now = datetime.now(timezone.utc)
    if not await _finish(export_id, attempt, status="READY", progress=1.0, row_count=row_count, sha256=sha256,
                         file_name=final.name, finished_at=now, expires_at=now + ttl()):
        final.unlink(missing_ok=True)  # canceled (or taken over) at the last moment
        return "stopped"
    return "ready"
