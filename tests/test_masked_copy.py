"""The masked copy: written at publish under the publisher's key, read by uncleared readers without any key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pyarrow as pyarrow
import pytest

from mesh_core import Domain, InputPort, MeshError, PortStore, StoreError
from mesh_core.access import ReadPolicy
from mesh_core.masking import key_fingerprint, mask_table
from mesh_core.sql import connect

KEY = "publisher-key-of-prod"
PROFILES = pd.DataFrame({"user_id": [11, 12, 13, 14], "email": ["ann@a.org", "bob@b.org", None, "dee@d.org"]})
PLAYS = pd.DataFrame({"play_id": range(5), "user_id": [11, 11, 12, 13, 99],
                      "email": ["ann@a.org", "ann@a.org", "bob@b.org", None, "zed@z.org"]})
POLICY = ReadPolicy("users", "restricted", consumers=("podcasts", "artists"), pii_cleared=("podcasts",),
                    pii=("email", "user_id"))


def mask_of(text: str) -> str:
    """The mask of ``text``: HMAC-SHA256 under KEY, its first 16 bytes in unpadded base64url."""
    return base64.urlsafe_b64encode(hmac.new(KEY.encode(), text.encode(), hashlib.sha256).digest()[:16]).rstrip(b"=").decode()


@pytest.fixture
def prod(mesh_home: Path, monkeypatch: pytest.MonkeyPatch) -> PortStore:
    """Env ``prod`` published by a publisher holding the key; the test's own environment holds none."""
    monkeypatch.setenv("MESH_ENV", "prod")
    monkeypatch.delenv("MESH_PII_KEY", raising=False)
    publisher = PortStore(mesh_home, "prod", pii_key=KEY)
    publisher.publish("users.profiles", PROFILES, version="1.0.0", policy=POLICY)
    publisher.publish("users.plays", PLAYS, version="1.0.0", policy=POLICY)
    return publisher


def test_an_uncleared_reader_reads_the_masked_copy_without_any_key(prod: PortStore):
    masked, snapshot = PortStore.from_env(reader="artists").read("users.profiles", 1)
    at_read = mask_table(pyarrow.Table.from_pandas(PROFILES), ["email", "user_id"], KEY.encode()).to_pandas()
    pd.testing.assert_frame_equal(masked, at_read)  # the values masking at read gives, dtypes kept
    assert masked["email"][0] == mask_of("ann@a.org") and snapshot.masked == ("email", "user_id")
    assert snapshot.masking_key_id == key_fingerprint(KEY.encode()) and KEY not in str(snapshot)
    # Joins on masked keys across ports still hold, and the SQL views read the same copy without a key.
    plays = PortStore.from_env(reader="artists").read("users.plays", 1)[0]
    assert len(plays.merge(masked, on="user_id")) == len(PLAYS.merge(PROFILES, on="user_id")) == 4
    with connect(reader="artists") as sql:
        view = sql.sql('SELECT email FROM "users"."profiles"').df()["email"]
        assert view.tolist() == masked["email"].tolist()
        assert "_masked/masked-" in str(sql.sql("SELECT sql FROM duckdb_views()").fetchall())
    clear, _ = PortStore.from_env(reader="podcasts").read("users.profiles", 1)
    pd.testing.assert_frame_equal(clear, PROFILES)


def test_a_dagster_run_of_an_uncleared_consumer_reads_the_masked_copy_without_a_key(prod, instance):
    import dagster as dg
    from conftest import materialize

    artists = Domain("artists", owner="team:artists")

    @artists.output_port(contract=pa.DataFrameSchema({"user_id": pa.Column(int), "email": pa.Column(str, nullable=True)}),
                         version="1.0.0", inputs={"profiles": InputPort("users.profiles", version="1")})
    def contacts(profiles: pd.DataFrame) -> pd.DataFrame:
        return profiles

    result = materialize(artists.definitions(), instance)
    published = prod.as_reader("artists").read("artists.contacts", 1)[0]
    assert result.success and published["email"].tolist()[:2] == [mask_of("ann@a.org"), mask_of("bob@b.org")]
    event = instance.get_latest_materialization_event(dg.AssetKey(["artists", "contacts"]))
    assert event.asset_materialization.metadata["mesh/inputs"].value["users.profiles"]["masked"] == ["email", "user_id"]


def test_the_masked_files_hold_no_clear_value_and_a_tampered_one_is_refused_by_name(prod: PortStore):
    snapshot = prod.current("users.profiles", 1)
    [masked_file] = [Path(uri) for uri in snapshot.masked_copy().file_uris]
    assert masked_file.parent.name == "_masked"
    log = b"".join(path.read_bytes() for path in Path(snapshot.path, "_delta_log").iterdir())
    for clear in (b"ann@a.org", b"bob@b.org", KEY.encode()):
        assert clear not in masked_file.read_bytes() and clear not in log
    masked_file.write_bytes(Path(prod.current("users.plays", 1).masked_copy().file_uris[0]).read_bytes())
    with pytest.raises(StoreError) as refused:
        PortStore.from_env(reader="artists").read("users.profiles", 1)
    assert f"_masked/{masked_file.name}" in str(refused.value) and "changed since it was published" in str(refused.value)
    assert len(PortStore.from_env(reader="podcasts").read("users.profiles", 1)[0]) == 4  # the clear data is intact


