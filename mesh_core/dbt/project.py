"""Running dbt: the manifest prepared, the CLI found beside this interpreter, a profile per environment."""

from __future__ import annotations

import os
import sys
import tempfile
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from dagster._utils.env import using_dagster_dev
from dagster_dbt import DbtCliResource, DbtProject
from dagster_dbt.compat import DBT_PYTHON_VERSION

from mesh_core import dbt_warm
from mesh_core.files import write_atomically

if TYPE_CHECKING:
    from collections.abc import Sequence

    from dbt.adapters.base import BaseAdapter
    from packaging.version import Version

    from mesh_core.store import PortStore


def prepare(project: DbtProject) -> None:
    """Prepare the dbt manifest when it is missing (and in ``dagster dev`` or ``dg``, always).

    It is prepared with the dbt installed beside this interpreter, as the run does: a
    location's virtual environment need not be activated. The new manifest replaces the
    old one in a single rename, so the other processes that load the location at the same
    time (``dagster dev`` starts several) never read a half-written file.

    Example:
        >>> prepare(DbtProject(project_dir="artists_dbt"))  # doctest: +SKIP
    """
    if not (using_dagster_dev() or not project.manifest_path.exists()):
        return
    dbt = dbt_cli(project)
    if any((Path(project.project_dir) / name).exists() for name in ("packages.yml", "dependencies.yml")):
        dbt.cli(["deps", "--quiet"], target_path=project.target_path).wait()
    project.manifest_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".parse-", dir=project.manifest_path.parent) as target:
        dbt.cli(["parse", "--quiet"], target_path=Path(target)).wait()
        os.replace(Path(target) / "manifest.json", project.manifest_path)


def dbt_cli(project: DbtProject, profiles_dir: Path | None = None) -> DbtCli:
    """dagster-dbt's resource on the dbt installed with this interpreter, else the one on PATH.

    dagster-dbt looks for ``dbt`` on PATH only, which misses it when the location's virtual
    environment is not activated (``.venv/bin/python``, a workspace ``executable_path``).
    With a profile (a run's command), in a process that started a warm dbt, the command
    goes to that dbt through its client ``mesh-dbt`` (``mesh_core.dbt_warm``).
    """
    beside = Path(sys.executable).with_name("dbt")
    profiles = str(profiles_dir) if profiles_dir else None
    if beside.exists() and DBT_PYTHON_VERSION is not None:
        warm = Path(sys.executable).with_name(dbt_warm.CLIENT)
        if profiles_dir is not None and os.environ.get(dbt_warm.SOCKET_ENV) and warm.exists():
            beside = warm  # hands the command to the dbt started early (mesh_core.dbt.warm), else runs dbt
        return _DbtBesideInterpreter(project_dir=project, dbt_executable=str(beside), profiles_dir=profiles)
    return DbtCli(project_dir=project, dbt_executable="dbt", profiles_dir=profiles)


class DbtCli(DbtCliResource):
    """dagster-dbt's resource, which makes no in-process dbt adapter.

    ``DbtCliResource.cli`` makes one before it starts dbt (1.5-2.5 s of CPU on the example
    mesh, mostly parsing dbt's macros) to read column metadata once dbt has exited.
    mesh_core reads the columns from DuckDB instead (``mesh_core.dbt.columns``).
    """

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> BaseAdapter | None:
        return None


class _DbtBesideInterpreter(DbtCli):
    """The dbt of this interpreter's own environment, whose version is the dbt-core imported here.

    dagster-dbt otherwise runs ``dbt --version`` before every command to learn it: a second
    dbt start-up (about 1.6 s), which also asks the package index for the latest release.
    """

    @cached_property
    def _cli_version(self) -> Version:
        return DBT_PYTHON_VERSION


def database_file(store: PortStore, domain: str, database: str) -> Path:
    """The environment's DuckDB file of a dbt domain, named as the prepared manifest's database."""
    return store.root / "dbt" / domain / f"{database}.duckdb"


def target_folder(database: Path) -> Path:
    """dbt's target folder for runs into ``database``: one per environment keeps dbt's partial parse across runs.

    The run-time profile differs from the one the project was prepared with, so the
    project's own partial-parse state does not apply.
    """
    return database.parent / "target"


def write_profile(store: PortStore, database: Path, project: DbtProject) -> Path:
    """A profile named as the project's, building into this environment's DuckDB file.

    It is replaced in one rename: a dbt that reads it at the same time (the warm dbt's
    parse, ``mesh_core.dbt.warm``) never sees it half written.
    """
    profile = yaml.safe_load((Path(project.project_dir) / "dbt_project.yml").read_text())["profile"]
    folder = store.root / "dbt" / "profiles" / profile
    folder.mkdir(parents=True, exist_ok=True)
    output = {"type": "duckdb", "path": str(database), "threads": 1, "settings": {"TimeZone": "UTC"}}
    profiles = yaml.safe_dump({profile: {"target": "mesh", "outputs": {"mesh": output}}})
    write_atomically(folder / "profiles.yml", profiles.encode())
    return folder
