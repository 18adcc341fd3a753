"""Read ``workspace.yaml``: the code locations of the mesh.

The entry kinds are read here, as Dagster's own ``location_origins_from_config`` reads
them (``tests/test_workspace_kinds.py`` compares the two), rather than by calling it:
that would import Dagster into every ``mesh`` command, whose start-up reads cached
manifests without it (``tests/test_cli_startup.py``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml

from mesh_core.code_target import TARGET_OPTIONS
from mesh_core.errors import WorkspaceError
from mesh_core.settings import location_store_environment

# Each entry kind Dagster runs from code, with the key naming that code (as Dagster's workspace schema).
_TARGET_KEYS = {
    "python_file": "relative_path",
    "python_module": "module_name",
    "python_package": "package_name",
    "autoload_defs_module": "module_name",
}
_ATTRIBUTE_KINDS = {"python_file", "python_module", "python_package"}
_COMMON_KEYS = {"working_directory", "location_name", "executable_path"}
_READER_GRACE_S = 30  # how long output may still drain after the process ends
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser, same safe subset, ~10x faster


@dataclass(frozen=True)
class Location:
    """One code location: its workspace entry kind and code, where to start it and with which interpreter.

    ``target`` is the module or package name, or the absolute path of a ``python_file``.
    """

    name: str
    kind: str
    target: str
    working_directory: Path
    executable: str
    attribute: str | None = None
    grpc: str | None = None  # a grpc_server entry's address: its manifest comes from the registry

    def target_args(self) -> list[str]:
        """The location tools' options naming this location's code (see ``mesh_core.code_target``)."""
        args = [TARGET_OPTIONS[self.kind], self.target]
        return [*args, "--attribute", self.attribute] if self.attribute else args


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
        command = [location.executable, "-m", tool, *location.target_args(), *args, "--out", str(self._out)]
        self._on_line = on_line
        self._held: list[str] | None = []  # lines printed before go
        self._lock = threading.Lock()
        self._stderr: list[str] = []
        self._readers: list[threading.Thread] = []
        try:
            self._process: subprocess.Popen | None = subprocess.Popen(
                command, cwd=location.working_directory, env=environment, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                start_new_session=True,  # its own group (dbt included): a Ctrl-C reaches the caller, who ends it
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

    def interrupt(self, grace_s: float = 10) -> None:
        """End the process and everything it started (dbt) now: SIGTERM to its group, SIGKILL after ``grace_s``.

        A caller waiting in ``result`` then gets the process's exit as an error.
        """
        if self._process is None or self._process.poll() is not None:
            return
        for sent in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self._process.pid, sent)
            except ProcessLookupError:
                return
            try:
                self._process.wait(timeout=grace_s)
                return
            except subprocess.TimeoutExpired:
                continue

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
        document = yaml.load(path.read_text(), Loader=_SAFE_LOADER)
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise WorkspaceError(f"not valid YAML (UTF-8 text): {error}", file=path) from None
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
    if kind not in _TARGET_KEYS:
        raise WorkspaceError(
            f"load_from[{index}]: unknown location kind {kind!r}; use one of {', '.join(_TARGET_KEYS)} or grpc_server",
            file=path,
        )
    return _code_location(kind, spec, f"load_from[{index}].{kind}", path)


def _code_location(kind: str, spec: object, entry: str, path: Path) -> Location:
    """A location whose code ``mesh`` imports itself, read as Dagster reads the entry.

    As in Dagster, ``python_file``'s ``relative_path`` and ``working_directory`` are relative to
    the workspace's folder, which is also its default working directory. Dagster takes the other
    kinds' relative ``working_directory`` (and ``executable_path``) from the folder it runs in;
    ``mesh`` resolves them against the workspace's folder, which is the same when ``dagster dev``
    runs beside ``workspace.yaml``.
    """
    target_key = _TARGET_KEYS[kind]
    if isinstance(spec, str):
        spec = {target_key: spec}
    if not isinstance(spec, dict):
        raise WorkspaceError(f"{entry} must be a name or a mapping with '{target_key}'", file=path)
    unknown = sorted(set(spec) - {target_key, *_COMMON_KEYS} - ({"attribute"} if kind in _ATTRIBUTE_KINDS else set()))
    if unknown:
        raise WorkspaceError(f"{entry} has unknown key(s) {unknown}", file=path)
    values = {key: _string(value, f"{entry}.{key}", path) for key, value in spec.items()}
    target = values.get(target_key)
    if not target:
        raise WorkspaceError(f"{entry} needs '{target_key}'", file=path)
    root = path.absolute().parent
    working = root / values.get("working_directory", ".")
    if not working.is_dir():
        raise WorkspaceError(f"{entry}: working_directory {working} does not exist", file=path)
    if kind == "python_file":
        target = str((root / target).resolve())
        if not Path(target).is_file():
            raise WorkspaceError(f"{entry}: relative_path {target} does not exist", file=path)
    attribute = values.get("attribute") or None
    default_name = (Path(target).name if kind == "python_file" else target) + (f":{attribute}" if attribute else "")
    return Location(
        name=values.get("location_name") or default_name,
        kind=kind,
        target=target,
        working_directory=working.resolve(),
        executable=_executable(values.get("executable_path"), root),
        attribute=attribute,
    )


def _executable(executable: str | None, root: Path) -> str:
    """The entry's interpreter: this one by default; a bare name is looked up on ``PATH``, a path is resolved."""
    if not executable:
        return sys.executable
    executable = os.path.expanduser(executable)
    return str(root / executable) if os.sep in executable else executable


def _string(value: object, key: str, path: Path) -> str:
    """A workspace value: a string, or ``{env: NAME}`` read from the environment, as Dagster's ``StringSource``."""
    if isinstance(value, dict) and set(value) == {"env"} and isinstance(value["env"], str):
        if value["env"] not in os.environ:
            raise WorkspaceError(f"{key} reads environment variable {value['env']}, which is not set", file=path)
        return os.environ[value["env"]]
    if not isinstance(value, str):
        raise WorkspaceError(f"{key} must be a string, not {type(value).__name__}", file=path)
    return value


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
    return Location(
        name=name, kind="grpc_server", target="", working_directory=path.parent.resolve(), executable="", grpc=str(where)
    )
