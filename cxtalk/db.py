"""Database configuration, migrations and the one transaction helper every write goes through."""
from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import OperationalError
from tortoise.transactions import in_transaction

T = TypeVar("T")

SQLITE_PRAGMAS = "busy_timeout=15000&synchronous=NORMAL"


def database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    data_dir = Path(os.environ.get("DATA_DIR", "./var")).resolve()
    return f"sqlite://{data_dir / 'cxtalk.sqlite3'}"


def _tortoise_db_url(url: str) -> str:
    if url.startswith("sqlite://"):
        path = url[len("sqlite://"):].split("?")[0]
        return f"sqlite://{path}?{SQLITE_PRAGMAS}"
    if url.startswith("postgresql://"):
        url = "postgres://" + url[len("postgresql://"):]
    if url.startswith("postgres://") and "maxsize=" not in url:
        url += ("&" if urlsplit(url).query else "?") + "minsize=1&maxsize=10"
    return url


def tortoise_config(url: str | None = None) -> dict:
    return {
        "connections": {"default": _tortoise_db_url(url or database_url())},
        "apps": {"models": {"models": ["models"], "migrations": "models.migrations",
                            "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }


# Read by the `tortoise` CLI (pyproject [tool.tortoise]) for makemigrations.
TORTOISE_ORM = tortoise_config()


def _ensure_sqlite_dir(url: str) -> None:
    if url.startswith("sqlite://") and ":memory:" not in url:
        Path(url[len("sqlite://"):].split("?")[0]).parent.mkdir(parents=True, exist_ok=True)


async def init_db(url: str | None = None) -> None:
    url = url or database_url()
    _ensure_sqlite_dir(url)
    await Tortoise.init(config=tortoise_config(url))


async def close_db() -> None:
    await Tortoise.close_connections()


async def migrate(url: str | None = None) -> None:
    """Apply the committed migrations (models/migrations) to the database."""
    from tortoise.migrations.api import migrate as migrate_api

    url = url or database_url()
    _ensure_sqlite_dir(url)
    try:
        await migrate_api(config=tortoise_config(url))
    finally:
        await Tortoise.close_connections()


def is_postgres(conn: BaseDBAsyncClient) -> bool:
    return conn.capabilities.dialect == "postgres"


def _placeholders(conn: BaseDBAsyncClient, sql: str) -> str:
    """Write raw SQL once with '?' placeholders; PostgreSQL wants $1, $2, ..."""
    if not is_postgres(conn):
        return sql
    parts = sql.split("?")
    return "".join(p + (f"${i}" if i < len(parts) else "") for i, p in enumerate(parts, start=1))


async def execute(conn: BaseDBAsyncClient, sql: str, *params) -> int:
    """Run one write; returns the number of rows it changed."""
    changed, _ = await conn.execute_query(_placeholders(conn, sql), list(params))
    return changed


async def fetch(conn: BaseDBAsyncClient, sql: str, *params) -> list:
    """Run one read; rows as the driver gives them (indexable by position)."""
    _, rows = await conn.execute_query(_placeholders(conn, sql), list(params))
    return list(rows)


def _is_retryable(exc: Exception) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "deadlock detected" in text or "could not serialize" in text


async def atomic(work: Callable[[BaseDBAsyncClient], Awaitable[T]], attempts: int = 6) -> T:
    """Run `work(conn)` in one transaction; retry it whole on lock contention or deadlock.

    Business errors raised by `work` roll the transaction back and propagate unchanged.
    """
    for attempt in range(attempts):
        try:
            async with in_transaction() as conn:
                return await work(conn)
        except OperationalError as exc:
            if attempt == attempts - 1 or not _is_retryable(exc):
                raise
            await asyncio.sleep(0.01 * 2**attempt)
    raise AssertionError("unreachable")
