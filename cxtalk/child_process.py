"""Run a service (`cxtalk serve`, `cxtalk worker`, ...) as a child process: its own session, so a
signal reaches everything it started; its output in a log file; HTTP services ready once their
health route answers. Shared by the end-to-end tests and the benchmarks."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx


class ChildProcess:
    def __init__(self, command: list[str], env: dict, log_path: Path, cwd: Path | None = None):
        self.command, self.env, self.log_path, self.cwd = command, env, log_path, cwd
        self.process: subprocess.Popen | None = None

    def start(self) -> "ChildProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(self.command, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=True, cwd=self.cwd)
        return self

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int | None:
        """Signal the whole session, SIGKILL it after `timeout` seconds; the exit code."""
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
        self._log.close()
        return self.process.returncode


class HttpChildProcess(ChildProcess):
    """A child serving HTTP on 127.0.0.1:`port`, ready once `health_path` answers 200."""

    def __init__(self, command: list[str], env: dict, log_path: Path, port: int, health_path: str = "/healthz",
                 cwd: Path | None = None):
        super().__init__(command, env, log_path, cwd)
        self.port, self.health_path = port, health_path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> "HttpChildProcess":
        super().start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command[:2]} exited: {self.output()[-3000:]}")
            try:
                if httpx.get(self.url + self.health_path, timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.command[:2]} did not start: {self.output()[-3000:]}")
