"""The bench's world: a throw-away DATA_DIR (own SQLite file, or a fresh database on the
PostgreSQL server of BENCH_DATABASE_URL), a private Redis, and the real `cxtalk` processes."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from cxtalk.child_process import ChildProcess, HttpChildProcess
from cxtalk.embedded_redis import EmbeddedRedis, free_port

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Service(ChildProcess):
    """`cxtalk <args>` (or any command) as a child process, its output in `log_dir`."""

    def __init__(self, name: str, command: list[str], env: dict, log_dir: Path):
        super().__init__(command, env, log_dir / f"{name}-{time.time_ns()}.log", cwd=ROOT)
        self.name = name


class HttpService(HttpChildProcess):
    """A process serving HTTP on a free port, ready once `health_path` answers 200."""

    def __init__(self, name: str, command: list[str], env: dict, log_dir: Path, port: int,
                 health_path: str = "/healthz"):
        super().__init__(command, env, log_dir / f"{name}-{time.time_ns()}.log", port, health_path, cwd=ROOT)
        self.name = name

    def start(self, timeout: float = 60) -> "HttpService":
        return super().start(timeout)


def peak_rss_kib(pid: int) -> int:
    """VmHWM (peak resident set) of a running process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc status")


class PostgresDatabase:
    """A fresh database on the server of `server_url`, dropped at the end."""

    def __init__(self, server_url: str):
        parts = urlsplit(server_url)
        self.name = f"cxtalk_bench_{secrets.token_hex(4)}"
        self.server_url = server_url
        self.url = urlunsplit((parts.scheme, parts.netloc, f"/{self.name}", "", ""))
        self.admin_url = urlunsplit(("postgresql", parts.netloc, parts.path or "/postgres", "", ""))

    def _admin(self, sql: str) -> None:
        import asyncio

        import asyncpg

        async def run():
            conn = await asyncpg.connect(self.admin_url)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        asyncio.run(run())

    def create(self) -> "PostgresDatabase":
        self._admin(f'CREATE DATABASE "{self.name}"')
        return self

    def drop(self) -> None:
        try:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        except Exception as exc:  # report, do not hide the bench's own result
            log(f"could not drop {self.name}: {exc}")

    def psql_args(self) -> list[str]:
        parts = urlsplit(self.url)
        return ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", parts.hostname or "127.0.0.1",
                "-p", str(parts.port or 5432), "-U", parts.username or "postgres", "-d", self.name]


class Environment:
    """DATA_DIR, database, Redis and the processes of one bench run; `close()` stops everything."""

    def __init__(self, postgres_server: str | None = None, keep: bool = False):
        self.root = Path(tempfile.mkdtemp(prefix="cxtalk-bench-"))
        self.data_dir = self.root / "data"
        self.keep = keep
        self.services: list[Service] = []
        self.postgres = PostgresDatabase(postgres_server) if postgres_server else None
        self.redis = EmbeddedRedis(self.root / "redis")
        self.env: dict[str, str] = {}

    @property
    def is_postgres(self) -> bool:
        return self.postgres is not None

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "cxtalk.sqlite3"

    def open(self) -> "Environment":
        self.data_dir.mkdir(parents=True)
        self.redis.start()
        if self.postgres:
            self.postgres.create()
            database_url = self.postgres.url
        else:
            database_url = f"sqlite://{self.sqlite_path}"
        self.env = {
            **os.environ,
            "DATA_DIR": str(self.data_dir), "DATABASE_URL": database_url, "REDIS_URL": self.redis.url,
            "SECRET_KEY": "bench-secret-key", "PUBLIC_BASE_URL": "http://bench.example", "LOG_LEVEL": "WARNING",
            "RATE_LIMIT_PER_SECOND": "0",  # the bench is one client sending as fast as it can
        }
        # the bench process itself (in-process measurements, settings) sees the same world
        os.environ.update({k: self.env[k] for k in ("DATA_DIR", "DATABASE_URL", "REDIS_URL", "SECRET_KEY",
                                                   "PUBLIC_BASE_URL", "RATE_LIMIT_PER_SECOND")})
        from cxtalk.config import get_settings

        get_settings.cache_clear()
        self.cxtalk("migrate")
        return self

    def cxtalk(self, *args: str, timeout: float = 600) -> str:
        done = subprocess.run([str(BIN / "cxtalk"), *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, cwd=ROOT)
        if done.returncode != 0:
            raise RuntimeError(f"cxtalk {' '.join(args)} failed ({done.returncode}): {done.stderr[-3000:]}")
        return done.stdout

    def cxtalk_json(self, *args: str) -> dict:
        return json.loads(self.cxtalk(*args).strip().splitlines()[-1])

    def _track(self, service: Service) -> Service:
        self.services.append(service)
        return service

    def api(self, env: dict | None = None) -> HttpService:
        port = free_port()
        return self._track(HttpService(
            "api", [str(BIN / "cxtalk"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            {**self.env, **(env or {})}, self.root / "logs", port)).start()

    def worker(self, env: dict | None = None) -> Service:
        return self._track(Service("worker", [str(BIN / "cxtalk"), "worker"], {**self.env, **(env or {})},
                                   self.root / "logs")).start()

    def plain_api(self) -> HttpService:
        port = free_port()
        return self._track(HttpService(
            "plain", [str(BIN / "python"), "-m", "bench.plain_app", "--port", str(port)], self.env,
            self.root / "logs", port)).start()

    def stop(self, service: Service) -> None:
        service.stop()
        if service in self.services:
            self.services.remove(service)

    def close(self) -> None:
        for service in reversed(self.services):
            service.stop()
        self.services.clear()
        self.redis.stop()
        if self.postgres:
            self.postgres.drop()
        if self.keep:
            log(f"kept {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "Environment":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()
