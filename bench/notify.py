"""Notification latency: export READY -> each subscriber of `historyExportUpdated` has the READY
message (each subscriber its own WebSocket, like browser tabs), against a bare Redis pub/sub round
trip with as many subscriber connections; and enqueue -> job start.

READY is timed from the row's finished_at (taken by the worker just before the final UPDATE) to
the moment the subscriber's socket returns the message. To have the subscriptions open before the
job runs, the worker is paused (SIGSTOP) while the export is requested and the subscribers
connect, then resumed (SIGCONT)."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import httpx
import redis.asyncio as aioredis
import websockets

from bench.db import Database
from bench.exports import REQUEST, decode_pk, wait_final
from bench.harness import log
from bench.report import Figure, median, ms

UPDATED = "subscription($id: ID!) { historyExportUpdated(id: $id) { id status progress rowCount } }"


async def _subscriber(url: str, token: str, export_gid: str, ready: list[float], opened: list) -> None:
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"], open_timeout=30,
                                  max_size=None) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if ack["type"] != "connection_ack":
            raise RuntimeError(ack)
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
            "query": UPDATED, "variables": {"id": export_gid}}}))
        first = True
        while True:
            raw = await asyncio.wait_for(ws.recv(), 120)
            received = time.time()
            message = json.loads(raw)
            if message["type"] == "ping":
                await ws.send(json.dumps({"type": "pong"}))
                continue
            if message["type"] != "next":
                raise RuntimeError(f"subscription ended without READY: {message}")
            status = message["payload"]["data"]["historyExportUpdated"]["status"]
            if first:
                first = False
                opened.append(status)
            if status == "READY":
                ready.append(received)
                return
            if status in ("FAILED", "CANCELED"):
                raise RuntimeError(f"export {status}")


async def _request(api_url: str, token: str) -> str:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.post(f"{api_url}/graphql", json={"query": REQUEST, "variables": {"input": {}}},
                                     headers={"Authorization": f"Bearer {token}"})
        payload = response.json()["data"]["requestHistoryExport"]
        if payload["errors"]:
            raise RuntimeError(payload["errors"])
        return payload["export"]["id"]


async def _ready_round(api_url: str, token: str, worker_pid: int, subscribers: int) -> tuple[int, list[float]]:
    ws_url = api_url.replace("http://", "ws://") + "/graphql"
    ready: list[float] = []
    opened: list = []
    os.kill(worker_pid, signal.SIGSTOP)
    try:
        # (the request times out if the worker was stopped inside a write: the round is retried)
        export_gid = await _request(api_url, token)
        tasks = [asyncio.create_task(_subscriber(ws_url, token, export_gid, ready, opened))
                 for _ in range(subscribers)]
        deadline = time.monotonic() + 60
        while len(opened) < subscribers:  # everyone has the current state: they are listening
            if time.monotonic() > deadline or any(t.done() for t in tasks):
                for t in tasks:
                    t.cancel()
                raise RuntimeError(f"only {len(opened)} of {subscribers} subscriptions opened")
            await asyncio.sleep(0.01)
    finally:
        os.kill(worker_pid, signal.SIGCONT)
    await asyncio.gather(*tasks)
    return decode_pk(export_gid), ready


async def _redis_round_trips(redis_url: str, subscribers: int, rounds: int) -> list[float]:
    channel = "bench:roundtrip"
    clients = [aioredis.from_url(redis_url) for _ in range(subscribers)]
    pubsubs = [c.pubsub() for c in clients]
    publisher = aioredis.from_url(redis_url)
    latencies: list[float] = []
    try:
        for p in pubsubs:
            await p.subscribe(channel)
            await p.get_message(timeout=5)  # the subscribe confirmation

        async def receive(p) -> None:
            while True:
                message = await p.get_message(ignore_subscribe_messages=True, timeout=10)
                if message is not None:
                    latencies.append(time.time() - float(message["data"]))
                    return

        for _ in range(rounds):
            tasks = [asyncio.create_task(receive(p)) for p in pubsubs]
            await asyncio.sleep(0.01)  # everyone is waiting on its socket
            await publisher.publish(channel, repr(time.time()))
            await asyncio.gather(*tasks)
    finally:
        for p in pubsubs:
            await p.aclose()
        for c in [*clients, publisher]:
            await c.aclose()
    return latencies


def _ready_latencies(api_url: str, token: str, worker_pid: int, db: Database, subscribers: int,
                     rounds: int) -> list[float]:
    latencies = []
    for _ in range(rounds):
        try:
            pk, received = asyncio.run(_ready_round(api_url, token, worker_pid, subscribers))
        except (httpx.TimeoutException, RuntimeError) as exc:
            log(f"notify round failed ({exc!r:.200}); once more")
            time.sleep(1)
            pk, received = asyncio.run(_ready_round(api_url, token, worker_pid, subscribers))
        finished = wait_final(db, pk)["finished_at"].timestamp()
        latencies += [t - finished for t in received]
    return latencies


def _job_starts(gql_post, db: Database, rounds: int) -> list[float]:
    starts = []
    for _ in range(rounds):
        pk = decode_pk(gql_post())
        row = wait_final(db, pk)
        starts.append((row["started_at"] - row["created_at"]).total_seconds())
        time.sleep(0.05)
    return starts


def measure(api_url: str, token: str, worker_pid: int, redis_url: str, db: Database, rounds: int) -> list[Figure]:
    figures = []
    for subscribers, n in ((1, rounds), (100, max(3, rounds // 3))):
        ready = _ready_latencies(api_url, token, worker_pid, db, subscribers, n)
        bare = asyncio.run(_redis_round_trips(redis_url, subscribers, n * 3))
        log(f"notify {subscribers} subscribers: READY p50 {median(ready) * 1000:.1f} ms, "
            f"redis p50 {median(bare) * 1000:.2f} ms")
        ratio = median(ready) / median(bare)
        figures.append(Figure(f"export READY -> subscriber, {subscribers} subscriber(s), p50", ms(median(ready)),
                              f"{ms(median(bare))} (bare Redis pub/sub)", ratio, "Redis", "<= 5x", ratio <= 5,
                              [f"{len(ready)} deliveries; p90 {ms(sorted(ready)[int(len(ready) * 0.9) - 1])}"]))

    def post() -> str:
        return asyncio.run(_request(api_url, token))

    starts = _job_starts(post, db, rounds)
    figures.append(Figure("enqueue -> job start, p50", ms(median(starts)), "-", None, "", "<= 50 ms",
                          median(starts) <= 0.05, [f"{len(starts)} jobs, max {ms(max(starts))}; "
                                                   "from the export row's created_at to its started_at"]))
    return figures
