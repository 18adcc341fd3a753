"""Port ids, input ports and contracts: direct unit tests."""

from datetime import timedelta

import dagster as dg
import pandas as pd
import pandera.pandas as pa
import pytest

from mesh_core import Contract, DefinitionError, parse_port_id, port_asset_key

SCHEMA = pa.DataFrameSchema({"id": pa.Column(int, unique=True), "email": pa.Column(str, metadata={"pii": True})})


@pytest.mark.parametrize(
    "port_id, expected",
    [("users.profiles", ("users", "profiles")), ("a1.b_2", ("a1", "b_2"))],
)
def test_parse_port_id(port_id, expected):
    assert parse_port_id(port_id) == expected
    assert port_asset_key(port_id) == dg.AssetKey(list(expected))


@pytest.mark.parametrize(
    "bad", ["users", "users.profiles.v1", "Users.profiles", "users.", ".profiles", "users-x.p", "", 3]
)
def test_malformed_port_id_is_a_definition_error(bad):
    with pytest.raises(DefinitionError, match="malformed port id"):
        parse_port_id(bad)


def test_contract_reports_pii_major_and_access():
    contract = Contract(SCHEMA, version="2.1.0", access="restricted", consumers=["podcasts"], domain="users")
    assert contract.major == 2
    assert contract.pii_columns == ["email"]
    assert contract.allows("podcasts") and contract.allows("users")
    assert not contract.allows("artists")
    assert not Contract(SCHEMA, version="1.0.0", access="private", domain="users").allows("podcasts")
    assert Contract(SCHEMA, version="1.0.0", domain="users").allows("anyone")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"version": "1.0"}, "not a semantic version"),
        ({"version": "01.0.0"}, "not a semantic version"),
        ({"access": "secret"}, "access 'secret'"),
        ({"consumers": ["podcasts"]}, "only apply to access='restricted'"),
        ({"access": "restricted", "consumers": "podcasts"}, "list of domain names"),
        ({"freshness": timedelta(0)}, "positive timedelta"),
        ({"freshness": 3600}, "positive timedelta"),
    ],
)
def test_contract_rejects_bad_settings(kwargs, message):
    settings = {"version": "1.0.0", **kwargs}
    with pytest.raises(DefinitionError, match=message) as raised:
        Contract(SCHEMA, domain="users", port="users.profiles", **settings)
    assert raised.value.domain == "users" and raised.value.port == "users.profiles"


@pytest.mark.parametrize("not_a_schema", [dict, {"id": int}, "Profiles", pd.DataFrame])
def test_contract_must_be_pandera(not_a_schema):
    with pytest.raises(DefinitionError, match="pandera DataFrameModel"):
        Contract(not_a_schema, version="1.0.0")


def test_validate_collects_every_failure_lazily():
    frame = pd.DataFrame({"id": [1, 1, 2], "email": ["a", None, "c"]})
    report = Contract(SCHEMA, version="1.0.0").validate(frame)
    assert not report.passed
    assert report.failures_by_check == {"id: field_uniqueness": 2, "email: not_nullable": 1}
    assert [row["_index"] for row in report.failed_rows] == [0, 1]



