"""The one place that reads mesh_core's environment variables."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from mesh_core.errors import MeshError

_ENV_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
WORKSPACE_FILE = "workspace.yaml"


@dataclass(frozen=True)
class MeshSettings:
    """Where the store lives and which environment (namespace) is used.

    Attributes:
        home: ``MESH_HOME`` as an absolute path, default ``.mesh`` beside the workspace root.
            A relative ``MESH_HOME`` is taken relative to the workspace root too, so every
            process of the mesh (the ``mesh`` command, ``dagster dev`` and each code location,
            whatever its working directory) finds the same store.
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
    def from_env(cls, workspace_root: Path | None = None) -> MeshSettings:
        """Read ``MESH_HOME``, ``MESH_ENV`` and ``MESH_SCALE``, with their defaults.

        Args:
            workspace_root: the folder holding ``workspace.yaml``. By default, the nearest one
                at or above the working directory (see :func:`find_workspace_root`); when there
                is none, the working directory itself, as for a domain in a repository of its own.
        """
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
        home = Path(os.environ.get("MESH_HOME") or ".mesh").expanduser()
        if not home.is_absolute():
            home = ((workspace_root or find_workspace_root() or Path.cwd()) / home).resolve()
        return cls(
            home=home,
            env=env,
            scale=scale,
            dagster_url=os.environ.get("MESH_DAGSTER_URL", cls.dagster_url).rstrip("/"),
            catalog_url=os.environ.get("MESH_CATALOG_URL", cls.catalog_url).rstrip("/"),
            source_url=(os.environ.get("MESH_SOURCE_URL") or "").rstrip("/") or None,
        )


def find_workspace_root(start: Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (default: the working directory) with a ``workspace.yaml``.

    Code locations start in their own folders (``working_directory`` in ``workspace.yaml``),
    so this is how a location process started by Dagster finds the mesh it belongs to.
    """
    folder = (start or Path.cwd()).absolute()
    for candidate in (folder, *folder.parents):
        if (candidate / WORKSPACE_FILE).is_file():
            return candidate
    return None

