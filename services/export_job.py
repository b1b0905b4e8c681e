"""The export job: stream the history in time order into a file, with a lease on its row.

Each step is idempotent: a crashed or killed attempt leaves at most a temporary file, which its
writer removes or the next attempt ignores (file names carry the attempt number). Only the
attempt that still holds the lease may mark the export READY.

Speed (see README "Benchmarks"): the database does the joins and the formatting; Python only
moves finished bytes.

- Every exported row leaves the database as its finished CSV or JSONL line: the cells of the
  message (formula guard, quoting, JSON escaping) are SQL expressions, the cells of its account
  and contact are formatted once per account / contact here (with the writer's own functions)
  and joined in, and `sent_at` is shifted into the account's zone by a constant offset per
  stretch of time (below). The bytes are then hashed and written as they are
  (`ExportWriter.write_encoded`); CP932 is re-encoded a batch at a time (`?` for what it cannot
  hold, as the writer does).
- SQLite: one thread per export, below the event loop's priority, plans keyset batches of
  `BATCH` rows ((sent_at, id) bounds found ahead by an index-only query) and writes them in
  order, while `READERS` reader processes (stdlib `sqlite3`, read-only connections) build the
  batches in parallel, each batch in a single query step (`group_concat`). Memory stays flat:
  at most READERS + 1 batches are in flight.
- PostgreSQL: one `COPY (SELECT ...) TO STDOUT` in a read-only REPEATABLE READ transaction,
  streamed through asyncpg; a thread undoes COPY's text escaping, hashes and writes.
- Local time: offsets change only at DST (and other) transitions. The offsets of each zone over
  the domain's history are computed once from `zoneinfo` (checked once a day, each change
  located to the second; the tz database has no two transitions less than four days apart), and
  the SQL applies a constant offset per stretch between transitions (a CASE on the account's
  zone, then on the stretch); SQLite batches only carry the stretches they overlap.
- Heartbeats (lease, progress, cancellation) go to the event loop after a batch once
  `HEARTBEAT_EVERY` seconds have passed (and after the first batch); the export threads do not
  wait for them, they look at the previous answer.
"""
from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import pickle
import queue
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from urllib.parse import quote
from zoneinfo import ZoneInfo

from tortoise import Tortoise

from cxtalk.db import _placeholders, atomic, execute, fetch, is_postgres
from models import HistoryExport
from services import jobs
from services.export_files import ExportWriter, csv_cell, file_extension, json_string
from services.exports import exports_dir, ttl

log = logging.getLogger("cxtalk.export_job")
BATCH = 5000
HEARTBEAT_EVERY = 0.25  # seconds between heartbeats (each also publishes progress to subscribers)
READERS = max(1, int(os.environ.get("EXPORT_READERS", "0")) or min(2, os.cpu_count() or 1))
NICENESS = 10  # export threads yield the CPU to the API and the event loop (Linux: per thread)
_WRITE_CHUNK = 1 << 20  # PostgreSQL: bytes handed to the writing thread at a time


class _Stopped(Exception):
    """The export was canceled or taken over (a heartbeat said so), or the job was cancelled."""


def _filters(export: HistoryExport, *, after: tuple | None = None, upto: tuple | None = None,
             text_times: bool = False) -> tuple[str, list]:
    """The WHERE clause of the export's rows, optionally only those after / up to a (sent_at, id)
    key. A key replaces the `since` / `until` bound on its side (its row is inside them), so
    that SQLite ranges its index scan on the key and not on the whole period."""
    def when(value: datetime):  # SQLite stores text: compare with the text its driver would send
        value = value.astimezone(timezone.utc)
        return value.isoformat(" ") if text_times else value

    where, params = ["m.domain_id = ?", "m.id <= ?"], [export.domain_id, export.watermark_id]
    if export.account_ids:
        where.append(f"m.account_id IN ({', '.join('?' * len(export.account_ids))})")
        params += list(export.account_ids)
    if after is not None:
        where.append("(m.sent_at, m.id) > (?, ?)")
        params += list(after)
    elif export.since:
        where.append("m.sent_at >= ?")
        params.append(when(export.since))
    if upto is not None:
        where.append("(m.sent_at, m.id) <= (?, ?)")
        params += list(upto)
    elif export.until:
        where.append("m.sent_at < ?")
        params.append(when(export.until))
    return " AND ".join(where), params


