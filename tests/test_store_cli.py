"""``mesh store gc``, ``mesh store migrate`` and ``mesh sql``: the store from the command line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import materialize
from test_store_in_runs import GOOD, consumer, producer

from mesh_core import PortStore, StoreError, delta
from mesh_core.mesh.cli import main
from mesh_core.sql import connect


def frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"track_id": range(n), "artist_id": [1.0] * n})


def run(*args: str, dagster_home: Path | None = None) -> tuple[int, str]:
    env = {"DAGSTER_HOME": str(dagster_home) if dagster_home else None}
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


def test_gc_removes_killed_writers_files_and_old_versions_but_keeps_what_consumers_name(
    store: PortStore, dagster_home: Path
):
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert materialize(producer([GOOD]), instance).success
        assert materialize(consumer(), instance).success  # names Delta version 0 of tracks.catalog
    pinned = store.current("tracks.catalog", 1)
    published = [store.publish("tracks.catalog", frame(n + 1), version="1.0.0") for n in range(12)]  # versions 1..12
    location = store.table_location("tracks.catalog", 1)
    orphan = delta.write_file(location, pa.Table.from_pandas(frame(50)))  # what a writer killed before its commit leaves
    folder = Path(location.uri)

    code, listed = run("store", "gc", "--dry-run", "--grace-hours", "0", "--format", "json", dagster_home=dagster_home)
    assert code == 0, listed
    [table] = [t for t in json.loads(listed)["tables"] if t["table"] == location.uri]
    doomed = {orphan.path} | {f.path for s in published[:2] for f in s.files}
    assert set(table["removed"]) == doomed
    assert table["kept_versions"] == [0, *range(3, 13)]
    assert all((folder / name).exists() for name in doomed), "a dry run removes nothing"

    code, output = run("store", "gc", "--grace-hours", "0", dagster_home=dagster_home)
    assert code == 0, output
    assert not any((folder / name).exists() for name in doomed)
    assert store.snapshots("tracks.catalog", 1) == [pinned.snapshot_id] + [s.snapshot_id for s in published[2:]]
    assert store.read("tracks.catalog", 1, snapshot_id=pinned.snapshot_id)[1] == pinned
    assert len(store.read("tracks.catalog", 1)[0]) == 12
    with pytest.raises(StoreError, match="cannot read snapshot"):
        store.read("tracks.catalog", 1, snapshot_id=published[0].snapshot_id)


def test_gc_needs_the_dagster_instance_to_know_what_consumers_read(store: PortStore):
    code, output = run("store", "gc")
    assert code == 2 and "set DAGSTER_HOME" in output


def test_migrate_turns_the_old_layout_into_delta_tables_keeping_the_data_version(store: PortStore, tmp_path: Path):
    workspace = tmp_path / "no-workspace.yaml"  # none: the old snapshot keeps no policy
    folder = store.home / "dev" / "users" / "profiles" / "v1"
    (folder / "snapshots").mkdir(parents=True)
    old_file = folder / "snapshots" / "20260101T000000Z-abc.parquet"
    pq.write_table(pa.Table.from_pandas(frame(4), preserve_index=False), old_file)
    old_hash = hashlib.sha256(old_file.read_bytes()).hexdigest()
    (folder / "current.json").write_text(json.dumps(
        {"port_id": "users.profiles", "major": 1, "version": "1.3.0", "snapshot_id": "20260101T000000Z-abc",
         "content_hash": old_hash, "rows": 4, "published_at": "2026-01-01T00:00:00+00:00", "path": str(old_file)}
    ))
    with pytest.raises(StoreError, match="mesh store migrate"):
        store.read("users.profiles", 1)

    code, output = run("store", "migrate", "-w", str(workspace))
    assert code == 0, output
    assert "users.profiles v1: now Delta table" in output and "1 port major(s) migrated" in output
    assert f"left: users.profiles v1: no workspace at {workspace}" in output
    loaded, snapshot = store.as_reader("users").read("users.profiles", 1)  # only its producer reads it
    pd.testing.assert_frame_equal(loaded, frame(4))
    assert snapshot.content_hash == old_hash and snapshot.version == "1.3.0" and snapshot.rows == 4
    assert not (folder / "current.json").exists() and not (folder / "snapshots").exists()
    assert "0 port major(s) migrated" in run("store", "migrate", "-w", str(workspace))[1]


def test_a_damaged_old_pointer_is_named_by_migrate(store: PortStore):
    folder = store.home / "dev" / "users" / "profiles" / "v1"
    folder.mkdir(parents=True)
    (folder / "current.json").write_text(json.dumps({"path": None}))
    code, output = run("store", "migrate")
    assert code == 2 and "cannot migrate" in output and str(folder / "current.json") in output


def test_sql_views_follow_the_current_versions_and_never_block_a_publish(store: PortStore):
    store.publish("users.profiles", frame(3), version="1.0.0")
    store.publish("users.profiles", frame(5), version="2.0.0")
    held = connect(store)  # a reader keeps its connection open
    assert held.execute('select count(*) from "users"."profiles"').fetchone() == (5,)
    assert held.execute('select count(*) from "users"."profiles_v1"').fetchone() == (3,)
    store.publish("users.profiles", frame(7), version="1.1.0")  # not blocked by the open connection
    with connect(store) as fresh:
        assert fresh.execute('select count(*) from "users"."profiles_v1"').fetchone() == (7,)
    assert held.execute('select count(*) from "users"."profiles_v1"').fetchone() == (3,)  # its own snapshot, whole
    held.close()
    code, output = run("sql", 'select count(*) as n from "users"."profiles_v1"', "--format", "csv")
    assert code == 0 and output == "n\n7\n"


def test_sql_that_names_no_port_says_which_views_there_are_and_reads_none(store: PortStore):
    store.publish("users.profiles", frame(3), version="1.0.0")
    listed = CliRunner().invoke(main, ["sql", "show tables"], catch_exceptions=False)
    assert listed.exit_code == 0, listed.output
    assert 'note: the query names no port\'s view, so no port is read; the views are "users"."profiles", ' \
           '"users"."profiles_v1"' in listed.stderr
    named = CliRunner().invoke(main, ["sql", 'select count(*) as n from users.profiles', "--format", "csv"])
    assert named.stdout == "n\n3\n" and "note:" not in named.stderr


def test_a_tampered_port_is_an_error_in_sql_not_wrong_rows(store: PortStore):
    snapshot = store.publish("users.profiles", frame(3), version="1.0.0")
    other = store.publish("users.other", frame(9), version="1.0.0")
    Path(snapshot.file_uris[0]).write_bytes(Path(other.file_uris[0]).read_bytes())
    with connect(store) as connection:
        with pytest.raises(duckdb.Error, match="changed since it was published"):
            connection.execute('select * from "users"."profiles"').fetchall()
        assert connection.execute('select count(*) from "users"."other"').fetchone() == (9,)
