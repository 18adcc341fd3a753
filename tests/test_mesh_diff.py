"""`mesh publish` writes the contract registry; `mesh diff` gates breaking changes against it or a git ref."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import REPO
from meshkit import copy_mesh, edit, mesh

CONTRACTS = "domains/podcasts/podcasts_domain/contracts.py"
PORTS = "domains/podcasts/podcasts_domain/ports.py"
REMOVE_COUNTRY = (
    '    country: Series[str] = pa.Field(str_length={"min_value": 2, "max_value": 2}, description="Listener\'s country.")\n',
    "",
)


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, timeout=60)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = copy_mesh(tmp_path / "mesh").parent
    assert mesh("publish", cwd=root).code == 0
    git(root, "init", "-q")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base")
    return root


def test_the_committed_registry_matches_the_example_mesh():
    result = mesh("diff", cwd=REPO)
    assert result.code == 0, result.stdout + result.stderr
    assert "5 port(s) compared with the registry: 0 failing the gate" in result.stdout


def test_publish_writes_one_file_per_port_version_and_refuses_rewrites(repo: Path):
    assert sorted(p.relative_to(repo).as_posix() for p in (repo / "contracts").glob("*/*/*.json")) == [
        "contracts/artists/payouts/1.0.0.json",
        "contracts/artists/roster/1.0.0.json",
        "contracts/podcasts/episodes/1.0.0.json",
        "contracts/podcasts/plays/1.0.0.json",
        "contracts/users/profiles/1.0.0.json",
    ]
    edit(repo / CONTRACTS, *REMOVE_COUNTRY)
    again = mesh("publish", cwd=repo)
    assert again.code == 1
    assert "podcasts.plays 1.0.0 is already published with a different contract" in again.stderr


def test_publish_reports_in_json(tmp_path: Path):
    root = copy_mesh(tmp_path / "mesh").parent
    first = mesh("publish", "--format", "json", cwd=root)
    assert (first.code, first.stderr) == (0, "")
    registry = root / "contracts"
    assert first.json() == {
        "registry": str(registry), "conflicts": [], "ok": True,
        "written": [str(registry / f"{port.replace('.', '/')}/1.0.0.json") for port in (
            "artists.payouts", "artists.roster", "podcasts.episodes", "podcasts.plays", "users.profiles")],
    }
    edit(root / CONTRACTS, *REMOVE_COUNTRY)
    again = mesh("publish", "--format", "json", cwd=root)
    assert (again.code, again.stderr) == (1, "")
    assert again.json() == {
        "registry": str(registry), "written": [], "ok": False, "conflicts": [
            "podcasts.plays 1.0.0 is already published with a different contract "
            f"({registry / 'podcasts/plays/1.0.0.json'})"
        ],
    }


@pytest.mark.parametrize("base", [None, "HEAD"])
def test_breaking_change_without_major_bump_fails_the_gate(repo: Path, base: str | None):
    edit(repo / CONTRACTS, *REMOVE_COUNTRY)
    args = ["diff", "--format", "json"] + (["--base", base] if base else [])
    result = mesh(*args, cwd=repo)
    assert result.code == 1, result.stdout + result.stderr
    plays = next(p for p in result.json()["ports"] if p["port"] == "podcasts.plays")
    assert plays["gate"] == "fail"
    assert plays["changes"] == [
        {"column": "country", "kind": "column removed", "breaking": True, "detail": "consumers reading it break"}
    ]
    text = mesh(*args[:1] + (["--base", base] if base else []), cwd=repo)
    assert "BREAKING: column country: column removed" in text.stdout
    assert "FAIL: breaking change without a major version bump" in text.stdout


def test_a_major_bump_passes_and_a_non_breaking_change_passes(repo: Path):
    edit(repo / CONTRACTS, *REMOVE_COUNTRY)
    edit(repo / PORTS, 'contract=Plays,\n    version="1.0.0"', 'contract=Plays,\n    version="2.0.0"')
    bumped = mesh("diff", cwd=repo)
    assert bumped.code == 0, bumped.stdout
    assert "podcasts.plays: changed 1.0.0 -> 2.0.0" in bumped.stdout
    git(repo, "checkout", "-q", "--", ".")
    edit(repo / CONTRACTS, 'description="Seconds listened.")', 'description="Seconds listened, rounded down.")')
    described = mesh("diff", cwd=repo)
    assert described.code == 0
    assert "non-breaking: column seconds_played: description changed" in described.stdout


def test_unknown_git_ref_is_a_load_error(repo: Path):
    result = mesh("diff", "--base", "no-such-ref", cwd=repo)
    assert result.code == 2 and "git archive" in result.stderr
