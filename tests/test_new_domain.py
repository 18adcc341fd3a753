"""`mesh new-domain`: bad names touch nothing, workspace.yaml keeps every line, and the scaffold
loads, validates, runs and passes its own tests, in the repository and as a repository of its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from mesh_core.errors import MeshError, WorkspaceError
from mesh_core.mesh import scaffold
from mesh_core.mesh.scaffold import create
from mesh_core.mesh.scaffold.dg_workspace import with_project
from mesh_core.mesh.scaffold.workspace_entry import location_entry, with_location
from mesh_core.mesh.workspace import load_workspace
from meshkit import copy_mesh, mesh

ENTRY = location_entry("payments", "payments_domain.definitions", "domains/payments")
ADDED = (
    "  - python_module:\n"
    "      module_name: payments_domain.definitions\n"
    "      working_directory: domains/payments\n"
    "      location_name: payments\n"
)
# A port as the mesh's manifests describe it, with a column of each kind the samples cover.
PLAYS = {
    "id": "podcasts.plays",
    "version": "1.2.0",
    "access": "public",
    "contract": {"columns": {
        "play_id": {"dtype": "int64"}, "played_at": {"dtype": "datetime64[us, UTC]"},
        "share": {"dtype": "float64"}, "skipped": {"dtype": "bool"}, "country": {"dtype": "string[pyarrow]"},
        "listener's note": {"dtype": "object"},
    }},
}


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes."""
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def copied_mesh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_mesh(tmp_path_factory.mktemp("copied") / "mesh").parent


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "the domain name is empty"),
        ("Payments", "'Payments' is not a valid domain name: only lowercase letters"),
        ("ad-sales", "'ad-sales' is not a valid domain name"),
        ("ad sales", "'ad sales' is not a valid domain name"),
        ("1st_party", "'1st_party' is not a valid domain name"),
        ("class", "'class' is a Python keyword"),
        ("users", "domain users already exists (location users in workspace.yaml)"),
        ("mesh", "'mesh' is reserved for the mesh command"),
        ("_registry", "'_registry' is reserved for the registry folder"),
        ("dev", "'dev' is reserved for the default environment"),
        ("pd", "'pd' would shadow an import of the generated modules"),
    ],
)
def test_a_bad_name_is_refused_clearly_and_touches_nothing(copied_mesh: Path, name: str, message: str):
    before = tree(copied_mesh)
    result = mesh("new-domain", name, "--consumes", "podcasts.episodes", cwd=copied_mesh)
    assert result.code == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert tree(copied_mesh) == before


def test_a_standalone_folder_that_holds_anything_is_refused_and_kept(copied_mesh: Path, tmp_path: Path):
    folder = tmp_path / "payments"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    before = tree(copied_mesh)
    result = mesh("new-domain", "payments", "--consumes", "podcasts.episodes", "--standalone", str(folder), cwd=copied_mesh)
    assert result.code == 2
    assert f"{folder} is not an empty folder; nothing was written" in result.stderr
    assert tree(folder) == {"notes.txt": b"mine"} and tree(copied_mesh) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["payments"]


@pytest.mark.parametrize(
    ("consumes", "message"),
    [
        (None, "name the port the new domain consumes with --consumes <domain>.<port>; public ports: podcasts.plays"),
        ("podcasts.play", "--consumes podcasts.play: no such port in the mesh; public ports: podcasts.plays"),
        ("users.profiles", "--consumes users.profiles: the port is restricted, so a new domain may not read it"),
    ],
)
def test_the_consumed_port_must_be_named_exist_and_be_public(consumes: str | None, message: str):
    ports = {"podcasts.plays": PLAYS, "users.profiles": {**PLAYS, "id": "users.profiles", "access": "restricted"}}
    with pytest.raises(MeshError) as error:
        scaffold.choose_input(ports, consumes)
    assert message in str(error.value)