def test_without_a_masked_copy_a_keyless_reader_is_told_what_to_run(mesh_home: Path, monkeypatch):
    monkeypatch.setenv("MESH_ENV", "prod")
    monkeypatch.delenv("MESH_PII_KEY", raising=False)
    snapshot = PortStore(mesh_home, "prod").publish("users.profiles", PROFILES, version="1.0.0", policy=POLICY)
    assert snapshot.masked_files == ()  # the publisher had no key: nothing to mask with
    with pytest.raises(MeshError) as refused:
        PortStore.from_env(reader="artists").read("users.profiles", 1)
    assert "has no masked copy" in str(refused.value) and "mesh store migrate" in str(refused.value)
    monkeypatch.setenv("MESH_PII_KEY", KEY)
    masked = PortStore.from_env(reader="artists").read("users.profiles", 1)[0]  # masked at read, with the key
    assert masked["email"][0] == mask_of("ann@a.org")


KILLED_PUBLISHER = """
import os, signal, sys
import pandas as pd
from mesh_core import PortStore, delta
from mesh_core.access import ReadPolicy
write_file, moment = delta.write_file, sys.argv[2]

def killing(location, table, folder=None, *args):
    if folder and moment == "before-masked":
        os.kill(os.getpid(), signal.SIGKILL)
    written = write_file(location, table, folder, *args)
    if folder and moment == "after-masked":
        os.kill(os.getpid(), signal.SIGKILL)
    return written

delta.write_file = killing
policy = ReadPolicy("users", "restricted", ("podcasts", "artists"), ("podcasts",), ("email", "user_id"))
new = pd.DataFrame({"user_id": [21, 22], "email": ["new@n.org", "nub@n.org"]})
PortStore(sys.argv[1], "prod", pii_key="publisher-key-of-prod").publish("users.profiles", new, version="1.0.0",
                                                                         policy=policy)
print("published", flush=True)
"""


@pytest.mark.parametrize("moment", ["before-masked", "after-masked"])
def test_a_publisher_killed_between_the_clear_and_masked_writes_leaves_the_previous_snapshot(prod, mesh_home, moment):
    before = prod.current("users.profiles", 1)
    killed = subprocess.run([sys.executable, "-c", KILLED_PUBLISHER, str(mesh_home), moment],
                            capture_output=True, text=True, timeout=120, env={**os.environ})
    assert killed.returncode == -signal.SIGKILL and "published" not in killed.stdout, killed.stderr
    table = Path(before.path)
    assert len(list(table.glob("part-*.parquet"))) == 2  # the killed publish's clear file was written...
    assert len(list(table.glob("_masked/*.parquet"))) == (2 if moment == "after-masked" else 1)
    assert prod.current("users.profiles", 1) == before  # ...and never committed
    masked = PortStore.from_env(reader="artists").read("users.profiles", 1)[0]
    assert masked["email"][0] == mask_of("ann@a.org")
    pd.testing.assert_frame_equal(PortStore.from_env(reader="podcasts").read("users.profiles", 1)[0], PROFILES)


LOCATION = '''
import pandas as pd
import pandera.pandas as pa
from datetime import timedelta
from mesh_core import Clearance, Domain

users = Domain("users", owner="team:users")


@users.output_port(
    contract=pa.DataFrameSchema({"user_id": pa.Column(int, unique=True),
                                 "email": pa.Column(str, nullable=True, metadata={"pii": True})}),
    version="1.0.0", access="restricted", description="Profiles.", freshness=timedelta(days=1),
    consumers={"podcasts": Clearance(pii=True), "artists": Clearance(pii=False)},
)
def profiles() -> pd.DataFrame:
    return pd.DataFrame({"user_id": [1], "email": ["x@y.z"]})


defs = users.definitions()
'''


def pre_policy_snapshot(store: PortStore, frame: pd.DataFrame) -> str:
    """Commit ``frame`` as the previous store version did: mesh metadata without a read policy."""
    from datetime import datetime, timezone

    from mesh_core import delta

    location = store.table_location("users.profiles", 1)
    table = pyarrow.Table.from_pandas(frame, preserve_index=False)
    data_file = delta.write_file(location, table)
    recorded = {"port_id": "users.profiles", "major": 1, "version": "1.0.0", "snapshot_id": f"0-{data_file.sha256[:16]}",
                "content_hash": data_file.sha256, "rows": len(frame), "delta_version": 0,
                "published_at": datetime.now(timezone.utc).isoformat(), "run_id": None, "code_version": None,
                "checks": {}, "files": [{"path": data_file.path, "sha256": data_file.sha256, "size": data_file.size,
                                         "rows": data_file.rows}]}
    delta.commit(location, [data_file], table.schema, recorded, None)
    return data_file.sha256


