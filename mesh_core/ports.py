"""Port ids, asset keys and input port specs.

A port id is ``<domain>.<port>``; its Dagster asset key is ``AssetKey([domain, port])``
(never one component containing a dot, which breaks asset checks in Dagster).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import dagster as dg

from mesh_core.errors import DefinitionError

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
_MAJOR = re.compile(r"^(0|[1-9][0-9]*)$")


def parse_port_id(port_id: str) -> tuple[str, str]:
    """Split ``"users.profiles"`` into ``("users", "profiles")``.

    Raises:
        DefinitionError: if the id is not two lowercase identifiers joined by one dot.

    Example:
        >>> parse_port_id("users.profiles")
        ('users', 'profiles')
    """
    parts = port_id.split(".") if isinstance(port_id, str) else []
    if len(parts) != 2 or not all(IDENTIFIER.match(part) for part in parts):
        raise DefinitionError(
            f"malformed port id {port_id!r}: expected '<domain>.<port>', two lowercase "
            "identifiers joined by one dot, e.g. 'users.profiles'",
            port=str(port_id),
        )
    return parts[0], parts[1]


def port_asset_key(port_id: str) -> dg.AssetKey:
    """The Dagster asset key of a port: ``users.profiles`` -> ``AssetKey(["users", "profiles"])``."""
    return dg.AssetKey(list(parse_port_id(port_id)))


@dataclass(frozen=True)
class InputPort:
    """Consume another domain's output port, pinned to a major version.

    Args:
        port_id: The producer's port id, e.g. ``"users.profiles"``.
        version: The major version relied on, e.g. ``"1"``.
        expectations: Optional pandera schema of what this consumer relies on.

    Example:
        >>> InputPort("users.profiles", version="1").major
        1
    """

    port_id: str
    version: str = "1"
    expectations: Any = None

    def __post_init__(self) -> None:
        domain, _ = parse_port_id(self.port_id)
        if not _MAJOR.match(str(self.version)):
            raise DefinitionError(
                f"input port pins version {self.version!r}; pin a major version such as '1'",
                domain=domain,
                port=self.port_id,
            )

    @property
    def domain(self) -> str:
        """The producing domain."""
        return parse_port_id(self.port_id)[0]

    @property
    def major(self) -> int:
        """The pinned major version."""
        return int(self.version)

    @property
    def asset_key(self) -> dg.AssetKey:
        """The producer's asset key."""
        return port_asset_key(self.port_id)


@dataclass(frozen=True)
class PreviousMajor:
    """An older major version that a port keeps serving, alongside the current one.

    Consumers pinned to it keep receiving data in its shape until ``deprecation_date``;
    ``mesh validate`` warns before that date and errors after it.

    Args:
        version: The old contract's semantic version, e.g. ``"1.4.0"``.
        contract: The old pandera schema.
        adapt: Turns the current frame into the old shape.
        deprecation_date: The last day the old major is served.

    Example:
        >>> import datetime, pandera.pandas as pa
        >>> PreviousMajor("1.0.0", pa.DataFrameSchema({}), adapt=lambda f: f,
        ...               deprecation_date=datetime.date(2027, 1, 31)).version
        '1.0.0'
    """

    version: str
    contract: Any
    adapt: Any
    deprecation_date: date
