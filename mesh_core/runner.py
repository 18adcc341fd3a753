"""Materialize selected ports of one code location, in its own process, and report each port.

Run by ``mesh run``, one subprocess per location::

    python -m mesh_core.runner --module users_domain.definitions --select users/profiles --out result.json

Runs are recorded in the Dagster instance at ``DAGSTER_HOME`` (so they show in the UI),
or in a throwaway instance when it is not set.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import dagster as dg

from mesh_core.manifest import load_location


def run_ports(defs: dg.Definitions, ports: list[dg.AssetKey], instance: dg.DagsterInstance, tags: dict[str, str]) -> dict[str, Any]:
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
        instance=instance, asset_selection=sorted(selection, key=lambda k: k.path), raise_on_error=False, tags=tags
    )
    entries = instance.all_logs(result.run_id)
    return {
        "run_id": result.run_id,
        "ports": {
            "/".join(key.path): _outcome(result, entries, key, graph.assets_def_for_key(key).node_def.name)
            for key in ports
        },
    }


def _outcome(result: dg.ExecuteInProcessResult, entries: list[Any], key: dg.AssetKey, step_key: str) -> dict[str, Any]:
    """A port's outcome; ``step_key`` is the step that computes it (shared by a multi-asset's ports)."""
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
        error = failure.step_failure_data.error
        outcome["error"] = (error.message or "").strip().splitlines()[-1] if error else "step failed"
    elif not materializations:
        outcome["error"] = "not executed"
    return outcome


def main(argv: list[str] | None = None) -> int:
    """Run the selected ports and write the outcome to ``--out``; exit 2 if the location cannot load."""
    parser = argparse.ArgumentParser(prog="python -m mesh_core.runner", description=main.__doc__)
    parser.add_argument("--module", required=True)
    parser.add_argument("--attribute")
    parser.add_argument("--select", required=True, help="comma-separated asset keys such as users/profiles")
    parser.add_argument("--tag", action="append", default=[], help="run tag KEY=VALUE")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    defs = load_location(args.module, args.attribute)
    if defs is None:
        return 2
    keys = [dg.AssetKey.from_user_string(key) for key in args.select.split(",")]
    tags = dict(tag.split("=", 1) for tag in args.tag)
    with ExitStack() as stack:
        instance = stack.enter_context(
            dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
        )
        outcome = run_ports(defs, keys, instance, tags)
    args.out.write_text(json.dumps(outcome, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
