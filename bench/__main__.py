"""`make bench` / `python -m bench`: every figure beside its baseline measured in the same run.

    python -m bench                      # SQLite, 1,000,000 messages (about 5 minutes on 2 cores)
    python -m bench --quick              # 100,000 messages, fewer repetitions
    BENCH_MESSAGES=300000 python -m bench
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python -m bench
                                         # also on PostgreSQL (a fresh database is created there
                                         # and dropped afterwards)
    python -m bench --start-postgres     # also on a throw-away PostgreSQL (scripts/start-postgres.sh)
    python -m bench --only export,list   # some benchmarks only

Each database gets a throw-away DATA_DIR with its own SQLite file (or a fresh PostgreSQL
database), a private Redis, `cxtalk create-domain` + `cxtalk seed-demo` data, and real
`cxtalk serve` / `cxtalk worker` processes; everything is stopped at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import api_under_export, export_memory, export_speed, list_page, notify, sql_count
from bench.db import Database
from bench.exports import decode_pk
from bench.harness import ROOT, Environment, log
from bench.report import Figure, table
from bench.world import GraphQL, build_list_domain, seed_history

BENCHMARKS = ("export", "memory", "list", "sql", "notify", "load")
SMALL_HISTORY = 10_000


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (f"{platform.node()}: {os.cpu_count()} x {cpu}{memory}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")


def run_suite(args, postgres_server: str | None) -> list[Figure]:
    quick = args.quick
    messages = args.messages
    figures: list[Figure] = []
    with Environment(postgres_server, keep=args.keep) as env:
        started = time.monotonic()
        api = env.api()
        operator = env.cxtalk_json("create-operator-token")["operatorToken"]
        listing = build_list_domain(env, api.url, operator)
        large = seed_history(env, "History", messages)
        small = seed_history(env, "Small", SMALL_HISTORY) if "memory" in args.only else None
        log(f"data ready in {time.monotonic() - started:.0f} s ({messages:,} messages)")
        worker = env.worker()
        db = Database(env.env["DATABASE_URL"])
        large_gql = GraphQL(api.url, large.admin_token)
        try:
            if "export" in args.only:
                figures += export_speed.measure(env, db, large_gql, decode_pk(large.gid), messages,
                                                repeats=2 if quick else 5)
            if "list" in args.only or "load" in args.only:
                clients = list_page.ListClients(api.url, env.plain_api().url, listing.admin_token)
                if "list" in args.only:
                    figures += list_page.measure(clients, repeats=15 if quick else 40)
                if "load" in args.only:
                    figures += api_under_export.measure(clients, large_gql, db, env.data_dir / "exports",
                                                        rounds=1 if quick else 3)
                clients.close()
            if "sql" in args.only:
                figures += sql_count.measure(listing.admin_token)
            if "notify" in args.only:
                figures += notify.measure(api.url, listing.admin_token, worker.pid, env.redis.url, db,
                                          rounds=4 if quick else 10)
            if "memory" in args.only:
                env.stop(worker)  # fresh workers, one per export
                figures += export_memory.measure(env, db, GraphQL(api.url, small.admin_token), SMALL_HISTORY,
                                                 large_gql, messages, repeats=1 if quick else 2)
        finally:
            large_gql.close()
            db.close()
    return figures


class ThrowawayPostgres:
    def __init__(self):
        from cxtalk.embedded_redis import free_port

        self.dir = Path(tempfile.mkdtemp(prefix="cxtalk-bench-pg-", dir="/tmp"))
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.script = ROOT / "scripts" / "start-postgres.sh"

    def start(self) -> str:
        url = subprocess.run(["bash", str(self.script), str(self.dir), str(self.port)], check=True,
                             capture_output=True, text=True).stdout.strip()
        return url

    def stop(self) -> None:
        subprocess.run(["bash", str(self.script), "stop", str(self.dir)], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100,000 messages and fewer repetitions")
    parser.add_argument("--messages", type=int, help="size of the large history (default 1,000,000; "
                                                      "env BENCH_MESSAGES)")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help=f"comma-separated: {', '.join(BENCHMARKS)}")
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"),
                        help="default: sqlite, and postgres too when BENCH_DATABASE_URL or --start-postgres is given")
    parser.add_argument("--start-postgres", action="store_true", help="start a throw-away PostgreSQL for the run")
    parser.add_argument("--keep", action="store_true", help="keep the throw-away DATA_DIR (logs) afterwards")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    args.only = {b.strip() for b in args.only.split(",") if b.strip()}
    unknown = args.only - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    args.messages = args.messages or int(os.environ.get("BENCH_MESSAGES") or (100_000 if args.quick else 1_000_000))

    postgres_server = os.environ.get("BENCH_DATABASE_URL")
    throwaway = ThrowawayPostgres() if args.start_postgres else None
    try:
        if throwaway:
            postgres_server = throwaway.start()
        database = args.database or ("both" if postgres_server else "sqlite")
        if database != "sqlite" and not postgres_server:
            parser.error("PostgreSQL needs BENCH_DATABASE_URL or --start-postgres")
        results, loads = {}, {}
        for name in (["sqlite"] if database == "sqlite" else ["postgres"] if database == "postgres"
                     else ["sqlite", "postgres"]):
            log(f"--- {name} ---")
            before = os.getloadavg()[0]
            results[name] = run_suite(args, postgres_server if name == "postgres" else None)
            loads[name] = (before, os.getloadavg()[0])
    finally:
        if throwaway:
            throwaway.stop()
    where = machine()
    print()
    print(f"Machine: {where}")
    for name, figures in results.items():
        print()
        print(table(figures, f"{name}, {args.messages:,} messages (medians of repeated runs in this run; "
                             f"load average {loads[name][0]:.1f} before, {loads[name][1]:.1f} after)"))
    if args.json:
        args.json.write_text(json.dumps({"machine": where, "messages": args.messages, "load": loads, "results": {
            name: [f.__dict__ | {"verdict": f.verdict} for f in figures] for name, figures in results.items()}},
            ensure_ascii=False, indent=2))
    return 0  # a report, not a gate: the figures say which targets were met


if __name__ == "__main__":
    sys.exit(main())
