"""Timing helpers and the BENCHMARKS.md writer: medians, spreads and same-run ratios."""

from __future__ import annotations

import os
import platform
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata


@dataclass(frozen=True)
class Measurement:
    """Several timings of one case."""

    case: str
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def spread(self) -> str:
        return f"{min(self.seconds):.4f}–{max(self.seconds):.4f}"


def measure(case: str, function: Callable[[], object], repeats: int) -> Measurement:
    """Time ``function`` ``repeats`` times after one warm-up call."""
    function()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - started)
    return Measurement(case, seconds)


def interleaved(cases: Sequence[tuple[str, Callable[[], object]]], repeats: int) -> list[Measurement]:
    """Time each case ``repeats`` times, alternating the cases within every repetition.

    Each case is called once to warm up. Repetition ``i`` runs the cases in order, the next
    one in reverse order (A B, B A, A B, ...), so a slow spell on a shared machine, or the
    cache one case leaves behind, falls on every case alike rather than on one block.
    """
    for _, function in cases:
        function()
    seconds: list[list[float]] = [[] for _ in cases]
    for repetition in range(repeats):
        order = range(len(cases)) if repetition % 2 == 0 else reversed(range(len(cases)))
        for index in order:
            started = time.perf_counter()
            cases[index][1]()
            seconds[index].append(time.perf_counter() - started)
    return [Measurement(name, timings) for (name, _), timings in zip(cases, seconds)]


def ratio(case: Measurement, baseline: Measurement) -> str:
    """The case's median over the baseline's, as the tables print it."""
    return f"{case.median / baseline.median:.2f}"


def compared(case: Measurement, baseline: Measurement, aim: float | None = None) -> str:
    """The median ratio, the range of the per-repetition ratios, and where it stands against ``aim``.

    The cases are interleaved, so repetition ``i`` of the case and of the baseline ran
    side by side: their ratio cancels what the machine's load did to both. The range of
    those paired ratios is the noise. A figure is *within noise* of the aim when the
    range straddles it: neither met nor missed on this run.
    """
    text = ratio(case, baseline)
    pairs = sorted(c / b for c, b in zip(case.seconds, baseline.seconds))
    if len(pairs) > 1:
        text += f" (paired {pairs[0]:.2f}–{pairs[-1]:.2f})"
    if aim is not None:
        if pairs[-1] <= aim:
            text += f"; meets ≤ {aim:g}"
        elif pairs[0] > aim:
            text += f"; misses ≤ {aim:g}"
        else:
            text += f"; within noise of ≤ {aim:g}"
    return text


@contextmanager
def load_sampled(every_s: float = 2.0) -> Iterator[list[float]]:
    """Sample the 1-minute load average every ``every_s`` seconds while the block runs."""
    samples = [os.getloadavg()[0]]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(every_s):
            samples.append(os.getloadavg()[0])

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        done.set()
        thread.join(timeout=every_s * 2)
        samples.append(os.getloadavg()[0])


def load_line(samples: list[float]) -> str:
    """How busy the machine was during one benchmark, for its section."""
    return (f"Machine load during this benchmark (1-minute load average on {os.cpu_count()} cores, "
            f"{len(samples)} samples): {min(samples):.1f}–{max(samples):.1f}, mean {statistics.fmean(samples):.1f}.")


def machine() -> str:
    """One line describing the machine and the versions measured."""
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in ("dagster", "pandas", "pandera", "networkx", "duckdb", "deltalake", "pyarrow", "moto"))
    return f"{platform.machine()} {platform.system()}, {os.cpu_count()} cores, Python {platform.python_version()}; {versions}"


def table(title: str, notes: str, rows: list[tuple[str, Measurement, str]]) -> str:
    """A markdown section: one row per case with median, spread, runs and ratio."""
    header = ("case", "median (s)", "spread (s)", "runs", "ratio")
    cells = [(case, f"{m.median:.4f}", m.spread, str(len(m.seconds)), ratio) for case, m, ratio in rows]
    return table_rows(title, notes, header, cells)


def table_rows(title: str, notes: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A markdown section with free-form columns."""
    lines = [f"## {title}", "", notes, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
