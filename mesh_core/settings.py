"""The one place that reads mesh_core's environment variables."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mesh_core.errors import MeshError

_ENV_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
WORKSPACE_FILE = "workspace.yaml"
_URI = re.compile(r"^[a-z][a-z0-9+.-]*://")
# The standard AWS variables handed to the object store; never logged or recorded.
_AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ALLOW_HTTP",
    "AWS_CONDITIONAL_PUT",
    "AWS_S3_LOCKING_PROVIDER",
    "AWS_PROFILE",
)
_OFF = {"off", "0", "false", "no"}
_ON = {"on", "1", "true", "yes"}


@dataclass(frozen=True)
class MeshSettings:
    """Where the store lives and which environment (namespace) is used.

    Attributes:
        home: The local folder for the store's working files (manifests, dbt databases), as an
            absolute path: ``MESH_HOME`` when it is a local path, else ``MESH_WORKDIR``; either
            defaults to ``.mesh`` beside the workspace root. A relative path is taken relative to
            the workspace root too, so every process of the mesh (the ``mesh`` command,
            ``dagster dev`` and each code location, whatever its working directory) finds the
            same store.
        env: ``MESH_ENV``, default ``dev``.
        scale: ``MESH_SCALE``, the size knob of the example feeds (default 1).
        dagster_url: ``MESH_DAGSTER_URL``, the Dagster UI (default ``http://127.0.0.1:3000``).
        catalog_url: ``MESH_CATALOG_URL``, the mesh catalog site (default ``http://127.0.0.1:8000``).
        source_url: ``MESH_SOURCE_URL``, where domain source folders are browsed
            (default: none, links point at local files).
        store_uri: Where the port store lives: ``MESH_HOME`` as an absolute local path, or
            an object-store URI such as ``s3://bucket/prefix``.
        verify: ``MESH_VERIFY`` (default ``on``); ``off`` skips content-hash checks at read.
        storage_options: Object-store options from the standard ``AWS_*`` variables;
            never shown in errors, logs or metadata.
        expectations: ``MESH_EXPECTATIONS`` (default ``strict``); ``lenient`` lets a producer
            publish when a consumer's registry entry is missing or unreadable, with a warning.
        pii_key: ``MESH_PII_KEY``, the environment's secret for masking PII (see
            ``mesh_core.masking``); never shown in errors, logs or metadata.
    """

    home: Path
    env: str
    scale: float
    dagster_url: str = "http://127.0.0.1:3000"
    catalog_url: str = "http://127.0.0.1:8000"
    source_url: str | None = None
    store_uri: str = ""
    verify: bool = True
    storage_options: dict[str, str] = field(default_factory=dict, repr=False)
    expectations: str = "strict"
    pii_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, workspace_root: Path | None = None) -> MeshSettings:
        """Read ``MESH_HOME``, ``MESH_ENV``, ``MESH_SCALE``, ``MESH_VERIFY`` and the rest, with their defaults.

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
        root = workspace_root or find_workspace_root() or Path.cwd()
        raw_home = os.environ.get("MESH_HOME") or ".mesh"
        if _URI.match(raw_home):
            store_uri = raw_home.rstrip("/")
            home = _local(os.environ.get("MESH_WORKDIR") or ".mesh", root)
        else:
            home = _local(raw_home, root)
            store_uri = str(home)
        return cls(
            home=home,
            store_uri=store_uri,
            verify=_verify(os.environ.get("MESH_VERIFY", "on")),
            expectations=_expectations(os.environ.get("MESH_EXPECTATIONS", "strict")),
            storage_options=storage_options(store_uri, os.environ),
            env=env,
            scale=scale,
            dagster_url=os.environ.get("MESH_DAGSTER_URL", cls.dagster_url).rstrip("/"),
            catalog_url=os.environ.get("MESH_CATALOG_URL", cls.catalog_url).rstrip("/"),
            source_url=(os.environ.get("MESH_SOURCE_URL") or "").rstrip("/") or None,
            pii_key=os.environ.get("MESH_PII_KEY") or None,
        )


def check_env_name(name: str, what: str = "environment") -> str:
    """``name`` if it is a valid environment name (as ``MESH_ENV`` requires), else a ``MeshError`` naming ``what``."""
    if not _ENV_NAME.match(name):
        raise MeshError(
            f"{what} {name!r} is not a valid environment name "
            "(lowercase letters, digits, '-' and '_', starting with a letter)"
        )
    return name


def location_store_environment(raw_home: str | None, home: Path) -> dict[str, str]:
    """``MESH_HOME`` and ``MESH_WORKDIR`` for a location process, which starts in a folder of its own.

    ``raw_home`` is the caller's ``MESH_HOME``: an object-store URI is passed on as it is;
    otherwise the store is the absolute local folder ``home``, which also holds the
    working files.

    Example:
        >>> location_store_environment("s3://bucket/mesh", Path("/srv/mesh"))["MESH_HOME"]
        's3://bucket/mesh'
    """
    uri = raw_home.rstrip("/") if raw_home and _URI.match(raw_home) else None
    return {"MESH_HOME": uri or str(home.absolute()), "MESH_WORKDIR": str(home.absolute())}


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


def storage_options(store_uri: str, environ: Mapping[str, str]) -> dict[str, str]:
    """Object-store options for ``store_uri`` from the standard ``AWS_*`` variables.

    S3 commits are made safe by conditional writes (``AWS_CONDITIONAL_PUT=etag``, the
    default here) unless a locking provider is named.
    """
    if not store_uri.startswith(("s3://", "s3a://")):
        return {}
    options = {name: environ[name] for name in _AWS_VARIABLES if environ.get(name)}
    if "AWS_S3_LOCKING_PROVIDER" not in options:
        options.setdefault("AWS_CONDITIONAL_PUT", "etag")
    return options


def _verify(raw: str) -> bool:
    if raw.strip().lower() in _OFF:
        return False
    if raw.strip().lower() in _ON:
        return True
    raise MeshError(f"MESH_VERIFY={raw!r} must be 'on' or 'off'")


def _expectations(raw: str) -> str:
    if raw.strip().lower() in ("strict", "lenient"):
        return raw.strip().lower()
    raise MeshError(f"MESH_EXPECTATIONS={raw!r} must be 'strict' or 'lenient'")


def _local(raw: str, root: Path) -> Path:
    """``raw`` as an absolute path, a relative one taken from the workspace root ``root``."""
    path = Path(raw).expanduser()
    return path if path.is_absolute() else (root / path).resolve()
