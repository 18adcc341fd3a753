"""Audit a frame against a pandera schema and summarise the failures as check evidence."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pandera.pandas as pa

SAMPLE_SIZE = 5
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
        failure_cases: A sample of pandera's failure cases (column, check, value, index).
        failed_rows: A sample of the failing rows themselves, in frame order.
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
    schema: pa.DataFrameSchema, frame: pd.DataFrame, sample_size: int = SAMPLE_SIZE, *, inplace: bool = False
) -> AuditReport:
    """Validate ``frame`` with ``lazy=True`` and summarise every failure.

    ``inplace=True`` spares pandera's copy of the frame; a coercing schema then
    coerces ``frame`` itself, so pass it only for a frame nobody else holds.

    Example:
        >>> import pandera.pandas as pa
        >>> schema = pa.DataFrameSchema({"n": pa.Column(int, pa.Check.ge(0))})
        >>> audit(schema, pd.DataFrame({"n": [1, -1]})).failures_by_check
        {'n: greater_than_or_equal_to(0)': 1}
    """
    try:
        validated = schema.validate(frame, lazy=True, inplace=inplace)
    except pa.errors.SchemaErrors as errors:
        return _failed_report(frame, errors.failure_cases, sample_size)
    return AuditReport(frame=validated, passed=True)


def _failed_report(frame: pd.DataFrame, cases: pd.DataFrame, sample_size: int) -> AuditReport:
    missing_mask = cases["check"] == _MISSING_COLUMN_CHECK
    undeclared_mask = cases["check"] == _UNDECLARED_COLUMN_CHECK
    missing = sorted({str(case) for case in cases.loc[missing_mask, "failure_case"]})
    undeclared = sorted({str(case) for case in cases.loc[undeclared_mask, "failure_case"]})
    columns = cases["column"].astype(object).where(cases["column"].notna(), "<frame>")
    keys = columns.astype(str) + ": " + cases["check"].astype(str)
    keys = keys.where(~missing_mask, cases["failure_case"].astype(str) + ": missing column")
    keys = keys.where(~undeclared_mask, cases["failure_case"].astype(str) + ": undeclared column")
    counts = {str(key): int(count) for key, count in keys.value_counts(sort=False).items()}
    failing_labels = cases["index"].dropna().unique()
    failing_rows = frame[frame.index.isin(failing_labels)].head(sample_size)
    return AuditReport(
        frame=frame,
        passed=False,
        failures_by_check=counts,
        missing_columns=missing,
        undeclared_columns=undeclared,
        failure_cases=_records(cases[["column", "check", "failure_case", "index"]].head(20)),
        failed_rows=_records(failing_rows.reset_index(names="_index")),
    )


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-safe records: NaN/NaT become null, other non-JSON values become strings."""
    return json.loads(frame.to_json(orient="records", date_format="iso", default_handler=str))
