"""Read ``workspace.yaml``: the code locations of the mesh."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mesh_core.errors import WorkspaceError

_MODULE_KEYS = {"python_module": "module_name", "python_package": "package_name"}


@dataclass(frozen=True)
class Location:
    """One code location: how to import it and with which interpreter."""

    name: str
    module: str
    working_directory: Path
    executable: str
    attribute: str | None = None


def run_in_location(
    location: Location,
    tool: str,
    args: list[str],
    *,
    home: Path,
    timeout_s: float,
    env: dict[str, str] | None = None,
) -> dict[str, Any] | str:
    """Run ``python -m <tool>`` in the location's interpreter and working directory.

    The process gets this one's environment plus ``env``, with ``home`` as an absolute
    ``MESH_HOME``: a location starts in its own folder, where a relative one would
    name another store. The tool writes its JSON result to ``--out``. Returns that
    result, or a one-line error: the tool's last stderr line, a timeout, or a missing
    interpreter.
    """
    environment = {**os.environ, **(env or {}), "MESH_HOME": str(home.absolute())}
    with tempfile.TemporaryDirectory(prefix="mesh-location-") as folder:
        out = Path(folder) / "result.json"
        command = [location.executable, "-m", tool, "--module", location.module, *args, "--out", str(out)]
        if location.attribute:
            command += ["--attribute", location.attribute]
        try:
            done = subprocess.run(
                command, cwd=location.working_directory, env=environment, capture_output=True, text=True, timeout=timeout_s
            )
        except FileNotFoundError:
            return f"executable_path {location.executable} does not exist"
        except subprocess.TimeoutExpired:
            return f"location {location.name} did not finish within {timeout_s}s"
        if done.returncode != 0 or not out.exists():
            lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
            return lines[-1] if lines else f"exited with code {done.returncode}"
        return json.loads(out.read_text())


def load_workspace(path: str | Path) -> list[Location]:
    """The locations listed in ``workspace.yaml``, with paths resolved against its folder.

    Raises:
        WorkspaceError: if the file is missing, not YAML, or an entry is malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise WorkspaceError(f"workspace file not found: {path}", file=path)
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise WorkspaceError(f"not valid YAML: {error}", file=path) from None
    entries = document.get("load_from") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise WorkspaceError("expected a non-empty 'load_from' list of code locations", file=path)
    locations = [_location(entry, index, path) for index, entry in enumerate(entries)]
    names = [location.name for location in locations]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise WorkspaceError(f"location names used twice: {duplicates}", file=path)
    return locations


def _location(entry: object, index: int, path: Path) -> Location:
    if not isinstance(entry, dict) or len(entry) != 1:
        raise WorkspaceError(f"load_from[{index}] must be a mapping with one key such as python_module", file=path)
    kind, spec = next(iter(entry.items()))
    if kind not in _MODULE_KEYS:
        raise WorkspaceError(
            f"load_from[{index}]: '{kind}' locations are not supported; use python_module or python_package",
            file=path,
        )
    if isinstance(spec, str):
        spec = {_MODULE_KEYS[kind]: spec}
    module = spec.get(_MODULE_KEYS[kind]) if isinstance(spec, dict) else None
    if not isinstance(module, str) or not module:
        raise WorkspaceError(f"load_from[{index}].{kind} needs '{_MODULE_KEYS[kind]}'", file=path)
    working = path.parent / spec.get("working_directory", ".")
    if not working.is_dir():
        raise WorkspaceError(f"load_from[{index}]: working_directory {working} does not exist", file=path)
    executable = spec.get("executable_path") or sys.executable
    return Location(
        name=str(spec.get("location_name") or module),
        module=module,
        working_directory=working.resolve(),
        executable=str(executable),
        attribute=spec.get("attribute"),
    )