# --- local time: UTC offsets per stretch of time -----------------------------------------------

@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _offset(zone: ZoneInfo, ts: int) -> int:
    return int(datetime.fromtimestamp(ts, zone).utcoffset().total_seconds())


_DAY = 86400
Periods = tuple[tuple[int | None, int], ...]  # ((start, offset seconds), ...): start in epoch seconds


def _offset_periods(zone: ZoneInfo, low: int, high: int) -> Periods:
    """The zone's offsets between the epoch seconds low and high: the first stretch has no start
    (it covers everything before the second one), each later one starts at a transition.

    Checked once a day, each change then located to the second: exact, since no zone of the tz
    database has two transitions less than four days apart."""
    t = low - low % _DAY
    current = _offset(zone, t)
    periods = [(None, current)]
    while t < high:
        following = t + _DAY
        offset = _offset(zone, following)
        if offset != current:  # one transition in (t, following]: find its second
            a, b = t, following
            while b - a > 1:
                middle = (a + b) // 2
                if _offset(zone, middle) == current:
                    a = middle
                else:
                    b = middle
            periods.append((b, offset))
            current = offset
        t = following
    return tuple(periods)


def _overlapping(periods: Periods, low: int, high: int) -> Periods:
    """The stretches that overlap [low, high]."""
    kept = [p for i, p in enumerate(periods)
            if (p[0] is None or p[0] <= high) and (i + 1 == len(periods) or periods[i + 1][0] > low)]
    return tuple(kept)


@lru_cache(maxsize=256)
def _suffix(offset: int) -> str:
    """The offset as isoformat() writes it: +09:00, -05:00, +00:00 (seconds only when present)."""
    return datetime(2000, 1, 1, tzinfo=timezone(timedelta(seconds=offset))).isoformat()[19:]


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# --- SQL per database ------------------------------------------------------------------------

_FORMULA = "=+@\t\r-"  # the triggers of the formula guard ('-' last: literal inside [...])


class _Sqlite:
    """SQLite expressions. m.sent_at is text in UTC ("YYYY-MM-DD HH:MM:SS[.ffffff]+00:00",
    models.UTCDatetimeField), so its first 19 characters are the UTC second."""

    def __init__(self, separator: str = " "):
        self.separator = separator

    @staticmethod
    def csv_cell(x: str) -> str:
        return (f"CASE WHEN {x} GLOB '*[\",\r\n]*' THEN '\"' || CASE WHEN {x} GLOB '[{_FORMULA}]*' THEN '''' "
                f"ELSE '' END || replace({x}, '\"', '\"\"') || '\"' "
                f"WHEN {x} GLOB '[{_FORMULA}]*' THEN '''' || {x} ELSE {x} END")

    @staticmethod
    def json_string(x: str) -> str:
        return f"json_quote({x})"

    @staticmethod
    def local_time(offset: int) -> str:
        if offset == 0:
            return "replace(substr(m.sent_at, 1, 19), ' ', 'T')"
        return f"replace(datetime(substr(m.sent_at, 1, 19), '{offset:+d} seconds'), ' ', 'T')"

    def before(self, ts: int) -> str:
        return f"m.sent_at < '{datetime.fromtimestamp(ts, timezone.utc):%Y-%m-%d{self.separator}%H:%M:%S}'"


class _Postgres:
    @staticmethod
    def csv_cell(x: str) -> str:
        guarded = f"left({x}, 1) IN ('=', '+', '-', '@', chr(9), chr(13))"
        return (f"CASE WHEN strpos({x}, '\"') > 0 OR strpos({x}, ',') > 0 OR strpos({x}, chr(10)) > 0"
                f" OR strpos({x}, chr(13)) > 0 THEN '\"' || CASE WHEN {guarded} THEN '''' ELSE '' END"
                f" || replace({x}, '\"', '\"\"') || '\"' WHEN {guarded} THEN '''' || {x} ELSE {x} END")

    @staticmethod
    def json_string(x: str) -> str:
        return f"to_json({x}::text)::text"

    @staticmethod
    def local_time(offset: int) -> str:  # the session's time zone is UTC (SET LOCAL TIME ZONE)
        shifted = "m.sent_at" + (f" + interval '{offset} seconds'" if offset else "")
        return f"to_char({shifted}, 'YYYY-MM-DD\"T\"HH24:MI:SS')"

    @staticmethod
    def before(ts: int) -> str:
        return f"m.sent_at < '{datetime.fromtimestamp(ts, timezone.utc).isoformat()}'::timestamptz"


