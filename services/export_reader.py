"""The SQLite export's reader process: runs batch queries on a read-only connection and sends
each batch back as its finished bytes.

services/export_sqlite.py starts it as `python -I -S <this file>`: stdlib only (so it starts in
about 20 ms), with no import of the package. For the same reason this module is the one place of
the two rules it shares with the rest of the export: the CPU priority (NICENESS, `Priority`)
and the re-encoding of CP932 files (`recoded`).

Processes and not threads: the threads of one process serialise on SQLite's global memory mutex
(two reader threads were slower than one); two processes scale.

Protocol, pickled over the process's stdin and stdout:
- in: `Setup` once, then (sql, args) per batch; the query's first parameter is the separator
  and it returns one row (the lines joined, as a BLOB; count(*); count(line)).
- out: (data, rows, error, priority_problem) per batch; error and priority_problem are None or
  a message.
"""
from __future__ import annotations

import errno
import os
import pickle
import sqlite3
import sys
import time
from collections import namedtuple

NICENESS = 10  # export work yields the CPU to the API and the event loop
RETRY_SECONDS = 1.0  # how long a priority change refused with EAGAIN is tried again
_RETRY_EVERY = 0.02


# The first message (sent as a plain tuple: this module is __main__ in the process). uri: the
# database, read-only; accounts: (id, part, tz) rows of temp.export_accounts; contacts: (id, part)
# rows of temp.export_contacts; terminator: the line terminator, also group_concat's separator;
# recode: a CP932 file (re-encode the database's UTF-8). (namedtuple: typing costs 7 ms to import.)
Setup = namedtuple("Setup", "uri accounts contacts terminator recode")


def recoded(data: bytes) -> bytes:
    """UTF-8 lines as a CP932 file holds them: `?` for what CP932 cannot hold, as ExportWriter does."""
    return data.decode("utf-8").encode("cp932", "replace")


def send(stream, message) -> None:
    pickle.dump(message, stream, protocol=pickle.HIGHEST_PROTOCOL)
    stream.flush()


class Priority:
    """Lowers this process's CPU priority by NICENESS: its nice value, and its autogroup's.

    A session of its own (Popen start_new_session) is an autogroup of its own on Linux, and the
    scheduler shares the CPU between autogroups before it looks at nice values: without the
    group's nice the readers would get as much CPU as the whole API process. Linux refuses an
    unprivileged autogroup change within 100 ms of another one on the machine (EAGAIN; two
    readers start together), so a change refused with EAGAIN stays pending and `lower()` tries
    it again, without sleeping, for RETRY_SECONDS. No batch waits for it."""

    def __init__(self) -> None:
        nice = min(19, os.getpriority(os.PRIO_PROCESS, 0) + NICENESS)  # absolute: safe to repeat
        self.pending = {"nice": lambda: os.setpriority(os.PRIO_PROCESS, 0, nice),
                        "autogroup nice": _set_autogroup_nice}
        self.give_up_at = time.monotonic() + RETRY_SECONDS
        self.next_try = 0.0

    def lower(self) -> str | None:
        """Make the pending changes (at most every 20 ms); returns why one was given up."""
        now = time.monotonic()
        if not self.pending or now < self.next_try:
            return None
        self.next_try = now + _RETRY_EVERY
        problems = []
        for name, change in list(self.pending.items()):
            try:
                change()
            except FileNotFoundError:  # no autogroups (not Linux, or a kernel without them)
                pass
            except OSError as exc:
                if exc.errno == errno.EAGAIN and now < self.give_up_at:
                    continue
                problems.append(f"{name}: {exc}")
            del self.pending[name]
        return "; ".join(problems) or None

    def lower_waiting(self) -> str | None:
        """The same, waiting for the changes refused with EAGAIN (for a process about to exec)."""
        problems = [self.lower()]
        while self.pending:
            time.sleep(_RETRY_EVERY)
            problems.append(self.lower())
        return "; ".join(filter(None, problems)) or None


def _set_autogroup_nice() -> None:
    with open("/proc/self/autogroup", "w") as group:
        group.write(str(NICENESS))


def _connect(setup: Setup) -> sqlite3.Connection:
    """A read-only connection holding the account and contact cells in temporary tables."""
    conn = sqlite3.connect(setup.uri, uri=True, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 15000")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("CREATE TEMP TABLE export_accounts (id INTEGER PRIMARY KEY, part TEXT, tz TEXT)")
    conn.execute("CREATE TEMP TABLE export_contacts (id INTEGER PRIMARY KEY, part TEXT)")
    conn.executemany("INSERT INTO temp.export_accounts VALUES (?, ?, ?)", setup.accounts)
    conn.executemany("INSERT INTO temp.export_contacts VALUES (?, ?)", setup.contacts)
    return conn


def _batch(conn: sqlite3.Connection, setup: Setup, sql: str, args: list) -> tuple[bytes, int, str | None]:
    """One batch's lines, each with its terminator: (data, rows, error)."""
    try:
        data, rows, lines = conn.execute(sql, [setup.terminator, *args]).fetchone()
        if lines != rows:  # group_concat skips NULL: a row whose line could not be built
            raise ValueError(f"{rows - lines} of {rows} rows could not be formatted")
        data = data + setup.terminator.encode() if rows else b""
        return (recoded(data) if setup.recode else data), rows, None
    except Exception as exc:
        return b"", 0, f"{type(exc).__name__}: {exc}"


def main() -> None:
    priority = Priority()
    problem = priority.lower()
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    setup = Setup(*pickle.load(source))
    conn = _connect(setup)
    setup = setup._replace(accounts=[], contacts=[])  # (not needed any more)
    while True:
        try:
            sql, args = pickle.load(source)
        except EOFError:
            break
        data, rows, error = _batch(conn, setup, sql, args)
        problem = problem or priority.lower()
        send(sink, (data, rows, error, problem))
        problem = None


if __name__ == "__main__":
    main()
