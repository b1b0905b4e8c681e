"""One Redis pub/sub connection per API process, fanned out in process to subscribers.

Pub/sub is at-most-once: a subscriber reads the database first, then listens, and re-reads on
each message (and every few seconds anyway), so a lost message only delays an update.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict

import redis.asyncio as aioredis

from services.jobs import CHANNEL_PREFIX

log = logging.getLogger("cxtalk.broadcast")


class Broadcaster:
    def __init__(self, redis_url: str | None):
        self.redis_url = redis_url
        self.queues: dict[str, set[asyncio.Queue]] = defaultdict(set)
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
    async def listen(self, channel: str):
        """A queue that gets an item whenever `channel` is published to."""
        queue: asyncio.Queue = asyncio.Queue(maxsize=16)
        self.queues[channel].add(queue)
        try:
            yield queue
        finally:
            self.queues[channel].discard(queue)
            if not self.queues[channel]:
                del self.queues[channel]

    def _deliver(self, channel: str) -> None:
        for queue in self.queues.get(channel, ()):
            if queue.full():  # a slow subscriber only needs to know "something changed"
                continue
            queue.put_nowait(channel)

    async def _listen_forever(self) -> None:
        while True:
            client = aioredis.from_url(self.redis_url, socket_connect_timeout=2, health_check_interval=10)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.psubscribe(f"{CHANNEL_PREFIX}*")
                    # after a reconnect anything may have been missed: wake every subscriber
                    for channel in list(self.queues):
                        self._deliver(channel)
                    async for message in pubsub.listen():
                        if message.get("type") == "pmessage":
                            channel = message["channel"]
                            self._deliver(channel.decode() if isinstance(channel, bytes) else channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("pub/sub connection lost (%s); reconnecting", exc)
                await asyncio.sleep(1)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()
