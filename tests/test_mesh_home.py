"""The default and relative MESH_HOME name one store beside workspace.yaml, whichever folder a process starts in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import MeshRunOnce
from mesh_core import MeshSettings, PortStore
from meshkit import copy_mesh

DAGSTER = str(Path(sys.executable).parent / "dagster")


@pytest.fixture
def workspace_tree(tmp_path: Path) -> Path:
    """A workspace root with a domain folder below it, as in the example mesh."""
    root = tmp_path / "mesh"
    (root / "domains" / "users").mkdir(parents=True)
    (root / "workspace.yaml").write_text("load_from: []\n")
    return root


@pytest.mark.parametrize(("raw", "expected"), [(None, ".mesh"), ("", ".mesh"), ("var/store", "var/store")])
def test_unset_or_relative_mesh_home_is_beside_workspace_yaml_from_any_folder_below_it(
    workspace_tree: Path, monkeypatch: pytest.MonkeyPatch, raw: str | None, expected: str
):
    if raw is None:
        monkeypatch.delenv("MESH_HOME")
    else:
        monkeypatch.setenv("MESH_HOME", raw)
    for folder in (workspace_tree, workspace_tree / "domains", workspace_tree / "domains" / "users"):
        monkeypatch.chdir(folder)
        assert MeshSettings.from_env().home == (workspace_tree / expected).resolve()


def test_an_absolute_mesh_home_is_kept(workspace_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MESH_HOME", str(tmp_path / "elsewhere"))
    monkeypatch.chdir(workspace_tree / "domains" / "users")
    assert MeshSettings.from_env().home == tmp_path / "elsewhere"


def test_a_given_workspace_root_wins_over_the_working_directory(tmp_path: Path, workspace_tree: Path, monkeypatch):
    monkeypatch.delenv("MESH_HOME")
    other = tmp_path / "other"
    other.mkdir()
    (other / "workspace.yaml").write_text("load_from: []\n")
    monkeypatch.chdir(other)
    assert MeshSettings.from_env(workspace_root=workspace_tree).home == (workspace_tree / ".mesh").resolve()


def test_without_a_workspace_the_store_is_in_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # A domain lifted into a repository of its own, with no workspace.yaml above it.
    monkeypatch.delenv("MESH_HOME")
    alone = tmp_path / "alone"
    alone.mkdir()
    monkeypatch.chdir(alone)
    assert MeshSettings.from_env().home == (alone / ".mesh").resolve()


def test_mesh_run_with_mesh_home_unset_publishes_every_port_into_one_store_beside_workspace_yaml(
    mesh_run_once: MeshRunOnce,
):
    assert "MESH_HOME" not in mesh_run_once.env()
    assert mesh_run_once.code == 0, mesh_run_once.stdout + mesh_run_once.stderr
    root = mesh_run_once.root
    store = PortStore(root / ".mesh", "dev")
    runs = json.loads(mesh_run_once.stdout)["ports"]
    assert len(runs) == 5
    for run in runs:
        assert run["status"] == "published", run
        assert store.current(run["port_id"], 1).snapshot_id == run["snapshot_id"]
    assert sorted(root.rglob(".mesh")) == [root / ".mesh"], "no stray store in a domain's folder"


@pytest.mark.parametrize("raw", [None, "var/store"], ids=["unset", "relative"])
def test_a_location_started_in_its_own_folder_publishes_into_the_workspace_root_store(
    tmp_path: Path, dagster_home: Path, monkeypatch: pytest.MonkeyPatch, raw: str | None
):
    # How Dagster itself starts a location: no MESH_HOME handed down, its own working directory.
    root = copy_mesh(tmp_path / "mesh").parent
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home)}
    env.pop("MESH_HOME")
    if raw is not None:
        env["MESH_HOME"] = raw
    done = subprocess.run(
        [DAGSTER, "asset", "materialize", "-m", "users_domain.definitions", "-d", ".", "--select", "group:users"],
        cwd=root / "domains" / "users", env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert PortStore(root / (raw or ".mesh"), "dev").current("users.profiles", 1).rows == 1000
    assert not (root / "domains" / "users" / (raw or ".mesh")).exists()


def test_location_processes_get_the_object_store_uri_and_a_local_workdir(tmp_path: Path):
    from mesh_core.settings import location_store_environment

    assert location_store_environment("s3://bucket/mesh/", tmp_path) == {
        "MESH_HOME": "s3://bucket/mesh", "MESH_WORKDIR": str(tmp_path),
    }
    for raw in (None, "", ".mesh", str(tmp_path)):
        assert location_store_environment(raw, tmp_path) == {"MESH_HOME": str(tmp_path), "MESH_WORKDIR": str(tmp_path)}
