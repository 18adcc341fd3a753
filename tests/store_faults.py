"""Real writer and reader processes for the store's fault tests (concurrent publishers, kill -9).

Run as ``python store_faults.py writer HOME ROWS LABEL [--loop]``: it imports everything,
prints ``ready``, then for each line on stdin publishes ``ROWS`` rows tagged with
``LABEL`` (the run id is ``LABEL-<n>``) and prints one JSON outcome per publish; with
``--loop``, the first line starts publishes that never stop. A lost race is an outcome,
not a crash: ``{"ok": false, "error": ...}``.
``MESH_HOME`` may be an ``s3://`` URI; the object-store options come from ``AWS_*``.
"""

from __future__ import annotations

import json
import sys

import pandas as pd

from mesh_core import PortStore, StoreError

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


if __name__ == "__main__":
    _, role, home, rows, label, *rest = sys.argv
    if role == "writer":
        writer(home, int(rows), label, "--loop" in rest)
