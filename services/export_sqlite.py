"""The SQLite export: keyset batches built in parallel by reader processes, written in order.

One thread per export, below the event loop's priority, plans batches of BATCH rows (their
(sent_at, id) bounds found ahead by an index-only query) and writes them in order, while READERS
reader processes (services/export_reader.py) build them, each batch in a single query step
(`group_concat`). Memory stays flat: at most READERS + 1 batches are in flight.
"""
from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import pickle
import queue
import sqlite3
import subprocess
import sys
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

from services import export_reader, export_sql
from services.export_attempt import Attempt, Heartbeats, Stopped, lower_thread_priority
from services.export_files import ExportWriter
from services.export_zones import epoch_seconds, overlapping

log = logging.getLogger("cxtalk.export_job")
BATCH = 5000
READERS = max(1, int(os.environ.get("EXPORT_READERS", "0")) or min(2, os.cpu_count() or 1))


async def export_sqlite(path: str, attempt: Attempt, final: Path, heartbeats: Heartbeats) -> tuple[int, str]:
    """The whole file, committed: (row_count, sha256). Raises Stopped when told to stop."""
    stop = threading.Event()

    def work() -> tuple[int, str]:
        with ExportWriter(final, attempt.fmt, attempt.encoding) as writer:
            _SqliteExport(path, attempt).run(writer, heartbeats, stop)
            heartbeats.finish()
            return writer.commit()

    return await _in_thread(work, stop)


async def _in_thread(work, stop: threading.Event):
    """Run `work()` in a thread of its own at a lower priority; if this task is cancelled, ask the
    thread to stop and wait for it (it removes its temporary file) before passing it on."""
    loop = asyncio.get_running_loop()
    result = loop.create_future()

    def run() -> None:
        lower_thread_priority()
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


class _ReaderProcess:
    """Our end of one reader process (started with -I -S: stdlib only, ~20 ms)."""

    def __init__(self, setup: export_reader.Setup):
        self.process = subprocess.Popen([sys.executable, "-I", "-S", export_reader.__file__],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)
        export_reader.send(self.process.stdin, tuple(setup))  # (its Setup is __main__.Setup)

    def read(self, sql: str, args: list) -> tuple[bytes, int]:
        export_reader.send(self.process.stdin, (sql, args))
        try:
            data, rows, error, priority_problem = pickle.load(self.process.stdout)
        except EOFError:
            raise RuntimeError(f"export reader exited with code {self.process.wait()}") from None
        if priority_problem:  # it runs at the API's priority: slower API, not a failed export
            log.warning("export reader %s: priority not lowered: %s", self.process.pid, priority_problem)
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
    """The calling thread plans keyset batches and writes them in order; READERS reader
    processes run the batches' queries meanwhile."""

    def __init__(self, path: str, attempt: Attempt):
        self.uri = f"file:{quote(path)}?mode=ro"
        self.attempt = attempt
        self.sql_cache: dict[tuple, str] = {}
        self.idle: queue.SimpleQueue[_ReaderProcess] = queue.SimpleQueue()
        self.readers: list[_ReaderProcess] = []

    def prepare(self, conn: sqlite3.Connection) -> None:
        """Account and contact cells, zones and their offsets over the domain's history."""
        attempt = self.attempt
        domain = (attempt.export.domain_id,)
        accounts = conn.execute(export_sql.ACCOUNTS, domain).fetchall()
        contacts = conn.execute(export_sql.CONTACTS, domain).fetchall()
        sent_at_range = conn.execute(export_sql.SENT_AT_RANGE, domain).fetchone()
        lookups = export_sql.Lookups.build(attempt.fmt, accounts, contacts, sent_at_range)
        self.setup = export_reader.Setup(self.uri, lookups.accounts, lookups.contacts,
                                         attempt.terminator.decode(), attempt.recode)
        self.zones = lookups.zones
        first_sent = sent_at_range[0]
        self.dialect = export_sql.SqliteSql(first_sent[10] if first_sent else " ")  # the stored date/time separator

    def bound_after(self, conn: sqlite3.Connection, after: tuple | None) -> tuple | None:
        """The (sent_at, id) of the last row of the batch that follows `after` (None: it is the last)."""
        where, params = export_sql.where(self.attempt.export, after=after, text_times=True)
        return conn.execute(f"SELECT m.sent_at, m.id FROM messages m WHERE {where}"
                            f" ORDER BY m.sent_at, m.id LIMIT 1 OFFSET {BATCH - 1}", params).fetchone()

    def batch_query(self, after: tuple | None, upto: tuple | None) -> tuple[str, list]:
        """The query of the rows after `after` up to `upto` (None: from the first / to the last)."""
        where, params = export_sql.where(self.attempt.export, after=after, upto=upto, text_times=True)
        low = epoch_seconds(after[0]) if after else -2**40
        high = epoch_seconds(upto[0]) if upto else 2**40
        zones = {tz: overlapping(stretches, low, high) for tz, stretches in self.zones.items()}  # fewer CASEs
        key = (where, tuple(sorted(zones.items())))
        sql = self.sql_cache.get(key)
        if sql is None:
            line = export_sql.line(self.dialect, self.attempt.fmt, zones)
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
            reader = _ReaderProcess(self.setup)
            self.readers.append(reader)
        try:
            return reader.read(sql, args)
        finally:
            self.idle.put(reader)

    def run(self, writer: ExportWriter, heartbeats: Heartbeats, stop: threading.Event) -> None:
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
                            self.write(in_flight.popleft().result(), writer, heartbeats, stop)
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
    def write(batch: tuple[bytes, int], writer: ExportWriter, heartbeats: Heartbeats, stop: threading.Event) -> None:
        if stop.is_set():
            raise Stopped()
        data, rows = batch
        if rows:
            writer.write_encoded(data, rows)
            heartbeats.after(rows)