def _stretches(dialect, periods: Periods) -> str:
    """sent_at in local time with its offset, for one zone's stretches (a binary CASE tree)."""
    if len(periods) == 1:
        offset = periods[0][1]
        return f"{dialect.local_time(offset)} || {_sql_text(_suffix(offset))}"
    middle = len(periods) // 2
    return (f"CASE WHEN {dialect.before(periods[middle][0])} THEN {_stretches(dialect, periods[:middle])}"
            f" ELSE {_stretches(dialect, periods[middle:])} END")


def _sent_at(dialect, zone_column: str, zones: dict[str, Periods]) -> str:
    """The local sent_at of every account's zone: zones with the same stretches share a branch."""
    by_expression: dict[str, list[str]] = {}
    for name, periods in sorted(zones.items()):
        by_expression.setdefault(_stretches(dialect, periods), []).append(name)
    if len(by_expression) <= 1:
        return next(iter(by_expression), "NULL")
    branches = " ".join(f"WHEN {zone_column} IN ({', '.join(map(_sql_text, names))}) THEN {expression}"
                        for expression, names in by_expression.items())
    return f"CASE {branches} END"


def _message_part(dialect, fmt: str, sent_at: str) -> str:
    """The cells of the message itself: sent_at, sender_type, sender_name, content."""
    if fmt == "CSV":  # sender_type is an enum (CUSTOMER, RESPONDER, ...): nothing to guard or quote
        return (f"{sent_at} || ',' || m.sender_type || ',' || {dialect.csv_cell('m.sender_name')}"
                f" || ',' || {dialect.csv_cell('m.content')}")
    return (f"'\"sent_at\":\"' || {sent_at} || '\",\"sender_type\":' || {dialect.json_string('m.sender_type')}"
            f" || ',\"sender_name\":' || {dialect.json_string('m.sender_name')}"
            f" || ',\"content\":' || {dialect.json_string('m.content')} || '}}'")


def _account_part(fmt: str, handle: str, name: str) -> str:
    if fmt == "CSV":
        return f"{csv_cell(handle)},{csv_cell(name)},"
    return f'{{"account_handle":{json_string(handle)},"account_name":{json_string(name)},'


def _contact_part(fmt: str, name: str, channel: str) -> str:
    if fmt == "CSV":
        return f"{csv_cell(name)},{csv_cell(channel)},"
    return f'"customer_name":{json_string(name)},"channel":{json_string(channel)},'


def _epoch(value) -> int:
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(value)
    return int(value.timestamp())


@dataclass
class _Job:
    export: HistoryExport
    attempt: int
    total: int

    @property
    def export_id(self) -> int:
        return self.export.id

    @property
    def fmt(self) -> str:  # CSV | JSONL
        return self.export.format.value

    @property
    def encoding(self) -> str:  # UTF8_BOM | UTF8 | CP932 (ignored for JSONL)
        return self.export.csv_encoding.value

    @property
    def terminator(self) -> bytes:
        return b"\r\n" if self.fmt == "CSV" else b"\n"

    @property
    def recode(self) -> bool:
        """CP932 files: the database's UTF-8 is re-encoded (else the bytes are written as they are)."""
        return self.fmt == "CSV" and self.encoding == "CP932"


def _recode(data: bytes) -> bytes:
    return data.decode("utf-8").encode("cp932", "replace")


# --- progress reported from the export threads ------------------------------------------------

class _Progress:
    """Heartbeats sent to the event loop from the export thread, without waiting for them: the
    next call looks at the previous answer. False once the export was canceled or taken over."""

    def __init__(self, loop: asyncio.AbstractEventLoop, job: _Job):
        self.loop, self.job = loop, job
        self.pending: Future | None = None
        self.last = 0.0
        self.done = 0

    def _answered(self, wait: bool) -> bool:
        if self.pending is None or not (wait or self.pending.done()):
            return True
        ours = self.pending.result()  # an exception (database gone...) fails the export
        self.pending = None
        return ours

    def __call__(self, rows: int) -> None:
        """After each batch (raises _Stopped when an earlier heartbeat found the export gone)."""
        self.done += rows
        if not self._answered(wait=False):
            raise _Stopped()
        now = time.monotonic()
        if self.pending is None and (self.last == 0.0 or now - self.last >= HEARTBEAT_EVERY):
            self.last = now
            job = self.job
            progress = min(self.done / job.total, 0.999) if job.total else 0.999
            self.pending = asyncio.run_coroutine_threadsafe(_heartbeat(job.export_id, job.attempt, progress),
                                                            self.loop)

    def finish(self) -> None:
        if not self._answered(wait=True):
            raise _Stopped()


