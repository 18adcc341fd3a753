"""Port ids, input ports and contracts: direct unit tests."""

from datetime import timedelta

import dagster as dg
import pandas as pd
import pandera.pandas as pa
import pytest

from mesh_core import Contract, DefinitionError, InputPort, parse_port_id, port_asset_key

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
        InputPort(bad)


@pytest.mark.parametrize("version", ["1.0", "v1", "x", "-1"])
def test_input_port_pins_a_major(version):
    with pytest.raises(DefinitionError, match="pin a major version") as raised:
        InputPort("users.profiles", version=version)
    assert raised.value.port == "users.profiles"


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
