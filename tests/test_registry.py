"""The mesh registry in the store: atomic, stamped entries; bad entries are clear MeshErrors that change nothing."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from meshkit import mesh

from mesh_core import Domain, InputPort, MeshError
from mesh_core.manifest import build_manifest
from mesh_core.manifest_format import MANIFEST_VERSION
from mesh_core.registry import Registry, RegistryError, parse_entry

PROFILES = pa.DataFrameSchema({"user_id": pa.Column(int), "email": pa.Column(str)})


def manifest(domain: str = "users", owner: str = "team:users", pins: bool = False) -> dict:
    """A real manifest, as a location's process builds it: one port, pinning users.profiles if ``pins``."""
    built = Domain(domain, owner=owner)
    if pins:
        @built.output_port(contract=PROFILES, version="1.0.0", inputs={
            "profiles": InputPort("users.profiles", version="1", expectations=PROFILES)})
        def listeners(profiles: pd.DataFrame) -> pd.DataFrame:
            """The profiles of listeners."""
            return profiles
    else:
        @built.output_port(contract=PROFILES, version="1.2.0")
        def profiles() -> pd.DataFrame:
            """Mastered customer profiles."""
            return pd.DataFrame()

    return build_manifest(built.definitions(), domain)


def local_registry(mesh_home: Path) -> Registry:
    return Registry.of_store(mesh_home, "dev")


def test_an_entry_is_written_whole_stamped_and_read_back(mesh_home: Path):
    registry = local_registry(mesh_home)

    written = registry.register(manifest(), location="users")

    folder = mesh_home / "dev" / "_registry"
    assert sorted(path.name for path in folder.iterdir()) == [".users.lock", "users.json"], (
        "no temporary file is left behind; the entry's lock stays, hidden, for the next write"
    )
    header = json.loads((folder / "users.json").read_bytes().split(b"\n", 1)[0])
    assert header["manifest_version"] == MANIFEST_VERSION
    assert header["code_version"] == written.code_version and len(written.code_version) == 16
    entry = registry.read("users")
    assert entry == written
    assert [port["id"] for port in entry.manifest["ports"]] == ["users.profiles"]
    assert registry.entries() == {"users": entry}


def test_a_code_change_changes_the_domain_code_version(mesh_home: Path):
    registry = local_registry(mesh_home)
    before = registry.register(manifest(), location="users").code_version
    changed = manifest()
    changed["ports"][0]["code_version"] = "another"
    assert registry.register(changed, location="users").code_version != before


def test_two_domains_claiming_one_name_is_an_error_that_changes_nothing(mesh_home: Path):
    registry = local_registry(mesh_home)
    registry.register(manifest(owner="team:users"), location="users")
    path = Path(registry.file("users"))
    before = path.read_bytes()

    with pytest.raises(MeshError, match="already registered by owner team:users") as raised:
        registry.register(manifest(owner="team:growth"), location="growth_users")

    assert raised.value.domain == "users" and raised.value.file == str(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda header, body: header + b"\n" + body[:40], "damaged registry entry"),
        (lambda header, body: b"{not json\n" + body, "damaged registry entry"),
        (lambda header, body: header + b"\n" + body.replace(b"users.profiles", b"users.profilez"), "checksum"),
        (lambda header, body: header.replace(b'"domain": "users"', b'"domain": "other"') + b"\n" + body, "names domain"),
        (lambda header, body: header.replace(b'"manifest_version": 1', b'"manifest_version": 7') + b"\n" + body,
         "manifest format 7, newer than this mesh-core reads"),
    ],
    ids=["truncated", "not-json", "edited", "renamed", "newer-format"],
)
def test_a_bad_entry_is_a_clear_error_naming_domain_and_file_and_blocks_overwriting(mesh_home: Path, damage, message):
    registry = local_registry(mesh_home)
    registry.register(manifest(), location="users")
    path = Path(registry.file("users"))
    header, body = path.read_bytes().split(b"\n", 1)
    path.write_bytes(damage(header, body))
    damaged = path.read_bytes()

    with pytest.raises(RegistryError, match=message) as raised:
        registry.entries()
    assert (raised.value.domain, raised.value.file) == ("users", str(path))
    with pytest.raises(RegistryError, match=message):
        registry.register(manifest(), location="users")
    assert path.read_bytes() == damaged, "nothing is overwritten while the entry cannot be read"


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_damage_to_an_entry_reads_back_whole_or_is_a_registry_error(mesh_home: Path, data):
    registry = local_registry(mesh_home)
    good = manifest()
    registry.register(good, location="users")
    whole = Path(registry.file("users")).read_bytes()
    position = data.draw(st.integers(min_value=0, max_value=len(whole) - 1))
    replacement = data.draw(st.binary(max_size=4))
    cut = data.draw(st.booleans())
    damaged = whole[:position] if cut else whole[:position] + replacement + whole[position + 1:]
    try:
        entry = parse_entry(damaged, "users", "users.json")
    except RegistryError:
        return
    assert entry.manifest == good


