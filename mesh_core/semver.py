"""Semantic versions of contracts: the one parser, free of heavy imports so the ``mesh`` command can use it."""

from __future__ import annotations

from semver import Version

from mesh_core.errors import DefinitionError


def parse_version(version: str, *, domain: str | None = None, port: str | None = None) -> Version:
    """Parse a semantic version (semver.org), comparable with pre-release precedence.

    Raises:
        DefinitionError: if ``version`` is not a semantic version string.

    Example:
        >>> parse_version("2.0.0-rc.1") < parse_version("2.0.0")
        True
    """
    try:
        if not isinstance(version, str):
            raise TypeError(version)
        return Version.parse(version)
    except (TypeError, ValueError):
        raise DefinitionError(
            f"version {version!r} is not a semantic version such as '1.0.0'", domain=domain, port=port
        ) from None


def semver_major(version: str, *, domain: str | None = None, port: str | None = None) -> int:
    """The major number of a semantic version string.

    Example:
        >>> semver_major("2.1.0")
        2
    """
    return parse_version(version, domain=domain, port=port).major
