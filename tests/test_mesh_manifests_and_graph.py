"""Manifests (round trip, cache, own interpreter) and the graph commands on the example mesh."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from conftest import LOCATIONS, REPO, location_defs
from mesh_core.errors import WorkspaceError
from mesh_core.manifest_format import manifests_dir, read_cached_manifest
from mesh_core.manifest import build_manifest
from mesh_core.mesh.manifests import load_manifests
from mesh_core.mesh.workspace import load_workspace
from meshkit import copy_mesh, edit, mesh


@pytest.mark.parametrize("location", sorted(LOCATIONS))
def test_manifest_round_trips_through_json(location: str):
    manifest = build_manifest(location_defs(location), location)
    assert json.loads(json.dumps(manifest)) == manifest
    assert manifest["domain"]["name"] == location
    for port in manifest["ports"]:
        assert port["id"].startswith(f"{location}.") and port["asset_key"] == port["id"].split(".")
        assert port["owner"] == f"team:{location}"
        assert set(port["contract"]["columns"]) and port["version"] == "1.0.0"


def test_manifest_carries_pins_expectations_access_and_sla():
    payouts = next(p for p in build_manifest(location_defs("artists"), "artists")["ports"] if p["id"] == "artists.payouts")
    reads = {read["port_id"]: read for read in payouts["inputs"]}
    assert set(reads) == {"podcasts.plays", "users.profiles"}
    assert reads["podcasts.plays"]["major"] == 1
    assert reads["podcasts.plays"]["expectations"]["columns"]["artist_id"]["nullable"] is False
    assert reads["users.profiles"]["expectations"] is None
    profiles = build_manifest(location_defs("users"), "users")["ports"][0]
    assert (profiles["access"], profiles["consumers"], profiles["freshness_seconds"]) == (
        "restricted", ["podcasts", "artists"], 86400.0
    )
    assert profiles["contract"]["columns"]["email"]["pii"] is True
    # users.profiles reads nothing from other domains; its feed is a local internal asset.
    assert profiles["inputs"] == []


def test_second_load_imports_nothing_and_a_change_invalidates_it(tmp_path: Path, mesh_home: Path):
    workspace = copy_mesh(tmp_path / "mesh")
    locations = load_workspace(workspace)
    first = load_manifests(locations, mesh_home)
    assert {p.name for p in manifests_dir(mesh_home).glob("*.json")} == {"users.json", "podcasts.json", "artists.json"}

    loaded = []
    init = workspace.parent / "domains/podcasts/podcasts_domain/__init__.py"
    init.write_text(init.read_text())  # touched, same content
    assert load_manifests(locations, mesh_home, on_loaded=loaded.append) == first
    assert loaded == [], "a valid cache must not import any domain"

    init.write_text(init.read_text() + "raise RuntimeError('imported')\n")
    with pytest.raises(WorkspaceError, match=r"podcasts: RuntimeError: imported"):
        load_manifests(locations, mesh_home, on_loaded=loaded.append)
    assert loaded == ["podcasts"], "only the changed location is loaded again"


def test_a_location_loads_in_its_own_executable(tmp_path: Path):
    """A second interpreter (a venv of its own that sees this one's packages) loads the artists location."""
    venv = tmp_path / "artists-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    own_python = venv / "bin" / "python"
    site = subprocess.run(
        [str(own_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    parent = sysconfig.get_paths()["purelib"]
    Path(site, "parent-env.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    root = copy_mesh(tmp_path / "mesh").parent
    edit(
        root / "workspace.yaml",
        "      working_directory: domains/artists\n",
        f"      working_directory: domains/artists\n      executable_path: {own_python}\n",
    )
    assert mesh("graph", cwd=root).code == 0
    manifests = {p.stem: read_cached_manifest(p) for p in manifests_dir(Path(os.environ["MESH_HOME"])).glob("*.json")}
    assert manifests["artists"]["interpreter"] == str(own_python)
    assert Path(manifests["users"]["interpreter"]).parent == Path(sys.executable).parent


def test_plan_gives_the_diamond_order():
    result = mesh("plan", "--format", "json", cwd=REPO)
    assert result.code == 0, result.stderr
    # Ports with slack join their location's later run: each location starts once.
    assert result.json()["stages"] == [
        ["users.profiles"],
        ["podcasts.episodes", "podcasts.plays"],
        ["artists.payouts", "artists.roster"],
    ]


def test_impact_lists_everything_downstream_with_paths():
    result = mesh("impact", "users.profiles", "--format", "json", cwd=REPO)
    assert result.code == 0, result.stderr
    downstream = {row["port"]: row["path"] for row in result.json()["downstream"]}
    assert downstream == {
        "podcasts.plays": ["users.profiles", "podcasts.plays"],
        "artists.payouts": ["users.profiles", "artists.payouts"],
    }
    assert result.json()["domains"] == ["artists", "podcasts"]
    from_plays = mesh("impact", "podcasts.plays", cwd=REPO)
    assert "artists.payouts (artists): podcasts.plays -> artists.payouts" in from_plays.stdout


def test_impact_of_an_unknown_port_is_a_usage_error():
    result = mesh("impact", "users.profile", cwd=REPO)
    assert result.code == 2 and "no port users.profile" in result.stderr


def test_impact_of_a_change_that_is_no_file_nor_git_ref_says_both_were_tried(tmp_path: Path):
    missing = mesh("impact", "users.profiles", "--change", str(tmp_path / "profiles.json"), cwd=REPO)
    assert missing.code == 2, missing.stderr
    assert "is neither a contract document (no such file) nor a git ref" in missing.stderr
    assert "Traceback" not in missing.stderr
    folder = mesh("impact", "users.profiles", "--change", str(tmp_path), cwd=REPO)
    assert folder.code == 2 and "--change is a folder, not a contract document" in folder.stderr


def test_impact_classifies_a_changed_contract_per_consumer(tmp_path: Path):
    change = tmp_path / "plays.json"
    registry = json.loads((REPO / "contracts/podcasts/plays/1.0.0.json").read_text())
    registry["contract"]["columns"]["artist_id"]["nullable"] = True
    registry["version"] = "1.1.0"
    change.write_text(json.dumps(registry))
    result = mesh("impact", "podcasts.plays", "--change", str(change), "--format", "json", cwd=REPO)
    assert result.code == 1
    [row] = result.json()["downstream"]
    assert row["port"] == "artists.payouts"
    assert row["verdict"].startswith("breaks: relies on artist_id being non-null")
    harmless = mesh("impact", "users.profiles", "--change", str(REPO / "contracts/users/profiles/1.0.0.json"), cwd=REPO)
    assert harmless.code == 0 and harmless.stdout.count("[not broken]") == 2


def test_graph_formats():
    mermaid = mesh("graph", "--format", "mermaid", cwd=REPO)
    assert mermaid.code == 0 and mermaid.stdout.startswith("flowchart LR")
    assert "users__profiles --> podcasts__plays" in mermaid.stdout
    edges = mesh("graph", "--format", "json", cwd=REPO).json()["edges"]
    assert {(e["from"], e["to"]) for e in edges} == {
        ("users.profiles", "podcasts.plays"), ("users.profiles", "artists.payouts"), ("podcasts.plays", "artists.payouts")
    }
