"""Materialize selected ports of one code location, in its own process, and report each port.

Run by ``mesh run``, one subprocess per location::

    python -m mesh_core.runner --module users_domain.definitions --select users/profiles --out result.json

Without ``--select`` it loads the location's definitions and then waits for the selection
on one line of stdin, so ``mesh run`` can start it before its stage; an empty line or the
end of stdin means there is nothing to run, and it exits without running.

Runs are recorded in the Dagster instance at ``DAGSTER_HOME`` (so they show in the UI),
or in a throwaway instance when it is not set.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from mesh_core import loading_gc


def _stopped(number: int, _frame: object) -> None:
    """SIGTERM before the stage's run has started (``mesh run`` was interrupted): exit through the clean-up."""
    sys.exit(128 + number)


if __name__ == "__main__":
    loading_gc.pause()  # until the definitions are loaded
    signal.signal(signal.SIGTERM, _stopped)  # until the run starts; then SIGTERM ends the process, as before

import click  # noqa: E402
import dagster as dg  # noqa: E402
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage  # noqa: E402
from dagster._core.utils import make_new_run_id  # noqa: E402
from filelock import FileLock  # noqa: E402

from mesh_core import warm_ups  # noqa: E402
from mesh_core.code_target import CodeTarget, target_options  # noqa: E402
from mesh_core.dagster_instance import open_instance  # noqa: E402
from mesh_core.errors import MeshError  # noqa: E402
from mesh_core.manifest import load_location  # noqa: E402
from mesh_core.step_errors import describe_step_failure  # noqa: E402

INSTANCE_LOCK = ".mesh-instance.lock"  # in DAGSTER_HOME: held by a location process while it opens the instance


def run_ports(
    defs: dg.Definitions, ports: list[dg.AssetKey], instance: dg.DagsterInstance, tags: dict[str, str],
    run_id: str | None = None,
) -> dict[str, Any]:
    """Materialize ``ports`` (with their local internal upstream assets) and describe each port's outcome."""
    graph = defs.resolve_asset_graph()
    selection = set(ports)
    for key in ports:
        selection |= {
            ancestor
            for ancestor in graph.get_ancestor_asset_keys(key)
            if ancestor in graph.materializable_asset_keys and "mesh/port_id" not in graph.get(ancestor).metadata
        }
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=instance, asset_selection=sorted(selection, key=lambda k: k.path), raise_on_error=False, tags=tags,
        run_id=run_id,
    )
    entries = instance.all_logs(result.run_id)
    return {
        "run_id": result.run_id,
        "ports": {"/".join(key.path): _outcome(result, entries, graph, key) for key in ports},
    }


def _outcome(result: dg.ExecuteInProcessResult, entries: list[Any], graph: Any, key: dg.AssetKey) -> dict[str, Any]:
    """A port's outcome; its step may be shared by a multi-asset's ports."""
    step_key = graph.assets_def_for_key(key).node_def.name
    step_events = [e for e in result.all_events if e.step_key == step_key]
    times = [
        entry.timestamp
        for entry in entries
        if entry.step_key == step_key
        and entry.dagster_event is not None
        and entry.dagster_event.event_type_value in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE")
    ]
    materializations = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    checks = {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
        for e in step_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.asset_check_evaluation_data.asset_key == key
    }
    failure = next((e for e in step_events if e.is_step_failure), None)
    outcome: dict[str, Any] = {
        "status": "published" if materializations else "failed",
        "duration_s": round(max(times) - min(times), 3) if len(times) > 1 else None,
        "checks": checks,
    }
    if materializations:
        metadata = materializations[-1].materialization.metadata
        outcome["rows"] = metadata["dagster/row_count"].value
        outcome["snapshot_id"] = metadata["mesh/snapshot_id"].value
    if failure is not None and not materializations:  # a sibling in the same step may have failed
        outcome["error"] = _failure_message(failure, graph, key)
    elif not materializations:
        outcome["error"] = _not_executed(result, graph, key)
    return outcome


def _not_executed(result: dg.ExecuteInProcessResult, graph: Any, key: dg.AssetKey) -> str:
    """Why a port's step did not run: the failure of a local asset upstream of it, if one failed."""
    upstream = {
        graph.assets_def_for_key(a).node_def.name: a
        for a in graph.get_ancestor_asset_keys(key)
        if a in graph.materializable_asset_keys
    }
    for event in result.all_events:
        if event.is_step_failure and event.step_key in upstream:
            failed = upstream[event.step_key]
            return f"not executed: {failed.to_user_string()} failed: {_failure_message(event, graph, failed)}"
    return "not executed"


def _failure_message(failure: Any, graph: Any, key: dg.AssetKey) -> str:
    """The error behind a failed step, told for the asset ``key`` it computes."""
    definition = graph.get(key).metadata
    data = failure.step_failure_data
    return describe_step_failure(
        data.error,
        data.user_failure_data.description if data.user_failure_data else None,
        domain=key.path[0],
        port_id=_value(definition.get("mesh/port_id")),
        file=_value(definition.get("mesh/file")),
    )


