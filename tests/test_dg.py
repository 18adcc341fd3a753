"""Dagster's own `dg` CLI beside `dagster dev`: the repository is a dg workspace (dg.toml) and each
domain a dg project ([tool.dg]) whose code location is the module that assembles the domain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from dagster_dg_cli.cli import cli as dg_cli

from conftest import LOCATIONS, REPO, location_defs, stop_group
from meshkit import copy_mesh, free_port, graphql, mesh

DG = str(Path(sys.executable).parent / "dg")


@pytest.fixture
def dg_env(dagster_home: Path, mesh_home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A temporary DAGSTER_HOME (telemetry off) and MESH_HOME, for dg in this process and in subprocesses."""
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    # dg sets DAGSTER_IS_DEV_CLI in its own process; restore it, so later tests here are not in "dev".
    monkeypatch.setenv("DAGSTER_IS_DEV_CLI", "")
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")  # dbt, for artists
    return {**os.environ, "MESH_HOME": str(mesh_home)}


def test_the_repository_is_a_dg_workspace_of_every_location_in_workspace_yaml():
    workspace = tomllib.loads((REPO / "dg.toml").read_text())
    assert workspace["directory_type"] == "workspace"
    projects = [REPO / project["path"] for project in workspace["workspace"]["projects"]]
    assert projects == [REPO / "domains" / name for name in LOCATIONS]
    for folder, (name, module) in zip(projects, LOCATIONS.items()):
        project = tomllib.loads((folder / "pyproject.toml").read_text())["tool"]["dg"]
        assert project["directory_type"] == "project"
        assert project["project"]["code_location_target_module"] == module
        assert project["project"]["code_location_name"] == name


@pytest.mark.parametrize("name", list(LOCATIONS))
def test_dg_list_defs_from_the_repository_root_lists_each_domains_assets(
    name: str, dg_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(REPO)
    listed = CliRunner().invoke(dg_cli, ["list", "defs", "--json", "--target-path", f"domains/{name}"])
    assert listed.exit_code == 0, listed.output
    keys = {asset["asset_key"] for asset in json.loads(listed.stdout)["assets"]}
    expected = {key.to_user_string() for key in location_defs(name).resolve_all_asset_keys()}
    assert keys == expected and any(key.startswith(f"{name}/") for key in keys)


@pytest.mark.slow
def test_dg_check_defs_from_the_repository_root_loads_every_domain(dg_env: dict[str, str]):
    checked = subprocess.run(
        [DG, "check", "defs", "--use-active-venv"], cwd=REPO, env=dg_env, capture_output=True, text=True, timeout=900
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "All definitions loaded successfully." in checked.stdout + checked.stderr


LOCATION_STATUS = """
{ workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } }
} } } }
"""




@pytest.mark.slow
def test_dg_dev_from_the_repository_root_loads_every_domain(dg_env: dict[str, str], tmp_path: Path):
    port = free_port()
    log_path = tmp_path / "dg-dev.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [DG, "dev", "--use-active-venv", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO, env=dg_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            deadline, entries = time.monotonic() + 600, None
            while not entries or any(entry["loadStatus"] != "LOADED" for entry in entries):
                assert time.monotonic() < deadline, log_path.read_text()[-3000:]
                time.sleep(2)
                try:
                    entries = graphql(f"http://127.0.0.1:{port}", LOCATION_STATUS)["workspaceOrError"]["locationEntries"]
                except OSError:
                    continue  # the webserver is still starting
        finally:
            stop_group(process)
    assert {entry["name"]: entry["locationOrLoadError"]["__typename"] for entry in entries} == {
        name: "RepositoryLocation" for name in LOCATIONS
    }, entries


@pytest.mark.slow
def test_a_new_domain_is_a_dg_project_in_the_dg_workspace_and_passes_dg_check_defs(
    dg_env: dict[str, str], tmp_path: Path
):
    root = copy_mesh(tmp_path / "mesh").parent
    created = mesh("new-domain", "payments", "--consumes", "podcasts.episodes", cwd=root, env=dg_env)
    assert created.code == 0, created.stdout + created.stderr
    workspace = tomllib.loads((root / "dg.toml").read_text())
    assert workspace["workspace"]["projects"][-1] == {"path": "domains/payments"}
    checked = subprocess.run(
        [DG, "check", "defs"], cwd=root / "domains/payments", env=dg_env, capture_output=True, text=True, timeout=900
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "All definitions loaded successfully." in checked.stdout + checked.stderr
