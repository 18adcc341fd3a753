"""Contracts to compare against: the registry written by ``mesh publish``, or another git ref."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from mesh_core.errors import MeshError, WorkspaceError
from mesh_core.mesh.manifests import load_manifests
from mesh_core.mesh.workspace import load_workspace
from mesh_core.semver import parse_version

REGISTRY_DIR = "contracts"


def registry_path(workspace: Path) -> Path:
    """The committed contract registry beside ``workspace.yaml``."""
    return workspace.resolve().parent / REGISTRY_DIR


def registry_entry(port: dict[str, Any]) -> dict[str, Any]:
    """What the registry keeps of one port version."""
    return {
        "port_id": port["id"],
        "version": port["version"],
        "access": port["access"],
        "consumers": port["consumers"],
        "contract": port["contract"],
        "previous_majors": port.get("previous_majors", []),
    }


def registry_ports(registry: Path) -> dict[str, dict[str, Any]]:
    """The newest registered version of each port."""
    newest: dict[str, dict[str, Any]] = {}
    for path in sorted(registry.glob("*/*/*.json")):
        try:
            entry = json.loads(path.read_text())
        except ValueError as error:
            raise MeshError(f"registry entry is not JSON: {error}", file=path) from None
        current = newest.get(entry["port_id"])
        if current is None or _newer(entry, current, path):
            newest[entry["port_id"]] = {**entry, "id": entry["port_id"], "file": str(path)}
    return newest


def ports_at_ref(workspace: Path, ref: str) -> dict[str, dict[str, Any]]:
    """Every port as declared at git ``ref``, loaded in a temporary copy of that tree."""
    workspace = workspace.resolve()
    root = _git(["rev-parse", "--show-toplevel"], workspace.parent).strip()
    archive = _git_bytes(["archive", "--format=tar", ref], Path(root))
    with tempfile.TemporaryDirectory(prefix="mesh-base-") as folder:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
        base_workspace = Path(folder) / workspace.relative_to(root)
        manifests = load_manifests(load_workspace(base_workspace), Path(folder) / ".mesh", refresh=True)
    return {port["id"]: port for manifest in manifests for port in manifest["ports"]}


def _git(args: list[str], cwd: Path) -> str:
    return _git_bytes(args, cwd).decode()


def _git_bytes(args: list[str], cwd: Path) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=120)
    except FileNotFoundError:
        raise WorkspaceError("git is not installed") from None
    if done.returncode != 0:
        raise WorkspaceError(f"git {' '.join(args)} failed: {done.stderr.decode().strip()}")
    return done.stdout


def _newer(entry: dict[str, Any], current: dict[str, Any], path: Path) -> bool:
    try:
        return parse_version(entry["version"]) > parse_version(current["version"])
    except MeshError as error:
        raise MeshError(error.message, port=entry["port_id"], file=path) from None
