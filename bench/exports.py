"""Running one export through the real API and worker, and reading how it went."""
from __future__ import annotations

import base64
import time
from pathlib import Path

from bench.db import Database
from bench.world import GraphQL

REQUEST = """mutation($input: RequestHistoryExportInput!) {
  requestHistoryExport(input: $input) { export { id status } errors { code } } }"""
FINAL = ("READY", "FAILED", "CANCELED", "EXPIRED")


def decode_pk(gid: str) -> int:
    return int(base64.urlsafe_b64decode(gid + "=" * (-len(gid) % 4)).decode().split(":")[1])


def request_export(gql: GraphQL, fmt: str = "CSV", encoding: str = "UTF8_BOM") -> int:
    return decode_pk(gql.mutate(REQUEST, {"format": fmt, "csvEncoding": encoding})["export"]["id"])


def wait_final(db: Database, pk: int, timeout: float = 900, interval: float = 0.02) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = db.export(pk)
        if row["status"] in FINAL:
            return row
        time.sleep(interval)
    raise TimeoutError(f"export {pk} not finished after {timeout} s")


def wait_status(db: Database, pk: int, statuses: tuple[str, ...], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = db.export(pk)
        if row["status"] in statuses:
            return row
        time.sleep(0.005)
    raise TimeoutError(f"export {pk} never reached {statuses}")


def run_export(gql: GraphQL, db: Database, exports_dir: Path, fmt: str = "CSV", encoding: str = "UTF8_BOM",
               keep_file: bool = False) -> dict:
    """Request, wait, check READY; the file is deleted afterwards (a million rows are ~100 MB)."""
    pk = request_export(gql, fmt, encoding)
    row = wait_final(db, pk)
    if row["status"] != "READY":
        raise RuntimeError(f"export {pk} ended {row['status']}: {row['error']}")
    row["pk"] = pk
    row["seconds"] = (row["finished_at"] - row["started_at"]).total_seconds()
    if not keep_file and row["file_name"]:
        (exports_dir / row["file_name"]).unlink(missing_ok=True)
    return row