def test_the_entry_is_added_after_the_last_location_and_every_other_byte_is_kept():
    text = (
        "# The mesh's locations.\n"
        "load_from:   # one per domain\n"
        "  # users first\n"
        "  - python_module:\n"
        "      module_name: users_domain.definitions\n"
        "      working_directory: domains/users  # its own folder\n"
        "\n"
        "  - python_file: podcasts.py\n"
        "# settings for later\n"
        "telemetry:\n"
        "  enabled: false\n"
    )
    result = with_location(text, ENTRY, file="workspace.yaml")
    head, tail = text.split("\n# settings for later\n")
    assert result == head + "\n" + ADDED + "# settings for later\n" + tail
    assert yaml.safe_load(result)["load_from"][-1] == ENTRY


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("load_from:\n  - python_module: a.b", "load_from:\n  - python_module: a.b\n" + ADDED),
        ("load_from:\r\n  - python_module: a.b\r\n", "load_from:\r\n  - python_module: a.b\r\n" + ADDED.replace("\n", "\r\n")),
        ("load_from:\n- python_module: a.b\n", "load_from:\n- python_module: a.b\n" + ADDED.replace("\n  ", "\n")[2:]),
    ],
    ids=["no-final-newline", "crlf", "unindented-items"],
)
def test_the_entry_follows_the_files_own_style(text: str, expected: str):
    assert with_location(text, ENTRY, file="workspace.yaml") == expected


@pytest.mark.parametrize(
    "text",
    ["load_from: [{python_module: a.b}]\n", "load_from: &locations\n  - python_module: a.b\n", "load_from: []\n"],
    ids=["flow", "anchored", "empty"],
)
def test_a_workspace_it_cannot_extend_safely_is_an_error_showing_the_entry(text: str):
    with pytest.raises(WorkspaceError) as error:
        with_location(text, ENTRY, file="ws/workspace.yaml")
    assert "ws/workspace.yaml: " in str(error.value)
    assert "add this entry to its load_from list by hand" in str(error.value)
    assert "module_name: payments_domain.definitions" in str(error.value)


def test_a_workspace_that_cannot_take_the_entry_leaves_no_domain_folder(tmp_path: Path):
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text("load_from: [{python_module: a.b}]\n")
    with pytest.raises(WorkspaceError):
        scaffold.create_in_repo(scaffold.DomainPlan("payments", PLAYS), workspace)
    assert tree(tmp_path) == {"workspace.yaml": b"load_from: [{python_module: a.b}]\n"}


def test_a_failed_workspace_write_removes_the_domain_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text("load_from:\n  - python_module: a.b\n")
    before = tree(tmp_path)

    def disk_full(source, target):  # a full disk cannot be had on demand here
        raise OSError(28, "No space left on device", str(target))

    monkeypatch.setattr(create.os, "replace", disk_full)
    with pytest.raises(MeshError, match="cannot rewrite the workspace: No space left on device"):
        scaffold.create_in_repo(scaffold.DomainPlan("payments", PLAYS), workspace)
    assert tree(tmp_path) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["workspace.yaml"]


DG_WORKSPACE = (
    "# dg's view of the mesh\n"
    'directory_type = "workspace"\n'
    "\n"
    "[workspace]\n"
    "\n"
    "[[workspace.projects]]\n"
    'path = "domains/users"  # first\n'
)
DG_ADDED = '\n[[workspace.projects]]\npath = "domains/payments"\n'


def test_the_project_is_appended_to_dg_toml_keeping_every_byte():
    assert with_project(DG_WORKSPACE, "domains/payments", file="dg.toml") == DG_WORKSPACE + DG_ADDED
    crlf = DG_WORKSPACE.replace("\n", "\r\n").rstrip("\r\n")
    assert with_project(crlf, "domains/payments", file="dg.toml") == crlf + (
        "\r\n" + DG_ADDED.replace("\n", "\r\n")
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('directory_type = "workspace"\n[workspace]\nprojects = [{path = "domains/users"}]\n', "without changing"),
        ('directory_type = "project"\n[project]\nroot_module = "a"\n', "expected a dg workspace"),
        ("directory_type = \"workspace\n", "not valid TOML"),
    ],
    ids=["inline-projects", "a-project", "damaged"],
)
def test_a_dg_toml_it_cannot_extend_safely_is_an_error_showing_the_project(text: str, message: str):
    with pytest.raises(WorkspaceError) as error:
        with_project(text, "domains/payments", file="ws/dg.toml")
    assert "ws/dg.toml: " in str(error.value) and message in str(error.value)
    if message != "not valid TOML":
        assert 'add this project by hand:\n  [[workspace.projects]]\n  path = "domains/payments"' in str(error.value)


