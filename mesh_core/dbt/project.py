"""Running dbt: the manifest prepared, the CLI found beside this interpreter, a profile per environment."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from dagster_dbt import DbtCliResource, DbtProject

from mesh_core.store import PortStore


def prepare(project: DbtProject) -> None:
    """Prepare the dbt manifest when it is missing (and in ``dagster dev``, always).

    When missing, it is prepared with the dbt installed beside this interpreter, as the
    run does: a location's virtual environment need not be activated.

    Example:
        >>> prepare(DbtProject(project_dir="artists_dbt"))  # doctest: +SKIP
    """
    project.prepare_if_dev()
    if not project.manifest_path.exists():
        dbt = dbt_cli(project)
        if any((Path(project.project_dir) / name).exists() for name in ("packages.yml", "dependencies.yml")):
            dbt.cli(["deps", "--quiet"], target_path=project.target_path).wait()
        dbt.cli(["parse", "--quiet"], target_path=project.target_path).wait()


def dbt_cli(project: DbtProject, profiles_dir: Path | None = None) -> DbtCliResource:
    """dagster-dbt's resource on the dbt installed with this interpreter, else the one on PATH.

    dagster-dbt looks for ``dbt`` on PATH only, which misses it when the location's virtual
    environment is not activated (``.venv/bin/python``, a workspace ``executable_path``).
    """
    beside = Path(sys.executable).with_name("dbt")
    executable = str(beside) if beside.exists() else "dbt"
    return DbtCliResource(
        project_dir=project, dbt_executable=executable, profiles_dir=str(profiles_dir) if profiles_dir else None
    )


def write_profile(store: PortStore, database: Path, project: DbtProject) -> Path:
    """A profile named as the project's, building into this environment's DuckDB file."""
    profile = yaml.safe_load((Path(project.project_dir) / "dbt_project.yml").read_text())["profile"]
    folder = store.root / "dbt" / "profiles" / profile
    folder.mkdir(parents=True, exist_ok=True)
    output = {"type": "duckdb", "path": str(database), "threads": 1, "settings": {"TimeZone": "UTC"}}
    (folder / "profiles.yml").write_text(yaml.safe_dump({profile: {"target": "mesh", "outputs": {"mesh": output}}}))
    return folder
