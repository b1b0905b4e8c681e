"""The window-account list page: GraphQL against a plain Starlette endpoint with the same SQL and
byte-identical JSON (bench/plain_app.py), at 100 and 10 rows; requests alternate between them."""
from __future__ import annotations

import time

import httpx

from bench.report import Figure, median, ms
from bench.world import LIST_PAGE


class ListClients:
    def __init__(self, api_url: str, plain_url: str, token: str):
        headers = {"Authorization": f"Bearer {token}"}
        self.api = httpx.Client(base_url=api_url, headers=headers, timeout=60)
        self.plain = httpx.Client(base_url=plain_url, headers=headers, timeout=60)

    def graphql(self, first: int) -> bytes:
        response = self.api.post("/graphql", json={"query": LIST_PAGE, "variables": {"first": first}})
        response.raise_for_status()
        return response.content

    def baseline(self, first: int) -> bytes:
        response = self.plain.post("/list", json={"first": first})
        response.raise_for_status()
        return response.content

    def close(self) -> None:
        self.api.close()
        self.plain.close()


def timed(call, *args) -> float:
    start = time.perf_counter()
    call(*args)
    return time.perf_counter() - start


def measure(clients: ListClients, repeats: int) -> list[Figure]:
    identical = {n: clients.graphql(n) == clients.baseline(n) for n in (10, 100)}
    if b'"errors"' in clients.graphql(100):
        raise RuntimeError(f"list page failed: {clients.graphql(100)[:500]!r}")
    for _ in range(5):  # warm up both servers
        clients.graphql(100), clients.baseline(100), clients.graphql(10), clients.baseline(10)
    samples: dict[str, list[float]] = {"g100": [], "p100": [], "g10": [], "p10": []}
    for _ in range(repeats):
        samples["g100"].append(timed(clients.graphql, 100))
        samples["p100"].append(timed(clients.baseline, 100))
        samples["g10"].append(timed(clients.graphql, 10))
        samples["p10"].append(timed(clients.baseline, 10))
    m = {k: median(v) for k, v in samples.items()}
    same = "byte-identical" if identical[100] and identical[10] else "NOT byte-identical"
    return [
        Figure("windowAccounts(first: 100) + product, responders, settings", ms(m["g100"]),
               f"{ms(m['p100'])} (plain Starlette, {same})", m["g100"] / m["p100"], "plain", "<= 3x",
               m["g100"] / m["p100"] <= 3 and identical[100],
               [f"{repeats} requests each, medians; JSON {same} with the baseline's"]),
        Figure("same page, 10 rows (GraphQL vs plain)", ms(m["g10"]), ms(m["p10"]), m["g10"] / m["p10"], "plain",
               "(info)", None),
        Figure("same page, 100 vs 10 rows (GraphQL)", ms(m["g100"]), ms(m["g10"]), m["g100"] / m["g10"], "10 rows",
               "(info)", None, [f"plain endpoint: 100 vs 10 rows = {m['p100'] / m['p10']:.2f}x"]),
    ]
