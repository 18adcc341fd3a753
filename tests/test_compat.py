"""The contract diff classifier: hand-written cases and hypothesis properties."""

from __future__ import annotations

import pandera.pandas as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mesh_core.compat import breaking_without_major_bump, diff_schemas
from mesh_core.schema_doc import schema_document

BASE = {
    "id": pa.Column(int, pa.Check.ge(1), unique=True),
    "email": pa.Column(str, metadata={"pii": True}, description="Contact"),
    "score": pa.Column(float, pa.Check.in_range(0, 100)),
    "plan": pa.Column(str, pa.Check.isin(["free", "premium"])),
    "note": pa.Column(str, nullable=True),
}


def doc(columns: dict, **kwargs) -> dict:
    return schema_document(pa.DataFrameSchema(columns, **kwargs))


def with_column(name: str, column: pa.Column | None) -> dict:
    columns = dict(BASE)
    if column is None:
        del columns[name]
    else:
        columns[name] = column
    return doc(columns)


CASES = [
    ("remove a column", with_column("plan", None), [("plan", "column removed", True)]),
    ("add a nullable column", with_column("age", pa.Column(int, nullable=True)), [("age", "column added", False)]),
    ("narrow a dtype", with_column("score", pa.Column("float32", pa.Check.in_range(0, 100))), [("score", "dtype changed", True)]),
    ("change a dtype", with_column("id", pa.Column(str, unique=True)), [("id", "check loosened", False), ("id", "dtype changed", True)]),
    ("make a column nullable", with_column("email", pa.Column(str, nullable=True, metadata={"pii": True}, description="Contact")), [("email", "made nullable", True)]),
    ("make a column non-null", with_column("note", pa.Column(str)), [("note", "made non-null", False)]),
    ("tighten a lower bound", with_column("id", pa.Column(int, pa.Check.ge(5), unique=True)), [("id", "check tightened", True)]),
    ("loosen a lower bound", with_column("id", pa.Column(int, pa.Check.ge(0), unique=True)), [("id", "check loosened", False)]),
    ("tighten a range", with_column("score", pa.Column(float, pa.Check.in_range(0, 50))), [("score", "check tightened", True)]),
    ("loosen a range", with_column("score", pa.Column(float, pa.Check.in_range(-10, 100))), [("score", "check loosened", False)]),
    ("shift a range", with_column("score", pa.Column(float, pa.Check.in_range(10, 200))), [("score", "check changed", True)]),
    ("shrink an isin", with_column("plan", pa.Column(str, pa.Check.isin(["free"]))), [("plan", "check tightened", True)]),
    ("grow an isin", with_column("plan", pa.Column(str, pa.Check.isin(["free", "premium", "family"]))), [("plan", "check loosened", False)]),
    ("add a check", with_column("note", pa.Column(str, pa.Check.str_length(max_value=10), nullable=True)), [("note", "check tightened", True)]),
    ("remove a check", with_column("plan", pa.Column(str)), [("plan", "check loosened", False)]),
    ("drop uniqueness", with_column("id", pa.Column(int, pa.Check.ge(1))), [("id", "uniqueness changed", True)]),
    ("add uniqueness", with_column("note", pa.Column(str, nullable=True, unique=True)), [("note", "uniqueness changed", True)]),
    ("remove a PII tag", with_column("email", pa.Column(str, description="Contact")), [("email", "PII tag removed", True)]),
    ("add a PII tag", with_column("note", pa.Column(str, nullable=True, metadata={"pii": True})), [("note", "PII tag added", False)]),
    ("edit a description", with_column("email", pa.Column(str, metadata={"pii": True}, description="Email")), [("email", "description changed", False)]),
    ("frame-level uniqueness", doc(BASE, unique=["plan", "email"]), [(None, "uniqueness changed", True)]),
]


@pytest.mark.parametrize("name, new, expected", CASES, ids=[case[0] for case in CASES])
def test_classification_table(name, new, expected):
    changes = diff_schemas(doc(BASE), new)
    assert [(c.column, c.kind, c.breaking) for c in changes] == expected


def test_the_gate_needs_a_major_bump_for_breaking_changes():
    changes = diff_schemas(doc(BASE), with_column("plan", None))
    assert breaking_without_major_bump("1.2.0", "1.3.0", changes)
    assert not breaking_without_major_bump("1.2.0", "2.0.0", changes)
    non_breaking = diff_schemas(doc(BASE), with_column("age", pa.Column(int, nullable=True)))
    assert not breaking_without_major_bump("1.2.0", "1.2.1", non_breaking)


DTYPES = st.sampled_from([int, float, str, bool, "float32", "int32"])
NAMES = st.text(alphabet="abcdefgh_", min_size=1, max_size=8)


@st.composite
def columns(draw) -> dict:
    names = draw(st.lists(NAMES, min_size=1, max_size=6, unique=True))
    result = {}
    for name in names:
        checks = []
        if draw(st.booleans()):
            checks.append(pa.Check.ge(draw(st.integers(-5, 5))))
        if draw(st.booleans()):
            checks.append(pa.Check.isin(draw(st.lists(st.integers(0, 9), min_size=1, max_size=4, unique=True))))
        result[name] = pa.Column(
            draw(DTYPES),
            checks,
            nullable=draw(st.booleans()),
            unique=draw(st.booleans()),
            metadata={"pii": True} if draw(st.booleans()) else None,
        )
    return result


@given(columns())
def test_diff_of_a_schema_with_itself_is_empty(cols):
    assert diff_schemas(doc(cols), doc(cols)) == []


@given(columns(), st.data())
def test_removing_any_column_is_breaking(cols, data):
    removed = data.draw(st.sampled_from(sorted(cols)))
    changes = diff_schemas(doc(cols), doc({k: v for k, v in cols.items() if k != removed}))
    assert any(c.breaking and c.column == removed and c.kind == "column removed" for c in changes)


@given(columns(), DTYPES, NAMES)
def test_adding_a_nullable_column_is_never_breaking(cols, dtype, name):
    if name in cols:
        return
    changes = diff_schemas(doc(cols), doc({**cols, name: pa.Column(dtype, nullable=True)}))
    assert changes and not any(c.breaking for c in changes)


@given(columns(), columns(), st.integers(0, 5), st.integers(0, 5))
def test_a_major_bump_always_passes_the_gate(old, new, major, minor):
    changes = diff_schemas(doc(old), doc(new))
    assert not breaking_without_major_bump(f"{major}.{minor}.0", f"{major + 1}.0.0", changes)
    if any(c.breaking for c in changes):
        assert breaking_without_major_bump(f"{major}.{minor}.0", f"{major}.{minor + 1}.0", changes)
