"""``mesh run``: headless meta-orchestration in plan order, one subprocess per code location."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from mesh_core.errors import MeshError
from mesh_core.mesh.graph import MeshGraph
from mesh_core.mesh.workspace import Location, LocationProcess
from mesh_core.settings import MeshSettings

RUN_TIMEOUT_S = 3600
INTERRUPTED = "interrupted (Ctrl-C or SIGTERM): mesh run ended its location process"


@dataclass
class PortRun:
    """The journey of one port through a ``mesh run``."""

    port_id: str
    location: str
    stage: int
    status: str = "pending"  # published | failed | skipped
    duration_s: float | None = None
    rows: int | None = None
    snapshot_id: str | None = None
    checks: dict[str, bool] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return asdict(self)


def resolve_selection(graph: MeshGraph, selection: tuple[str, ...]) -> set[str]:
    """Ports named by domain or port id (all ports when empty), plus everything downstream.

    Raises:
        MeshError: for a name that is neither a domain nor a port.
    """
    if not selection:
        return set(graph.ports)
    domains = {port["domain"] for port in graph.ports.values()}
    chosen: set[str] = set()
    for name in selection:
        if name in graph.ports:
            chosen.add(name)
        elif name in domains:
            chosen |= {port_id for port_id, port in graph.ports.items() if port["domain"] == name}
        else:
            raise MeshError(f"--select {name!r} is neither a domain ({', '.join(sorted(domains))}) nor a port id")
    return graph.downstream(chosen)


def run_mesh(
    graph: MeshGraph,
    locations: list[Location],
    targets: set[str],
    *,
    settings: MeshSettings,
    env: str | None = None,
    on_stage: Callable[[int, int, list[PortRun]], None] = lambda *_: None,
    on_port: Callable[[PortRun], None] = lambda _: None,
    on_activity: Callable[[str, str], None] = lambda *_: None,
) -> list[PortRun]:
    """Materialize ``targets`` stage by stage; a failure skips everything downstream of it.

    Every location process works on the store at ``settings.home``, in ``env`` (default
    ``settings.env``). ``on_activity`` gets a location's name and each line it prints.
    """
    by_name = {location.name: location for location in locations}
    stages = graph.plan(targets)
    runs = {
        port_id: PortRun(port_id, graph.ports[port_id]["location"], number)
        for number, stage in enumerate(stages, start=1)
        for port_id in stage
    }
    mesh_run = uuid.uuid4().hex[:12]
    environment = {"MESH_ENV": env or settings.env}
    workers = max(1, os.cpu_count() or 1)
    planned = list(dict.fromkeys((runs[port_id].stage, runs[port_id].location) for stage in stages for port_id in stage))

    def start(job: tuple[int, str]) -> LocationProcess:
        name = job[1]
        later = ["--later-stage"] if job[0] > 1 else []
        return LocationProcess(
            by_name[name], "mesh_core.runner", ["--tag", f"mesh/run={mesh_run}", "--tag", f"mesh/location={name}", *later],
            home=settings.home, env=environment, on_line=lambda line: on_activity(name, line),
        )

    with _EarlyStarts(planned, start, ahead=workers) as early:
        for number, stage in enumerate(stages, start=1):
            ready, skipped = [], []
            for port_id in stage:
                blocked = sorted(
                    upstream for upstream in graph.graph.predecessors(port_id)
                    if upstream in runs and runs[upstream].status in ("failed", "skipped")
                )
                if blocked:
                    runs[port_id].status, runs[port_id].error = "skipped", f"upstream {', '.join(blocked)} not published"
                    skipped.append(runs[port_id])
                else:
                    ready.append(runs[port_id])
            on_stage(number, len(stages), ready)
            for run in skipped:
                on_port(run)
            groups: dict[str, list[PortRun]] = {}
            for run in ready:
                groups.setdefault(run.location, []).append(run)
            for run in skipped:
                if run.location not in groups:
                    early.drop((number, run.location))

            def job(name: str) -> list[PortRun]:
                return _run_location(early.take((number, name)), groups[name], graph, mesh_run)

            with ThreadPoolExecutor(max_workers=max(1, min(len(groups), workers))) as pool:
                try:
                    for finished in pool.map(job, groups):
                        for run in finished:
                            on_port(run)
                except KeyboardInterrupt:  # Ctrl-C: end every location process, so no run goes on unseen
                    early.interrupt()
                    interrupted = True
                else:
                    interrupted = False
            if interrupted:
                for run in runs.values():
                    if run.status == "pending" or (run.status == "failed" and run.stage == number):
                        run.status, run.error = ("failed" if run.stage == number else "skipped"), INTERRUPTED
                raise MeshRunInterrupted([runs[port_id] for stage in stages for port_id in stage])
    return [runs[port_id] for stage in stages for port_id in stage]


class MeshRunInterrupted(KeyboardInterrupt):
    """``mesh run`` was interrupted (Ctrl-C, SIGTERM): its location processes are ended; ``runs`` says where each port got."""

    def __init__(self, runs: list[PortRun]) -> None:
        super().__init__("interrupted")
        self.runs = runs


class _EarlyStarts:
    """Location processes started before their stage, so that their imports overlap earlier stages.

    Jobs (stage, location) start in plan order, at most ``ahead`` of them waiting at a time.
    A started process only imports its location, then waits for its selection; one that is
    never taken is stopped on exit, so no process outlives the run.
    """

    def __init__(self, planned: list[tuple[int, str]], start: Callable[[tuple[int, str]], LocationProcess], *,
                 ahead: int) -> None:
        self.pending = list(planned)
        self.start = start
        self.ahead = ahead
        self.waiting: dict[tuple[int, str], LocationProcess] = {}
        self.started: list[LocationProcess] = []
        self.lock = threading.Lock()

    def __enter__(self) -> _EarlyStarts:
        with self.lock:
            self._top_up()
        return self

    def take(self, job: tuple[int, str]) -> LocationProcess:
        """The job's process, started now if it was not started early; the next jobs start in its place."""
        with self.lock:
            if job in self.pending:
                self.pending.remove(job)
                process = self.start(job)
                self.started.append(process)
            else:
                process = self.waiting.pop(job)
            self._top_up()
            return process

    def drop(self, job: tuple[int, str]) -> None:
        """A job left with nothing to run: never started, or stopped."""
        with self.lock:
            if job in self.pending:
                self.pending.remove(job)
            process = self.waiting.pop(job, None)
        if process is not None:
            process.stop()

    def __exit__(self, *_: object) -> None:
        with self.lock:
            self.pending.clear()
            leftover, self.waiting = list(self.waiting.values()), {}
        for process in leftover:
            process.stop()

    def interrupt(self) -> None:
        """End every process started, taken or waiting: the run was interrupted."""
        with self.lock:
            self.pending.clear()
            started, self.waiting = list(self.started), {}
        for process in started:
            process.interrupt()

    def _top_up(self) -> None:
        while self.pending and len(self.waiting) < self.ahead:
            job = self.pending.pop(0)
            self.waiting[job] = self.start(job)
            self.started.append(self.waiting[job])


