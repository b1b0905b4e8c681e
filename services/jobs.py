"""Redis as a messenger: job queue (arq) and change notifications (pub/sub).

Redis may lose anything: the database rows are the truth. Enqueue and publish happen after the
commit, never block a request for long, and log instead of failing; the worker's reconciler
re-enqueues whatever Redis lost, and subscribers re-read the database.
"""
from __future__ import annotations

import asyncio
import logging
import os

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings

log = logging.getLogger("cxtalk.jobs")
CALL_TIMEOUT = 2.0  # seconds: a paused or unreachable Redis must not hang a request
CHANNEL_PREFIX = "cxtalk:"

_pool: ArqRedis | None = None


def redis_settings(url: str) -> RedisSettings:
    settings = RedisSettings.from_dsn(url)
    settings.conn_timeout = 1
    settings.conn_retries = 1
    settings.conn_retry_delay = 0
    return settings


async def connect(url: str | None) -> None:
    global _pool
    if not url:
        log.warning("REDIS_URL is not set: jobs wait for a worker's reconciler, notifications are off")
        return
    try:
        _pool = await asyncio.wait_for(create_pool(redis_settings(url)), timeout=5)
    except Exception as exc:  # start anyway: the database is the truth, Redis can come later
        log.error("Redis unreachable at start (%s); will retry on use", exc)
        _pool = ArqRedis.from_url(url, socket_timeout=CALL_TIMEOUT, socket_connect_timeout=1)


def use_pool(pool: ArqRedis) -> None:
    """The worker hands over the connection arq already made."""
    global _pool
    _pool = pool


async def close() -> None:
    global _pool
    if _pool is not None:
        await _pool.aclose()
        _pool = None


async def enqueue(function: str, *args, job_id: str | None = None) -> bool:
    if _pool is None:
        return False
    try:
        job = await asyncio.wait_for(_pool.enqueue_job(function, *args, _job_id=job_id), timeout=CALL_TIMEOUT)
        return job is not None
    except Exception as exc:
        log.warning("enqueue %s%s failed (%s); the reconciler will pick it up", function, args, exc)
        return False


def channel(topic: str, pk: int) -> str:
    return f"{CHANNEL_PREFIX}{topic}:{pk}"


async def publish(topic: str, pk: int) -> None:
    if _pool is None:
        return
    try:
        await asyncio.wait_for(_pool.publish(channel(topic, pk), "changed"), timeout=CALL_TIMEOUT)
    except Exception as exc:
        log.warning("publish %s:%s failed (%s); subscribers re-read on their own", topic, pk, exc)


def lease_seconds() -> float:
    return float(os.environ.get("JOB_LEASE_SECONDS", "30"))
