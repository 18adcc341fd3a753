"""The one place that reads mesh_core's environment variables."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from mesh_core.errors import MeshError

_ENV_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


@dataclass(frozen=True)
class MeshSettings:
    """Where the store lives and which environment (namespace) is used.

    Attributes:
        home: ``MESH_HOME``, default ``.mesh`` in the working directory.
        env: ``MESH_ENV``, default ``dev``.
        scale: ``MESH_SCALE``, the size knob of the example feeds (default 1).
        dagster_url: ``MESH_DAGSTER_URL``, the Dagster UI (default ``http://127.0.0.1:3000``).
        catalog_url: ``MESH_CATALOG_URL``, the mesh catalog site (default ``http://127.0.0.1:8000``).
        source_url: ``MESH_SOURCE_URL``, where domain source folders are browsed
            (default: none, links point at local files).
    """

    home: Path
    env: str
    scale: float
    dagster_url: str = "http://127.0.0.1:3000"
    catalog_url: str = "http://127.0.0.1:8000"
    source_url: str | None = None

    @classmethod
    def from_env(cls) -> MeshSettings:
        """Read ``MESH_HOME``, ``MESH_ENV`` and ``MESH_SCALE``, with their defaults."""
        env = os.environ.get("MESH_ENV", "dev")
        if not _ENV_NAME.match(env):
            raise MeshError(
                f"MESH_ENV={env!r} is not a valid environment name "
                "(lowercase letters, digits, '-' and '_', starting with a letter)"
            )
        raw_scale = os.environ.get("MESH_SCALE", "1")
        try:
            scale = float(raw_scale)
        except ValueError:
            scale = -1.0
        if scale <= 0:
            raise MeshError(f"MESH_SCALE={raw_scale!r} must be a positive number")
        home = Path(os.environ.get("MESH_HOME", ".mesh")).expanduser().absolute()
        return cls(
            home=home,
            env=env,
            scale=scale,
            dagster_url=os.environ.get("MESH_DAGSTER_URL", cls.dagster_url).rstrip("/"),
            catalog_url=os.environ.get("MESH_CATALOG_URL", cls.catalog_url).rstrip("/"),
            source_url=(os.environ.get("MESH_SOURCE_URL") or "").rstrip("/") or None,
        )
