"""One Redis pub/sub connection per API process, fanned out in process to subscribers.

Pub/sub is at-most-once: the database is the truth. Each channel with subscribers in this
process has one `Feed`, which reads the row once (the `read` its subscribers gave) and hands the
result to every subscriber that was listening when the read started. It reads when a subscriber
joins (its current state), on every message, after a reconnect (anything may have been missed)
and every `recheck_seconds` anyway, so a lost message only delays an update. Reads of one feed
run one after another, so a subscriber never gets an older state after a newer one. What a
subscriber may see of the shared result is for the subscriber to decide (services/: the rule
applied to the row), not for the feed.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

from services.jobs import CHANNEL_PREFIX

log = logging.getLogger("cxtalk.broadcast")
RECHECK_SECONDS = 5.0  # pub/sub may drop a message: re-read the database at least this often


class ReadFailed:
    """Delivered instead of a state when the shared read raised (the database is briefly away)."""

    def __init__(self, error: Exception):
        self.error = error


class Inbox:
    """One subscriber's undelivered state: only the latest one matters."""

    _EMPTY = object()

    def __init__(self) -> None:
        self._latest: Any = self._EMPTY
        self._ready = asyncio.Event()

    def put(self, value: Any) -> None:
        self._latest = value
        self._ready.set()

    async def get(self) -> Any:
        """The latest state (or ReadFailed) delivered since the last get; waits for one."""
        await self._ready.wait()
        self._ready.clear()
        value, self._latest = self._latest, self._EMPTY
        return value


class Feed:
    """The subscribers of one channel in this process and the one read that serves them all."""

    def __init__(self, channel: str, read: Callable[[], Awaitable[Any]], recheck_seconds: float):
        self.channel, self.read, self.recheck_seconds = channel, read, recheck_seconds
        self.inboxes: set[Inbox] = set()
        self.wanted = asyncio.Event()  # read again as soon as possible
        self.task: asyncio.Task | None = None

    def join(self) -> Inbox:
        inbox = Inbox()
        self.inboxes.add(inbox)
        self.wanted.set()  # its current state comes from a read that starts after it joined
        if self.task is None:
            self.task = asyncio.create_task(self._run(), name=f"feed {self.channel}")
        return inbox

    def leave(self, inbox: Inbox) -> None:
        self.inboxes.discard(inbox)
        if not self.inboxes and self.task is not None:
            self.task.cancel()
            self.task = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.recheck_seconds):
                    await self.wanted.wait()
            self.wanted.clear()
            listening = list(self.inboxes)  # a subscriber that joins during the read gets the next one
            try:
                value = await self.read()
            except Exception as exc:  # keep the subscriptions; the next message or recheck reads again
                log.warning("shared read of %s failed (%s); retrying later", self.channel, exc)
                value = ReadFailed(exc)
            for inbox in listening:
                inbox.put(value)


class Broadcaster:
    def __init__(self, redis_url: str | None, recheck_seconds: float = RECHECK_SECONDS):
        self.redis_url = redis_url
        self.recheck_seconds = recheck_seconds
        self.feeds: dict[str, Feed] = {}
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        if self.redis_url and self.task is None:
            self.task = asyncio.create_task(self._listen_forever())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None

    @contextlib.asynccontextmanager
    async def watch(self, channel: str, read: Callable[[], Awaitable[Any]]):
        """An Inbox that gets `read()`'s result now and after every change of `channel`. `read`
        must not depend on the subscriber: the first subscriber's serves everyone on the channel."""
        feed = self.feeds.get(channel)
        if feed is None:
            feed = self.feeds[channel] = Feed(channel, read, self.recheck_seconds)
        inbox = feed.join()
        try:
            yield inbox
        finally:
            feed.leave(inbox)
            if not feed.inboxes and self.feeds.get(channel) is feed:
                del self.feeds[channel]

    def _changed(self, channel: str) -> None:
        feed = self.feeds.get(channel)
        if feed is not None:
            feed.wanted.set()

    async def _listen_forever(self) -> None:
        while True:
            client = aioredis.from_url(self.redis_url, socket_connect_timeout=2, health_check_interval=10)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.psubscribe(f"{CHANNEL_PREFIX}*")
                    # after a reconnect anything may have been missed: every feed reads again
                    for channel in list(self.feeds):
                        self._changed(channel)
                    async for message in pubsub.listen():
                        if message.get("type") == "pmessage":
                            channel = message["channel"]
                            self._changed(channel.decode() if isinstance(channel, bytes) else channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("pub/sub connection lost (%s); reconnecting", exc)
                await asyncio.sleep(1)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()
