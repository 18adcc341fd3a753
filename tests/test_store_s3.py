"""The store on object storage: MESH_HOME=s3://bucket/prefix against moto's S3 server on loopback.

The server is a real HTTP S3 API (moto's server mode) started and stopped here; no client
call is patched. Commits use conditional writes (``AWS_CONDITIONAL_PUT=etag``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pandas as pd
import pyarrow as pa
import pytest
from conftest import LOCATIONS, latest_materialization, location_defs, materialize
from moto_s3 import s3_server
from test_store_faults import concurrent_pairs, kill_writers
from test_store_in_runs import GOOD, consumer, producer

from mesh_core import PortStore, StoreError, delta
from mesh_core.settings import MeshSettings

SECRET = "s3cr3t-never-shown"
BUCKET = "mesh"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with s3_server() as address:
        yield f"http://{address}"


@pytest.fixture
def s3_home(s3_endpoint: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh prefix in the bucket as MESH_HOME, with credentials in the standard variables."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "mesh-test", "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": s3_endpoint, "AWS_ALLOW_HTTP": "true",
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    if BUCKET not in [bucket["Name"] for bucket in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=BUCKET)
    home = f"s3://{BUCKET}/{request.node.name}"
    monkeypatch.setenv("MESH_HOME", home)
    return home


def s3_store() -> PortStore:
    return PortStore.from_env()


def objects(s3_endpoint: str, prefix: str) -> set[str]:
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"id": range(n), "name": [f"n{i}" for i in range(n)]})


def test_settings_take_the_store_uri_and_options_from_the_environment(s3_home: str):
    settings = MeshSettings.from_env()
    assert settings.store_uri == s3_home and settings.storage_options["AWS_CONDITIONAL_PUT"] == "etag"
    assert SECRET not in repr(settings)


def test_publish_read_time_travel_and_tampering_on_s3(s3_home: str, s3_endpoint: str):
    store = s3_store()
    first = store.publish("users.profiles", frame(3), version="1.0.0")
    second = store.publish("users.profiles", frame(5), version="1.1.0")
    store.publish("users.profiles", frame(2), version="2.0.0")
    assert first.path == f"{s3_home}/dev/users/profiles/v1"
    assert store.majors("users.profiles") == [1, 2]
    loaded, current = store.read("users.profiles", 1)
    pd.testing.assert_frame_equal(loaded, frame(5))
    assert current == second and current.verified
    pd.testing.assert_frame_equal(store.read("users.profiles", 1, snapshot_id=first.snapshot_id)[0], frame(3))
    store.write_internal("users", "registrations", frame(4))
    pd.testing.assert_frame_equal(store.read_internal("users", "registrations"), frame(4))
    assert objects(s3_endpoint, f"{s3_home[len('s3://mesh/'):]}/dev/users/profiles/v1/_delta_log/")

    key = f"{s3_home[len('s3://mesh/'):]}/dev/users/profiles/v1/{second.files[0].path}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").put_object(
        Bucket=BUCKET, Key=key, Body=b"not the data"
    )
    with pytest.raises(StoreError, match="changed since it was published") as raised:
        store.read("users.profiles", 1)
    assert raised.value.file == f"s3://{BUCKET}/{key}"
    assert SECRET not in str(raised.value)


def test_errors_never_show_the_credentials(s3_home: str, monkeypatch: pytest.MonkeyPatch):
    store = s3_store()
    with pytest.raises(StoreError) as missing:
        store.read("users.profiles", 1)
    monkeypatch.setenv("MESH_HOME", "s3://no-such-bucket/mesh")
    with pytest.raises(StoreError) as denied:
        s3_store().publish("users.profiles", frame(1), version="1.0.0")
    for error in (missing.value, denied.value):
        assert SECRET not in str(error) and "mesh-test" not in str(error)


def test_io_manager_and_publish_through_dagster_on_s3(s3_home: str, instance):
    assert materialize(producer([GOOD]), instance).success
    assert materialize(consumer(), instance).success
    store = s3_store()
    read = latest_materialization(instance, "royalties/owed").metadata["mesh/inputs"].value["tracks.catalog"]
    assert read["snapshot_id"] == store.current("tracks.catalog", 1).snapshot_id and read["verified"] is True
    metadata = latest_materialization(instance, "royalties/owed").metadata
    assert metadata["dagster/uri"].value.startswith(s3_home)
    assert SECRET not in json.dumps({k: str(v.value) for k, v in metadata.items()})


def test_concurrent_writers_on_s3(s3_home: str):
    concurrent_pairs(s3_store(), s3_home, pairs=6, slow_rows=400_000)


def test_a_killed_writer_on_s3_leaves_the_last_good_version(s3_home: str):
    kill_writers(s3_store(), s3_home, kills=2, rows=300_000)


def test_vacuum_on_s3_removes_a_killed_writers_file_and_old_versions(s3_home: str, s3_endpoint: str):
    from mesh_core.mesh.store_gc import collect

    store = s3_store()
    published = [store.publish("users.profiles", frame(n + 1), version="1.0.0") for n in range(12)]
    location = store.table_location("users.profiles", 1)
    orphan = delta.write_file(location, pa.Table.from_pandas(frame(50)))
    pinned = {("users.profiles", 1): {published[0].delta_version}}
    [result] = collect(store, pinned, dry_run=False, grace_hours=0)
    prefix = f"{s3_home[len('s3://mesh/'):]}/dev/users/profiles/v1/"
    left = {Path(key).name for key in objects(s3_endpoint, prefix) if "_delta_log" not in key}
    assert orphan.path in result.removed and orphan.path not in left
    assert left == {f.path for s in [published[0], *published[2:]] for f in s.files}
    assert store.read("users.profiles", 1, snapshot_id=published[0].snapshot_id)[1] == published[0]
    assert len(store.read("users.profiles", 1)[0]) == 12


def test_sql_reads_ports_on_s3(s3_home: str):
    from mesh_core.sql import connect

    store = s3_store()
    store.publish("users.profiles", frame(4), version="1.0.0")
    with connect(store) as connection:
        assert connection.execute('select count(*) from "users"."profiles"').fetchone() == (4,)


def test_sql_masks_ports_on_s3_and_registers_no_clear_data(s3_home: str, monkeypatch: pytest.MonkeyPatch):
    from mesh_core.access import ReadPolicy
    from mesh_core.sql import connect

    monkeypatch.setenv("MESH_PII_KEY", "s3-masking-key-for-tests")
    policy = ReadPolicy("users", "public", pii=("email",))
    s3_store().publish("users.profiles", pd.DataFrame({"user_id": [1, 2], "email": ["a@x.org", "b@y.org"]}),
                       version="1.0.0", policy=policy)
    expected = s3_store().read("users.profiles", 1)[0]["email"].tolist()
    with connect(s3_store()) as connection:
        assert [row[0] for row in connection.sql('select email from "users"."profiles" order by user_id').fetchall()] \
            == expected
        relations = connection.sql("select database_name, schema_name, table_name from duckdb_tables() union all "
                                    "select database_name, schema_name, view_name from duckdb_views() "
                                    "where not internal").fetchall()
        assert len(relations) >= 2, relations  # the views, and the masked data they read
        for name in relations:
            assert "@" not in str(connection.sql("select * from " + ".".join(f'"{part}"' for part in name)).fetchall())


@pytest.fixture
def fresh_domains():
    """The example domains imported anew for one test, and this process's own modules restored after it.

    Their Definitions are built at import from the environment (MESH_PII_KEY among it); later tests must not
    inherit the ones built here.
    """
    ours = {"users_domain", "podcasts_domain", "artists_domain"}
    saved = {name: sys.modules.pop(name) for name in [m for m in sys.modules if m.split(".")[0] in ours]}
    yield
    for name in [m for m in sys.modules if m.split(".")[0] in ours]:
        del sys.modules[name]
    sys.modules.update(saved)


def test_the_example_mesh_runs_on_s3_dbt_sources_included(
    s3_home: str, instance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_domains
):
    monkeypatch.setenv("MESH_WORKDIR", str(tmp_path / "work"))
    monkeypatch.setenv("MESH_PII_KEY", "s3-masking-key-for-tests")  # artists reads users.profiles' email masked
    for domain in LOCATIONS:
        assert materialize(location_defs(domain), instance).success
    store = s3_store().as_reader("artists")  # payouts is private to artists
    payouts, snapshot = store.read("artists.payouts", 1)
    assert snapshot.path == f"{s3_home}/dev/artists/payouts/v1" and len(payouts) > 0
    read = latest_materialization(instance, "artists/payouts").metadata["mesh/inputs"].value
    assert read["podcasts.plays"]["snapshot_id"] == store.current("podcasts.plays", 1).snapshot_id
    assert read["podcasts.plays"]["verified"] is True
    assert (tmp_path / "work" / "dev" / "dbt" / "artists" / "artists.duckdb").exists()  # dbt works locally
