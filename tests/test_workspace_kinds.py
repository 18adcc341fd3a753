"""Every workspace entry kind Dagster runs from code, read as Dagster reads it and loaded by the real `mesh`.

A small mesh of four domains, one per kind, in a chain: alpha (``python_file``) -> beta
(``python_module``) -> gamma (``python_package``, in an interpreter of its own through
``executable_path``) -> delta (``autoload_defs_module``).
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.workspace.load import location_origins_from_config

from mesh_core import PortStore
from mesh_core.errors import WorkspaceError
from mesh_core.manifest_format import manifests_dir, read_cached_manifest
from mesh_core.mesh.workspace import load_workspace
from meshkit import mesh

WORKSPACE = """\
load_from:
  - python_file:
      relative_path: alpha/alpha_defs.py
      working_directory: alpha/lib
      attribute: defs
      location_name: alpha
  - python_module:
      module_name: beta_domain.definitions
      working_directory: beta
      location_name: beta
  - python_package:
      package_name: gamma_pkg
      working_directory: gamma
      executable_path: gamma-venv/bin/python
      location_name: gamma
  - autoload_defs_module:
      module_name: delta_defs
      working_directory: delta
"""
CONTRACT = """\
import pandera.pandas as pa
from pandera.typing import Series


class Numbers(pa.DataFrameModel):
    n: Series[int] = pa.Field(ge=0)
"""


def _port(domain: str, name: str, body: str, source: str | None = None, contract_import: str = "") -> str:
    """A module declaring ``domain`` with one output port ``name`` that reads ``source`` (a port id) if given."""
    inputs = f'inputs={{"numbers": InputPort("{source}", version="1")}}, ' if source else ""
    parameter = "numbers: pd.DataFrame" if source else ""
    contract = contract_import or CONTRACT
    return f"""\
import pandas as pd

from mesh_core import Domain, InputPort
{contract}

{domain} = Domain("{domain}", owner="team:{domain}", description="The {domain} domain.")


@{domain}.output_port(contract=Numbers, version="1.0.0", {inputs})
def {name}({parameter}) -> pd.DataFrame:
    \"\"\"Numbers.\"\"\"
    return {body}


