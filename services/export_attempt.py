"""One attempt at writing an export file: what the SQLite and PostgreSQL paths need to know
about it, how they report progress, and how they learn that they must stop.

Heartbeats (lease, progress, cancellation) go to the event loop after a batch once
HEARTBEAT_EVERY seconds have passed (and after the first batch); the export does not wait for
them: each batch looks at the previous heartbeat's answer.
"""
from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Awaitable, Callable

from models import HistoryExport
from services.export_reader import NICENESS

HEARTBEAT_EVERY = 0.25  # seconds between heartbeats (each also publishes progress to subscribers)


class Stopped(Exception):
    """The export was canceled or taken over (a heartbeat said so), or the job was cancelled."""


@dataclass
class Attempt:
    export: HistoryExport
    number: int
    total: int  # rows to export

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


class Heartbeats:
    """Sends heartbeats from the export's threads or its event loop without waiting for them.
    `send(progress)` is the coroutine that renews the lease: False once the export is gone."""

    def __init__(self, send: Callable[[float], Awaitable[bool]], total: int):
        self.send, self.total = send, total
        self.loop = asyncio.get_running_loop()
        self.pending: Future | None = None
        self.last = 0.0
        self.done = 0

    def after(self, rows: int) -> None:
        """After each batch written (raises Stopped when an earlier heartbeat found the export gone)."""
        self.done += rows
        self._check(wait=False)
        now = time.monotonic()
        if self.pending is None and self.done and (self.last == 0.0 or now - self.last >= HEARTBEAT_EVERY):
            self.last = now
            progress = min(self.done / self.total, 0.999) if self.total else 0.999
            self.pending = asyncio.run_coroutine_threadsafe(self.send(progress), self.loop)

    def finish(self) -> None:
        """In a thread, after the last batch: wait for the last heartbeat's answer."""
        self._check(wait=True)

    async def finished(self) -> None:
        """On the event loop, after the last batch: the same."""
        await self.settled()
        self._check(wait=True)

    async def settled(self) -> None:
        """Wait for the heartbeat in flight, whatever its outcome."""
        if self.pending is not None:
            await asyncio.gather(asyncio.wrap_future(self.pending), return_exceptions=True)

    def _check(self, wait: bool) -> None:
        if self.pending is None or not (wait or self.pending.done()):
            return
        ours = self.pending.result()  # an exception (database gone...) fails the export
        self.pending = None
        if not ours:
            raise Stopped()


def lower_thread_priority() -> None:
    """The calling thread yields the CPU to the API and the event loop (Linux: nice is per thread)."""
    if sys.platform.startswith("linux"):  # elsewhere this would lower the whole process
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICENESS)
        except OSError:
            pass
