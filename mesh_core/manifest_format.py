"""What the location wing and the mesh wing agree on about manifests; free of heavy imports."""

from __future__ import annotations

from pathlib import Path

MANIFEST_VERSION = 1


def manifests_dir(home: Path) -> Path:
    """Where the ``mesh`` command caches location manifests."""
    return home / "manifests"
