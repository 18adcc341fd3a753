"""The port store: Delta tables per port major, commit metadata, time travel, verification and all-or-nothing publishes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable, write_deltalake

from mesh_core import PortStore, StoreError
from mesh_core import delta as delta_module


def frame(n: int, offset: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"id": range(offset, offset + n), "name": [f"n{i}" for i in range(n)]})


def table_dir(store: PortStore, major: int = 1, port_id: str = "users.profiles") -> Path:
    return Path(store.table_location(port_id, major).uri)


def test_publish_is_one_delta_commit_recording_the_snapshot(store: PortStore):
    snapshot = store.publish("users.profiles", frame(3), version="1.2.0", run_id="run-1", code_version="abc",
                             checks={"contract": True})
    loaded, current = store.read("users.profiles", major=1)
    pd.testing.assert_frame_equal(loaded, frame(3))
    assert current == snapshot and current.verified
    assert snapshot.rows == 3 and snapshot.major == 1 and snapshot.version == "1.2.0"
    folder = store.home / "dev" / "users" / "profiles" / "v1"
    assert snapshot.path == str(folder) and (folder / "_delta_log").is_dir()
    (data_file,) = snapshot.files
    assert snapshot.content_hash == data_file.sha256 == hashlib.sha256((folder / data_file.path).read_bytes()).hexdigest()
    assert snapshot.snapshot_id == f"0-{snapshot.content_hash[:16]}" and snapshot.delta_version == 0
    # The commit itself carries the record, readable by any Delta client.
    (commit,) = DeltaTable(str(folder)).history()
    recorded = json.loads(commit["mesh"])
    assert recorded["snapshot_id"] == snapshot.snapshot_id and recorded["run_id"] == "run-1"
    assert recorded["version"] == "1.2.0" and recorded["code_version"] == "abc" and recorded["rows"] == 3
    assert recorded["checks"] == {"contract": True}
    assert recorded["files"] == [{"path": data_file.path, "sha256": data_file.sha256, "size": data_file.size, "rows": 3}]
    assert DeltaTable(str(folder)).to_pandas().sort_values("id").reset_index(drop=True).equals(frame(3))


def test_a_busy_port_is_checkpointed_so_readers_replay_a_short_log(store: PortStore):
    for rows in range(1, delta_module.CHECKPOINT_INTERVAL + 3):
        store.publish("users.profiles", frame(rows), version="1.0.0")
    log = store.root / "users/profiles/v1/_delta_log"
    assert sorted(p.name for p in log.glob("*.checkpoint.parquet")) == [
        f"{delta_module.CHECKPOINT_INTERVAL - 1:020d}.checkpoint.parquet"
    ]
    current, snapshot = store.read("users.profiles", 1)
    assert len(current) == delta_module.CHECKPOINT_INTERVAL + 2
    assert len(store.snapshots("users.profiles", 1)) == delta_module.CHECKPOINT_INTERVAL + 2


def test_same_content_same_hash_and_new_content_new_hash(store: PortStore):
    first = store.publish("users.profiles", frame(3), version="1.0.0")
    second = store.publish("users.profiles", frame(3), version="1.0.0")
    third = store.publish("users.profiles", frame(4), version="1.0.0")
    assert first.content_hash == second.content_hash != third.content_hash
    assert [s.delta_version for s in (first, second, third)] == [0, 1, 2]
    assert first.snapshot_id != second.snapshot_id
    assert store.current("users.profiles", 1) == third


def test_majors_are_served_side_by_side(store: PortStore):
    store.publish("users.profiles", frame(2), version="1.0.0")
    store.publish("users.profiles", frame(5), version="2.0.0")
    assert store.majors("users.profiles") == [1, 2]
    assert len(store.read("users.profiles", 1)[0]) == 2
    assert len(store.read("users.profiles", 2)[0]) == 5


def test_time_travel_reads_an_earlier_snapshot(store: PortStore):
    old = store.publish("users.profiles", frame(2), version="1.0.0")
    store.publish("users.profiles", frame(5), version="1.1.0")
    assert store.snapshots("users.profiles", 1) == [old.snapshot_id, store.current("users.profiles", 1).snapshot_id]
    loaded, snapshot = store.read("users.profiles", 1, snapshot_id=old.snapshot_id)
    pd.testing.assert_frame_equal(loaded, frame(2))
    assert snapshot == old
    with pytest.raises(StoreError, match=r"no snapshot 7-0123 in v1; retained: \['0-"):
        store.read("users.profiles", 1, snapshot_id="7-0123")
    with pytest.raises(StoreError, match="no snapshot nonsense"):
        store.read("users.profiles", 1, snapshot_id="nonsense")


def test_missing_snapshot_names_port_and_table(store: PortStore):
    with pytest.raises(StoreError, match="materialize the producer first") as raised:
        store.current("users.profiles", 1)
    assert raised.value.domain == "users" and raised.value.port == "users.profiles"
    assert raised.value.file.endswith("users/profiles/v1")
    store.publish("users.profiles", frame(1), version="2.0.0")
    with pytest.raises(StoreError, match=r"published majors are \[2\]"):
        store.current("users.profiles", 1)


def test_a_store_in_the_old_layout_is_refused_with_what_to_do(store: PortStore):
    old = table_dir(store)
    (old / "snapshots").mkdir(parents=True)
    (old / "current.json").write_text(json.dumps({"path": None}))
    for action in (
        lambda: store.current("users.profiles", 1),
        lambda: store.read("users.profiles", 1),
        lambda: store.majors("users.profiles"),
        lambda: store.publish("users.profiles", frame(1), version="1.0.0"),
    ):
        with pytest.raises(StoreError, match=r"old store layout .*run `mesh store migrate`") as raised:
            action()
        assert raised.value.port == "users.profiles" and raised.value.file == str(old)


def test_environments_are_isolated(mesh_home: Path):
    PortStore(mesh_home, "dev").publish("users.profiles", frame(1), version="1.0.0")
    with pytest.raises(StoreError):
        PortStore(mesh_home, "kitchen").current("users.profiles", 1)


def test_internal_assets_round_trip(store: PortStore):
    location = store.write_internal("users", "registrations", frame(4))
    store.write_internal("users", "registrations", frame(6))
    pd.testing.assert_frame_equal(store.read_internal("users", "registrations"), frame(6))
    assert DeltaTable(location).version() == 1
    with pytest.raises(StoreError, match="has not been materialized"):
        store.read_internal("users", "nothing")


def test_a_changed_file_is_caught_at_read_and_named(store: PortStore, monkeypatch: pytest.MonkeyPatch):
    snapshot = store.publish("users.profiles", frame(3), version="1.0.0")
    victim = Path(snapshot.file_uris[0])
    other = store.publish("users.other", frame(9), version="1.0.0")
    victim.write_bytes(Path(other.file_uris[0]).read_bytes())  # another port's file in its place
    with pytest.raises(StoreError, match=f"file {snapshot.files[0].path} of snapshot {snapshot.snapshot_id} changed") as raised:
        store.read("users.profiles", 1)
    assert raised.value.file == str(victim)
    with pytest.raises(StoreError, match="changed since it was published"):
        store.verified(store.current("users.profiles", 1))
    # With verification off, the reader says so instead of checking.
    unverified = PortStore(store.home, "dev", verify=False)
    loaded, read = unverified.read("users.profiles", 1)
    assert len(loaded) == 9 and not read.verified


def test_a_commit_made_outside_the_mesh_is_not_served_as_the_snapshot(store: PortStore):
    store.publish("users.profiles", frame(3), version="1.0.0")
    write_deltalake(str(table_dir(store)), frame(2, offset=100), mode="append")
    with pytest.raises(StoreError, match=r"Delta version 1 \(WRITE\) was not committed by the mesh"):
        store.read("users.profiles", 1)
    # Publishing again repairs it.
    pd.testing.assert_frame_equal(store.read("users.profiles", 1, snapshot_id=store.publish(
        "users.profiles", frame(4), version="1.0.0").snapshot_id)[0], frame(4))
    assert len(store.read("users.profiles", 1)[0]) == 4


def test_an_empty_publish_is_refused_unless_min_rows_allows_it(store: PortStore):
    kept = store.publish("users.profiles", frame(3), version="1.0.0")
    with pytest.raises(StoreError, match=r"refusing to publish 0 row\(s\) to v1: the port requires at least 1"):
        store.publish("users.profiles", frame(0), version="1.0.0")
    assert store.current("users.profiles", 1) == kept
    assert store.publish("users.profiles", frame(0), version="1.0.0", min_rows=0).rows == 0
    assert len(store.read("users.profiles", 1)[0]) == 0


def test_majors_publish_all_or_nothing(store: PortStore):
    """v2 commits first; v1's commit is then refused, so v2 goes back to its previous snapshot."""
    v2_before = store.publish("users.profiles", frame(2), version="2.0.0")
    v1_before = store.publish("users.profiles", frame(2), version="1.0.0")
    DeltaTable(str(table_dir(store, 1))).alter.set_table_properties({"delta.appendOnly": "true"})
    with pytest.raises(StoreError, match="cannot commit v1"):
        store.publish_majors("users.profiles", [(frame(7), "2.1.0"), (frame(7), "1.1.0")])
    loaded, v2_now = store.read("users.profiles", 2)
    pd.testing.assert_frame_equal(loaded, frame(2))
    assert v2_now.content_hash == v2_before.content_hash and v2_now.version == "2.0.0"
    assert store.read("users.profiles", 1)[1] == v1_before
    # A major that did not exist before is removed again.
    with pytest.raises(StoreError, match="cannot commit v1"):
        store.publish_majors("users.profiles", [(frame(7), "3.0.0"), (frame(7), "1.1.0")])
    assert store.majors("users.profiles") == [1, 2]