def test_a_snapshot_without_a_read_policy_is_refused_to_others_until_mesh_store_migrate(mesh_home, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from mesh_core.mesh.cli import main

    monkeypatch.setenv("MESH_PII_KEY", KEY)
    store = PortStore(mesh_home, "dev", pii_key=KEY)
    content_hash = pre_policy_snapshot(store, PROFILES)
    for reader in ("artists", "podcasts", None):
        with pytest.raises(MeshError, match="published before read policies were recorded.*mesh store migrate"):
            store.as_reader(reader).read("users.profiles", 1)
    pd.testing.assert_frame_equal(store.as_reader("users").read("users.profiles", 1)[0], PROFILES)  # its producer

    (tmp_path / "users_location.py").write_text(LOCATION)
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text("load_from:\n  - python_file:\n      relative_path: users_location.py\n"
                         "      location_name: users\n")
    result = CliRunner().invoke(main, ["store", "migrate", "-w", str(workspace)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "users.profiles v1: read policy recorded (1-" in result.output and "with its masked copy" in result.output

    monkeypatch.delenv("MESH_PII_KEY")
    masked, snapshot = PortStore(mesh_home, "dev").as_reader("artists").read("users.profiles", 1)
    assert snapshot.content_hash == content_hash and snapshot.snapshot_id == f"1-{content_hash[:16]}"
    assert snapshot.masked_files and masked["email"][0] == mask_of("ann@a.org")
    pd.testing.assert_frame_equal(PortStore(mesh_home, "dev").as_reader("podcasts").read("users.profiles", 1)[0],
                                  PROFILES)
    with pytest.raises(MeshError, match="its access is restricted"):
        PortStore(mesh_home, "dev").as_reader("labels").read("users.profiles", 1)
    again = CliRunner().invoke(main, ["store", "migrate", "-w", str(workspace)], catch_exceptions=False)
    assert again.output.strip().endswith("0 port major(s) migrated, 0 snapshot(s) stamped")


def test_gc_removes_the_masked_copies_of_vacuumed_snapshots_and_keeps_the_current_one(mesh_home: Path):
    from mesh_core.mesh.store_gc import collect

    store = PortStore(mesh_home, "dev", pii_key=KEY, retain=1)
    published = [store.publish("users.profiles", PROFILES.head(n), version="1.0.0", policy=POLICY) for n in (2, 3, 4)]
    folder = Path(published[-1].path) / "_masked"
    assert len(list(folder.iterdir())) == 3
    [table] = [t for t in collect(store, {}, dry_run=False, grace_hours=0) if t.table == published[-1].path]
    assert {p for p in table.removed if p.startswith("_masked/")} == {
        f.path for s in published[:2] for f in s.masked_files
    }
    assert [p.name for p in folder.iterdir()] == [Path(published[-1].masked_files[0].path).name]
    masked = PortStore(mesh_home, "dev").as_reader("artists").read("users.profiles", 1)[0]
    assert len(masked) == 4 and masked["email"][0] == mask_of("ann@a.org")


def test_a_kitchen_reads_its_parent_s_masked_copy_without_a_key(prod: PortStore, mesh_home: Path):
    from mesh_core.kitchens import write_kitchen_record

    kitchen = PortStore(mesh_home, "try-it")
    write_kitchen_record(kitchen.location, "try-it", "prod")
    masked, snapshot = kitchen.as_reader("artists").read("users.profiles", 1)
    assert snapshot.path == prod.current("users.profiles", 1).path  # the parent's table, not copied
    assert masked["email"][0] == mask_of("ann@a.org")
    with connect(kitchen.as_reader("artists")) as sql:
        assert sql.sql('SELECT email FROM "parent"."users"."profiles"').df()["email"].tolist() == masked["email"].tolist()
    # The kitchen's own publish masks as its chain's root: its copy's values equal the parent's.
    rebuilt = PortStore(mesh_home, "try-it", pii_key=KEY).publish("users.profiles", PROFILES, version="1.0.0",
                                                                  policy=POLICY)
    assert rebuilt.masking_key_id == snapshot.masking_key_id
    pd.testing.assert_frame_equal(kitchen.as_reader("artists").read("users.profiles", 1)[0], masked)


def test_a_dbt_domain_s_source_is_a_view_over_the_masked_copy_without_a_key(prod: PortStore, tmp_path: Path):
    import duckdb

    from mesh_core.dbt.sources import SOURCE_SCHEMA, pin_sources

    database = tmp_path / "artists.duckdb"
    pinned = pin_sources(PortStore.from_env(reader="artists"), database,
                         {"profiles": InputPort("users.profiles", version="1")}, "artists")
    assert pinned["users.profiles"]["masked"] == ["email", "user_id"]
    with duckdb.connect(str(database), read_only=True) as connection:
        [(definition,)] = connection.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'profiles'").fetchall()
        emails = connection.sql(f'SELECT email FROM "{SOURCE_SCHEMA}"."profiles"').df()["email"].tolist()
    assert "/_masked/masked-" in definition and "ann@a.org" not in definition
    assert emails[:2] == [mask_of("ann@a.org"), mask_of("bob@b.org")]
