"""Kitchens: environments with a parent, created zero-copy, run, listed and destroyed.

A kitchen ``NAME`` is the environment ``<MESH_HOME>/NAME`` whose ``_kitchen.json`` names
its parent. The store serves each port the kitchen has not rebuilt from the parent's
published snapshot (``PortStore.parent``), so creating one copies nothing, and every
write of a run in the kitchen lands in the kitchen's own tables. Its Dagster instance
(``DAGSTER_HOME``) is ``<MESH_WORKDIR>/NAME/_dagster``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from mesh_core.delta import Location
from mesh_core.errors import MeshError
from mesh_core.kitchens import KITCHEN_FILE, kitchen_record, write_kitchen_record
from mesh_core.settings import MeshSettings, check_env_name

# Environments that are never kitchens: a kitchen may not take their names, and destroy refuses them.
PROTECTED = ("dev", "prod")
DAGSTER_FOLDER = "_dagster"
_INSTANCE_DEFAULTS = "telemetry:\n  enabled: false\n"


@dataclass(frozen=True)
class Kitchen:
    """A kitchen as its metadata records it."""

    name: str
    parent: str
    created_at: str
    dagster_home: Path

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"name": self.name, "parent": self.parent, "created_at": self.created_at,
                "dagster_home": str(self.dagster_home)}


def create_kitchen(settings: MeshSettings, name: str, parent: str = "dev", instance_yaml: Path | None = None) -> Kitchen:
    """Record ``name`` as a kitchen of ``parent``; nothing is copied.

    Its Dagster home gets ``instance_yaml`` (the workspace's ``dagster.yaml``) when given.

    Raises:
        MeshError: a bad or taken name, or a parent with nothing in the store.
    """
    check_env_name(name, "kitchen name")
    check_env_name(parent, "--from")
    if name in PROTECTED:
        raise MeshError(f"'{name}' is reserved for a shared environment; name the kitchen otherwise")
    environments = _environments(settings)
    if name in environments:
        raise MeshError(f"environment '{name}' already exists in the store; pick another name",
                        file=_root(settings).child(name).uri)
    if parent not in environments:
        raise MeshError(
            f"--from {parent}: the store has no environment '{parent}'; materialize it first "
            f"(`mesh run --env {parent}`) or create the kitchen from one of {sorted(environments) or 'none'}",
            file=_root(settings).uri,
        )
    record = write_kitchen_record(_root(settings).child(name), name, parent)
    dagster_home = kitchen_dagster_home(settings, name)
    dagster_home.mkdir(parents=True, exist_ok=True)
    instance = instance_yaml.read_text() if instance_yaml is not None and instance_yaml.is_file() else _INSTANCE_DEFAULTS
    (dagster_home / "dagster.yaml").write_text(instance)
    return Kitchen(name, parent, record["created_at"], dagster_home)


def get_kitchen(settings: MeshSettings, name: str) -> Kitchen:
    """The kitchen ``name``.

    Raises:
        MeshError: ``name`` is not a kitchen.
    """
    check_env_name(name, "kitchen name")
    record = kitchen_record(_root(settings).child(name))
    if record is None:
        known = ", ".join(kitchen.name for kitchen in list_kitchens(settings)) or "none"
        raise MeshError(f"'{name}' is not a kitchen (kitchens: {known}); create one with `mesh kitchen create`",
                        file=f"{_root(settings).child(name).uri}/{KITCHEN_FILE}")
    return Kitchen(name, record["parent"], str(record.get("created_at", "")), kitchen_dagster_home(settings, name))


def list_kitchens(settings: MeshSettings) -> list[Kitchen]:
    """Every kitchen in the store, by name."""
    found = []
    for name in sorted(_environments(settings)):
        record = kitchen_record(_root(settings).child(name))
        if record is not None:
            found.append(Kitchen(name, record["parent"], str(record.get("created_at", "")),
                                 kitchen_dagster_home(settings, name)))
    return found


def destroy_kitchen(settings: MeshSettings, name: str) -> Kitchen:
    """Remove the kitchen's tables, working files and Dagster instance, and nothing else.

    Its metadata goes last, so an interrupted destroy leaves a kitchen to destroy again.

    Raises:
        MeshError: ``name`` is a shared environment, not a kitchen, or the parent of another kitchen.
    """
    check_env_name(name, "kitchen name")
    if name in PROTECTED:
        raise MeshError(f"'{name}' is a shared environment, not a kitchen: `mesh kitchen destroy` never removes it")
    kitchen = get_kitchen(settings, name)
    children = [other.name for other in list_kitchens(settings) if other.parent == name]
    if children:
        raise MeshError(f"kitchen '{name}' is the parent of kitchen(s) {', '.join(children)}: destroy them first")
    location = _root(settings).child(name)
    filesystem = location.filesystem()
    for info in filesystem.get_file_info(pafs.FileSelector("", allow_not_found=True)):
        if info.type == pafs.FileType.Directory:
            filesystem.delete_dir(info.path)
        elif info.base_name != KITCHEN_FILE:
            filesystem.delete_file(info.path)
    filesystem.delete_file(KITCHEN_FILE)
    _root(settings).filesystem().delete_dir(name)  # the emptied folder (or an object store's folder marker)
    shutil.rmtree(settings.home / name, ignore_errors=True)
    return kitchen


def kitchen_dagster_home(settings: MeshSettings, name: str) -> Path:
    """The kitchen's own ``DAGSTER_HOME``, under its local working folder."""
    return settings.home / name / DAGSTER_FOLDER


def _root(settings: MeshSettings) -> Location:
    return Location(settings.store_uri or str(settings.home), settings.storage_options)


def _environments(settings: MeshSettings) -> set[str]:
    """The environments that have a folder in the store."""
    from mesh_core.store import folders

    return {name for name in folders(_root(settings)) if not name.startswith(("_", "."))}
