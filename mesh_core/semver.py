"""Semantic versions of contracts; free of heavy imports, so the ``mesh`` command can use it."""

from __future__ import annotations

import re

from mesh_core.errors import DefinitionError

# The semver.org grammar for MAJOR.MINOR.PATCH with optional pre-release and build.
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


def semver_major(version: str, *, domain: str | None = None, port: str | None = None) -> int:
    """The major number of a semantic version string.

    Example:
        >>> semver_major("2.1.0")
        2
    """
    match = _SEMVER.match(version) if isinstance(version, str) else None
    if not match:
        raise DefinitionError(
            f"version {version!r} is not a semantic version such as '1.0.0'",
            domain=domain,
            port=port,
        )
    return int(match.group(1))
