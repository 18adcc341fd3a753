"""The store under faults, with real processes: concurrent publishers and writers killed with SIGKILL.

The long kill loop is marked ``slow`` (CI runs it with ``-m slow``); the default run
takes a small sample of the same loop.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from store_faults import (
    PORT,
    committed_runs,
    go,
    next_line,
    reader_loop,
    start_writer,
    stop,
)
from store_faults import frame as labelled

from mesh_core import PortStore


def outcome(process: subprocess.Popen, timeout_s: float = 120) -> dict:
    line = next_line(process, timeout_s)
    assert line is not None, f"no outcome from the writer within {timeout_s}s"
    assert line, f"the writer crashed instead of reporting its outcome:\n{process.stderr.read()}"
    return json.loads(line)


def concurrent_pairs(store: PortStore, home: str, pairs: int, slow_rows: int) -> None:
    store.publish(PORT, labelled(5, "seed"), version="1.0.0", run_id="seed")
    outcomes = []
    slow, fast = start_writer(home, slow_rows, "slow"), start_writer(home, 10, "fast")
    try:
        with reader_loop(store) as seen:
            for _ in range(pairs):
                go(slow)
                time.sleep(random.uniform(0.0, 0.2))
                go(fast)
                outcomes += [outcome(slow), outcome(fast)]
    finally:
        exits = {stop(slow), stop(fast)}
    assert exits == {0}, slow.stderr.read() + fast.stderr.read()
    assert seen["errors"] == [] and seen["reads"] > 0
    published = {o["run_id"]: o["snapshot_id"] for o in outcomes if o["ok"]}
    lost = [o for o in outcomes if not o["ok"]]
    # Every writer told the truth: what it reported published is committed, and nothing else is.
    assert committed_runs(store) == {"seed": committed_runs(store)["seed"], **published}
    assert all("not published: another publish of v1 committed" in o["error"] for o in lost), lost
    assert lost, "no pair overlapped: the test did not exercise a conflict"
    newest = max(published.values(), key=lambda snapshot_id: int(snapshot_id.split("-")[0]))
    assert store.read(PORT, 1)[1].snapshot_id == newest


def test_concurrent_publishers_never_lose_a_commit_silently(mesh_home: Path):
    """20 pairs of publishes by a slow and a fast writer process, with a reader reading throughout."""
    concurrent_pairs(PortStore(mesh_home, "dev"), str(mesh_home), pairs=20, slow_rows=400_000)


def kill_writers(store: PortStore, home: str, kills: int, rows: int) -> None:
    """Kill a looping writer at a random moment, ``kills`` times; the last good version must stay readable."""
    store.publish(PORT, labelled(5, "seed"), version="1.0.0", run_id="seed")
    for kill in range(kills):
        writer = start_writer(home, rows, f"killed{kill}", loop=True)
        go(writer)
        time.sleep(random.uniform(0.0, 1.5))
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=10)
        writer.stdin.close()
        reported = [json.loads(line) for line in writer.stdout.read().splitlines() if line.strip()]
        frame, snapshot = store.read(PORT, 1)
        assert snapshot.verified and len(frame) == snapshot.rows
        assert set(frame["label"]) == {snapshot.run_id.rsplit("-", 1)[0]}  # the data is what the commit says
        runs = committed_runs(store)
        for published in (o for o in reported if o["ok"]):
            assert runs[published["run_id"]] == published["snapshot_id"]
    # The store still takes the next publish.
    assert store.publish(PORT, labelled(3, "after"), version="1.0.0").rows == 3


def test_killed_writers_leave_the_last_good_version_readable(mesh_home: Path):
    kill_writers(PortStore(mesh_home, "dev"), str(mesh_home), kills=3, rows=300_000)


@pytest.mark.slow
def test_a_hundred_killed_writers_leave_the_last_good_version_readable(mesh_home: Path):
    kill_writers(PortStore(mesh_home, "dev"), str(mesh_home), kills=100, rows=300_000)