def _fail_abandoned_runs(mesh_run: str, location: str, reason: str) -> None:
    """Mark failed the runs that a location process left in progress when it died (killed or timed out).

    Its runs execute inside that process, so no code server or run monitor sees it die: without
    this they would stay STARTED in the instance until the daemon's maximum run time.
    """
    if not os.environ.get("DAGSTER_HOME"):
        return  # the runner used a throwaway instance
    import dagster as dg

    from mesh_core.dagster_instance import open_instance

    in_progress = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
    with open_instance() as instance:
        records = instance.get_run_records(
            dg.RunsFilter(tags={"mesh/run": mesh_run, "mesh/location": location}, statuses=in_progress)
        )
        for record in records:
            instance.report_run_failed(
                record.dagster_run, f"mesh run: the process of location {location} ended before its run did: {reason}"
            )


def _run_location(process: LocationProcess, group: list[PortRun], graph: MeshGraph, mesh_run: str) -> list[PortRun]:
    keys = ",".join("/".join(graph.ports[run.port_id]["asset_key"]) for run in group)
    process.go(keys)
    outcome = process.result(timeout_s=RUN_TIMEOUT_S)
    if isinstance(outcome, str):
        _fail_abandoned_runs(mesh_run, process.location.name, outcome)
        for run in group:
            run.status, run.error = "failed", outcome
        return group
    for run in group:
        result = outcome["ports"]["/".join(graph.ports[run.port_id]["asset_key"])]
        run.status = result["status"]
        run.duration_s = result.get("duration_s")
        run.rows = result.get("rows")
        run.snapshot_id = result.get("snapshot_id")
        run.checks = result.get("checks", {})
        run.error = result.get("error")
    return group