defs = {domain}.definitions()
"""


def _own_interpreter(venv: Path) -> Path:
    """A virtual environment of its own (no pip) that sees this interpreter's packages."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()
    Path(site, "parent-env.pth").write_text(f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    return python


def build_kinds_mesh(root: Path) -> Path:
    """The four-domain mesh, one location per entry kind; returns its workspace.yaml."""
    files = {
        # python_file: its local import (numbers_contract) resolves through working_directory only.
        "alpha/alpha_defs.py": _port("alpha", "numbers", 'pd.DataFrame({"n": [1, 2, 3]})',
                                     contract_import="from numbers_contract import Numbers"),
        "alpha/lib/numbers_contract.py": CONTRACT,
        "beta/beta_domain/__init__.py": "",
        "beta/beta_domain/definitions.py": _port("beta", "doubled", 'numbers.assign(n=numbers["n"] * 2)', "alpha.numbers"),
        "gamma/gamma_pkg/__init__.py": _port("gamma", "tripled", 'numbers.assign(n=numbers["n"] * 3)', "beta.doubled"),
        # autoload_defs_module: Dagster's load_defs needs the project's pyproject.toml.
        "delta/pyproject.toml": '[project]\nname = "delta"\nversion = "0.1.0"\n',
        "delta/delta_defs/__init__.py": "",
        "delta/delta_defs/ports.py": _port("delta", "summed", 'numbers.agg({"n": "sum"}).to_frame().T', "gamma.tripled"),
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    _own_interpreter(root / "gamma-venv")
    (root / "workspace.yaml").write_text(WORKSPACE)
    return root / "workspace.yaml"


@pytest.fixture(scope="module")
def kinds_mesh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_kinds_mesh(tmp_path_factory.mktemp("kinds")).parent


def _as_dagster_reads_it(workspace: Path) -> dict[str, tuple]:
    """Each location as Dagster's own workspace loader reads the file, run from the workspace's folder."""
    origins = location_origins_from_config(yaml.safe_load(workspace.read_text()), str(workspace))
    read = {}
    for name, origin in origins.items():
        target = origin.loadable_target_origin
        kind, code = next(
            (kind, value) for kind, value in (
                ("python_file", target.python_file), ("python_module", target.module_name),
                ("python_package", target.package_name), ("autoload_defs_module", target.autoload_defs_module_name),
            ) if value
        )
        working = Path(workspace.parent, target.working_directory or ".").resolve()
        executable = str(workspace.parent / target.executable_path) if target.executable_path else sys.executable
        read[name] = (kind, str(Path(code).resolve()) if kind == "python_file" else code, target.attribute,
                      working, executable)
    return read


def test_mesh_reads_every_kind_as_dagster_does(kinds_mesh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # Dagster's defaults too: names from the code, scalar entries, a file's default working directory.
    extra = tmp_path / "defaults.yaml"
    for name in ("alpha", "beta", "delta"):
        (tmp_path / name).symlink_to(kinds_mesh / name)
    monkeypatch.setenv("MESH_TEST_MODULE", "beta_domain.definitions")
    extra.write_text(textwrap.dedent("""\
        load_from:
          - python_file: alpha/alpha_defs.py
          - python_file:
              relative_path: alpha/alpha_defs.py
              attribute: defs
          - python_module: beta_domain.definitions
          - python_module:
              module_name: {env: MESH_TEST_MODULE}
              attribute: defs
              executable_path: ~/bin/python3
          - python_package: beta_domain
          - autoload_defs_module: delta_defs
        """))
    for workspace in (kinds_mesh / "workspace.yaml", extra):
        monkeypatch.chdir(workspace.parent)  # Dagster resolves a module's working_directory from its own folder
        ours = {
            loc.name: (loc.kind, loc.target, loc.attribute, loc.working_directory, loc.executable)
            for loc in load_workspace(workspace)
        }
        assert ours == _as_dagster_reads_it(workspace)
    assert list(ours) == ["alpha_defs.py", "alpha_defs.py:defs", "beta_domain.definitions",
                          "beta_domain.definitions:defs", "beta_domain", "delta_defs"]


@pytest.mark.slow
def test_every_kind_loads_in_its_interpreter_through_mesh_validate_and_plan(kinds_mesh: Path, mesh_home: Path):
    validated = mesh("validate", cwd=kinds_mesh)
    assert validated.code == 0, validated.stdout + validated.stderr
    assert "4 ports in 4 locations: 0 error(s)" in validated.stdout  # sla-required warns: no freshness SLA here
    plan = mesh("plan", "--format", "json", cwd=kinds_mesh)
    assert plan.json()["stages"] == [["alpha.numbers"], ["beta.doubled"], ["gamma.tripled"], ["delta.summed"]]
    manifests = {path.stem: read_cached_manifest(path) for path in manifests_dir(mesh_home).glob("*.json")}
    assert set(manifests) == {"alpha", "beta", "gamma", "delta_defs"}
    assert manifests["gamma"]["interpreter"] == str(kinds_mesh / "gamma-venv/bin/python")
    assert {Path(manifests[name]["interpreter"]).parent for name in ("alpha", "beta", "delta_defs")} == {
        Path(sys.executable).parent
    }


@pytest.mark.slow
def test_every_kind_runs_in_mesh_run(kinds_mesh: Path, dagster_home: Path, mesh_home: Path):
    result = mesh("run", "--format", "json", cwd=kinds_mesh, env={"DAGSTER_HOME": str(dagster_home)})
    assert result.code == 0, result.stdout + result.stderr
    assert {run["port_id"]: run["status"] for run in result.json()["ports"]} == dict.fromkeys(
        ["alpha.numbers", "beta.doubled", "gamma.tripled", "delta.summed"], "published"
    )
    summed, _ = PortStore(mesh_home, "dev").read("delta.summed", 1)
    assert summed["n"].tolist() == [(1 + 2 + 3) * 2 * 3]
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert sorted(run.tags["mesh/location"] for run in instance.get_runs()) == ["alpha", "beta", "delta_defs", "gamma"]


BAD_ENTRIES = [
    ("  - python_fil: alpha/alpha_defs.py", "load_from[0]: unknown location kind 'python_fil'"),
    ("  - python_file:\n      attribute: defs", "load_from[0].python_file needs 'relative_path'"),
    ("  - python_file: alpha/missing.py", "load_from[0].python_file: relative_path"),
    ("  - python_file:\n      relative_path: alpha/alpha_defs.py\n      working_dir: alpha/lib",
     "load_from[0].python_file has unknown key(s) ['working_dir']"),
    ("  - autoload_defs_module:\n      module_name: delta_defs\n      attribute: defs",
     "load_from[0].autoload_defs_module has unknown key(s) ['attribute']"),
    ("  - python_package:\n      package_name: gamma_pkg\n      working_directory: nowhere",
     "load_from[0].python_package: working_directory"),
    ("  - python_module:\n      module_name: {env: MESH_NO_SUCH_VARIABLE}",
     "load_from[0].python_module.module_name reads environment variable MESH_NO_SUCH_VARIABLE, which is not set"),
    ("  - python_module:\n      module_name: [beta]", "load_from[0].python_module.module_name must be a string"),
    ("  - python_module: [beta_domain.definitions]", "load_from[0].python_module must be a name or a mapping"),
    ("  - python_module: beta_domain.definitions\n    python_file: alpha/alpha_defs.py",
     "load_from[0] must be a mapping with one key"),
]


@pytest.mark.parametrize("entry, message", BAD_ENTRIES, ids=[message.split(": ", 1)[-1][:40] for _, message in BAD_ENTRIES])
def test_a_malformed_entry_is_a_workspace_error_naming_it(entry: str, message: str, kinds_mesh: Path, tmp_path: Path):
    workspace = tmp_path / "workspace.yaml"
    for name in ("alpha", "beta", "gamma", "delta"):
        (tmp_path / name).symlink_to(kinds_mesh / name)
    workspace.write_text("load_from:\n" + entry + "\n")
    with pytest.raises(WorkspaceError) as raised:
        load_workspace(workspace)
    assert message in str(raised.value) and str(workspace) in str(raised.value)
    result = mesh("validate", cwd=tmp_path)
    assert result.code == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_a_file_without_definitions_fails_to_load_naming_its_location(kinds_mesh: Path, tmp_path: Path):
    (tmp_path / "empty.py").write_text("x = 1\n")
    (tmp_path / "workspace.yaml").write_text("load_from:\n  - python_file: empty.py\n")
    result = mesh("validate", cwd=tmp_path)
    assert result.code == 2
    assert 'empty.py: DagsterInvariantViolationError: No Definitions, RepositoryDefinition, Job' in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "options, message",
    [
        ([], "give exactly one of --module, --package, --python-file, --autoload-defs-module"),
        (["--module", "a", "--python-file", "b.py"], "give exactly one of"),
        (["--autoload-defs-module", "a", "--attribute", "defs"], "--attribute does not apply to --autoload-defs-module"),
    ],
)
def test_the_location_tools_take_exactly_one_entry_kind(options: list[str], message: str, tmp_path: Path):
    done = subprocess.run(
        [sys.executable, "-m", "mesh_core.manifest", "--location", "x", *options, "--out", str(tmp_path / "m.json")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "m.json").exists()
