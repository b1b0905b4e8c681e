"""Real service processes for end-to-end and multi-process tests."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from cxtalk.embedded_redis import free_port

BIN = Path(sys.executable).parent


class ServiceProcess:
    """`cxtalk <args>` as a child process with the test environment (same database, Redis, DATA_DIR)."""

    def __init__(self, *args: str, env: dict | None = None, log_dir: Path | None = None,
                 command: list[str] | None = None):
        self.args = list(args)
        self.command = command or [str(BIN / "cxtalk"), *args]
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen | None = None
        self.log_path = (log_dir or Path(os.environ["DATA_DIR"])) / f"proc-{'-'.join(args[:1])}-{time.time_ns()}.log"

    def start(self) -> "ServiceProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(self.command, env=self.env, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, sig)
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            except ProcessLookupError:
                pass
        self.log.close()
        return self.process.returncode


class ApiServer(ServiceProcess):
    def __init__(self, env: dict | None = None):
        self.port = free_port()
        super().__init__("serve", "--host", "127.0.0.1", "--port", str(self.port), env=env)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> "ApiServer":
        super().start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.output()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start: {self.output()[-3000:]}")
