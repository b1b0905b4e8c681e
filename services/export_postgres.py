"""The PostgreSQL export: one `COPY (SELECT ...) TO STDOUT` in a read-only REPEATABLE READ
transaction, streamed through asyncpg; a thread undoes COPY's text escaping, hashes and writes
while the next data arrives.
"""
from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tortoise import Tortoise

from cxtalk.db import _placeholders
from services import export_sql
from services.export_attempt import Attempt, Heartbeats, lower_thread_priority
from services.export_files import ExportWriter
from services.export_reader import recoded

_WRITE_CHUNK = 1 << 20  # bytes handed to the writing thread at a time
_COPY_ESCAPE = re.compile(rb"\\(.)", re.DOTALL)
_COPY_UNESCAPED = {b"\\": b"\\", b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}


async def export_postgres(attempt: Attempt, final: Path, heartbeats: Heartbeats) -> tuple[int, str]:
    """The whole file, committed: (row_count, sha256). Raises Stopped when told to stop."""
    def open_writer() -> ExportWriter:
        writer = ExportWriter(final, attempt.fmt, attempt.encoding)
        writer.open()
        return writer

    writer = await asyncio.to_thread(open_writer)
    try:
        await _copy(attempt, writer, heartbeats)
        return await asyncio.to_thread(writer.commit)
    finally:
        await asyncio.to_thread(writer.abort)  # nothing after a commit


async def _copy(attempt: Attempt, writer: ExportWriter, heartbeats: Heartbeats) -> None:
    conn = Tortoise.get_connection("default")
    domain_id = attempt.export.domain_id
    with ThreadPoolExecutor(1, thread_name_prefix="export-write", initializer=lower_thread_priority) as pool:
        async with conn.acquire_connection() as raw:
            # one snapshot: the accounts, contacts and zones read here are the ones the COPY sees
            async with raw.transaction(isolation="repeatable_read", readonly=True):
                await raw.execute("SET LOCAL TIME ZONE 'UTC'")  # PostgresSql.local_time shifts UTC
                lookups = export_sql.Lookups.build(
                    attempt.fmt, await raw.fetch(_placeholders(conn, export_sql.ACCOUNTS), domain_id),
                    await raw.fetch(_placeholders(conn, export_sql.CONTACTS), domain_id),
                    await raw.fetchrow(_placeholders(conn, export_sql.SENT_AT_RANGE), domain_id))
                sink = _CopySink(attempt, writer, heartbeats, pool)
                try:
                    query, params = _copy_query(attempt, lookups)
                    await raw.copy_from_query(_placeholders(conn, query), *params, output=sink)
                    await sink.flush(final=True)
                finally:
                    if sink.writing is not None:
                        await asyncio.gather(sink.writing, return_exceptions=True)
                    await heartbeats.settled()


def _copy_query(attempt: Attempt, lookups: export_sql.Lookups) -> tuple[str, list]:
    """The COPY query: account and contact cells join in as arrays (cheaper than formatting them
    again for every row), the message's cells are SQL."""
    where, params = export_sql.where(attempt.export)
    line = export_sql.line(export_sql.PostgresSql, attempt.fmt, lookups.zones)
    query = (f"SELECT {line} FROM messages m"
             " JOIN unnest(?::int[], ?::text[], ?::text[]) AS ea(id, part, tz) ON ea.id = m.account_id"
             " JOIN unnest(?::int[], ?::text[]) AS ec(id, part) ON ec.id = m.contact_id"
             f" WHERE {where} ORDER BY m.sent_at, m.id")
    accounts, contacts = lookups.accounts, lookups.contacts
    return query, [[a[0] for a in accounts], [a[1] for a in accounts], [a[2] for a in accounts],
                   [c[0] for c in contacts], [c[1] for c in contacts], *params]


class _CopySink:
    """Receives COPY's output on the event loop; a single thread converts, hashes and writes it
    while the next data arrives (at most one chunk waits)."""

    def __init__(self, attempt: Attempt, writer: ExportWriter, heartbeats: Heartbeats, pool: ThreadPoolExecutor):
        self.attempt, self.writer, self.heartbeats, self.pool = attempt, writer, heartbeats, pool
        self.loop = asyncio.get_running_loop()
        self.chunks: list[bytes] = []
        self.size = 0
        self.writing: asyncio.Future | None = None

    async def __call__(self, data: bytes) -> None:
        self.chunks.append(data)
        self.size += len(data)
        if self.size >= _WRITE_CHUNK:
            await self.flush(final=False)

    async def flush(self, final: bool) -> None:
        data = b"".join(self.chunks)
        cut = len(data) if final else data.rfind(b"\n") + 1  # whole rows only
        complete, rest = data[:cut], data[cut:]
        self.chunks, self.size = ([rest] if rest else []), len(rest)
        rows = complete.count(b"\n")
        if self.writing is not None:
            await self.writing
        self.writing = self.loop.run_in_executor(self.pool, self.write_lines, complete, rows)
        self.heartbeats.after(rows)
        if final:
            await self.writing
            await self.heartbeats.finished()

    def write_lines(self, data: bytes, rows: int) -> None:  # (not `write`: asyncpg would take this for a file)
        data = _from_copy_text(data, self.attempt.terminator)
        self.writer.write_encoded(recoded(data) if self.attempt.recode else data, rows)


def _from_copy_text(data: bytes, terminator: bytes) -> bytes:
    """Complete lines of COPY's text format (one column) -> the lines themselves. COPY ends rows
    with a raw LF and writes LF, CR, TAB, backslash (and \\b \\f \\v) in the data as escapes."""
    if terminator != b"\n":
        data = data.replace(b"\n", terminator)
    if b"\\" in data:
        data = _COPY_ESCAPE.sub(_unescaped, data)
    return data


def _unescaped(match: re.Match) -> bytes:
    try:
        return _COPY_UNESCAPED[match.group(1)]
    except KeyError:  # \N: the line was NULL, i.e. a row could not be formatted
        raise ValueError(f"unexpected {match.group(0)!r} in COPY output") from None
