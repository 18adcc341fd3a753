"""P9: the store under faults, counted: writers killed with SIGKILL, concurrent publisher pairs, tampered files.

The loops are the fault tests' own (``tests/test_store_faults.py``, ``tests/test_store.py``)
with modest counts, run here in this benchmark run, with real writer processes
(``tests/store_faults.py``). Each trial is counted as ended well or not, instead of
stopping at the first failure as a test does.
"""

from __future__ import annotations

import json
import os
import random
import signal
import tempfile
import time
from pathlib import Path

from benchmarks.timing import table_rows
from mesh_core.errors import MeshError, StoreError
from mesh_core.store import PortStore
from tests.store_faults import (
    PORT,
    committed_runs,
    go,
    next_line,
    reader_loop,
    served_well,
    start_writer,
    stop,
)
from tests.store_faults import frame as labelled


def kills(home: Path, count: int, rows: int) -> int:
    """Kill a looping writer at a random moment ``count`` times; how many kills left the store whole."""
    store = PortStore(home, "dev")
    store.publish(PORT, labelled(5, "seed"), version="1.0.0", run_id="seed-0")
    good = 0
    for kill in range(count):
        writer = start_writer(home, rows, f"killed{kill}", loop=True)
        go(writer)
        time.sleep(random.uniform(0.0, 1.5))
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=10)
        writer.stdin.close()
        reported = [json.loads(line) for line in writer.stdout.read().splitlines() if line.strip()]
        try:
            runs = committed_runs(store)
            truthful = all(runs.get(o["run_id"]) == o["snapshot_id"] for o in reported if o["ok"])
            good += served_well(store) and truthful
        except (MeshError, OSError):
            continue
    return good


def pairs(home: Path, count: int, slow_rows: int) -> tuple[int, int]:
    """``count`` pairs of a slow and a fast publish with a reader throughout; (pairs that ended well, conflicts)."""
    store = PortStore(home, "dev")
    store.publish(PORT, labelled(5, "seed"), version="1.0.0", run_id="seed-0")
    good = conflicts = 0
    slow, fast = start_writer(home, slow_rows, "slow"), start_writer(home, 10, "fast")
    try:
        with reader_loop(store) as seen:
            for _ in range(count):
                errors_before = len(seen["errors"])
                go(slow)
                time.sleep(random.uniform(0.0, 0.2))
                go(fast)
                outcomes = [json.loads(next_line(slow, 120) or "null"), json.loads(next_line(fast, 120) or "null")]
                if None in outcomes:
                    break
                runs = committed_runs(store)
                truthful = all(
                    runs.get(o["run_id"]) == o["snapshot_id"] if o["ok"]
                    else o["run_id"] not in runs and "not published: another publish" in o["error"]
                    for o in outcomes
                )
                conflicts += not all(o["ok"] for o in outcomes)
                try:
                    good += truthful and served_well(store) and len(seen["errors"]) == errors_before
                except MeshError:
                    continue
    finally:
        stop(slow)
        stop(fast)
    return good, conflicts


def tampering(home: Path, count: int) -> int:
    """Change a snapshot's data file ``count`` times, in several ways; how many reads refused it, naming the file."""
    store = PortStore(home, "dev")
    older = store.publish(PORT, labelled(2_000, "older"), version="1.0.0", run_id="older-0")
    other = store.publish("users.other", labelled(2_000, "other"), version="1.0.0")
    snapshot = store.publish(PORT, labelled(2_000, "current"), version="1.0.0", run_id="current-0")
    victim = Path(snapshot.file_uris[0])
    original = victim.read_bytes()
    rng = random.Random(11)

    def flip(data: bytes) -> bytes:
        at = rng.randrange(len(data))
        return data[:at] + bytes([data[at] ^ 1 << rng.randrange(8)]) + data[at + 1:]

    ways = [
        flip,
        lambda data: data[:rng.randrange(len(data))],
        lambda data: data + b"\0",
        lambda data: Path(other.file_uris[0]).read_bytes(),
        lambda data: Path(older.file_uris[0]).read_bytes(),
    ]
    good = 0
    for trial in range(count):
        victim.write_bytes(ways[trial % len(ways)](original))
        try:
            store.read(PORT, 1)
        except StoreError as refused:
            good += refused.file == str(victim) and "changed since it was published" in str(refused)
        finally:
            victim.write_bytes(original)
    return good


def run(quick: bool) -> str:
    kill_count, pair_count, tamper_count = (1, 2, 5) if quick else (10, 10, 25)
    slow_rows = 100_000 if quick else 400_000
    with tempfile.TemporaryDirectory() as folder:
        killed = kills(Path(folder, "kills"), kill_count, rows=100_000 if quick else 300_000)
        paired, conflicts = pairs(Path(folder, "pairs"), pair_count, slow_rows)
        tampered = tampering(Path(folder, "tampered"), tamper_count)
    rows = [
        ("writer killed with SIGKILL at a random moment while publishing in a loop", str(kill_count), str(killed),
         "the last committed version reads, verified, with the data its commit names; every publish the writer "
         "reported done is committed"),
        (f"slow ({slow_rows:,} rows) and fast publisher of one port at once, a reader throughout "
         f"({conflicts} of the pairs conflicted)", str(pair_count), str(paired),
         "each writer's report is true (committed, or `not published` and not committed); no read failed; "
         "the current snapshot reads"),
        ("data file changed after publishing: a flipped bit, truncated, a byte appended, another port's file, "
         "an older snapshot's file", str(tamper_count), str(tampered),
         "the read refuses with a StoreError naming the file"),
    ]
    notes = (
        "Run by this benchmark in this run, with real writer processes (`tests/store_faults.py`), not copied "
        "from a test run. The loops are those of `tests/test_store_faults.py` and `tests/test_store.py` with "
        "modest counts; the slow test run (`pytest -m slow`) kills 100 writers, and the default test run 3 kills "
        "and 20 pairs, each stopping at its first failure. Local disk."
    )
    return table_rows("P9: faults, tried and ended well", notes, ("fault", "tried", "ended well", "ended well means"), rows)
