"""Real service processes for end-to-end and multi-process tests."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from cxtalk.child_process import ChildProcess, HttpChildProcess
from cxtalk.embedded_redis import free_port

BIN = Path(sys.executable).parent


def _log_path(args, log_dir: Path | None) -> Path:
    return (log_dir or Path(os.environ["DATA_DIR"])) / f"proc-{'-'.join(args[:1])}-{time.time_ns()}.log"


class ServiceProcess(ChildProcess):
    """`cxtalk <args>` as a child process with the test environment (same database, Redis, DATA_DIR)."""

    def __init__(self, *args: str, env: dict | None = None, log_dir: Path | None = None,
                 command: list[str] | None = None):
        super().__init__(command or [str(BIN / "cxtalk"), *args], {**os.environ, **(env or {})},
                         _log_path(args, log_dir))
        self.args = list(args)


class ApiServer(HttpChildProcess):
    def __init__(self, env: dict | None = None):
        port = free_port()
        args = ("serve", "--host", "127.0.0.1", "--port", str(port))
        super().__init__([str(BIN / "cxtalk"), *args], {**os.environ, **(env or {})}, _log_path(args, None), port)
        self.args = list(args)
