"""Direct reads of the bench database (export rows, counts), synchronously, for SQLite or PostgreSQL."""
from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime
from pathlib import Path


class Database:
    """`rows(sql, *params)` with '?' placeholders on either database."""

    def __init__(self, database_url: str):
        self.url = database_url
        self.postgres = not database_url.startswith("sqlite://")
        self._sqlite: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pg = None

    @property
    def sqlite_path(self) -> Path:
        return Path(self.url[len("sqlite://"):].split("?")[0])

    def rows(self, sql: str, *params) -> list[tuple]:
        if not self.postgres:
            if self._sqlite is None:
                self._sqlite = sqlite3.connect(f"file:{self.sqlite_path}?mode=ro", uri=True, isolation_level=None)
                self._sqlite.execute("PRAGMA busy_timeout = 15000")
            return self._sqlite.execute(sql, params).fetchall()
        parts = sql.split("?")
        sql = "".join(p + (f"${i}" if i < len(parts) else "") for i, p in enumerate(parts, start=1))
        if self._pg is None:
            import asyncpg

            self._loop = asyncio.new_event_loop()
            self._pg = self._loop.run_until_complete(asyncpg.connect(self.url.replace("postgres://", "postgresql://", 1)))
        return [tuple(r) for r in self._loop.run_until_complete(self._pg.fetch(sql, *params))]

    def one(self, sql: str, *params):
        found = self.rows(sql, *params)
        return found[0] if found else None

    def export(self, pk: int) -> dict:
        row = self.one("SELECT status, row_count, created_at, started_at, finished_at, file_name, error"
                       " FROM history_exports WHERE id = ?", pk)
        keys = ("status", "row_count", "created_at", "started_at", "finished_at", "file_name", "error")
        out = dict(zip(keys, row))
        for key in ("created_at", "started_at", "finished_at"):
            if isinstance(out[key], str):
                out[key] = datetime.fromisoformat(out[key])
        return out

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        if self._pg is not None:
            self._loop.run_until_complete(self._pg.close())
            self._loop.close()
            self._pg = self._loop = None
