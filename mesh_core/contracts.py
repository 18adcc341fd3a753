"""Data contracts: a pandera schema plus version, access, PII tags and a freshness SLA."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Any, Literal

import pandas as pd
import pandera.pandas as pa

from mesh_core.access import ACCESS_LEVELS, Access, ReadPolicy, clearances, may_consume
from mesh_core.auditing import AuditReport, audit
from mesh_core.errors import DefinitionError
from mesh_core.schema_doc import is_pii, schema_document
from mesh_core.semver import semver_major

Strictness = bool | Literal["filter"]


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
        consumers: Domains allowed to consume a ``restricted`` port: a list, or a mapping of
            each to its ``Clearance``; kept as the tuple of their names.
        pii_cleared: The consumers cleared to read PII columns in clear (``Clearance(pii=True)``);
            derived from a ``consumers`` mapping, or given directly.
        freshness: Optional SLA: the port must be re-published within this window.
        strict: What happens to columns the schema does not declare, as pandera's
            ``strict``: ``True`` refuses them, ``"filter"`` drops them before publish,
            ``False`` publishes them. Unset, it is the schema's own setting when that
            is deliberate (a model's ``Config.strict``, or ``strict=True``/``"filter"``
            on a ``DataFrameSchema``), else ``True``: pandera's default ``False`` never
            publishes columns nobody declared.

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
    strict: Strictness | None = None
    pii_cleared: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        where = {"domain": self.domain, "port": self.port}
        strict = _strictness(self.schema, self.strict, where)
        schema = as_schema(self.schema, **where)
        if schema.strict != strict:
            schema = copy.copy(schema)  # a model's schema is pandera's cached object: leave it as it is
            schema.strict = strict
        object.__setattr__(self, "schema", schema)
        object.__setattr__(self, "strict", strict)
        semver_major(self.version, **where)
        if self.access not in ACCESS_LEVELS:
            raise DefinitionError(
                f"access {self.access!r} must be one of {', '.join(ACCESS_LEVELS)}", **where
            )
        if isinstance(self.consumers, str):
            raise DefinitionError(
                "consumers must be a list of domain names, not a single string", **where
            )
        if isinstance(self.consumers, Mapping):
            try:
                granted = clearances(self.consumers)
            except TypeError as error:
                raise DefinitionError(str(error), **where) from None
            cleared = tuple(sorted({*self.pii_cleared, *(name for name, c in granted.items() if c.pii)}))
            object.__setattr__(self, "pii_cleared", cleared)
        object.__setattr__(self, "consumers", tuple(self.consumers))
        object.__setattr__(self, "pii_cleared", tuple(self.pii_cleared))
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
        return [name for name, column in self.schema.columns.items() if is_pii(column)]

    def read_policy(self) -> ReadPolicy:
        """Who may read this contract's snapshots and who reads its PII in clear, recorded with each publish."""
        return ReadPolicy(
            producer=self.domain or "", access=self.access, consumers=self.consumers, pii_cleared=self.pii_cleared,
            pii=tuple(self.pii_columns),
        )

    def allows(self, consumer_domain: str) -> bool:
        """Whether ``consumer_domain`` may consume this port under its access level."""
        return may_consume(consumer_domain, producer=self.domain, access=self.access, consumers=self.consumers)

    def validate(self, frame: pd.DataFrame, *, inplace: bool = False) -> AuditReport:
        """Validate ``frame`` lazily, collecting every failure; never raises on bad data.

        ``inplace`` is passed to ``audit``: no copy, for a frame nobody else holds. A
        ``"filter"`` contract always validates a copy: its result drops columns. The
        failure samples redact the PII columns' values.
        """
        return audit(self.schema, frame, inplace=inplace and self.strict != "filter", pii=self.pii_columns)


def _strictness(contract: Any, declared: Any, where: dict[str, Any]) -> Strictness:
    """The contract's strictness: declared, else the schema's own when deliberate, else ``True``."""
    if declared is not None and not (isinstance(declared, bool) or declared == "filter"):
        raise DefinitionError(f"strict must be True, False or 'filter', got {declared!r}", **where)
    own = _deliberate_strictness(contract)
    if declared is not None and own is not None and own != declared:
        raise DefinitionError(
            f"the contract's schema sets strict={own!r} but the port declares strict={declared!r}; say it once",
            **where,
        )
    if declared is not None:
        return declared
    return True if own is None else own


def _deliberate_strictness(contract: Any) -> Strictness | None:
    """A schema's ``strict`` if its author set it, else ``None`` (pandera's default ``False``).

    A ``DataFrameSchema`` cannot tell ``strict=False`` from the default; a model can: a
    ``Config`` of the user's own classes sets it.
    """
    if isinstance(contract, pa.DataFrameSchema):
        return contract.strict if contract.strict in (True, "filter") else None
    if isinstance(contract, type) and issubclass(contract, pa.DataFrameModel):
        for cls in contract.__mro__:
            config = vars(cls).get("Config")
            if not cls.__module__.startswith("pandera.") and config is not None and "strict" in vars(config):
                return contract.to_schema().strict
    return None
