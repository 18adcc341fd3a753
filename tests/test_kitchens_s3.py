"""Kitchens on object storage: MESH_HOME=s3://… against moto's S3 server on loopback (see test_store_s3)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import boto3
import pandas as pd
import pytest
from test_store_s3 import BUCKET, s3_endpoint, s3_home  # noqa: F401  (fixtures)

from mesh_core import MeshError, MeshSettings, PortStore
from mesh_core.audit_trail import read_audit
from mesh_core.mesh.kitchen import create_kitchen, destroy_kitchen, list_kitchens
from mesh_core.sql import connect

pytestmark = pytest.mark.slow  # starts moto's S3 server; CI runs it with -m slow

PROFILES = pd.DataFrame({"user_id": [1, 2, 3], "country": ["FR", "DE", "FR"]})


def objects(endpoint: str, prefix: str) -> dict[str, str]:
    """Every object under ``prefix`` with its ETag."""
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return {item["Key"]: item["ETag"] for page in pages for item in page.get("Contents", [])}


def test_a_kitchen_on_s3_reads_through_its_parent_writes_its_own_and_is_destroyed_alone(
    s3_home: str, s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
):
    monkeypatch.setenv("MESH_WORKDIR", str(tmp_path / "work"))
    prefix = s3_home.removeprefix(f"s3://{BUCKET}/")
    dev = PortStore.from_env()
    dev.publish("users.profiles", PROFILES, version="1.0.0")
    dev.publish("podcasts.plays", pd.DataFrame({"play_id": [1, 2], "user_id": [1, 3]}), version="1.0.0")
    before = objects(s3_endpoint, f"{prefix}/dev/")
    settings = MeshSettings.from_env()

    made = create_kitchen(settings, "k")
    assert list(objects(s3_endpoint, f"{prefix}/k/")) == [f"{prefix}/k/_kitchen.json"], "nothing copied"
    assert made.dagster_home == tmp_path / "work" / "k" / "_dagster" and made.dagster_home.is_dir()
    monkeypatch.setenv("MESH_ENV", "k")
    kitchen = PortStore.from_env()
    frame, snapshot = kitchen.read("users.profiles", 1)
    pd.testing.assert_frame_equal(frame, PROFILES)
    assert snapshot == dev.current("users.profiles", 1)
    kitchen.publish("podcasts.plays", pd.DataFrame({"play_id": [1], "user_id": [1]}), version="1.0.0")
    assert kitchen.current("podcasts.plays", 1).path == f"{s3_home}/k/podcasts/plays/v1"

    with connect(kitchen) as connection:
        assert connection.execute(
            "SELECT (SELECT count(*) FROM podcasts.plays), (SELECT count(*) FROM parent.podcasts.plays),"
            " (SELECT count(*) FROM users.profiles)"
        ).fetchone() == (1, 2, 3)

    create_kitchen(settings, "k2", parent="k")
    monkeypatch.setenv("MESH_ENV", "k2")
    assert PortStore.from_env().read("podcasts.plays", 1)[0]["play_id"].tolist() == [1], "through the chain"
    assert [k.name for k in list_kitchens(settings)] == ["k", "k2"]
    destroy_kitchen(settings, "k2")
    with pytest.raises(MeshError, match="'dev' is a shared environment"):
        destroy_kitchen(settings, "dev")
    destroy_kitchen(settings, "k")

    markers = {f"{prefix}/k/", f"{prefix}/k2/"}  # empty folder markers
    kept = [key for key in [*objects(s3_endpoint, f"{prefix}/k/"), *objects(s3_endpoint, f"{prefix}/k2/")]
            if key not in markers]
    assert kept and all(key.startswith((f"{prefix}/k/_audit/", f"{prefix}/k2/_audit/")) for key in kept), kept
    assert not (tmp_path / "work" / "k").exists()
    assert objects(s3_endpoint, f"{prefix}/dev/") == before, "dev's objects are the same, ETag for ETag"
    assert list_kitchens(settings) == []
    reads = read_audit(replace(settings, env="k"), port="users.profiles")
    # k's reads of dev's users.profiles outlive k: PortStore.read, and connect()'s views (k's and the attached parent's)
    assert reads["action"].tolist() == ["read"] * 3 and reads["reader"].isna().all()
    with pytest.raises(MeshError, match="no environment 'k'"):
        create_kitchen(settings, "k3", parent="k")
