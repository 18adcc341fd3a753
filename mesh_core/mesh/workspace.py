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
    process = LocationProcess(location, tool, args, home=home, env=env, on_line=on_line)
    process.go()
    return process.result(timeout_s)


class LocationProcess:
    """``python -m <tool>`` in a location's interpreter, started ahead of the moment it is needed.

    It starts at once (so its imports run while the caller does other work), with the
    environment that ``run_in_location`` describes. Lines it prints before ``go`` are held
    and handed to ``on_line`` at ``go``, then each as it comes. ``go`` writes one line to its
    stdin and closes it; ``stop`` closes stdin unwritten (a waiting tool reads end of file
    and exits) and kills the process if it does not end within a grace period.

    Example:
        >>> early = LocationProcess(location, "mesh_core.runner", [...], home=home)  # doctest: +SKIP
        >>> early.go("users/profiles"); early.result(timeout_s=3600)  # doctest: +SKIP
    """

    def __init__(
        self,
        location: Location,
        tool: str,
        args: list[str],
        *,
        home: Path,
        env: dict[str, str] | None = None,
        on_line: Callable[[str], None] = lambda _: None,
    ) -> None:
        environment = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        environment.update(location_store_environment(environment.get("MESH_HOME"), home))
        self.location = location
        self._folder = tempfile.TemporaryDirectory(prefix="mesh-location-")
        self._out = Path(self._folder.name) / "result.json"
        command = [location.executable, "-m", tool, "--module", location.module, *args, "--out", str(self._out)]
        if location.attribute:
            command += ["--attribute", location.attribute]
        self._on_line = on_line
        self._held: list[str] | None = []  # lines printed before go
        self._lock = threading.Lock()
        self._stderr: list[str] = []
        self._readers: list[threading.Thread] = []
        try:
            self._process: subprocess.Popen | None = subprocess.Popen(
                command, cwd=location.working_directory, env=environment, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
            )
        except FileNotFoundError:
            self._process = None
            return
        self._readers = [threading.Thread(target=self._read, args=(self._process.stdout, None), daemon=True),
                         threading.Thread(target=self._read, args=(self._process.stderr, self._stderr), daemon=True)]
        for reader in self._readers:
            reader.start()

    def go(self, line: str = "") -> None:
        """Hand the waiting process its line of work; from now on its output reaches ``on_line`` as it comes."""
        with self._lock:
            for held in self._held or []:
                self._on_line(held)
            self._held = None
        self._close_stdin(line)

    def result(self, timeout_s: float) -> dict[str, Any] | str:
        """Wait for the process: its JSON result, or a one-line error (see ``run_in_location``)."""
        try:
            if self._process is None:
                return f"executable_path {self.location.executable} does not exist"
            try:
                self._process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
                return f"location {self.location.name} did not finish within {timeout_s}s"
            finally:
                self._join_readers()
            if self._process.returncode != 0 or not self._out.exists():
                lines = [line.strip() for line in self._stderr if line.strip()]
                return lines[-1] if lines else f"exited with code {self._process.returncode}"
            return json.loads(self._out.read_text())
        finally:
            self._folder.cleanup()

    def stop(self, grace_s: float = 10) -> None:
        """End a process that will not be needed: close its stdin, then kill it if it lingers."""
        try:
            if self._process is None:
                return
            self._close_stdin(None)
            try:
                self._process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._join_readers()
        finally:
            self._folder.cleanup()

    def _read(self, stream: IO[str], keep: list[str] | None) -> None:
        for line in stream:
            if keep is not None:
                keep.append(line)
            with self._lock:
                if self._held is not None:
                    self._held.append(line.rstrip("\n"))
                    continue
            self._on_line(line.rstrip("\n"))

    def _close_stdin(self, line: str | None) -> None:
        if self._process is None or self._process.stdin is None or self._process.stdin.closed:
            return
        try:
            if line is not None:
                self._process.stdin.write(line + "\n")
            self._process.stdin.close()
        except OSError:  # it has already ended (a failed import); result() tells why
            pass

    def _join_readers(self) -> None:
        for reader in self._readers:
            reader.join(timeout=_READER_GRACE_S)


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
