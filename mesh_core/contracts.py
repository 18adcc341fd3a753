"""Data contracts: a pandera schema plus version, access, PII tags and a freshness SLA."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Any, Literal

import pandas as pd
import pandera.pandas as pa

from mesh_core.auditing import AuditReport, audit
from mesh_core.errors import DefinitionError
from mesh_core.schema_doc import schema_document
from mesh_core.semver import semver_major

Access = Literal["public", "restricted", "private"]
ACCESS_LEVELS: tuple[str, ...] = ("public", "restricted", "private")


def as_schema(contract: Any, *, domain: str | None = None, port: str | None = None) -> pa.DataFrameSchema:
    """Turn a pandera ``DataFrameModel`` class or ``DataFrameSchema`` into a schema.

    Raises:
        DefinitionError: if ``contract`` is neither.
    """
    if isinstance(contract, pa.DataFrameSchema):
        return contract
    if isinstance(contract, type) and issubclass(contract, pa.DataFrameModel):
        return contract.to_schema()
    raise DefinitionError(
        f"contract must be a pandera DataFrameModel class or DataFrameSchema, "
        f"got {type(contract).__name__}: {contract!r}",
        domain=domain,
        port=port,
    )


@dataclass(frozen=True)
class Contract:
    """What an output port promises its consumers.

    Args:
        schema: A pandera ``DataFrameModel`` class or ``DataFrameSchema``.
        version: Semantic version; a breaking change needs a new major.
        access: ``public``, ``restricted`` (only ``consumers``) or ``private``.
        consumers: Domains allowed to consume a ``restricted`` port.
        freshness: Optional SLA: the port must be re-published within this window.

    Column metadata ``{"pii": True}`` (``pa.Field(metadata={"pii": True})``) tags PII.

    Example:
        >>> import pandera.pandas as pa
        >>> Contract(pa.DataFrameSchema({"id": pa.Column(int)}), version="1.0.0").major
        1
    """

    schema: Any
    version: str
    access: Access = "public"
    consumers: tuple[str, ...] = field(default_factory=tuple)
    freshness: timedelta | None = None
    domain: str | None = None
    port: str | None = None

    def __post_init__(self) -> None:
        where = {"domain": self.domain, "port": self.port}
        object.__setattr__(self, "schema", as_schema(self.schema, **where))
        semver_major(self.version, **where)
        if self.access not in ACCESS_LEVELS:
            raise DefinitionError(
                f"access {self.access!r} must be one of {', '.join(ACCESS_LEVELS)}", **where
            )
        if isinstance(self.consumers, str):
            raise DefinitionError(
                "consumers must be a list of domain names, not a single string", **where
            )
        object.__setattr__(self, "consumers", tuple(self.consumers))
        if self.consumers and self.access != "restricted":
            raise DefinitionError(
                f"consumers {list(self.consumers)} only apply to access='restricted' "
                f"(access is {self.access!r})",
                **where,
            )
        if self.freshness is not None and (
            not isinstance(self.freshness, timedelta) or self.freshness <= timedelta(0)
        ):
            raise DefinitionError(
                f"freshness must be a positive timedelta, got {self.freshness!r}", **where
            )

    @cached_property
    def document(self) -> dict[str, Any]:
        """The schema as a JSON document (``schema_document``), computed once."""
        return schema_document(self.schema)

    @property
    def major(self) -> int:
        """The major version consumers pin."""
        return semver_major(self.version)

    @property
    def pii_columns(self) -> list[str]:
        """Columns tagged ``pii: true`` in their metadata."""
        return [
            name
            for name, column in self.schema.columns.items()
            if (column.metadata or {}).get("pii") is True
        ]

    def allows(self, consumer_domain: str) -> bool:
        """Whether ``consumer_domain`` may consume this port under its access level."""
        if consumer_domain == self.domain or self.access == "public":
            return True
        return self.access == "restricted" and consumer_domain in self.consumers

    def validate(self, frame: pd.DataFrame, *, inplace: bool = False) -> AuditReport:
        """Validate ``frame`` lazily, collecting every failure; never raises on bad data.

        ``inplace`` is passed to ``audit``: no copy, for a frame nobody else holds.
        """
        return audit(self.schema, frame, inplace=inplace)
