"""SQL statements per list request at page sizes 1, 10 and 100: the app runs in this process
(httpx's ASGI transport) and every statement Tortoise sends is counted from its query log."""
from __future__ import annotations

import asyncio
import logging

import httpx

from bench.report import Figure
from bench.world import LIST_PAGE

SIZES = (1, 10, 100)


class _Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


async def _counts(token: str) -> dict[int, int]:
    from server import create_app

    app = create_app()
    counter = _Counter()
    db_log = logging.getLogger("tortoise.db_client")
    level, propagate = db_log.level, db_log.propagate
    counts = {}
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
            async def page(first: int) -> dict:
                response = await client.post("/graphql", json={"query": LIST_PAGE, "variables": {"first": first}},
                                             headers={"Authorization": f"Bearer {token}"})
                body = response.json()
                if body.get("errors"):
                    raise RuntimeError(body["errors"])
                return body["data"]["windowAccounts"]

            db_log.addHandler(counter)
            db_log.setLevel(logging.DEBUG)
            db_log.propagate = False
            try:
                for first in SIZES:
                    await page(first)  # warm (nothing is cached across requests, but be fair)
                    counter.count = 0
                    data = await page(first)
                    if len(data["edges"]) != first:
                        raise RuntimeError(f"asked for {first} accounts, got {len(data['edges'])}")
                    counts[first] = counter.count
            finally:
                db_log.removeHandler(counter)
                db_log.setLevel(level)
                db_log.propagate = propagate
    return counts


def measure(token: str) -> list[Figure]:
    counts = asyncio.run(_counts(token))
    constant = len(set(counts.values())) == 1
    return [Figure("SQL statements per list request (first: 1 / 10 / 100)",
                   " / ".join(str(counts[n]) for n in SIZES), f"{counts[SIZES[0]]} (first: 1)",
                   counts[SIZES[-1]] / counts[SIZES[0]], "first: 1", "constant", constant)]
