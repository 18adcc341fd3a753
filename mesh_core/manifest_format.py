"""What the location wing and the mesh wing agree on about manifests; free of heavy imports.

A cached manifest is one file, ``MESH_HOME/manifests/<location>.json``, holding two JSON
documents on two lines: a header with the cache key and the sha256 of the second line,
then the manifest itself. Anything else in that folder, or a file whose second line
does not match its header (truncated, edited, overwritten), is not a location's
manifest: the mesh command loads that location again. Producers never read this cache: they
read consumer expectations from the registry in the store (``mesh_core.registry``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from mesh_core.files import write_atomically

MANIFEST_VERSION = 1


def manifests_dir(home: Path) -> Path:
    """Where the ``mesh`` command caches location manifests."""
    return home / "manifests"


def write_cached_manifest(path: Path, manifest: dict[str, Any], cache_key: str) -> None:
    """Replace ``path`` atomically with ``manifest``, stamped with ``cache_key`` and its checksum.

    Raises:
        OSError: if the file cannot be written.
    """
    body = json.dumps(manifest, sort_keys=True).encode()
    header = json.dumps({"cache_key": cache_key, "sha256": hashlib.sha256(body).hexdigest()}).encode()
    write_atomically(path, header + b"\n" + body + b"\n")


def read_cached_manifest(path: Path, cache_key: str | None = None) -> dict[str, Any] | None:
    """The manifest cached in ``path``, or None if it is unreadable, damaged or (given ``cache_key``) stale.

    Example:
        >>> read_cached_manifest(Path("/nonexistent/users.json")) is None
        True
    """
    try:
        header_line, _, body = path.read_bytes().partition(b"\n")
        header = json.loads(header_line)
        if not isinstance(header, dict) or (cache_key is not None and header.get("cache_key") != cache_key):
            return None
        body = body.rstrip(b"\n")
        if header.get("sha256") != hashlib.sha256(body).hexdigest():
            return None
        manifest = json.loads(body)
    except (OSError, ValueError, RecursionError):  # unreadable, not JSON, or nested beyond the parser
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("manifest_version") == MANIFEST_VERSION else None
