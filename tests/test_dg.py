"""Dagster's own `dg` CLI beside `dagster dev`: the repository is a dg workspace (dg.toml) and each
domain a dg project ([tool.dg]) whose code location is the module that assembles the domain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from dagster_dg_cli.cli import cli as dg_cli

from conftest import LOCATIONS, REPO, location_defs, stop_group

DG = str(Path(sys.executable).parent / "dg")


@pytest.fixture
def dg_env(dagster_home: Path, mesh_home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A temporary DAGSTER_HOME (telemetry off) and MESH_HOME, for dg in this process and in subprocesses."""
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
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


@pytest.mark.parametrize(  # artists loads its dbt project: ~50 s on a busy machine
    "name", ["users", "podcasts", pytest.param("artists", marks=pytest.mark.slow)]
)
def test_dg_list_defs_from_the_repository_root_lists_each_domains_assets(
    name: str, dg_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(REPO)
    listed = CliRunner().invoke(dg_cli, ["list", "defs", "--json", "--target-path", f"domains/{name}"])
    assert listed.exit_code == 0, listed.output
    keys = {asset["asset_key"] for asset in json.loads(listed.stdout)["assets"]}
    expected = {key.to_user_string() for key in location_defs(name).resolve_all_asset_keys()}
    assert keys == expected and any(key.startswith(f"{name}/") for key in keys)