def test_the_new_domain_joins_dg_toml_as_a_dg_project(tmp_path: Path):
    (tmp_path / "workspace.yaml").write_text("load_from:\n  - python_module: a.b\n")
    (tmp_path / "dg.toml").write_text(DG_WORKSPACE)
    scaffold.create_in_repo(scaffold.DomainPlan("payments", PLAYS), tmp_path / "workspace.yaml")
    assert (tmp_path / "dg.toml").read_text() == DG_WORKSPACE + DG_ADDED
    pyproject = tomllib.loads((tmp_path / "domains/payments/pyproject.toml").read_text())
    assert f"dagster-dg-cli=={version('dagster')}" in pyproject["project"]["optional-dependencies"]["dev"]
    project = pyproject["tool"]["dg"]
    assert project == {"directory_type": "project", "project": {
        "root_module": "payments_domain", "code_location_target_module": "payments_domain.definitions",
        "code_location_name": "payments",
    }}


def test_a_dg_toml_that_cannot_take_the_project_leaves_everything_as_it_was(tmp_path: Path):
    (tmp_path / "workspace.yaml").write_text("load_from:\n  - python_module: a.b\n")
    (tmp_path / "dg.toml").write_text('directory_type = "workspace"\n[workspace]\nprojects = [{path = "x"}]\n')
    before = tree(tmp_path)
    with pytest.raises(WorkspaceError):
        scaffold.create_in_repo(scaffold.DomainPlan("payments", PLAYS), tmp_path / "workspace.yaml")
    assert tree(tmp_path) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["dg.toml", "workspace.yaml"]


def test_a_failed_dg_toml_write_restores_workspace_yaml_and_removes_the_domain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    (tmp_path / "workspace.yaml").write_text("load_from:\n  - python_module: a.b\n")
    (tmp_path / "dg.toml").write_text(DG_WORKSPACE)
    before = tree(tmp_path)
    replace = os.replace

    def disk_full_for_dg_toml(source, target):  # a full disk cannot be had on demand here
        if Path(target).name == "dg.toml":
            raise OSError(28, "No space left on device", str(target))
        replace(source, target)

    monkeypatch.setattr(create.os, "replace", disk_full_for_dg_toml)
    with pytest.raises(MeshError, match="No space left on device"):
        scaffold.create_in_repo(scaffold.DomainPlan("payments", PLAYS), tmp_path / "workspace.yaml")
    assert tree(tmp_path) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["dg.toml", "workspace.yaml"]


def test_every_generated_module_compiles_with_samples_of_each_dtype():
    files = scaffold.render(scaffold.DomainPlan("payments", PLAYS), standalone=True)
    assert {
        "pyproject.toml", "workspace.yaml", "README.md", ".ci/run", ".gitignore",
        "payments_domain/__init__.py", "payments_domain/domain.py", "payments_domain/contracts.py",
        "payments_domain/ports.py", "payments_domain/definitions.py",
        "tests/conftest.py", "tests/test_definitions.py", "tests/test_plays_profile.py",
    } == set(files)
    for path, text in files.items():
        if path.endswith(".py"):
            compile(text, path, "exec")
    sample = files["tests/test_plays_profile.py"]
    assert '"played_at": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"], utc=True),' in sample
    assert '"listener\'s note": ["a", "b", "c"],' in sample
    assert 'InputPort("podcasts.plays", version="1")' in files["payments_domain/ports.py"]
    assert [entry["python_module"]["working_directory"] for entry in yaml.safe_load(files["workspace.yaml"])["load_from"]] == ["."]



def test_a_standalone_domain_fills_an_empty_folder_with_an_executable_ci_script(tmp_path: Path):
    folder = tmp_path / "payments"
    folder.mkdir()
    created = scaffold.create_standalone(scaffold.DomainPlan("payments", PLAYS, "mesh-core>=0.1.0"), folder)
    assert created.folder == folder and ".ci/run" in created.files
    ci = folder / ".ci/run"
    assert os.access(ci, os.X_OK)
    assert subprocess.run(["bash", "-n", str(ci)], capture_output=True, text=True).stderr == ""
    assert '"mesh-core>=0.1.0", "pandas", "pandera"' in (folder / "pyproject.toml").read_text()
    assert [path.name for path in tmp_path.iterdir()] == ["payments"]

