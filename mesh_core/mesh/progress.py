"""Live progress and the journey summary of ``mesh run``: rich on a terminal, plain lines otherwise."""

from __future__ import annotations

import re
import threading
from typing import TextIO

from mesh_core.mesh.run import PortRun

_MARKS = {"published": "ok", "failed": "FAILED", "skipped": "skipped"}
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Dagster's console log prefix: time - dagster - level - job - run id - [pid -] [step -] [EVENT -]
_DAGSTER_PREFIX = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} - dagster - \w+ - \S+ - [0-9a-f-]{36} - (\d+ - )?(\S+ - )?([A-Z_]+ - )?"
)
_ACTIVITY_WIDTH = 70


class LoadProgress:
    """A transient spinner on stderr while manifests load in location subprocesses; nothing when not live."""

    def __init__(self, live: bool) -> None:
        self.live = live
        self.progress = None
        self.pending: list[str] = []

    def start(self, names: list[str]) -> None:
        """Show the locations about to load."""
        if not self.live:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.pending = list(names)
        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=Console(stderr=True), transient=True,
        )
        self.task = self.progress.add_task(self._description(), total=len(names))
        self.progress.start()

    def loaded(self, name: str) -> None:
        """Count one location as loaded."""
        if self.progress is None:
            return
        self.pending.remove(name)
        self.progress.update(self.task, advance=1, description=self._description())

    def close(self) -> None:
        """Remove the spinner."""
        if self.progress is not None:
            self.progress.stop()

    def _description(self) -> str:
        return f"loading manifests: {', '.join(self.pending)}" if self.pending else "manifests loaded"


class PlainProgress:
    """One line per stage start and per port outcome, for logs and CI."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def stage(self, number: int, total: int, ready: list[PortRun]) -> None:
        names = ", ".join(run.port_id for run in ready) or "nothing to run"
        print(f"[stage {number}/{total}] {names}", file=self.stream, flush=True)

    def port(self, run: PortRun) -> None:
        print(f"  {run.port_id}: {_MARKS.get(run.status, run.status)}{_detail(run)}", file=self.stream, flush=True)

    def activity(self, location: str, line: str) -> None:
        """Logs stay quiet between outcomes: a location's own output is not repeated."""

    def close(self) -> None:
        """Nothing to tear down."""


class RichProgress:
    """A live progress bar over every port of the run, and a line per running location with its latest output."""

    def __init__(self, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
        )
        self.task = self.progress.add_task("starting", total=total)
        self.activities: dict[str, object] = {}
        self.lock = threading.Lock()  # lines arrive from each location's output-reading threads
        self.progress.start()

    def activity(self, location: str, line: str) -> None:
        """Show what a running location last printed (a Dagster step event, a dbt model), cropped."""
        text = activity_text(line)
        if not text:
            return
        with self.lock:
            if location not in self.activities:
                self.activities[location] = self.progress.add_task("", total=None)
            self.progress.update(self.activities[location], description=f"  {location}: {text}")

    def stage(self, number: int, total: int, ready: list[PortRun]) -> None:
        names = ", ".join(run.port_id for run in ready) or "nothing to run"
        self.progress.update(self.task, description=f"stage {number}/{total}: {names}")

    def port(self, run: PortRun) -> None:
        with self.lock:
            if run.location in self.activities:
                self.progress.remove_task(self.activities.pop(run.location))
        self.progress.console.print(f"{run.port_id}: {_MARKS.get(run.status, run.status)}{_detail(run)}")
        self.progress.advance(self.task)

    def close(self) -> None:
        self.progress.stop()


def journey_table(runs: list[PortRun]) -> str:
    """The summary: per port, status, duration, rows, snapshot id and checks."""
    header = ("port", "status", "duration", "rows", "snapshot", "checks")
    rows = [header] + [
        (
            run.port_id,
            run.status,
            f"{run.duration_s:.2f}s" if run.duration_s is not None else "-",
            str(run.rows) if run.rows is not None else "-",
            run.snapshot_id or "-",
            ", ".join(f"{name} {'passed' if ok else 'FAILED'}" for name, ok in sorted(run.checks.items())) or "-",
        )
        for run in runs
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    for run in runs:
        if run.error and run.status != "published":
            lines.append(f"{run.port_id}: {run.error}")
    counts = {status: sum(run.status == status for run in runs) for status in ("published", "failed", "skipped")}
    lines.append(f"{counts['published']} published, {counts['failed']} failed, {counts['skipped']} skipped")
    return "\n".join(lines)


def activity_text(line: str) -> str:
    """One line of a location's output as a short activity: colours and Dagster's log prefix removed."""
    text = _DAGSTER_PREFIX.sub("", _ANSI.sub("", line)).strip()
    return text if len(text) <= _ACTIVITY_WIDTH else text[: _ACTIVITY_WIDTH - 1] + "…"


def _detail(run: PortRun) -> str:
    if run.status == "published":
        return f" ({run.duration_s or 0:.2f}s, {run.rows} rows, snapshot {run.snapshot_id})"
    return f" ({run.error})" if run.error else ""
