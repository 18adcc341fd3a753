"""Load every location's manifest, each in its own subprocess and interpreter, with a cache.

The cache key covers the location's entry, its interpreter, the files under its
working directory and the location wing of mesh_core itself, so a second run with no
changes does not import any domain. A damaged cache entry is stale, and a cache that
cannot be written is skipped: the cache never fails a command.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mesh_core
from mesh_core.errors import WorkspaceError
from mesh_core.manifest_format import MANIFEST_VERSION, manifests_dir, read_cached_manifest, write_cached_manifest
from mesh_core.mesh.workspace import Location, run_in_location

_SOURCE_SUFFIXES = {".py", ".sql", ".yml", ".yaml", ".toml", ".json", ".csv", ".cfg"}
_SKIPPED_DIRS = {"__pycache__", ".venv", "venv", "target", "logs", ".mesh", ".git", "dbt_packages", "build", "dist"}
LOAD_TIMEOUT_S = 300


def load_manifests(
    locations: list[Location],
    home: Path,
    *,
    refresh: bool = False,
    on_start: Callable[[list[str]], None] = lambda _: None,
    on_loaded: Callable[[str], None] = lambda _: None,
) -> list[dict[str, Any]]:
    """The manifest of every location, from the cache where its sources have not changed.

    ``on_start`` gets the names of the locations about to load in subprocesses (only when
    there are any), and ``on_loaded`` each name as its subprocess ends.

    Raises:
        WorkspaceError: naming every location that failed to load, with its error.
    """
    cache = manifests_dir(home)
    core_key = _tree_hash(Path(mesh_core.__file__).parent, skip={"mesh"})
    keys = {location.name: _cache_key(location, core_key) for location in locations}
    with paused_gc():
        cached = {} if refresh else {
            loc.name: read_cached_manifest(cache / f"{loc.name}.json", keys[loc.name]) for loc in locations
        }
    stale = [location for location in locations if cached.get(location.name) is None]
    if stale:
        on_start([location.name for location in stale])

    def load(location: Location) -> dict[str, Any] | str:
        result = _load_in_subprocess(location, home)
        on_loaded(location.name)
        return result

    with ThreadPoolExecutor(max_workers=max(1, min(len(stale), os.cpu_count() or 1))) as pool:
        loaded = dict(zip([loc.name for loc in stale], pool.map(load, stale)))
    failures = [f"{name}: {result}" for name, result in loaded.items() if isinstance(result, str)]
    if failures:
        raise WorkspaceError("cannot load location(s):\n  " + "\n  ".join(failures))
    for name, manifest in loaded.items():
        _cache(cache, name, manifest, keys[name])
        cached[name] = manifest
    return [cached[location.name] for location in locations]


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while bulk-loading acyclic JSON, and exempt what it loaded.

    Parsing large manifests creates millions of containers; the collector would rescan
    them again and again (measured: about 4x the parse time at 10,000 ports). On leaving,
    every object alive is moved to the permanent generation (``gc.freeze``), so the next
    collections do not scan the loaded data either: a single full collection of it cost
    about 0.4 s of a 1.4 s ``mesh validate`` at 10,000 ports. Frozen objects are still
    freed by reference counting when released. Garbage made before the block is collected
    on entry, so a long-lived process (tests calling the CLI in-process) does not freeze
    it; only reference cycles made inside the block would outlive it, and bulk-loaded
    JSON has none.
    """
    was_enabled = gc.isenabled()
    if was_enabled:
        gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def _load_in_subprocess(location: Location, home: Path) -> dict[str, Any] | str:
    """The manifest, or an error message."""
    return run_in_location(
        location, "mesh_core.manifest", ["--location", location.name], home=home, timeout_s=LOAD_TIMEOUT_S
    )


def _cache_key(location: Location, core_key: str) -> str:
    digest = hashlib.sha256()
    entry = [
        location.name, location.kind, location.target, location.attribute, location.executable,
        str(location.working_directory), MANIFEST_VERSION, core_key,
    ]
    digest.update(json.dumps(entry).encode())
    digest.update(_tree_hash(location.working_directory).encode())
    if location.kind == "python_file" and not Path(location.target).is_relative_to(location.working_directory):
        digest.update(_tree_hash(Path(location.target).parent).encode())
    return digest.hexdigest()


def _tree_hash(root: Path, skip: set[str] = frozenset()) -> str:
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames if d not in _SKIPPED_DIRS and d not in skip and not d.endswith(".egg-info")
        )
        for filename in sorted(filenames):
            path = Path(dirpath) / filename
            if path.suffix in _SOURCE_SUFFIXES:
                digest.update(str(path.relative_to(root)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def _cache(cache: Path, name: str, manifest: dict[str, Any], key: str) -> None:
    """Cache a fresh manifest; if the folder cannot take it, the next command loads the location again."""
    try:
        cache.mkdir(parents=True, exist_ok=True)
        write_cached_manifest(cache / f"{name}.json", manifest, key)
    except OSError:
        pass