def _lower_priority() -> None:
    if sys.platform.startswith("linux"):  # elsewhere this would lower the whole process
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICENESS)
        except OSError:
            pass


async def _in_thread(work, stop: threading.Event):
    """Run `work()` in a thread of its own at a lower priority; if this task is cancelled, ask the
    thread to stop and wait for it (it removes its temporary file) before passing it on."""
    loop = asyncio.get_running_loop()
    result = loop.create_future()

    def run() -> None:
        _lower_priority()
        try:
            value = work()
        except BaseException as exc:  # delivered to the awaiting task
            outcome = (result.set_exception, exc)
        else:
            outcome = (result.set_result, value)
        try:
            loop.call_soon_threadsafe(lambda: result.done() or outcome[0](outcome[1]))
        except RuntimeError:  # the loop is gone (the process is shutting down)
            pass

    context = contextvars.copy_context()  # the database context, for the heartbeats it schedules
    thread = threading.Thread(target=context.run, args=(run,), name="export", daemon=True)
    thread.start()
    try:
        return await asyncio.shield(result)
    except asyncio.CancelledError:
        stop.set()
        await asyncio.to_thread(thread.join)
        raise


# --- SQLite ----------------------------------------------------------------------------------

# A reader process: stdlib only (started with -I -S, so it costs ~20 ms), one read-only
# connection holding the account and contact cells in temporary tables, a loop of batch queries.
# Processes and not threads: the threads of one process serialise on SQLite's global memory
# mutex (two reader threads were slower than one); two processes scale.
_READER_SOURCE = r"""
import os, pickle, sqlite3, sys
try:
    os.nice(%(niceness)d)
    # A session of its own (Popen start_new_session) is an autogroup of its own on Linux, and
    # the scheduler shares the CPU between autogroups before it looks at nice values: lower
    # the group's priority too, or the readers get as much CPU as the whole API process.
    with open("/proc/self/autogroup", "w") as group:
        group.write("%(niceness)d")
except OSError:
    pass
source, sink = sys.stdin.buffer, sys.stdout.buffer
uri, accounts, contacts, separator, recode = pickle.load(source)
conn = sqlite3.connect(uri, uri=True, isolation_level=None)
conn.execute("PRAGMA busy_timeout = 15000")
conn.execute("PRAGMA temp_store = MEMORY")
conn.execute("CREATE TEMP TABLE export_accounts (id INTEGER PRIMARY KEY, part TEXT, tz TEXT)")
conn.execute("CREATE TEMP TABLE export_contacts (id INTEGER PRIMARY KEY, part TEXT)")
conn.executemany("INSERT INTO temp.export_accounts VALUES (?, ?, ?)", accounts)
conn.executemany("INSERT INTO temp.export_contacts VALUES (?, ?)", contacts)
del accounts, contacts
terminator = separator.encode()
while True:
    try:
        sql, args = pickle.load(source)
    except EOFError:
        break
    try:
        data, rows, lines = conn.execute(sql, [separator, *args]).fetchone()
        if lines != rows:  # group_concat skips NULL: a row whose line could not be built
            raise ValueError(f"{rows - lines} of {rows} rows could not be formatted")
        data = data + terminator if rows else b""
        if recode:
            data = data.decode("utf-8").encode("cp932", "replace")
        reply = (data, rows, None)
    except Exception as exc:
        reply = (b"", 0, f"{type(exc).__name__}: {exc}")
    pickle.dump(reply, sink, protocol=pickle.HIGHEST_PROTOCOL)
    sink.flush()
""" % {"niceness": NICENESS}


