"""Export speed: the job (request -> READY, timed by the worker's own started_at / finished_at)
against the database's command-line client exporting the same query to a CSV file
(`sqlite3 -csv`, or `psql \\copy ... (FORMAT csv)`), alternated run by run."""
from __future__ import annotations

import subprocess
import time

from bench.db import Database
from bench.exports import run_export
from bench.harness import Environment, log
from bench.report import Figure, median, secs
from bench.world import GraphQL
from services.export_reader import Priority

# The export's rows without its formatting (the CLI cannot convert to each account's zone or
# guard formulas): same joins, filter and order, same eight columns.
QUERY = ("SELECT a.handle AS account_handle, a.name AS account_name, c.name AS customer_name, c.channel,"
         " m.sent_at, m.sender_type, m.sender_name, m.content FROM messages m"
         " JOIN window_accounts a ON a.id = m.account_id JOIN contacts c ON c.id = m.contact_id"
         " WHERE m.domain_id = {domain} AND m.id <= {watermark} ORDER BY m.sent_at, m.id")


def _lower_priority() -> None:
    """In the child: the export readers' priority (nice, and their own autogroup's nice)."""
    Priority().lower_waiting()


def cli_seconds(env: Environment, query: str) -> float:
    """Wall time of the client exporting `query` to a file. It runs at the export readers'
    priority (nice and autogroup, see services/export_reader.py), so that on a shared machine both
    compete alike with whatever else runs."""
    out = env.root / "cli-export.csv"
    if env.is_postgres:
        command = [*env.postgres.psql_args(), "-c", f"\\copy ({query}) TO '{out}' WITH (FORMAT csv, HEADER)"]
    else:
        command = ["sqlite3", "-readonly", "-csv", "-header", str(env.sqlite_path), query]
    start = time.perf_counter()
    with open(out, "wb") as sink:
        subprocess.run(command, stdout=sink, check=True, env=env.env, start_new_session=True,
                       preexec_fn=_lower_priority)
    elapsed = time.perf_counter() - start
    out.unlink()
    return elapsed


def measure(env: Environment, db: Database, gql: GraphQL, domain_pk: int, messages: int, repeats: int) -> list[Figure]:
    watermark = db.one("SELECT MAX(id) FROM messages WHERE domain_id = ?", domain_pk)[0]
    query = QUERY.format(domain=domain_pk, watermark=watermark)
    cli = "psql \\copy" if env.is_postgres else "sqlite3 -csv"
    exports_dir = env.data_dir / "exports"
    times: dict[str, list[float]] = {"cli": [], "CSV": [], "JSONL": [], "CP932": []}
    for i in range(repeats):
        for key, fmt, encoding in (("CSV", "CSV", "UTF8_BOM"), ("JSONL", "JSONL", "UTF8_BOM"),
                                   ("CP932", "CSV", "CP932")):
            if key == "CP932" and i % 2:  # informative only: half as many runs
                continue
            row = run_export(gql, db, exports_dir, fmt, encoding)
            if row["row_count"] != messages:
                raise RuntimeError(f"{key} export wrote {row['row_count']} rows, expected {messages}")
            times[key].append(row["seconds"])
        times["cli"].append(cli_seconds(env, query))
        log(f"export run {i + 1}/{repeats}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items() if v))
    base = median(times["cli"])
    figures = []
    for key, label, target in (("CSV", "CSV (UTF-8 BOM)", 0.8), ("JSONL", "JSONL", None), ("CP932", "CSV (CP932)", None)):
        value = median(times[key])
        ratio = base / value
        figures.append(Figure(
            f"export {messages:,} msgs, {label}", secs(value), f"{secs(base)} ({cli})", ratio, "CLI speed",
            f">= {target}x" if target else "(info)", None if target is None else ratio >= target,
            [f"{len(times[key])} runs: " + ", ".join(f"{t:.2f}" for t in times[key]) + " s; "
             + f"{cli}: " + ", ".join(f"{t:.2f}" for t in times["cli"]) + " s"] if key == "CSV" else []))
    return figures
