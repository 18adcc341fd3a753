"""A pandera schema as a plain JSON document, comparable without importing the producer.

The document is explicit (no omitted defaults) so that two versions can be diffed,
and it carries pandera's own JSON so that the schema can be rebuilt for validation.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from typing import Any

import pandera.pandas as pa


def schema_document(schema: pa.DataFrameSchema) -> dict[str, Any]:
    """Describe ``schema`` as JSON-safe data.

    Example:
        >>> doc = schema_document(pa.DataFrameSchema({"id": pa.Column(int, pa.Check.ge(0))}))
        >>> doc["columns"]["id"]["checks"]
        {'greater_than_or_equal_to': {'min_value': 0}}
    """
    return {
        "columns": {str(name): _column_document(column) for name, column in schema.columns.items()},
        "unique": sorted(schema.unique) if isinstance(schema.unique, list) else schema.unique,
        "strict": schema.strict,
        "checks": _checks_document(schema.checks),
        "pandera": _pandera_json(schema),
    }


def schema_from_document(document: dict[str, Any]) -> pa.DataFrameSchema:
    """Rebuild a pandera schema (for validation; column metadata is not kept) from a document.

    Raises:
        ValueError: if the schema used checks pandera cannot serialise (custom checks).
    """
    if document.get("pandera") is None:
        raise ValueError("the schema uses checks that pandera cannot serialise; it cannot be rebuilt")
    return pa.DataFrameSchema.from_json(json.dumps(document["pandera"]))


def json_loss(schema: pa.DataFrameSchema) -> str | None:
    """What pandera's JSON of ``schema`` loses, so a schema rebuilt from it would not check; ``None`` if nothing.

    pandera writes only its built-in and registered checks: it skips a custom check with a
    warning, and fails on a statistic JSON cannot hold, such as a compiled pattern or a date.

    Example:
        >>> json_loss(pa.DataFrameSchema({"n": pa.Column(int, pa.Check(lambda n: n > 0, name="positive"))}))
        "pandera's JSON drops the checks ['n: positive']"
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # one per skipped check: they are named below
            rebuilt = pa.DataFrameSchema.from_json(schema.to_json())
    except Exception as error:  # noqa: BLE001 - pandera raises various errors for statistics JSON cannot hold
        return f"pandera cannot write it as JSON ({type(error).__name__}: {error})"
    pairs = [(rebuilt.checks, schema.checks, "<frame>")] + [
        (rebuilt.columns[name].checks if name in rebuilt.columns else [], column.checks, str(name))
        for name, column in schema.columns.items()
    ]
    lost = [
        f"{where}: {name}"
        for kept, checks, where in pairs
        for name in (Counter(str(c.name) for c in checks) - Counter(str(c.name) for c in kept))
    ]
    return f"pandera's JSON drops the checks {lost}" if lost else None


def is_pii(column: Any) -> bool:
    """Whether a pandera column is tagged ``pii: true`` in its metadata (``pa.Field(metadata={"pii": True})``)."""
    return (column.metadata or {}).get("pii") is True


def _column_document(column: Any) -> dict[str, Any]:
    metadata = column.metadata or {}
    return {
        "dtype": str(column.dtype),
        "nullable": bool(column.nullable),
        "unique": bool(column.unique),
        "required": bool(column.required),
        "checks": _checks_document(column.checks),
        "description": column.description or "",
        "pii": is_pii(column),
        "metadata": _json_safe(metadata),
    }


def _checks_document(checks: list[Any]) -> dict[str, Any]:
    return {str(check.name): _json_safe(dict(check.statistics or {})) for check in checks}


def _pandera_json(schema: pa.DataFrameSchema) -> dict[str, Any] | None:
    try:
        return json.loads(schema.to_json())
    except Exception:  # noqa: BLE001 - pandera raises various errors for unserialisable custom checks
        return None


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str, sort_keys=True))