class _Reader:
    def __init__(self, setup: tuple):
        self.process = subprocess.Popen([sys.executable, "-I", "-S", "-c", _READER_SOURCE],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)
        self.send(setup)

    def send(self, message) -> None:
        pickle.dump(message, self.process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        self.process.stdin.flush()

    def read(self, sql: str, args: list) -> tuple[bytes, int]:
        self.send((sql, args))
        try:
            data, rows, error = pickle.load(self.process.stdout)
        except EOFError:
            raise RuntimeError(f"export reader exited with code {self.process.wait()}") from None
        if error:
            raise RuntimeError(f"export reader: {error}")
        return data, rows

    def close(self) -> None:
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:  # busy with a batch nobody wants any more
            self.process.kill()
            self.process.wait()


class _SqliteExport:
    """The calling thread plans keyset batches (their bounds found ahead by an index-only query)
    and writes them in order; READERS reader processes run the batches' queries meanwhile."""

    def __init__(self, path: str, job: _Job):
        self.uri = f"file:{quote(path)}?mode=ro"
        self.job = job
        self.sql_cache: dict[tuple, str] = {}
        self.idle: queue.SimpleQueue[_Reader] = queue.SimpleQueue()
        self.readers: list[_Reader] = []

    def prepare(self, conn: sqlite3.Connection) -> None:
        """Account and contact cells, zones and their offsets over the domain's history."""
        job = self.job
        domain_id = job.export.domain_id
        accounts = conn.execute("SELECT id, handle, name, timezone FROM window_accounts WHERE domain_id = ?",
                                (domain_id,)).fetchall()
        contacts = conn.execute("SELECT c.id, c.name, c.channel FROM contacts c JOIN window_accounts a"
                                " ON a.id = c.account_id WHERE a.domain_id = ?", (domain_id,)).fetchall()
        self.setup = (self.uri, [(pk, _account_part(job.fmt, handle, name), tz) for pk, handle, name, tz in accounts],
                      [(pk, _contact_part(job.fmt, name, channel)) for pk, name, channel in contacts],
                      job.terminator.decode(), job.recode)
        low, high = conn.execute("SELECT MIN(sent_at), MAX(sent_at) FROM messages WHERE domain_id = ?",
                                 (domain_id,)).fetchone()
        self.zones = {} if low is None else {
            tz: _offset_periods(_zone(tz), _epoch(low), _epoch(high)) for tz in {a[3] for a in accounts}}
        self.dialect = _Sqlite(low[10] if low else " ")  # the stored date/time separator

    def bound_after(self, conn: sqlite3.Connection, after: tuple | None) -> tuple | None:
        """The (sent_at, id) of the last row of the batch that follows `after` (None: it is the last)."""
        where, params = _filters(self.job.export, after=after, text_times=True)
        return conn.execute(f"SELECT m.sent_at, m.id FROM messages m WHERE {where}"
                            f" ORDER BY m.sent_at, m.id LIMIT 1 OFFSET {BATCH - 1}", params).fetchone()

    def batch_query(self, after: tuple | None, upto: tuple | None) -> tuple[str, list]:
        """The query of the rows after `after` up to `upto` (None: from the first / to the last)."""
        where, params = _filters(self.job.export, after=after, upto=upto, text_times=True)
        low = _epoch(after[0]) if after else -2**40
        high = _epoch(upto[0]) if upto else 2**40
        zones = {tz: _overlapping(periods, low, high) for tz, periods in self.zones.items()}
        key = (where, tuple(sorted(zones.items())))
        sql = self.sql_cache.get(key)
        if sql is None:
            d = self.dialect
            line = f"ea.part || ec.part || {_message_part(d, self.job.fmt, _sent_at(d, 'ea.tz', zones))}"
            # One row per batch: the whole batch is built inside one step. (SQLite does not
            # flatten an ordered subquery into an aggregate, so the lines keep their order;
            # CROSS JOIN keeps messages the outer loop, in index order.)
            sql = (f"SELECT CAST(group_concat(line, ?) AS BLOB), count(*), count(line) FROM (SELECT {line} AS line"
                   " FROM messages m CROSS JOIN temp.export_accounts ea ON ea.id = m.account_id"
                   " CROSS JOIN temp.export_contacts ec ON ec.id = m.contact_id"
                   f" WHERE {where} ORDER BY m.sent_at, m.id)")
            self.sql_cache[key] = sql
        return sql, params

    def read(self, sql: str, args: list) -> tuple[bytes, int]:
        """On a pool thread: an idle reader process (a new one while there are fewer than READERS)."""
        try:
            reader = self.idle.get_nowait()
        except queue.Empty:
            reader = _Reader(self.setup)
            self.readers.append(reader)
        try:
            return reader.read(sql, args)
        finally:
            self.idle.put(reader)

    def run(self, writer: ExportWriter, progress: _Progress, stop: threading.Event) -> None:
        planner = sqlite3.connect(self.uri, uri=True, isolation_level=None)
        try:
            planner.execute("PRAGMA busy_timeout = 15000")
            self.prepare(planner)
            with ThreadPoolExecutor(READERS, thread_name_prefix="export-read") as pool:
                in_flight: deque = deque()
                try:
                    after = None  # the last row of the previous batch
                    while True:
                        bound = self.bound_after(planner, after)
                        in_flight.append(pool.submit(self.read, *self.batch_query(after, bound)))
                        while in_flight and (len(in_flight) > READERS or bound is None):
                            self.write(in_flight.popleft().result(), writer, progress, stop)
                        if bound is None:
                            break
                        after = bound
                finally:
                    for future in in_flight:  # (leaving the pool waits for the running ones)
                        future.cancel()
        finally:
            for reader in self.readers:
                reader.close()
            planner.close()

    @staticmethod
    def write(batch: tuple[bytes, int], writer: ExportWriter, progress: _Progress, stop: threading.Event) -> None:
        if stop.is_set():
            raise _Stopped()
        data, rows = batch
        if rows:
            writer.write_encoded(data, rows)
            progress(rows)


# --- PostgreSQL ------------------------------------------------------------------------------

_COPY_ESCAPE = re.compile(rb"\\(.)", re.DOTALL)
_COPY_UNESCAPED = {b"\\": b"\\", b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}


def _unescaped(match: re.Match) -> bytes:
    try:
        return _COPY_UNESCAPED[match.group(1)]
    except KeyError:  # \N: the line was NULL, i.e. a row could not be formatted
        raise ValueError(f"unexpected {match.group(0)!r} in COPY output") from None


def _from_copy_text(data: bytes, terminator: bytes) -> bytes:
    """Complete lines of COPY's text format (one column) -> the lines themselves. COPY ends rows
    with a raw LF and writes LF, CR, TAB, backslash (and \\b \\f \\v) in the data as escapes."""
    if terminator != b"\n":
        data = data.replace(b"\n", terminator)
    if b"\\" in data:
        data = _COPY_ESCAPE.sub(_unescaped, data)
    return data


def _postgres_sql(job: _Job, zones: dict[str, Periods], accounts: list, contacts: list) -> tuple[str, list]:
    """The COPY query: account and contact cells formatted here join in as arrays (cheaper than
    formatting them again for every row), the message's cells are SQL."""
    d = _Postgres
    where, params = _filters(job.export)
    line = f"ea.part || ec.part || {_message_part(d, job.fmt, _sent_at(d, 'ea.tz', zones))}"
    query = (f"SELECT {line} FROM messages m"
             " JOIN unnest(?::int[], ?::text[], ?::text[]) AS ea(id, part, tz) ON ea.id = m.account_id"
             " JOIN unnest(?::int[], ?::text[]) AS ec(id, part) ON ec.id = m.contact_id"
             f" WHERE {where} ORDER BY m.sent_at, m.id")
    return query, [[a[0] for a in accounts], [a[1] for a in accounts], [a[2] for a in accounts],
                   [c[0] for c in contacts], [c[1] for c in contacts], *params]


class _CopySink:
    """Receives COPY's output on the event loop; a single thread converts, hashes and writes it
    while the next data arrives (at most one chunk waits)."""

    def __init__(self, job: _Job, writer: ExportWriter, pool: ThreadPoolExecutor):
        self.job, self.writer, self.pool = job, writer, pool
        self.loop = asyncio.get_running_loop()
        self.chunks: list[bytes] = []
        self.size = 0
        self.writing: asyncio.Future | None = None
        self.heartbeat: asyncio.Task | None = None
        self.done = 0
        self.last = 0.0

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
        self.done += rows
        await self.beat()
        if final:
            await self.writing
            if self.heartbeat is not None and not await self.heartbeat:
                raise _Stopped()

    def write_lines(self, data: bytes, rows: int) -> None:  # (not `write`: asyncpg would take this for a file)
        data = _from_copy_text(data, self.job.terminator)
        self.writer.write_encoded(_recode(data) if self.job.recode else data, rows)

    async def beat(self) -> None:
        if self.heartbeat is not None and self.heartbeat.done():
            ours = self.heartbeat.result()
            self.heartbeat = None
            if not ours:
                raise _Stopped()
        now = time.monotonic()
        if self.heartbeat is None and self.done and (self.last == 0.0 or now - self.last >= HEARTBEAT_EVERY):
            self.last = now
            job = self.job
            progress = min(self.done / job.total, 0.999) if job.total else 0.999
            self.heartbeat = asyncio.create_task(_heartbeat(job.export_id, job.attempt, progress))


async def _export_postgres(job: _Job, writer: ExportWriter) -> None:
    conn = Tortoise.get_connection("default")
    domain_id = job.export.domain_id
    with ThreadPoolExecutor(1, thread_name_prefix="export-write", initializer=_lower_priority) as pool:
        async with conn.acquire_connection() as raw:
            # one snapshot: the accounts, contacts and zones read here are the ones the COPY sees
            async with raw.transaction(isolation="repeatable_read", readonly=True):
                await raw.execute("SET LOCAL TIME ZONE 'UTC'")  # local_time() shifts UTC by the offset
                accounts = [(r[0], _account_part(job.fmt, r[1], r[2]), r[3]) for r in await raw.fetch(
                    "SELECT id, handle, name, timezone FROM window_accounts WHERE domain_id = $1", domain_id)]
                contacts = [(r[0], _contact_part(job.fmt, r[1], r[2])) for r in await raw.fetch(
                    "SELECT c.id, c.name, c.channel FROM contacts c JOIN window_accounts a ON a.id = c.account_id"
                    " WHERE a.domain_id = $1", domain_id)]
                low, high = await raw.fetchrow(
                    "SELECT MIN(sent_at), MAX(sent_at) FROM messages WHERE domain_id = $1", domain_id)
                periods = {} if low is None else {
                    tz: _offset_periods(_zone(tz), _epoch(low), _epoch(high)) for tz in {a[2] for a in accounts}}
                sink = _CopySink(job, writer, pool)
                try:
                    query, params = _postgres_sql(job, periods, accounts, contacts)
                    await raw.copy_from_query(_placeholders(conn, query), *params, output=sink)
                    await sink.flush(final=True)
                finally:
                    if sink.writing is not None:
                        await asyncio.gather(sink.writing, return_exceptions=True)
                    if sink.heartbeat is not None:
                        await asyncio.gather(sink.heartbeat, return_exceptions=True)


# --- the job -----------------------------------------------------------------------------------

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


async def _write_file(job: _Job, final) -> tuple[int, str]:
    """The whole file, committed: (row_count, sha256). Raises _Stopped when told to stop."""
    conn = Tortoise.get_connection("default")
    if is_postgres(conn):
        def open_writer() -> ExportWriter:
            writer = ExportWriter(final, job.fmt, job.encoding)
            writer.open()
            return writer

        writer = await asyncio.to_thread(open_writer)
        try:
            await _export_postgres(job, writer)
            return await asyncio.to_thread(writer.commit)
        finally:
            await asyncio.to_thread(writer.abort)  # nothing after a commit

    loop = asyncio.get_running_loop()
    stop = threading.Event()
    path = conn.filename

    def work() -> tuple[int, str]:
        with ExportWriter(final, job.fmt, job.encoding) as writer:
            progress = _Progress(loop, job)
            _SqliteExport(path, job).run(writer, progress, stop)
            progress.finish()
            return writer.commit()

    return await _in_thread(work, stop)


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
    where, params = _filters(export)
    total = (await fetch(conn, f"SELECT COUNT(*) FROM messages m WHERE {where}", *params))[0][0]
    if not await _heartbeat(export_id, attempt, 0.0, total):
        return "stopped"
    exports_dir().mkdir(parents=True, exist_ok=True)
    _remove_leftovers(export.id)
    final = exports_dir() / f"{export.id}-{attempt}.{file_extension(export.format.value)}"
    job = _Job(export, attempt, total)
    try:
        row_count, sha256 = await _write_file(job, final)
    except _Stopped:
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
