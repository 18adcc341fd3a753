"""A location process opens the Dagster instance while its definitions load, before its stage is released.

`mesh run` starts every location process at once; each creates or opens DAGSTER_HOME's
storage while it waits, one process at a time (concurrent first opens of a fresh SQLite
instance race on its schema migrations), so the first stage does not wait for it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from filelock import FileLock

from mesh_core.runner import INSTANCE_LOCK

LOCATION = '''
import pathlib
import dagster as dg

pathlib.Path("loaded").touch()  # the definitions are loading: the instance is being opened by now


@dg.asset
def one() -> int:
    return 1


defs = dg.Definitions(assets=[one])
'''
DEADLINE_S = 120


def _appears(path: Path, process: subprocess.Popen, within_s: float) -> bool:
    """Whether ``path`` appears within ``within_s`` while ``process`` still waits for its selection."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if path.exists():
            return True
        time.sleep(0.1)
    return False


def test_the_instance_is_opened_before_the_stage_one_process_at_a_time(tmp_path: Path, monkeypatch):
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    (tmp_path / "location.py").write_text(LOCATION)
    runs = dagster_home / "history" / "runs.db"
    lock = FileLock(dagster_home / INSTANCE_LOCK)
    lock.acquire()  # as another location process opening the instance
    process = subprocess.Popen(
        [sys.executable, "-m", "mesh_core.runner", "--python-file", str(tmp_path / "location.py"),
         "--out", str(tmp_path / "out.json")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )
    try:
        assert _appears(tmp_path / "loaded", process, within_s=DEADLINE_S)
        assert not _appears(runs, process, within_s=10), "opened while another process held the lock"
        lock.release()
        assert _appears(runs, process, within_s=DEADLINE_S), "not opened while waiting for its stage"
        _, stderr = process.communicate("\n", timeout=DEADLINE_S)  # nothing to run: it closes the instance and exits
    finally:
        lock.release()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