def test_a_writer_that_loses_the_race_fails_clearly_and_leaves_no_files(store: PortStore, monkeypatch: pytest.MonkeyPatch):
    store.publish("users.profiles", frame(1), version="1.0.0")
    other = PortStore(store.home, "dev")
    write_file = delta_module.write_file

    def write_while_another_commits(location, table):
        monkeypatch.setattr(delta_module, "write_file", write_file)
        other.publish("users.profiles", frame(5), version="1.0.0")  # a real concurrent publish wins
        return write_file(location, table)

    monkeypatch.setattr(delta_module, "write_file", write_while_another_commits)
    with pytest.raises(StoreError, match=r"not published: another publish of v1 committed Delta version 1 \(WRITE\)"):
        store.publish("users.profiles", frame(9), version="1.0.0")
    assert len(store.read("users.profiles", 1)[0]) == 5
    files = {p.name for p in table_dir(store).glob("*.parquet")}
    assert files == {f.path for v in (0, 1) for f in store.snapshot("users.profiles", 1, store.snapshots("users.profiles", 1)[v]).files}


def test_a_concurrent_vacuum_makes_the_commit_retry_and_say_so(store: PortStore, monkeypatch: pytest.MonkeyPatch):
    store.publish("users.profiles", frame(1), version="1.0.0")
    store.publish("users.profiles", frame(2), version="1.0.0")  # the first file is now removed: vacuum deletes it
    write_file = delta_module.write_file

    def write_while_vacuuming(location, table):
        DeltaTable(location.uri).vacuum(retention_hours=0, dry_run=False, enforce_retention_duration=False)
        return write_file(location, table)

    monkeypatch.setattr(delta_module, "write_file", write_while_vacuuming)
    snapshot = store.publish("users.profiles", frame(4), version="1.0.0")
    assert snapshot.retried == 1 and snapshot.delta_version == 4  # after VACUUM START and VACUUM END
    assert store.read("users.profiles", 1)[1] == snapshot


def test_only_repetitive_columns_are_dictionary_encoded_and_the_same_data_gives_the_same_file(store: PortStore):
    import pyarrow.parquet as pq

    rows = 100_000
    data = pd.DataFrame({
        "id": range(rows),  # unique
        "score": [i / rows for i in range(rows)],  # unique
        "country": pd.Categorical(["US", "FR"] * (rows // 2)),  # a pandas category: a dictionary already
        "plan": ["free", "premium", "family", "student"] * (rows // 4),  # four values
    })
    first = store.publish("users.profiles", data, version="1.0.0")
    columns = pq.ParquetFile(first.file_uris[0]).metadata.row_group(0)
    encodings = {columns.column(i).path_in_schema: columns.column(i).encodings for i in range(columns.num_columns)}
    assert {name for name, used in encodings.items() if "RLE_DICTIONARY" in used} == {"country", "plan"}
    again = store.publish("users.profiles", data, version="1.0.0")
    assert again.content_hash == first.content_hash
    assert store.read("users.profiles", 1)[0].equals(data)
