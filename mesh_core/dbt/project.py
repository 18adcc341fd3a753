"""Running dbt: the manifest prepared, the CLI found beside this interpreter, a profile per environment."""

from __future__ import annotations

import logging
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

if TYPE_CHECKING:
    from collections.abc import Sequence

    from dbt.adapters.base import BaseAdapter
    from packaging.version import Version

    from mesh_core.store import PortStore

logger = logging.getLogger(__name__)


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
    """
    beside = Path(sys.executable).with_name("dbt")
    profiles = str(profiles_dir) if profiles_dir else None
    if beside.exists() and DBT_PYTHON_VERSION is not None:
        return _DbtBesideInterpreter(project_dir=project, dbt_executable=str(beside), profiles_dir=profiles)
    return DbtCli(project_dir=project, dbt_executable="dbt", profiles_dir=profiles)


class DbtCli(DbtCliResource):
    """dagster-dbt's resource, which starts dbt before it makes its in-process dbt adapter, not after.

    ``DbtCliResource.cli`` makes the adapter (for column metadata, read once dbt has exited)
    before it starts dbt: 1.5-2.5 s of CPU on the example mesh, mostly parsing dbt's macros,
    in the way of every command. Here ``cli`` starts dbt at once, with no adapter; ``adapter``
    makes it while dbt runs, for a command that needs it.
    """

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> BaseAdapter | None:
        return None  # see adapter()

    def adapter(self, args: Sequence[str]) -> BaseAdapter | None:
        """dagster-dbt's adapter for the command ``args``, or ``None`` (with a warning) if it cannot be made.

        dagster-dbt makes it in ``cli`` the same way, and runs without one when it fails.
        """
        if self._cli_version.major >= 2:
            return None  # the fusion engine: dagster-dbt makes no adapter either
        try:
            return DbtCliResource._initialize_dbt_core_adapter(self, args)
        except Exception:  # noqa: BLE001 - as dagster-dbt: column metadata is then left out, the run goes on
            logger.warning("An error was encountered when creating a handle to the dbt adapter in Dagster.",
                           exc_info=True)
            return None


class _DbtBesideInterpreter(DbtCli):
    """The dbt of this interpreter's own environment, whose version is the dbt-core imported here.

    dagster-dbt otherwise runs ``dbt --version`` before every command to learn it: a second
    dbt start-up (about 1.6 s), which also asks the package index for the latest release.
    """

    @cached_property
    def _cli_version(self) -> Version:
        return DBT_PYTHON_VERSION


def write_profile(store: PortStore, database: Path, project: DbtProject) -> Path:
    """A profile named as the project's, building into this environment's DuckDB file."""
    profile = yaml.safe_load((Path(project.project_dir) / "dbt_project.yml").read_text())["profile"]
    folder = store.root / "dbt" / "profiles" / profile
    folder.mkdir(parents=True, exist_ok=True)
    output = {"type": "duckdb", "path": str(database), "threads": 1, "settings": {"TimeZone": "UTC"}}
    (folder / "profiles.yml").write_text(yaml.safe_dump({profile: {"target": "mesh", "outputs": {"mesh": output}}}))
    return folder
