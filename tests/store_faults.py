"""Real writer and reader processes for the store's fault tests (concurrent publishers, kill -9).

Run as ``python store_faults.py writer HOME ROWS LABEL [--loop]``: it imports everything,
prints ``ready``, then for each line on stdin publishes ``ROWS`` rows tagged with
``LABEL`` (the run id is ``LABEL-<n>``) and prints one JSON outcome per publish; with
``--loop``, the first line starts publishes that never stop. A lost race is an outcome,
not a crash: ``{"ok": false, "error": ...}``.
``MESH_HOME`` may be an ``s3://`` URI; the object-store options come from ``AWS_*``.

The functions below ``writer`` drive such processes and read the table's commit history;
the fault tests and the fault benchmark (``benchmarks/faults.py``) both use them.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from mesh_core import PortStore, StoreError
from mesh_core.errors import MeshError

PORT = "users.profiles"


def frame(rows: int, label: str) -> pd.DataFrame:
    """``rows`` rows whose ``label`` column names the writer."""
    return pd.DataFrame({"id": range(rows), "label": [label] * rows, "value": [0.5] * rows})


def store_at(home: str) -> PortStore:
    """The store at ``home`` with the environment's object-store options."""
    from mesh_core.settings import MeshSettings

    settings = MeshSettings.from_env()
    return PortStore(home, "dev", storage_options=settings.storage_options)


def writer(home: str, rows: int, label: str, loop: bool) -> None:
    store = store_at(home)
    data = frame(rows, label)
    print("ready", flush=True)
    count = 0
    while loop and count or sys.stdin.readline():
        run_id = f"{label}-{count}"
        try:
            snapshot = store.publish(PORT, data, version="1.0.0", run_id=run_id)
            outcome = {"ok": True, "run_id": run_id, "snapshot_id": snapshot.snapshot_id}
        except StoreError as error:
            outcome = {"ok": False, "run_id": run_id, "error": str(error)}
        print(json.dumps(outcome), flush=True)
        count += 1


def start_writer(home: str | Path, rows: int, label: str, *, loop: bool = False) -> subprocess.Popen:
    """A writer process for ``home``, started and ready (waits at most 120 s)."""
    process = subprocess.Popen(
        [sys.executable, __file__, "writer", str(home), str(rows), label, *(["--loop"] if loop else [])],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "MESH_HOME": str(home), "MESH_ENV": "dev"},
    )
    if (next_line(process, 120) or "").strip() != "ready":
        process.kill()
        process.wait(timeout=10)
        raise RuntimeError(f"the writer did not start: {process.stderr.read()}")
    return process


def next_line(process: subprocess.Popen, timeout_s: float) -> str | None:
    """The process's next line of output, or ``None`` if none comes within ``timeout_s``."""
    ready, _, _ = select.select([process.stdout], [], [], timeout_s)
    return process.stdout.readline() if ready else None


def go(process: subprocess.Popen) -> None:
    """Tell a writer to publish (once, or forever with ``--loop``)."""
    process.stdin.write("go\n")
    process.stdin.flush()


def stop(process: subprocess.Popen) -> int:
    """End a writer by closing its stdin (killed after 60 s); its exit code."""
    process.stdin.close()
    try:
        return process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(timeout=10)


def committed_runs(store: PortStore, port: str = PORT, major: int = 1) -> dict[str, str]:
    """Every run id the port major's Delta commits record, with its snapshot id."""
    from deltalake import DeltaTable

    location = store.table_location(port, major)
    history = DeltaTable(location.uri, storage_options=location.options()).history()
    recorded = [json.loads(commit["mesh"]) for commit in history if "mesh" in commit]
    return {entry["run_id"]: entry["snapshot_id"] for entry in recorded}


def served_well(store: PortStore) -> bool:
    """The current snapshot reads, verified, and holds what its commit says (the writer's label)."""
    frame, snapshot = store.read(PORT, 1)
    return snapshot.verified and len(frame) == snapshot.rows and set(frame["label"]) == {snapshot.run_id.rsplit("-", 1)[0]}


@contextmanager
def reader_loop(store: PortStore) -> Iterator[dict]:
    """Read the current snapshot over and over until the block ends; ``errors`` lists each read not served well."""
    seen: dict = {"reads": 0, "errors": []}
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                well = served_well(store)
            except MeshError as error:
                seen["errors"].append(repr(error))
                continue
            seen["reads"] += 1
            if not well:
                seen["errors"].append("a read returned data its commit does not describe")

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        done.set()
        thread.join(timeout=60)


if __name__ == "__main__":
    _, role, home, rows, label, *rest = sys.argv
    if role == "writer":
        writer(home, int(rows), label, "--loop" in rest)
