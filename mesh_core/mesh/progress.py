"""Live progress and the journey summary of ``mesh run``: rich on a terminal, plain lines otherwise."""

from __future__ import annotations

from typing import TextIO

from mesh_core.mesh.run import PortRun

_MARKS = {"published": "ok", "failed": "FAILED", "skipped": "skipped"}


class PlainProgress:
    """One line per stage start and per port outcome, for logs and CI."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def stage(self, number: int, total: int, ready: list[PortRun]) -> None:
        names = ", ".join(run.port_id for run in ready) or "nothing to run"
        print(f"[stage {number}/{total}] {names}", file=self.stream, flush=True)

    def port(self, run: PortRun) -> None:
        print(f"  {run.port_id}: {_MARKS.get(run.status, run.status)}{_detail(run)}", file=self.stream, flush=True)

    def close(self) -> None:
        """Nothing to tear down."""


class RichProgress:
    """A live progress bar over every port of the run."""

    def __init__(self, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        self.task = self.progress.add_task("starting", total=total)
        self.progress.start()

    def stage(self, number: int, total: int, ready: list[PortRun]) -> None:
        names = ", ".join(run.port_id for run in ready) or "nothing to run"
        self.progress.update(self.task, description=f"stage {number}/{total}: {names}")

    def port(self, run: PortRun) -> None:
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


def _detail(run: PortRun) -> str:
    if run.status == "published":
        return f" ({run.duration_s or 0:.2f}s, {run.rows} rows, snapshot {run.snapshot_id})"
    return f" ({run.error})" if run.error else ""