def _pandera_counts(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> dict[str, int]:
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        return (cases["column"].astype(str) + ": " + cases["check"].astype(str)).value_counts().to_dict()
    return {}


ROWS = 60_000  # large enough for the audit's own uniqueness proof (a strictly monotonic key)


@pytest.mark.parametrize("key, coerce", [
    (pd.Series(range(ROWS)), False),  # strictly increasing: unique
    (pd.Series(range(ROWS, 0, -1)), False),  # strictly decreasing: unique
    (pd.Series([*range(ROWS - 1), ROWS - 2]), False),  # monotonic, one value twice at the end
    (pd.Series([0, 0, *range(1, ROWS - 1)]), False),  # monotonic, one value twice at the start
    (pd.Series([*range(ROWS - 1), 5]), False),  # unordered, a duplicate
    (pd.Series([float(i) for i in range(ROWS - 1)] + [float("nan")]), False),  # a NaN
    (pd.Series([i / 2 for i in range(ROWS)]), True),  # strictly increasing floats, duplicates once coerced
])
def test_audit_of_a_large_frame_gives_pandera_s_own_verdict_on_a_unique_key(key, coerce):
    schema = pa.DataFrameSchema({"id": pa.Column(int if coerce else key.dtype, unique=True, nullable=True,
                                                 coerce=coerce)})
    frame = pd.DataFrame({"id": key})
    report = Contract(schema, version="1.0.0").validate(frame)
    assert report.failures_by_check == _pandera_counts(schema, frame)
    assert report.passed == (report.failures_by_check == {})
    if report.passed:
        assert report.frame.pandera.schema.columns["id"].unique  # the contract's schema, as pandera attaches it


@pytest.mark.parametrize("index", [
    pd.Index(range(ROWS - 1, -1, -1)),  # unique, descending labels
    pd.Index([f"r{i}" for i in range(ROWS)]),  # unique strings
    pd.Index([i // 2 for i in range(ROWS)]),  # duplicated labels
])
def test_failed_rows_sample_the_first_failing_rows_in_frame_order(index):
    n, m = [1] * ROWS, [1] * ROWS
    for position in (ROWS - 1, 7, 900, 40_000):
        n[position] = -1
    for position in (3, 12, 2):  # pandera lists these after n's failures
        m[position] = -1
    frame = pd.DataFrame({"n": n, "m": m}, index=index)
    schema = pa.DataFrameSchema({"n": pa.Column(int, pa.Check.ge(0)), "m": pa.Column(int, pa.Check.ge(0))})
    report = Contract(schema, version="1.0.0").validate(frame)
    expected = frame[(frame["n"] < 0) | (frame["m"] < 0)].head(5)
    if not index.is_unique:  # a failing label also names its twin row
        expected = frame[frame.index.isin(expected.index)].head(5)
    assert [row["_index"] for row in report.failed_rows] == list(expected.index)

class _Model(pa.DataFrameModel):
    id: int


class _Publishes(_Model):
    class Config:
        strict = False


class _Inherits(_Publishes):
    name: str


class _Filters(_Model):
    class Config:
        strict = "filter"


DEFAULT_SCHEMA = pa.DataFrameSchema({"id": pa.Column(int)})


@pytest.mark.parametrize(
    "schema, declared, strict",
    [
        (DEFAULT_SCHEMA, None, True),
        (_Model, None, True),
        (_Model.to_schema(), None, True),
        (_Publishes, None, False),
        (_Inherits, None, False),
        (_Filters, None, "filter"),
        (pa.DataFrameSchema({"id": pa.Column(int)}, strict="filter"), None, "filter"),
        (pa.DataFrameSchema({"id": pa.Column(int)}, strict=True), None, True),
        (DEFAULT_SCHEMA, False, False),
        (DEFAULT_SCHEMA, "filter", "filter"),
        (_Model, False, False),
        (_Publishes, False, False),
    ],
)
def test_output_contracts_refuse_undeclared_columns_unless_they_say_so(schema, declared, strict):
    contract = Contract(schema, version="1.0.0", strict=declared)
    assert contract.strict == strict and contract.schema.strict == strict
    assert contract.document["strict"] == strict
    extra = pd.DataFrame({"id": [1], "name": ["a"], "ssn": ["123-45-6789"]})
    report = contract.validate(extra)
    assert report.passed is (strict is not True)
    assert report.undeclared_columns == ([] if strict is not True else sorted({"name", "ssn"} - set(contract.schema.columns)))
    if strict == "filter":
        assert list(report.frame.columns) == list(contract.schema.columns)


def test_strictness_leaves_pandera_schemas_as_they_were():
    Contract(_Model, version="1.0.0")
    Contract(DEFAULT_SCHEMA, version="1.0.0", strict="filter")
    assert _Model.to_schema().strict is False and DEFAULT_SCHEMA.strict is False


@pytest.mark.parametrize(
    "schema, declared, message",
    [
        (_Filters, True, r"schema sets strict='filter' but the port declares strict=True"),
        (pa.DataFrameSchema({"id": pa.Column(int)}, strict=True), False, "say it once"),
        (DEFAULT_SCHEMA, "drop", "strict must be True, False or 'filter'"),
        (DEFAULT_SCHEMA, 1, "strict must be True, False or 'filter'"),
    ],
)
def test_contradictory_or_unknown_strictness_is_a_definition_error(schema, declared, message):
    with pytest.raises(DefinitionError, match=message) as raised:
        Contract(schema, version="1.0.0", strict=declared, domain="users", port="users.profiles")
    assert (raised.value.domain, raised.value.port) == ("users", "users.profiles")
