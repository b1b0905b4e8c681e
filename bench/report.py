"""Figures, statistics and the printed table."""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field


def median(values) -> float:
    return statistics.median(values)


def percentile(values, p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of at least one value."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class Figure:
    """One measured figure beside its baseline from the same run.

    `ratio` is what the target is about (its meaning is in `ratio_meaning`); `met` is None when
    the figure has no target (reported for information)."""

    name: str
    value: str
    baseline: str
    ratio: float | None
    ratio_meaning: str
    target: str
    met: bool | None
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return "-" if self.met is None else ("yes" if self.met else "NO")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def secs(seconds: float) -> str:
    return f"{seconds:.2f} s"


def mib(kib: float) -> str:
    return f"{kib / 1024:.0f} MiB"


def table(figures: list[Figure], title: str) -> str:
    headers = ("figure", "value", "baseline", "ratio", "target", "met?")
    rows = [(f.name, f.value, f.baseline,
             "-" if f.ratio is None else f"{f.ratio:.2f}x {f.ratio_meaning}".strip(), f.target, f.verdict)
            for f in figures]
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    out = [title, "", line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)]
    notes = [f"- {f.name}: {n}" for f in figures for n in f.notes]
    if notes:
        out += ["", "Notes:", *notes]
    return "\n".join(out)
