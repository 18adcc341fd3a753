"""Audit a frame against a pandera schema and summarise the failures as check evidence."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

SAMPLE_SIZE = 5
REDACTED = "<pii>"  # what a failure sample shows instead of a PII value: check metadata is seen by every team
# Below this many rows pandera's own uniqueness check is cheaper than copying the schema.
_PROOF_MIN_ROWS = 50_000
_MISSING_COLUMN_CHECK = "column_in_dataframe"
_UNDECLARED_COLUMN_CHECK = "column_in_schema"


@dataclass(frozen=True)
class AuditReport:
    """The outcome of validating one frame against one schema.

    Attributes:
        frame: The validated frame (coerced by the schema when it coerces); on
            failure, the frame as given.
        passed: Whether every check passed.
        failures_by_check: Failure count per ``"<column>: <check>"``.
        missing_columns: Required columns absent from the frame.
        undeclared_columns: Columns of the frame that a strict schema does not declare.
        failure_cases: A sample of pandera's failure cases (column, check, value, index),
            values of PII columns redacted.
        failed_rows: A sample of the failing rows themselves, in frame order, PII columns redacted.
    """

    frame: pd.DataFrame
    passed: bool
    failures_by_check: dict[str, int] = field(default_factory=dict)
    missing_columns: list[str] = field(default_factory=list)
    undeclared_columns: list[str] = field(default_factory=list)
    failure_cases: list[dict[str, Any]] = field(default_factory=list)
    failed_rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failure_count(self) -> int:
        """Total number of failure cases over all checks."""
        return sum(self.failures_by_check.values())

    def summary(self) -> str:
        """One line per failing check, for error messages."""
        lines = [f"{key}: {count} failure(s)" for key, count in self.failures_by_check.items()]
        return "; ".join(lines) if lines else "all checks passed"

    def check_metadata(self) -> dict[str, Any]:
        """Evidence for a Dagster asset check result."""
        metadata: dict[str, Any] = {
            "rows": len(self.frame),
            "failure_count": self.failure_count,
        }
        if not self.passed:
            metadata["failures_by_check"] = self.failures_by_check
            metadata["missing_columns"] = self.missing_columns
            metadata["undeclared_columns"] = self.undeclared_columns
            metadata["failure_cases_sample"] = self.failure_cases
            metadata["failed_rows_sample"] = self.failed_rows
        return metadata


def audit(
    schema: pa.DataFrameSchema,
    frame: pd.DataFrame,
    sample_size: int = SAMPLE_SIZE,
    *,
    inplace: bool = False,
    pii: Collection[str] = (),
) -> AuditReport:
    """Validate ``frame`` with ``lazy=True`` and summarise every failure.

    ``inplace=True`` spares pandera's copy of the frame; a coercing schema then
    coerces ``frame`` itself, so pass it only for a frame nobody else holds. The
    failure samples show ``REDACTED`` for the values of the ``pii`` columns.

    Example:
        >>> import pandera.pandas as pa
        >>> schema = pa.DataFrameSchema({"n": pa.Column(int, pa.Check.ge(0))})
        >>> audit(schema, pd.DataFrame({"n": [1, -1]})).failures_by_check
        {'n: greater_than_or_equal_to(0)': 1}
    """
    checked = _without_proven_uniqueness(schema, frame)
    try:
        validated = checked.validate(frame, lazy=True, inplace=inplace)
    except pa.errors.SchemaErrors as errors:
        return _failed_report(frame, errors.failure_cases, sample_size, set(pii))
    if checked is not schema:
        validated.pandera.add_schema(schema)  # the frame carries the contract's schema, as pandera attaches it
    return AuditReport(frame=validated, passed=True)


def _without_proven_uniqueness(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> pa.DataFrameSchema:
    """``schema`` without the ``unique`` flags that ``frame`` already proves, so pandera skips their hashing.

    A column whose values strictly increase (or strictly decrease) is unique: checking that
    is one pass over the values, where pandera's check hashes every one. Only columns
    validated as they are qualify (no coercion or parser can change their values), so the
    verdict and failure cases are pandera's own.
    """
    if len(frame) < _PROOF_MIN_ROWS or schema.coerce or getattr(schema, "parsers", None):
        return schema
    proven = [
        name for name, column in schema.columns.items()
        if column.unique and not column.regex and not column.coerce and not getattr(column, "parsers", None)
        and name in frame.columns and _strictly_monotonic(frame[name])
    ]
    for name in proven:
        schema = schema.update_column(name, unique=False)
    return schema


def _strictly_monotonic(column: pd.Series | pd.DataFrame) -> bool:
    """Whether ``column`` holds numbers or naive datetimes that strictly increase or strictly decrease."""
    if not isinstance(column, pd.Series) or not isinstance(column.dtype, np.dtype) or column.dtype.kind not in "iufmM":
        return False
    if not (column.is_monotonic_increasing or column.is_monotonic_decreasing):
        return False  # a NaN or NaT makes a column non-monotonic
    values = column.to_numpy()
    return bool((values[1:] != values[:-1]).all())


def _failed_report(frame: pd.DataFrame, cases: pd.DataFrame, sample_size: int, pii: set[str]) -> AuditReport:
    missing_mask = cases["check"] == _MISSING_COLUMN_CHECK
    undeclared_mask = cases["check"] == _UNDECLARED_COLUMN_CHECK
    missing = sorted({str(case) for case in cases.loc[missing_mask, "failure_case"]})
    undeclared = sorted({str(case) for case in cases.loc[undeclared_mask, "failure_case"]})
    columns = cases["column"].astype(object).where(cases["column"].notna(), "<frame>")
    keys = columns.astype(str) + ": " + cases["check"].astype(str)
    keys = keys.where(~missing_mask, cases["failure_case"].astype(str) + ": missing column")
    keys = keys.where(~undeclared_mask, cases["failure_case"].astype(str) + ": undeclared column")
    counts = {str(key): int(count) for key, count in keys.value_counts(sort=False).items()}
    failing_rows = _first_rows(frame, cases["index"].dropna().unique(), sample_size)
    sampled_cases = cases[["column", "check", "failure_case", "index"]].head(20)
    if pii:
        sampled_cases = sampled_cases.assign(failure_case=sampled_cases["failure_case"].astype(object).where(
            ~sampled_cases["column"].isin(pii), REDACTED))
        failing_rows = failing_rows.assign(**{name: REDACTED for name in pii if name in failing_rows.columns})
    return AuditReport(
        frame=frame,
        passed=False,
        failures_by_check=counts,
        missing_columns=missing,
        undeclared_columns=undeclared,
        failure_cases=_records(sampled_cases),
        failed_rows=_records(failing_rows.reset_index(names="_index")),
    )


def _first_rows(frame: pd.DataFrame, labels: Any, count: int) -> pd.DataFrame:
    """The first ``count`` rows of ``frame``, in frame order, whose index label is among ``labels``.

    With a unique index, only the failing labels are looked up (a ``RangeIndex`` answers
    without hashing); a duplicated index needs a pass over every label.
    """
    if not frame.index.is_unique:
        return frame[frame.index.isin(labels)].head(count)
    positions = frame.index.get_indexer(pd.Index(labels))
    return frame.iloc[np.sort(positions[positions >= 0])[:count]]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-safe records: NaN/NaT become null, other non-JSON values become strings."""
    return json.loads(frame.to_json(orient="records", date_format="iso", default_handler=str))
