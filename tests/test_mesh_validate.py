"""`mesh validate` on the example mesh and on broken copies of it, built from real domain code."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshkit import copy_mesh, edit, mesh

ARTISTS_PORTS = "domains/artists/artists_domain/ports.py"
PODCASTS_PORTS = "domains/podcasts/podcasts_domain/ports.py"
USERS_PORTS = "domains/users/users_domain/ports.py"


def test_the_example_mesh_is_valid(tmp_path: Path):
    result = mesh("validate", "--format", "json", cwd=copy_mesh(tmp_path / "mesh").parent)
    assert result.code == 0, result.stderr
    assert result.json() == {"problems": [], "errors": 0, "warnings": 0}


def _unknown_port(root: Path) -> None:
    edit(root / ARTISTS_PORTS, 'InputPort("podcasts.plays"', 'InputPort("podcasts.play"')


def _unserved_major(root: Path) -> None:
    edit(root / PODCASTS_PORTS, 'InputPort("users.profiles", version="1")', 'InputPort("users.profiles", version="2")')


def _domain_cycle(root: Path) -> None:
    edit(
        root / USERS_PORTS,
        "from users_domain.assets import registrations",
        "from mesh_core import InputPort\nfrom users_domain.assets import registrations",
    )
    (root / USERS_PORTS).write_text(
        (root / USERS_PORTS).read_text()
        + '''

@users.output_port(
    contract=Profiles, version="1.0.0", inputs={"episodes": InputPort("podcasts.episodes", version="1")}
)
def favourites(episodes: pd.DataFrame) -> pd.DataFrame:
    """Reads podcasts, which reads users: a cycle between domains."""
    return episodes
'''
    )


def _duplicate_key(root: Path) -> None:
    workspace = root / "workspace.yaml"
    workspace.write_text(
        workspace.read_text()
        + """  - python_module:
      module_name: users_domain.definitions
      working_directory: domains/users
      location_name: users_again
"""
    )


def _access(root: Path) -> None:
    edit(root / USERS_PORTS, ', "artists": Clearance(pii=False)}', '}')


def _incompatible_expectations(root: Path) -> None:
    edit(
        root / "domains/podcasts/podcasts_domain/contracts.py",
        'artist_id: Series[int] = pa.Field(ge=1, description="The episode\'s artist.")',
        'artist_id: Series[int] = pa.Field(ge=1, nullable=True, description="The episode\'s artist.")',
    )


BROKEN = {
    "unknown port": (_unknown_port, "artists", "artists.payouts", "input podcasts.play names no existing port; did you mean podcasts.plays?"),
    "unserved major": (_unserved_major, "podcasts", "podcasts.plays", "pins v2 of users.profiles; the producer serves [1]"),
    "domain cycle": (_domain_cycle, "podcasts", None, "cycle between domains: podcasts -> users -> podcasts"),
    "duplicate key": (_duplicate_key, "users", "users.profiles", "asset key users/profiles is defined in 2 locations: users, users_again"),
    "access": (_access, "artists", "artists.payouts", "reads users.profiles, whose access is restricted (allowed: podcasts)"),
    "expectations": (_incompatible_expectations, "artists", "artists.payouts", "expectations on podcasts.plays v1: relies on artist_id being non-null; the contract allows nulls"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_each_problem_is_reported_with_domain_and_port(case: str, tmp_path: Path):
    root = copy_mesh(tmp_path / "mesh").parent
    breaks, domain, port, message = BROKEN[case]
    breaks(root)
    result = mesh("validate", "--format", "json", cwd=root)
    assert result.code == 1, result.stdout + result.stderr
    problems = result.json()["problems"]
    matching = [p for p in problems if p["message"] == message]
    assert matching, problems
    assert matching[0]["severity"] == "error"
    assert matching[0]["domain"] == domain and matching[0]["port"] == port
    if port and case not in ("duplicate key",):
        assert matching[0]["file"] == str(root / f"domains/{domain}/{domain}_domain/ports.py")
    text = mesh("validate", cwd=root)
    assert text.code == 1 and message in text.stdout


def test_deprecated_major_warns_before_its_date_and_errors_after(tmp_path: Path):
    root = copy_mesh(tmp_path / "mesh").parent
    edit(
        root / USERS_PORTS,
        'version="1.0.0",',
        'version="2.0.0",\n    previous=[PreviousMajor("1.0.0", Profiles, adapt=lambda frame: frame, deprecation_date=date(2027, 1, 31))],',
    )
    edit(root / USERS_PORTS, "from datetime import timedelta", "from datetime import date, timedelta\n\nfrom mesh_core import PreviousMajor")
    before = mesh("validate", "--format", "json", "--today", "2027-01-31", cwd=root)
    assert before.code == 0, before.stdout + before.stderr
    warnings = {(p["domain"], p["severity"], p["message"]) for p in before.json()["problems"]}
    assert warnings == {
        (domain, "warning", "pins v1 of users.profiles, deprecated; served until 2027-01-31")
        for domain in ("podcasts", "artists")
    }
    after = mesh("validate", "--format", "json", "--today", "2027-02-01", cwd=root)
    assert after.code == 1
    assert {p["message"] for p in after.json()["problems"]} == {"pins v1 of users.profiles, retired on 2027-01-31"}


@pytest.mark.parametrize(
    "workspace, message",
    [
        ("load_from: [", "not valid YAML"),
        (b"\x00\xff garbage", "not valid YAML (UTF-8 text)"),
        ("locations: []", "expected a non-empty 'load_from' list"),
        ("load_from:\n  - python_fil: x.py", "unknown location kind 'python_fil'"),
        ("load_from:\n  - python_module:\n      working_directory: domains/users", "needs 'module_name'"),
        ("load_from:\n  - python_module:\n      module_name: users_domain.definitions\n      working_directory: nowhere", "does not exist"),
    ],
)
def test_malformed_workspace_exits_2_with_a_message(workspace: str | bytes, message: str, tmp_path: Path):
    root = copy_mesh(tmp_path / "mesh").parent
    if isinstance(workspace, bytes):
        (root / "workspace.yaml").write_bytes(workspace)
    else:
        (root / "workspace.yaml").write_text(workspace)
    result = mesh("validate", cwd=root)
    assert result.code == 2
    assert message in result.stderr and "workspace.yaml" in result.stderr
    assert "Traceback" not in result.stderr


def test_unimportable_location_exits_2_naming_it(tmp_path: Path):
    root = copy_mesh(tmp_path / "mesh").parent
    edit(root / PODCASTS_PORTS, "import pandas as pd", "import pandas as pd\nimport no_such_module")
    result = mesh("validate", cwd=root)
    assert result.code == 2
    assert "podcasts: ModuleNotFoundError: No module named 'no_such_module'" in result.stderr
    assert "ports.py" in result.stderr and "Traceback" not in result.stderr


def test_missing_workspace_exits_2(tmp_path: Path):
    result = mesh("plan", "-w", str(tmp_path / "nope.yaml"), cwd=tmp_path)
    assert result.code == 2 and "workspace file not found" in result.stderr