# The `mesh` command on the registry alone: no location is imported, so these run quickly.

def grpc_workspace(folder: Path, location: str = "users") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "workspace.yaml"
    path.write_text(f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: 4266\n      location_name: {location}\n")
    return path


def test_mesh_plan_reads_other_repositories_from_the_registry(mesh_home: Path, tmp_path: Path):
    registry = local_registry(mesh_home)
    registry.register(manifest(), location="users")
    registry.register(manifest("podcasts", "team:podcasts", pins=True), location="podcasts")

    done = mesh("plan", "--format", "json", "--from", "registry", "-w", str(tmp_path / "none.yaml"), cwd=tmp_path)

    assert done.code == 0, done.stderr
    assert done.json()["stages"] == [["users.profiles"], ["podcasts.listeners"]]


def test_a_grpc_location_takes_its_manifest_from_the_registry_by_location_name(mesh_home: Path, tmp_path: Path):
    local_registry(mesh_home).register(manifest(), location="users")
    workspace = grpc_workspace(tmp_path / "repo")

    done = mesh("validate", "--format", "json", "--from", "workspace", "-w", str(workspace), cwd=tmp_path)

    assert done.code == 0, done.stderr
    assert done.json()["errors"] == 0


def test_a_grpc_location_missing_from_the_registry_says_to_run_mesh_register(mesh_home: Path, tmp_path: Path):
    local_registry(mesh_home).register(manifest(), location="users")
    workspace = grpc_workspace(tmp_path / "repo", location="billing")

    done = mesh("validate", "-w", str(workspace), cwd=tmp_path)

    assert done.code == 2
    assert "grpc_server location billing (127.0.0.1:4266) is not in the registry" in done.stderr
    assert "run `mesh register` in that domain's repository" in done.stderr
    assert "Traceback" not in done.stderr


def test_mesh_commands_refuse_a_damaged_entry_and_leave_it_as_it_is(mesh_home: Path, tmp_path: Path):
    registry = local_registry(mesh_home)
    registry.register(manifest(), location="users")
    path = Path(registry.file("users"))
    path.write_bytes(path.read_bytes()[:-30])
    damaged = path.read_bytes()

    done = mesh("plan", "--from", "registry", "-w", str(tmp_path / "none.yaml"), cwd=tmp_path)

    assert done.code == 2
    assert f"domain users ({path}): damaged registry entry" in done.stderr
    assert "Traceback" not in done.stderr
    assert path.read_bytes() == damaged


def test_validate_warns_of_an_entry_holding_other_code_than_the_workspace(mesh_home: Path):
    from mesh_core.mesh.sources import MeshSources, stale_entries

    registered = local_registry(mesh_home).register(manifest(), location="users")
    changed = manifest()
    changed["ports"][0]["code_version"] = "edited since"

    assert stale_entries(MeshSources([manifest()], {"users": registered})) == []
    assert stale_entries(MeshSources([changed], {"users": registered})) == ["users"]


def test_status_marks_a_port_published_by_other_code_after_its_entry(mesh_home: Path, instance):
    import dagster as dg

    from mesh_core.mesh.graph import MeshGraph
    from mesh_core.mesh.status import product_statuses

    registered = local_registry(mesh_home).register(manifest(), location="users")
    graph = MeshGraph.from_manifests([registered.manifest])
    key = dg.AssetKey(["users", "profiles"])
    now = datetime.now(timezone.utc)

    def stale() -> list[str]:
        [status] = product_statuses(graph, instance, now, {"users": local_registry(mesh_home).read("users")})
        return status.stale

    instance.report_runless_asset_event(dg.AssetMaterialization(key, tags={"dagster/code_version": "other code"}))
    assert any("registry entry" in reason for reason in stale())
    code = registered.manifest["ports"][0]["code_version"]
    instance.report_runless_asset_event(dg.AssetMaterialization(key, tags={"dagster/code_version": code}))
    assert not any("registry entry" in reason for reason in stale())


def test_mesh_run_does_not_try_to_start_a_grpc_location(mesh_home: Path, tmp_path: Path):
    local_registry(mesh_home).register(manifest(), location="users")
    workspace = grpc_workspace(tmp_path / "repo")

    done = mesh("run", "-w", str(workspace), cwd=tmp_path)

    assert done.code == 2
    assert "grpc_server location(s) ['users'] run in their own code servers" in done.stderr
    assert not (mesh_home / "dev" / "users" / "profiles").exists()


def test_mesh_register_refuses_an_env_that_would_leave_the_store(mesh_home: Path, tmp_path: Path):
    local_registry(mesh_home).register(manifest(), location="users")
    workspace = grpc_workspace(tmp_path / "repo")

    done = mesh("register", "-w", str(workspace), "--env", "../x", cwd=tmp_path)

    assert done.code == 2 and "--env '../x' is not a valid environment name" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (mesh_home / "x").exists() and not (mesh_home.parent / "x").exists()


def test_an_entry_whose_header_lacks_a_field_is_a_registry_error_naming_the_file(mesh_home: Path, tmp_path: Path):
    registry = local_registry(mesh_home)
    registry.register(manifest(), location="users")
    path = Path(registry.file("users"))
    header, body = path.read_bytes().split(b"\n", 1)
    fields = json.loads(header)
    del fields["registered_at"]
    path.write_bytes(json.dumps(fields).encode() + b"\n" + body)

    with pytest.raises(RegistryError, match="its header has no registered_at") as raised:
        registry.read("users")
    assert raised.value.file == str(path)
    done = mesh("status", "--from", "registry", "-w", str(tmp_path / "none.yaml"), cwd=tmp_path)
    assert done.code == 2 and f"domain users ({path}): damaged registry entry" in done.stderr
    assert "Traceback" not in done.stderr


def test_mesh_unregister_removes_an_entry_for_its_owner_only(mesh_home: Path, tmp_path: Path):
    registry = local_registry(mesh_home)
    registry.register(manifest(), location="users")
    registry.register(manifest("podcasts", "team:podcasts", pins=True), location="podcasts")
    path = Path(registry.file("users"))

    stranger = mesh("unregister", "users", "--owner", "team:growth", cwd=tmp_path)
    assert stranger.code == 2 and "registered by owner team:users" in stranger.stderr
    unknown = mesh("unregister", "users", "-w", str(grpc_workspace(tmp_path / "repo")), cwd=tmp_path)
    assert unknown.code == 2 and "not a location of this workspace" in unknown.stderr
    assert path.exists()

    done = mesh("unregister", "users", "--owner", "team:users", cwd=tmp_path)

    assert done.code == 0, done.stderr
    assert f"removed {path}" in done.stdout
    assert registry.domains() == ["podcasts"]
    again = mesh("unregister", "users", "--owner", "team:users", cwd=tmp_path)
    assert again.code == 2 and "has no registry entry" in again.stderr


def test_two_ports_of_one_domain_registering_at_once_keep_each_others_pins(mesh_home: Path, tmp_path: Path):
    """Two processes read the registry, both before either writes, as two publishes at once do."""
    from registry_race import PORTS, consumer, run_race

    local_registry(mesh_home).register(build_manifest(consumer(), "royalties"), location="royalties")

    run_race(str(mesh_home), tmp_path / "barrier")

    assert local_registry(mesh_home).read("tracks").pinned_by == {f"tracks.{port}": ["royalties"] for port in PORTS}
