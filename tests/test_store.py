"""The port store: atomic snapshots, pointers, retention, the DuckDB catalog and crash safety."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from mesh_core import PortStore, StoreError


def frame(n: int, offset: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"id": range(offset, offset + n), "name": [f"n{i}" for i in range(n)]})


def test_publish_then_read_round_trips(store: PortStore):
    snapshot = store.publish("users.profiles", frame(3), version="1.2.0")
    loaded, current = store.read("users.profiles", major=1)
    pd.testing.assert_frame_equal(loaded, frame(3))
    assert current == snapshot
    assert snapshot.rows == 3 and snapshot.major == 1 and snapshot.version == "1.2.0"
    assert snapshot.content_hash == hashlib.sha256(Path(snapshot.path).read_bytes()).hexdigest()
    assert snapshot.snapshot_id.endswith(snapshot.content_hash[:12])
    assert Path(snapshot.path).is_relative_to(store.home / "dev" / "users" / "profiles" / "v1")


def test_same_content_same_hash_and_new_content_new_hash(store: PortStore):
    first = store.publish("users.profiles", frame(3), version="1.0.0")
    second = store.publish("users.profiles", frame(3), version="1.0.0")
    third = store.publish("users.profiles", frame(4), version="1.0.0")
    assert first.content_hash == second.content_hash != third.content_hash
    assert first.snapshot_id != second.snapshot_id
    assert store.current("users.profiles", 1) == third


def test_majors_are_served_side_by_side(store: PortStore):
    store.publish("users.profiles", frame(2), version="1.0.0")
    store.publish("users.profiles", frame(5), version="2.0.0")
    assert store.majors("users.profiles") == [1, 2]
    assert len(store.read("users.profiles", 1)[0]) == 2
    assert len(store.read("users.profiles", 2)[0]) == 5


def test_missing_snapshot_names_port_and_file(store: PortStore):
    with pytest.raises(StoreError, match="materialize the producer first") as raised:
        store.current("users.profiles", 1)
    assert raised.value.domain == "users" and raised.value.port == "users.profiles"
    assert raised.value.file.endswith("v1/current.json")
    store.publish("users.profiles", frame(1), version="2.0.0")
    with pytest.raises(StoreError, match=r"published majors are \[2\]"):
        store.current("users.profiles", 1)


def test_damaged_pointer_is_a_store_error(store: PortStore):
    store.publish("users.profiles", frame(1), version="1.0.0")
    (store.port_dir("users.profiles", 1) / "current.json").write_text("{not json")
    with pytest.raises(StoreError, match="damaged snapshot pointer"):
        store.read("users.profiles", 1)


def test_retention_keeps_the_newest_snapshots(mesh_home: Path):
    store = PortStore(mesh_home, "dev", retain=2)
    published = [store.publish("users.profiles", frame(i + 1), version="1.0.0") for i in range(4)]
    assert store.snapshots("users.profiles", 1) == [s.snapshot_id for s in published[-2:]]
    assert store.read("users.profiles", 1)[1] == published[-1]


def test_environments_are_isolated(mesh_home: Path):
    PortStore(mesh_home, "dev").publish("users.profiles", frame(1), version="1.0.0")
    with pytest.raises(StoreError):
        PortStore(mesh_home, "kitchen").current("users.profiles", 1)


def test_duckdb_catalog_has_a_view_per_port(store: PortStore):
    store.publish("users.profiles", frame(3), version="1.0.0")
    store.publish("users.profiles", frame(7), version="1.0.0")
    store.publish("podcasts.plays", frame(5), version="2.0.0")
    with duckdb.connect(str(store.catalog_path), read_only=True) as connection:
        assert connection.execute('select count(*) from "users"."profiles"').fetchone() == (7,)
        assert connection.execute('select count(*) from "users"."profiles_v1"').fetchone() == (7,)
        assert connection.execute('select count(*) from "podcasts"."plays"').fetchone() == (5,)


def test_a_busy_catalog_does_not_fail_the_publish(store: PortStore, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("mesh_core.sql_catalog._LOCK_TIMEOUT_S", 0.5)
    store.publish("users.profiles", frame(1), version="1.0.0")
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb,time; c=duckdb.connect({str(store.catalog_path)!r}); print('ok', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ok"
        snapshot = store.publish("users.profiles", frame(2), version="1.0.0")
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert store.current("users.profiles", 1) == snapshot


def test_internal_assets_round_trip(store: PortStore):
    store.write_internal("users", "registrations", frame(4))
    pd.testing.assert_frame_equal(store.read_internal("users", "registrations"), frame(4))
    with pytest.raises(StoreError, match="has not been materialized"):
        store.read_internal("users", "nothing")


_WRITER = textwrap.dedent(
    """
    import sys
    import pandas as pd
    from mesh_core import PortStore

    rows = int(sys.argv[2])
    big = pd.DataFrame({"id": range(rows), "name": ["x" * 40] * rows, "value": [0.5] * rows})
    print("ready", flush=True)
    PortStore(sys.argv[1], "dev").publish("users.profiles", big, version="1.0.0")
    print("published", flush=True)
    """
)


def _kill_mid_write(store: PortStore, rows: int, timeout_s: float = 60.0) -> bool:
    """Start a real writer and SIGKILL it once its temporary file exists. True if it was caught mid-write."""
    snapshots = store.port_dir("users.profiles", 1) / "snapshots"
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(store.home), str(rows)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and writer.poll() is None:
            if any(snapshots.glob(".writing-*")):
                os.kill(writer.pid, signal.SIGKILL)
                writer.wait(timeout=10)
                return True
            time.sleep(0.001)
        return False
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.wait(timeout=10)


def test_writer_killed_mid_publish_leaves_previous_snapshot(store: PortStore):
    previous = store.publish("users.profiles", frame(10), version="1.0.0")
    previous_bytes = Path(previous.path).read_bytes()
    caught = any(_kill_mid_write(store, rows=3_000_000) for _ in range(3))
    assert caught, "the writer finished before it could be killed mid-write"

    snapshot_dir = Path(previous.path).parent
    loaded, current = store.read("users.profiles", 1)
    assert current == previous
    assert Path(current.path).read_bytes() == previous_bytes
    pd.testing.assert_frame_equal(loaded, frame(10))
    # The torn file is hidden from readers: no visible snapshot file but the previous one.
    assert sorted(p.name for p in snapshot_dir.glob("*.parquet")) == [Path(previous.path).name]
    assert store.snapshots("users.profiles", 1) == [previous.snapshot_id]
    # The store still accepts the next publish.
    assert store.publish("users.profiles", frame(2), version="1.0.0").rows == 2
