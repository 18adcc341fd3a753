"""Kitchens: environments with a parent, created zero-copy, run, listed and destroyed.

A kitchen ``NAME`` is the environment ``<MESH_HOME>/NAME`` whose ``_kitchen.json`` names
its parent. The store serves each port the kitchen has not rebuilt from the parent's
published snapshot (``PortStore.parent``), so creating one copies nothing, and every
write of a run in the kitchen lands in the kitchen's own tables. Its Dagster instance
(``DAGSTER_HOME``) is ``<MESH_WORKDIR>/NAME/_dagster``.

Destroying a kitchen keeps its audit trail, ``<MESH_HOME>/NAME/_audit``: the reads it made
of its parent's ports (PII among them) are recorded there only, since a kitchen never
writes to its parent. ``MESH_ENV=NAME mesh audit`` still lists them; a folder holding
nothing else is no environment, and a kitchen created again under the name appends to it.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from mesh_core.audit_trail import AUDIT_FOLDER
from mesh_core.delta import Location
from mesh_core.errors import MeshError
from mesh_core.kitchens import KITCHEN_FILE, kitchen_record, write_kitchen_record
from mesh_core.registry import REGISTRY_DIR
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
    if name in _taken(settings):
        raise MeshError(f"'{name}' already exists in the store; pick another name",
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
    """Remove the kitchen's tables, working files and Dagster instance; keep its audit trail; touch nothing else.

    Its metadata goes last, so an interrupted destroy leaves a kitchen to destroy again.

    Raises:
        MeshError: ``name`` is a shared environment, not a kitchen, or the parent of another
            kitchen; or a file cannot be removed (named, with the kitchen).
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
    try:
        for info in filesystem.get_file_info(pafs.FileSelector("", allow_not_found=True)):
            if info.type == pafs.FileType.Directory and info.base_name != AUDIT_FOLDER:
                filesystem.delete_dir(info.path)
            elif info.type != pafs.FileType.Directory and info.base_name != KITCHEN_FILE:
                filesystem.delete_file(info.path)
        filesystem.delete_file(KITCHEN_FILE)
        if not audit_kept(settings, name):
            _root(settings).filesystem().delete_dir(name)  # the emptied folder (or an object store's folder marker)
        workdir = settings.home / name  # the store's own folder too, when the store is local
        for path in workdir.iterdir() if workdir.is_dir() else ():
            if path.is_dir() and path.name != AUDIT_FOLDER:
                shutil.rmtree(path)
            elif not path.is_dir():
                path.unlink()
        if workdir.is_dir() and not any(workdir.iterdir()):
            workdir.rmdir()
    except OSError as error:
        raise MeshError(f"kitchen '{name}': cannot remove {getattr(error, 'filename', None) or location.uri}: "
                        f"{error}; run `mesh kitchen destroy {name}` again", file=location.uri) from error
    return kitchen


def audit_kept(settings: MeshSettings, name: str) -> bool:
    """Whether environment ``name`` has an audit trail in the store (a destroyed kitchen keeps its own)."""
    info = _root(settings).child(name).filesystem().get_file_info(AUDIT_FOLDER)
    return info.type == pafs.FileType.Directory


def kitchen_dagster_home(settings: MeshSettings, name: str) -> Path:
    """The kitchen's own ``DAGSTER_HOME``, under its local working folder."""
    return settings.home / name / DAGSTER_FOLDER


def _root(settings: MeshSettings) -> Location:
    return Location(settings.store_uri or str(settings.home), settings.storage_options)


def _environments(settings: MeshSettings) -> set[str]:
    """The environments in the store: the folders that hold one (see ``_holds_environment``)."""
    from mesh_core.store import folders

    root = _root(settings)
    return {name for name in folders(root) if not name.startswith(("_", ".")) and _holds_environment(root.child(name))}


def _taken(settings: MeshSettings) -> set[str]:
    """The names a new kitchen may not take: every folder of the store, but a destroyed kitchen's kept trail."""
    from mesh_core.store import folders

    root = _root(settings)
    return {name for name in folders(root) if not _trail_only(root.child(name))}


def _trail_only(location: Location) -> bool:
    """Whether ``location`` holds an audit trail and nothing else: a destroyed kitchen's, no environment."""
    infos = location.filesystem().get_file_info(pafs.FileSelector("", allow_not_found=True))
    return {info.base_name for info in infos} == {AUDIT_FOLDER}


def _holds_environment(location: Location) -> bool:
    """Whether ``location`` holds a mesh environment: kitchen metadata, a registry, port tables or internal assets.

    A destroyed kitchen's kept audit trail is none, nor the manifest cache or a catalog
    written into ``MESH_HOME``.
    """
    from mesh_core.store import folders

    infos = location.filesystem().get_file_info(pafs.FileSelector("", allow_not_found=True))
    names = {info.base_name for info in infos}
    if KITCHEN_FILE in names or REGISTRY_DIR in names:
        return True
    for domain in sorted(name for name in folders(location) if not name.startswith(("_", "."))):
        for port in folders(location.child(domain)):
            majors = folders(location.child(domain, port))
            if port == "_internal" or any(re.fullmatch(r"v\d+", major) for major in majors):
                return True
    return False
