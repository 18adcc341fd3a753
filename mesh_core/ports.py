"""Port ids, asset keys and input port specs.

A port id is ``<domain>.<port>``; its Dagster asset key is ``AssetKey([domain, port])``
(never one component containing a dot, which breaks asset checks in Dagster).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any

import dagster as dg

from mesh_core.contracts import Strictness, as_schema
from mesh_core.errors import DefinitionError
from mesh_core.schema_doc import json_loss, schema_document

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

    It is checked where a domain declares it (``check``), so that an error names the
    consuming domain, port and file.

    Args:
        port_id: The producer's port id, e.g. ``"users.profiles"``.
        version: The major version relied on, e.g. ``"1"``.
        expectations: Optional pandera schema of what this consumer relies on. It travels
            in the manifest as pandera JSON, so it may use only checks pandera can write:
            built-in ones, or ones registered with ``pandera.extensions``.

    Example:
        >>> InputPort("users.profiles", version="1").major
        1
    """

    port_id: str
    version: str = "1"
    expectations: Any = None

    def check(self, *, domain: str, port: str | None, file: str | None) -> None:
        """Check the id, the pin and the expectations of this input of ``port`` in ``domain``.

        Raises:
            DefinitionError: naming the consuming ``domain``, ``port`` and ``file``.
        """
        try:
            parse_port_id(self.port_id)
            if not _MAJOR.match(str(self.version)):
                raise DefinitionError(
                    f"input {self.port_id} pins version {self.version!r}; pin a major version such as '1'"
                )
            self.expectations_document  # noqa: B018 - raises if the expectations cannot travel
        except DefinitionError as error:
            raise DefinitionError(error.message, domain=domain, port=port, file=file) from None

    @cached_property
    def expectations_document(self) -> dict[str, Any] | None:
        """The expectations as a schema document (``schema_document``), or ``None``.

        Raises:
            DefinitionError: if they are not pandera, or pandera's JSON would lose a check.
        """
        if self.expectations is None:
            return None
        schema = as_schema(self.expectations, port=self.port_id)
        loss = json_loss(schema)
        if loss:
            raise DefinitionError(
                f"expectations on {self.port_id} cannot travel in the manifest: {loss}; use pandera's "
                "built-in checks, or register the check with pandera.extensions.register_check_method"
            )
        return schema_document(schema)

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
        strict: Columns the old contract does not declare, as ``Contract``'s ``strict``.

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
    strict: Strictness | None = None
