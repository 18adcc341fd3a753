"""Read ``workspace.yaml``: the code locations of the mesh."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml

from mesh_core.errors import WorkspaceError
from mesh_core.settings import location_store_environment

_MODULE_KEYS = {"python_module": "module_name", "python_package": "package_name"}
_READER_GRACE_S = 30  # how long output may still drain after the process ends


@dataclass(frozen=True)
class Location:
    """One code location: how to import it and with which interpreter."""

    name: str
    module: str
    working_directory: Path
    executable: str
    attribute: str | None = None
    grpc: str | None = None  # a grpc_server entry's address: its manifest comes from the registry


def run_in_location(
    location: Location,
    tool: str,
    args: list[str],
    *,
    home: Path,
    timeout_s: float,
    env: dict[str, str] | None = None,
    on_line: Callable[[str], None] = lambda _: None,
) -> dict[str, Any] | str:
    """Run ``python -m <tool>`` in the location's interpreter and working directory.

    The process gets this one's environment plus ``env``, with ``home`` as an absolute
    ``MESH_HOME`` (or, for a store on S3, the URI, with ``home`` as ``MESH_WORKDIR``): a
    location starts in its own folder, where a relative path would name another store. Each line it prints goes to ``on_line`` as it comes. The tool
    writes its JSON result to ``--out``. Returns that result, or a one-line error: the
    tool's last stderr line, a timeout, or a missing interpreter.
    """
    environment = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    environment.update(location_store_environment(environment.get("MESH_HOME"), home))
    with tempfile.TemporaryDirectory(prefix="mesh-location-") as folder:
        out = Path(folder) / "result.json"
        command = [location.executable, "-m", tool, "--module", location.module, *args, "--out", str(out)]
        if location.attribute:
            command += ["--attribute", location.attribute]
        try:
            code, stderr = _follow(command, location.working_directory, environment, timeout_s, on_line)
        except FileNotFoundError:
            return f"executable_path {location.executable} does not exist"
        except subprocess.TimeoutExpired:
            return f"location {location.name} did not finish within {timeout_s}s"
        if code != 0 or not out.exists():
            lines = [line.strip() for line in stderr if line.strip()]
            return lines[-1] if lines else f"exited with code {code}"
        return json.loads(out.read_text())


def _follow(
    command: list[str], cwd: Path, env: dict[str, str], timeout_s: float, on_line: Callable[[str], None]
) -> tuple[int, list[str]]:
    """Run ``command``, handing each stdout and stderr line to ``on_line``; its exit code and stderr lines.

    Raises:
        subprocess.TimeoutExpired: after killing it, when it runs longer than ``timeout_s``.
    """
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace"
    )
    stderr: list[str] = []

    def read(stream: IO[str], keep: list[str] | None) -> None:
        for line in stream:
            if keep is not None:
                keep.append(line)
            on_line(line.rstrip("\n"))

    readers = [threading.Thread(target=read, args=(process.stdout, None), daemon=True),
               threading.Thread(target=read, args=(process.stderr, stderr), daemon=True)]
    for reader in readers:
        reader.start()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
    finally:
        for reader in readers:
            reader.join(timeout=_READER_GRACE_S)
    return process.returncode, stderr


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
    if kind == "grpc_server":
        return _grpc_location(spec, index, path)
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


def _grpc_location(spec: object, index: int, path: Path) -> Location:
    """A ``grpc_server`` entry: a code server run elsewhere, known to the mesh by its location name."""
    spec = spec if isinstance(spec, dict) else {}
    where = spec.get("socket") or (f"{spec.get('host')}:{spec.get('port')}" if spec.get("host") and spec.get("port") else None)
    name = spec.get("location_name")
    if not where or not isinstance(name, str) or not name:
        raise WorkspaceError(
            f"load_from[{index}].grpc_server needs 'host' and 'port' (or 'socket') and a 'location_name', "
            "the name its domain registered under", file=path,
        )
    return Location(name=name, module="", working_directory=path.parent.resolve(), executable="", grpc=str(where))
