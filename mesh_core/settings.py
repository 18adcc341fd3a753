"""The one place that reads mesh_core's environment variables."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mesh_core.errors import MeshError

_ENV_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
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
        home: The local folder for the store's working files (manifests, dbt databases):
            ``MESH_HOME`` when it is a local path (default ``.mesh`` in the working
            directory), else ``MESH_WORKDIR`` (default ``.mesh``).
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

    @classmethod
    def from_env(cls) -> MeshSettings:
        """Read ``MESH_HOME``, ``MESH_ENV``, ``MESH_SCALE``, ``MESH_VERIFY`` and the rest, with their defaults."""
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
        raw_home = os.environ.get("MESH_HOME", ".mesh")
        if _URI.match(raw_home):
            store_uri = raw_home.rstrip("/")
            home = Path(os.environ.get("MESH_WORKDIR", ".mesh")).expanduser().absolute()
        else:
            home = Path(raw_home).expanduser().absolute()
            store_uri = str(home)
        return cls(
            home=home,
            store_uri=store_uri,
            verify=_verify(os.environ.get("MESH_VERIFY", "on")),
            storage_options=storage_options(store_uri, os.environ),
            env=env,
            scale=scale,
            dagster_url=os.environ.get("MESH_DAGSTER_URL", cls.dagster_url).rstrip("/"),
            catalog_url=os.environ.get("MESH_CATALOG_URL", cls.catalog_url).rstrip("/"),
            source_url=(os.environ.get("MESH_SOURCE_URL") or "").rstrip("/") or None,
        )


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