@pytest.mark.slow
def test_a_new_domain_loads_validates_runs_and_passes_its_own_tests(tmp_path: Path, dagster_home: Path, mesh_home: Path):
    from mesh_core import PortStore

    root = copy_mesh(tmp_path / "mesh").parent
    original = (root / "workspace.yaml").read_bytes()
    env = {"DAGSTER_HOME": str(dagster_home)}
    created = mesh("new-domain", "payments", "--consumes", "podcasts.episodes", cwd=root, env=env)
    assert created.code == 0, created.stdout + created.stderr
    assert "next steps:\n  pip install -e domains/payments\n" in created.stdout
    assert (root / "workspace.yaml").read_bytes() == original.rstrip(b"\n") + b"\n" + ADDED.encode()
    assert [location.name for location in load_workspace(root / "workspace.yaml")][-1] == "payments"

    validated = mesh("validate", "--format", "json", cwd=root, env=env)
    assert validated.code == 0, validated.stdout + validated.stderr
    assert validated.json()["problems"] == []

    ran = mesh("run", "--select", "podcasts.episodes", "--format", "json", cwd=root, env=env)
    assert ran.code == 0, ran.stdout + ran.stderr
    assert {run["port_id"]: run["status"] for run in ran.json()["ports"]} == {
        "podcasts.episodes": "published", "payments.episodes_profile": "published",
    }
    store = PortStore(mesh_home, "dev")
    profile, _ = store.read("payments.episodes_profile", 1)
    episodes, _ = store.read("podcasts.episodes", 1)
    assert profile["column"].to_list() == list(episodes.columns)
    assert profile["non_null"].to_list() == [len(episodes)] * len(episodes.columns)

    own_tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=root / "domains/payments", capture_output=True, text=True, timeout=600,
    )
    assert own_tests.returncode == 0, own_tests.stdout + own_tests.stderr
    assert "4 passed" in own_tests.stdout

    loaded = subprocess.run(  # Dagster's own workspace loading, as `dagster dev` does it
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=root, env={**os.environ, **env}, capture_output=True, text=True, timeout=600,
    )
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert "Validation successful for code location payments" in loaded.stdout + loaded.stderr


def _mesh_core_wheel(target: Path) -> Path:
    """A wheel of mesh-core built from this checkout's package files, as a user's pip builds it."""
    source = target / "source"
    source.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "mesh_core", source / "mesh_core", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(target / "wheels"), str(source)],
        check=True, capture_output=True, timeout=600,
    )
    (wheel,) = (target / "wheels").glob("mesh_core-*.whl")
    return wheel


@pytest.mark.slow
def test_a_standalone_domain_installs_mesh_core_as_a_package_and_joins_the_mesh_through_the_registry(
    tmp_path: Path, mesh_home: Path
):
    registered = mesh("register", cwd=REPO)  # the producers' CI, against the shared store
    assert registered.code == 0, registered.stdout + registered.stderr
    folder = tmp_path / "payments"
    created = mesh(  # a team outside the monorepo sees the mesh only through the registry
        "new-domain", "payments", "--consumes", "podcasts.plays", "--standalone", str(folder), "--from", "registry",
        cwd=tmp_path,
    )
    assert created.code == 0, created.stdout + created.stderr
    assert not any(str(REPO) in text for text in map(Path.read_text, filter(Path.is_file, folder.rglob("*"))))

    wheel = _mesh_core_wheel(tmp_path / "build")
    with zipfile.ZipFile(wheel) as archive:
        shipped = {Path(name).name for name in archive.namelist() if "/scaffold/templates/" in name}
    assert shipped == {path.name for path in (REPO / "mesh_core/mesh/scaffold/templates").iterdir()}

    venv = folder / ".venv"  # the standalone's CI script reuses it, as a developer's checkout would
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=600)
    subprocess.run([str(venv / "bin/pip"), "install", "--quiet", str(wheel)], check=True, timeout=1800)
    where = subprocess.run(
        [str(venv / "bin/python"), "-c", "import mesh_core; print(mesh_core.__file__)"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    ).stdout
    assert where.startswith(str(venv)), where

    ci = subprocess.run(
        [str(folder / ".ci/run")], cwd=folder, capture_output=True, text=True, timeout=1800,
        env={**os.environ, "MESH_HOME": str(mesh_home), "MESH_CORE_REQUIREMENT": str(wheel),
             "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"},
    )
    assert ci.returncode == 0, ci.stdout + ci.stderr
    assert "4 passed" in ci.stdout
    assert "0 error(s)" in ci.stdout
    assert "registered payments" in ci.stdout

    seen = mesh("validate", "--from", "registry", "--format", "json", cwd=REPO)
    assert seen.code == 0, seen.stdout + seen.stderr
    graph = mesh("graph", "--from", "registry", "--format", "json", cwd=REPO).json()
    assert {"from": "podcasts.plays", "to": "payments.plays_profile"} in graph["edges"]
