"""The export job: stream the history in time order into a file, with a lease on its row.

Each step is idempotent: a crashed or killed attempt leaves at most a temporary file, which its
writer removes or the next attempt ignores (file names carry the attempt number). Only the
attempt that still holds the lease may mark the export READY.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from tortoise import Tortoise

from cxtalk.db import atomic, execute, fetch
from models import HistoryExport
from services import jobs
from services.export_files import ExportWriter, file_extension
from services.exports import exports_dir, ttl

log = logging.getLogger("cxtalk.export_job")
BATCH = 5000

_SELECT = (
    "SELECT m.id, m.sent_at, a.handle, a.name, c.name, c.channel, m.sender_type, m.sender_name, m.content,"
    " a.timezone FROM messages m JOIN window_accounts a ON a.id = m.account_id"
    " JOIN contacts c ON c.id = m.contact_id")


def _filters(export: HistoryExport) -> tuple[str, list]:
    where, params = ["m.domain_id = ?", "m.id <= ?"], [export.domain_id, export.watermark_id]
    if export.account_ids:
        where.append(f"m.account_id IN ({', '.join('?' * len(export.account_ids))})")
        params += list(export.account_ids)
    if export.since:
        where.append("m.sent_at >= ?")
        params.append(export.since.astimezone(timezone.utc))
    if export.until:
        where.append("m.sent_at < ?")
        params.append(export.until.astimezone(timezone.utc))
    return " AND ".join(where), params


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _as_datetime(value) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _row(r) -> tuple:
    """Database row -> export columns, sent_at in the account's own offset, seconds precision."""
    sent = _as_datetime(r[1]).astimezone(_zone(r[9])).isoformat(timespec="seconds")
    return (r[2], r[3], r[4], r[5], sent, r[6], r[7], r[8])


async def _batches(export: HistoryExport):
    """Keyset pages ordered by (sent_at, id): flat memory whatever the history's size."""
    conn = Tortoise.get_connection("default")
    where, params = _filters(export)
    last = None
    while True:
        if last is None:
            sql, args = f"{_SELECT} WHERE {where}", params
        else:
            sql = f"{_SELECT} WHERE {where} AND (m.sent_at > ? OR (m.sent_at = ? AND m.id > ?))"
            args = [*params, last[1], last[1], last[0]]
        rows = await fetch(conn, f"{sql} ORDER BY m.sent_at, m.id LIMIT {BATCH}", *args)
        if not rows:
            return
        yield rows
        last = rows[-1]


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


async def run_export(export_id: int) -> str:
    attempt = await _claim(export_id)
    if attempt is None:
        return "not claimed"
    export = await HistoryExport.get(id=export_id)
    conn = Tortoise.get_connection("default")
    where, params = _filters(export)
    total = (await fetch(conn, f"SELECT COUNT(*) FROM messages m WHERE {where}", *params))[0][0]
    if not await _heartbeat(export_id, attempt, 0.0, total):
        return "stopped"
    exports_dir().mkdir(parents=True, exist_ok=True)
    _remove_leftovers(export.id)
    final = exports_dir() / f"{export.id}-{attempt}.{file_extension(export.format.value)}"
    try:
        with ExportWriter(final, export.format.value, export.csv_encoding.value) as writer:
            done = 0
            async for rows in _batches(export):
                # Formatting and writing are blocking: off the event loop, so the API stays responsive.
                await asyncio.to_thread(writer.write_rows, [_row(r) for r in rows])
                done += len(rows)
                if not await _heartbeat(export_id, attempt, min(done / total, 0.999) if total else 0.999):
                    return "stopped"  # leaving the block removes the temporary file
            row_count, sha256 = await asyncio.to_thread(writer.commit)
    except Exception as exc:  # disk full, file size limit, database gone...: FAILED, with the reason
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