def _value(metadata_value: Any) -> Any:
    return getattr(metadata_value, "value", metadata_value)


def _run_tags(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    """``KEY=VALUE`` pairs as a dict; anything else is a usage error."""
    malformed = [value for value in values if "=" not in value]
    if malformed:
        raise click.BadParameter(f"{malformed[0]!r} is not KEY=VALUE", ctx, param)
    return dict(value.split("=", 1) for value in values)


@click.command()
@target_options
@click.option("--select", help="Comma-separated asset keys such as users/profiles; default: one line read from stdin.")
@click.option("--tag", "tags", multiple=True, callback=_run_tags, help="A run tag KEY=VALUE; repeatable.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The JSON result file.")
@click.option("--later-stage", is_flag=True,
              help="Its stage is not the run's first: open the instance once loaded, not while loading.")
def main(target: CodeTarget, select: str | None, tags: dict[str, str], out: Path, later_stage: bool) -> None:
    """Run the selected ports and write the outcome to --out; exit 2 if the location cannot load."""
    with ExitStack() as stack, ThreadPoolExecutor(max_workers=1, thread_name_prefix="instance") as opener:
        # Its storage is created while the definitions load; a later stage's process leaves the first
        # open of a fresh instance (its schema, under a lock) to the first stage's, which needs it sooner.
        opening = None if later_stage else opener.submit(_open_run_instance, stack)
        try:
            if select is None:
                warm_ups.expect()  # it will wait for its stage: what the stage needs can start early
            defs = load_location(target)
            if defs is None:
                sys.exit(2)
            loading_gc.freeze_loaded()
            opening = opening or opener.submit(_open_run_instance, stack)
            if select is None:
                warm_ups.start_all(defs)  # e.g. dbt imports and parses while the earlier stages run
                select = sys.stdin.readline().strip()  # blocks, without polling, until mesh run says go
        except BaseException:  # it cannot load, or mesh run stopped it while it waited: no run comes
            if opening is not None:
                _discard_run_storage(opening)
            raise
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if not select:
            _discard_run_storage(opening)
            return
        keys = [dg.AssetKey.from_user_string(key) for key in select.split(",")]
        try:
            instance, run_id = opening.result()
        except MeshError as error:
            print(error, file=sys.stderr)
            sys.exit(2)
        outcome = run_ports(defs, keys, instance, tags, run_id)
    out.write_text(json.dumps(outcome, indent=1))


def _open_run_instance(stack: ExitStack) -> tuple[dg.DagsterInstance, str]:
    """The instance at ``DAGSTER_HOME`` (a throwaway one when it is not set), closed with ``stack``, and a run id.

    The location processes of one ``mesh run`` start together, and concurrent first opens of
    a fresh SQLite instance race on its schema migrations: they open it one at a time.
    The run's own event log is made ready too (see ``_prepare_run_storage``).
    """
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        instance = stack.enter_context(dg.DagsterInstance.ephemeral())
    elif not Path(home).is_dir():
        instance = stack.enter_context(open_instance())  # which says clearly what is wrong
    else:
        with FileLock(Path(home) / INSTANCE_LOCK):
            instance = stack.enter_context(open_instance())
    return instance, _prepare_run_storage(instance)


def _prepare_run_storage(instance: dg.DagsterInstance) -> str:
    """A new run id whose event log is ready: on SQLite, its database file made and migrated now.

    Dagster's default SQLite event log keeps each run in a file of its own, which it makes
    (schema and migration stamp, 0.15-0.3 s) as the run logs its first event. Made here,
    while the process waits for its stage, it is off the stage's path.
    """
    run_id = make_new_run_id()
    storage = instance.event_log_storage
    if isinstance(storage, SqliteEventLogStorage):
        with storage.run_connection(run_id):
            pass
    return run_id


def _discard_run_storage(opening: Future) -> None:
    """Remove the event log file made for a run that did not come (its stage was skipped, or the process stopped)."""
    try:
        instance, run_id = opening.result()
    except Exception:  # noqa: BLE001 - nothing runs: an instance that did not open left nothing to remove
        return
    storage = instance.event_log_storage
    if isinstance(storage, SqliteEventLogStorage):
        path = storage.path_for_shard(run_id)
        for leftover in (path, f"{path}-journal", f"{path}-wal", f"{path}-shm"):
            Path(leftover).unlink(missing_ok=True)


def _exit_at_once() -> None:
    """Exit without tearing down what the process loaded: its result is written and its runs recorded.

    The interpreter's teardown of the loaded definitions (about 0.3 s) would otherwise lie
    between this stage's end and the next stage's start. Exit handlers (``atexit``, the
    location's own included) still run, and output is flushed.
    """
    atexit._run_exitfuncs()  # noqa: SLF001 - what a normal exit runs first; there is no public way
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    try:
        main()
    except SystemExit as done:
        if done.code in (0, None):
            _exit_at_once()
        raise
