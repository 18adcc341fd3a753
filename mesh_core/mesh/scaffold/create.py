"""Write a new domain's folder, and register it in ``workspace.yaml`` (and ``dg.toml``), all or nothing."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mesh_core.errors import MeshError
from mesh_core.files import write_atomically
from mesh_core.mesh.scaffold.dg_workspace import with_project
from mesh_core.mesh.scaffold.files import EXECUTABLE, DomainPlan, render
from mesh_core.mesh.scaffold.workspace_entry import location_entry, with_location

DOMAINS_FOLDER = "domains"
DG_WORKSPACE = "dg.toml"


@dataclass(frozen=True)
class Created:
    """A domain just written: where, what it holds, and the workspace it was registered in."""

    plan: DomainPlan
    folder: Path
    files: list[str]
    workspace: Path | None = None
    standalone: bool = False
    next_steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "domain": self.plan.name,
            "folder": str(self.folder),
            "standalone": self.standalone,
            "port": self.plan.port_id,
            "consumes": self.plan.consumes["id"],
            "files": self.files,
            "workspace": str(self.workspace) if self.workspace else None,
            "next_steps": self.next_steps,
        }


def choose_input(ports: dict[str, dict[str, Any]], consumes: str | None) -> dict[str, Any]:
    """The manifest entry of the public port ``consumes``.

    Raises:
        MeshError: when ``consumes`` is missing, names no port, or names a port that is not public;
            the message lists the public ports to choose from.
    """
    public = sorted(port_id for port_id, port in ports.items() if port.get("access") == "public")
    choices = f"public ports: {', '.join(public)}" if public else "the mesh has no public port yet"
    if not consumes:
        raise MeshError(f"name the port the new domain consumes with --consumes <domain>.<port>; {choices}")
    if consumes not in ports:
        raise MeshError(f"--consumes {consumes}: no such port in the mesh; {choices}", port=consumes)
    access = ports[consumes].get("access")
    if access != "public":
        raise MeshError(
            f"--consumes {consumes}: the port is {access}, so a new domain may not read it; {choices}",
            port=consumes, file=ports[consumes].get("file"),
        )
    return ports[consumes]


def check_new(name: str, *, existing: dict[str, str]) -> None:
    """Refuse a domain name that the mesh already uses; ``existing`` maps each used name to where.

    Raises:
        MeshError: naming where the domain already is.
    """
    if name in existing:
        raise MeshError(f"domain {name} already exists ({existing[name]}); pick another name", domain=name)


def check_folder(folder: Path, *, may_be_empty: bool) -> None:
    """Refuse a target folder that exists (or, when ``may_be_empty``, one that holds anything).

    Raises:
        MeshError: naming the folder.
    """
    if not folder.exists():
        return
    if may_be_empty and folder.is_dir() and not any(folder.iterdir()):
        return
    what = "is not an empty folder" if may_be_empty else "already exists"
    raise MeshError(f"{folder} {what}; nothing was written", file=folder)


def create_in_repo(plan: DomainPlan, workspace: Path) -> Created:
    """Write ``domains/<name>/`` beside ``workspace`` and add its location to ``workspace``.

    When a ``dg.toml`` workspace sits beside ``workspace``, the domain is added to its
    projects too. All of it happens or none: the folder is written under a temporary name
    and renamed into place, and removed again (and ``workspace`` restored) if a workspace
    file cannot be rewritten.
    """
    folder = workspace.parent / DOMAINS_FOLDER / plan.name
    check_folder(folder, may_be_empty=False)
    relative = f"{DOMAINS_FOLDER}/{plan.name}"
    original = _read(workspace)
    entry = location_entry(plan.name, f"{plan.package}.definitions", relative)
    updated = with_location(original, entry, file=str(workspace))
    dg_workspace = workspace.parent / DG_WORKSPACE
    dg_updated = with_project(_read(dg_workspace), relative, file=str(dg_workspace)) if dg_workspace.exists() else None
    files = render(plan, standalone=False)
    written = _write_folder(folder, files)
    try:
        _replace(workspace, updated)
        if dg_updated is not None:
            try:
                _replace(dg_workspace, dg_updated)
            except BaseException:
                _replace(workspace, original)
                raise
    except BaseException:
        shutil.rmtree(written, ignore_errors=True)
        raise
    steps = [
        f"pip install -e {relative}",
        f"python -m pytest {relative}",
        "mesh validate",
        f"mesh run --select {plan.consumes['id']}   # {plan.consumes['id']}, then {plan.port_id}",
        "dagster dev   # or: dg dev --use-active-venv",
    ]
    return Created(plan, folder, sorted(files), workspace=workspace, next_steps=steps)


def create_standalone(plan: DomainPlan, folder: Path) -> Created:
    """Write the domain as a repository of its own in ``folder`` (absent or empty), all or nothing."""
    check_folder(folder, may_be_empty=True)
    files = render(plan, standalone=True)
    _write_folder(folder, files)
    steps = [
        f"cd {folder}",
        "python3 -m venv .venv && . .venv/bin/activate",
        f'pip install "{plan.mesh_core_requirement}" && pip install -e ".[dev]"',
        "python -m pytest",
        "export MESH_HOME=<the mesh's shared store>",
        "mesh validate && mesh register   # what .ci/run does in CI",
    ]
    return Created(plan, folder, sorted(files), standalone=True, next_steps=steps)


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as error:
        raise MeshError(f"cannot read the workspace: {error.strerror}", file=path) from None
    except UnicodeDecodeError:
        raise MeshError("the workspace is not UTF-8 text", file=path) from None


def _write_folder(folder: Path, files: dict[str, str]) -> Path:
    """Write ``files`` into a sibling temporary folder, then rename it to ``folder`` (absent or empty).

    Returns the outermost folder it created (``folder`` or a missing parent), to remove it all on a later failure.
    """
    parent = folder.absolute().parent
    created = _missing_ancestors(parent)
    staging = None
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=parent))
        mode = 0o777 & ~_umask()
        for relative, text in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            if relative in EXECUTABLE:
                path.chmod(mode & 0o755)
        for path in [staging, *(p for p in staging.rglob("*") if p.is_dir())]:
            path.chmod(mode)
        if folder.exists():
            folder.rmdir()  # checked empty
        staging.rename(folder)
        return created[0] if created else folder
    except BaseException as error:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        for path in created:
            shutil.rmtree(path, ignore_errors=True)
        if isinstance(error, OSError):
            raise MeshError(f"cannot write the domain: {error.strerror}", file=error.filename or folder) from None
        raise


def _missing_ancestors(path: Path) -> list[Path]:
    """The folders ``mkdir(parents=True)`` would create for ``path``, outermost first."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    return missing[::-1]


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, keeping its permissions."""
    try:
        write_atomically(path, text.encode("utf-8"), keep_mode=True)
    except OSError as error:
        raise MeshError(f"cannot rewrite the workspace: {error.strerror}", file=path) from None


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
