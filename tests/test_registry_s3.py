"""The registry on object storage (moto's S3 server on loopback), with credentials in the environment."""

from __future__ import annotations

import boto3
import pytest
from meshkit import mesh
from test_registry import grpc_workspace, manifest
from test_store_s3 import BUCKET, SECRET, s3_endpoint, s3_home  # noqa: F401 - fixtures

from mesh_core.registry import Registry, RegistryError
from mesh_core.settings import MeshSettings

pytestmark = pytest.mark.slow  # starts moto's S3 server; CI runs it with -m slow


def s3_registry() -> Registry:
    settings = MeshSettings.from_env()
    return Registry.of_store(settings.store_uri, settings.env, settings.storage_options)


def test_an_entry_on_s3_is_one_object_read_back_whole(s3_home: str, s3_endpoint: str):  # noqa: F811
    registry = s3_registry()

    written = registry.register(manifest(), location="users")

    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    prefix = s3_home.removeprefix(f"s3://{BUCKET}/") + "/dev/_registry/"
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]
    assert [item["Key"] for item in listed] == [prefix + "users.json"]
    assert registry.entries() == {"users": written}
    assert written.file == f"{s3_home}/dev/_registry/users.json"


def test_bad_entries_on_s3_are_clear_errors_without_credentials(s3_home: str, s3_endpoint: str, tmp_path):  # noqa: F811
    registry = s3_registry()
    registry.register(manifest(), location="users")
    with pytest.raises(RegistryError) as claimed:
        registry.register(manifest(owner="team:growth"), location="growth")
    missing = mesh("validate", "-w", str(grpc_workspace(tmp_path / "repo", location="billing")), cwd=tmp_path)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    key = s3_home.removeprefix(f"s3://{BUCKET}/") + "/dev/_registry/users.json"
    client.put_object(Bucket=BUCKET, Key=key, Body=b"{\"manifest_version\": 1}\n{}")
    with pytest.raises(RegistryError, match="damaged registry entry") as damaged:
        registry.entries()

    plan = mesh("plan", "--from", "registry", "-w", str(tmp_path / "none.yaml"), cwd=tmp_path)

    assert plan.code == 2 and "damaged registry entry" in plan.stderr
    assert missing.code == 2 and "grpc_server location billing" in missing.stderr
    for text in (str(claimed.value), str(damaged.value), plan.stdout, plan.stderr, missing.stdout, missing.stderr):
        assert SECRET not in text
    assert client.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"{\"manifest_version\": 1}\n{}"


def test_an_entry_changed_on_s3_between_read_and_write_is_read_again_and_merged(
    s3_home: str, monkeypatch: pytest.MonkeyPatch  # noqa: F811
):
    """Another port's publish lands between this write's read and its PUT: the PUT fails (412), is made again."""
    registry, other = s3_registry(), s3_registry()
    registry.register(manifest(), location="users", pins=("users.profiles", ["podcasts"]))
    read = Registry._read_versioned
    interleaved = []

    def read_then_someone_writes(self: Registry, domain: str):
        found = read(self, domain)
        if self is registry and not interleaved:
            interleaved.append(other.register(manifest(), location="users", pins=("users.emails", ["artists"])))
        return found

    monkeypatch.setattr(Registry, "_read_versioned", read_then_someone_writes)

    registry.register(manifest(), location="users", pins=("users.profiles", ["podcasts", "billing"]))

    assert interleaved, "the other write landed in between"
    assert registry.read("users").pinned_by == {"users.profiles": ["podcasts", "billing"], "users.emails": ["artists"]}
