"""Peak RSS of a fresh worker process exporting a small and a large history (VmHWM), and the
peak of the export's reader processes (sampled from /proc while the export runs)."""
from __future__ import annotations

import threading
from pathlib import Path

from bench.db import Database
from bench.exports import run_export
from bench.harness import Environment, log, peak_rss_kib
from bench.report import Figure, median, mib
from bench.world import GraphQL
from services import export_reader

READER = Path(export_reader.__file__).name.encode()


class ChildPeaks:
    """Samples the peak RSS of the children of a process (the export's reader processes)."""

    def __init__(self, pid: int, every: float = 0.02):
        self.pid, self.every = pid, every
        self.peaks: dict[int, int] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _children(self) -> list[int]:
        """Children that are reader processes (`python -I -S .../export_reader.py`), not a fork about to exec."""
        found = []
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            try:
                for child in (task / "children").read_text().split():
                    if READER in Path(f"/proc/{child}/cmdline").read_bytes():
                        found.append(int(child))
            except OSError:
                pass
        return found

    def _run(self) -> None:
        while not self.done.wait(self.every):
            try:
                for child in self._children():
                    try:
                        self.peaks[child] = max(self.peaks.get(child, 0), peak_rss_kib(child))
                    except (OSError, RuntimeError):
                        pass
            except OSError:
                return

    def __enter__(self) -> "ChildPeaks":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.thread.join()


def _one(env: Environment, db: Database, gql: GraphQL) -> tuple[int, int, int]:
    """(worker peak KiB, largest reader peak KiB, readers seen) for one export by a fresh worker."""
    worker = env.worker()
    try:
        with ChildPeaks(worker.pid) as children:
            run_export(gql, db, env.data_dir / "exports", "CSV")
        return peak_rss_kib(worker.pid), max(children.peaks.values(), default=0), len(children.peaks)
    finally:
        env.stop(worker)


def measure(env: Environment, db: Database, small: GraphQL, small_messages: int, large: GraphQL,
            large_messages: int, repeats: int) -> list[Figure]:
    results: dict[str, list[tuple[int, int, int]]] = {"small": [], "large": []}
    for i in range(repeats):
        results["small"].append(_one(env, db, small))
        results["large"].append(_one(env, db, large))
        log(f"memory run {i + 1}/{repeats}: small {results['small'][-1]}, large {results['large'][-1]} KiB")
    small_peak = median([r[0] for r in results["small"]])
    large_peak = median([r[0] for r in results["large"]])
    ratio = large_peak / small_peak
    readers = [f"reader processes' peak RSS each: {mib(median([r[1] for r in results['small']]))} "
               f"({small_messages:,}) vs {mib(median([r[1] for r in results['large']]))} ({large_messages:,})"]
    return [Figure(f"worker peak RSS, export {large_messages:,} vs {small_messages:,} msgs", mib(large_peak),
                   mib(small_peak), ratio, "", "<= 1.2x", ratio <= 1.2, readers)]
