"""Bad definitions fail at load with a DefinitionError naming the domain, port and file."""

from __future__ import annotations

import re

import pandas as pd
import pandera.pandas as pa
import pytest

from mesh_core import DefinitionError, Domain, InputPort, MeshError

SCHEMA = pa.DataFrameSchema({"id": pa.Column(int)})
THIS_FILE = __file__


def domain() -> Domain:
    return Domain("ledger", owner="team:ledger")


def entries() -> pd.DataFrame:
    return pd.DataFrame({"id": [1]})


def reads_profiles(profiles: pd.DataFrame) -> pd.DataFrame:
    return profiles


def declare(d: Domain, fn=entries, **kwargs):
    return d.output_port(**{"contract": SCHEMA, "version": "1.0.0", "name": "entries", **kwargs})(fn)


def assert_names(error: MeshError, port: str) -> None:
    assert error.domain == "ledger"
    assert error.port == port
    assert "domain ledger" in str(error) and f"port {port}" in str(error)


class PositiveIds(pa.DataFrameModel):
    id: int

    @pa.check("id")
    def positive(cls, ids: pd.Series) -> pd.Series:
        return ids > 0


# Built inside each test: before InputPort was checked where a domain declares it, building one raised.
BAD_INPUTS = {
    "a list instead of a mapping": (lambda: [InputPort("users.profiles")], "inputs must be a mapping"),
    "malformed port id": (lambda: {"profiles": InputPort("users_profiles")}, "malformed port id 'users_profiles'"),
    "port id with a major": (lambda: {"profiles": InputPort("users.profiles.v1")}, "malformed port id"),
    "pin that is not a major": (
        lambda: {"profiles": InputPort("users.profiles", version="1.0")}, "pin a major version"
    ),
    "expectations not pandera": (
        lambda: {"profiles": InputPort("users.profiles", expectations={"id": int})}, "pandera DataFrameModel"
    ),
    "expectations with a custom check": (
        lambda: {"profiles": InputPort("users.profiles", expectations=PositiveIds)},
        r"cannot travel in the manifest: pandera's JSON drops the checks \['id: positive'\]",
    ),
    "expectations with a statistic JSON cannot hold": (
        lambda: {"profiles": InputPort("users.profiles", expectations=pa.DataFrameSchema(
            {"id": pa.Column(int, pa.Check.str_matches(re.compile("^[0-9]+$")))}))},
        "cannot travel in the manifest: pandera cannot write it as JSON",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
@pytest.mark.parametrize("kind", ["output port", "internal asset"])
def test_bad_input_names_the_consuming_domain_port_and_file(case, kind):
    build_inputs, message = BAD_INPUTS[case]
    d = domain()
    with pytest.raises(DefinitionError, match=message) as raised:
        inputs = build_inputs()
        if kind == "output port":
            declare(d, reads_profiles, inputs=inputs)
        else:
            d.asset(reads_profiles, inputs=inputs, name="entries")
    assert_names(raised.value, "ledger.entries")
    assert raised.value.file == THIS_FILE


@pytest.mark.parametrize("argument", ["tags", "glossary"])
def test_mapping_argument_given_as_a_list(argument):
    with pytest.raises(DefinitionError, match=f"{argument} must be a mapping") as raised:
        declare(domain(), **{argument: ["gold"]})
    assert_names(raised.value, "ledger.entries")


def test_duplicate_port_name():
    d = domain()
    declare(d)
    with pytest.raises(DefinitionError, match="declared twice") as raised:
        declare(d)
    assert_names(raised.value, "ledger.entries")
    assert raised.value.file == THIS_FILE


@pytest.mark.parametrize("contract", [dict, {"id": int}, "Entries", None])
def test_contract_that_is_not_pandera(contract):
    with pytest.raises(DefinitionError, match="pandera DataFrameModel") as raised:
        declare(domain(), contract=contract)
    assert_names(raised.value, "ledger.entries")
    assert raised.value.file == THIS_FILE


@pytest.mark.parametrize("version", ["1", "1.0", "v1.0.0", "1.0.0.0", ""])
def test_bad_semver(version):
    with pytest.raises(DefinitionError, match="not a semantic version") as raised:
        declare(domain(), version=version)
    assert_names(raised.value, "ledger.entries")


def test_self_reference_through_an_input_port():
    with pytest.raises(DefinitionError, match="belongs to this domain") as raised:
        declare(domain(), reads_profiles, inputs={"profiles": InputPort("ledger.entries")})
    assert_names(raised.value, "ledger.entries")


def test_unknown_local_input():
    with pytest.raises(DefinitionError, match="declared earlier") as raised:
        declare(domain(), reads_profiles, inputs={"profiles": "raw_entries"})
    assert_names(raised.value, "ledger.entries")


def test_parameters_must_match_inputs():
    d = domain()
    with pytest.raises(DefinitionError, match="must match the declared inputs"):

        @d.output_port(contract=SCHEMA, version="1.0.0", inputs={"profiles": InputPort("users.profiles")})
        def entries(plays):
            return plays


@pytest.mark.parametrize("name", ["Ledger", "ledger-x", "1ledger", ""])
def test_bad_domain_name(name):
    with pytest.raises(DefinitionError, match="lowercase identifier"):
        Domain(name, owner="team:ledger")


@pytest.mark.parametrize("owner", ["team:ledger-team", "ledger", "team:", "a@b"])
def test_bad_owner(owner):
    with pytest.raises(DefinitionError, match="owner"):
        Domain("ledger", owner=owner)


def test_port_returning_not_a_frame_fails_with_mesh_error():
    d = domain()

    @d.output_port(contract=SCHEMA, version="1.0.0")
    def entries():
        return [1, 2]

    from dagster import materialize

    with pytest.raises(MeshError, match="returned list") as raised:
        materialize([entries], resources=d.definitions().resources)
    assert_names(raised.value, "ledger.entries")
