"""API latency of the list page while the worker exports the large history, against the same
page with the worker idle: one request at a time, as a user clicking through the console."""
from __future__ import annotations

import time

from bench.db import Database
from bench.exports import request_export, wait_status
from bench.list_page import ListClients, timed
from bench.report import Figure, median, ms, percentile
from bench.world import GraphQL

FIRST = 100


def measure(clients: ListClients, exporter: GraphQL, db: Database, exports_dir, rounds: int) -> list[Figure]:
    loaded: list[float] = []
    for _ in range(rounds):
        pk = request_export(exporter, "CSV")
        wait_status(db, pk, ("RUNNING", "READY", "FAILED"))
        while True:
            loaded.append(timed(clients.graphql, FIRST))
            row = db.export(pk)
            if row["status"] != "RUNNING":
                break
        if row["file_name"]:
            (exports_dir / row["file_name"]).unlink(missing_ok=True)
        time.sleep(0.5)
    idle = [timed(clients.graphql, FIRST) for _ in range(len(loaded))]
    ratio = percentile(loaded, 99) / percentile(idle, 99)
    return [
        Figure(f"list page (first: {FIRST}) p99 during a large export", ms(percentile(loaded, 99)),
               f"{ms(percentile(idle, 99))} (idle)", ratio, "idle", "<= 2x", ratio <= 2,
               [f"{len(loaded)} requests each way over {rounds} exports; p50 {ms(median(loaded))} vs "
                f"{ms(median(idle))} idle"]),
    ]
