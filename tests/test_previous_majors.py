"""A producer serves an old major alongside the new one; pinned consumers keep old-major data."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pandera.pandas as pa
import pytest

from conftest import latest_materialization, materialize
from mesh_core import DefinitionError, Domain, InputPort, PortStore, PreviousMajor

V1 = pa.DataFrameSchema({"user_id": pa.Column(int), "name": pa.Column(str)}, strict=True)
V2 = pa.DataFrameSchema({"user_id": pa.Column(int), "first": pa.Column(str), "last": pa.Column(str)}, strict=True)
FRAME = pd.DataFrame({"user_id": [1, 2], "first": ["Ada", "Alan"], "last": ["Lovelace", "Turing"]})


def to_v1(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"user_id": frame["user_id"], "name": frame["first"] + " " + frame["last"]})


def producer(adapt=to_v1) -> Domain:
    people = Domain("people", owner="team:people")

    @people.output_port(
        contract=V2,
        version="2.0.0",
        previous=[PreviousMajor("1.3.0", V1, adapt=adapt, deprecation_date=date(2027, 1, 31))],
    )
    def directory() -> pd.DataFrame:
        return FRAME

    return people


def consumer(major: str) -> Domain:
    mail = Domain("mail", owner="team:mail")

    @mail.output_port(
        contract=pa.DataFrameSchema({"columns": pa.Column(str)}),
        version="1.0.0",
        inputs={"directory": InputPort("people.directory", version=major)},
    )
    def recipients(directory: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"columns": [",".join(directory.columns)]})

    return mail


def test_both_majors_are_published_and_each_consumer_reads_its_own(instance, store: PortStore):
    result = materialize(producer().definitions(), instance)
    assert {e.check_name: e.passed for e in result.get_asset_check_evaluations()} == {
        "contract": True, "contract_v1": True, "consumer_expectations": True,
    }
    assert store.majors("people.directory") == [1, 2]
    pd.testing.assert_frame_equal(store.read("people.directory", 1)[0], to_v1(FRAME))
    for major, columns in (("1", "user_id,name"), ("2", "user_id,first,last")):
        assert materialize(consumer(major).definitions(), instance).success
        assert store.read("mail.recipients", 1)[0]["columns"].tolist() == [columns]
        read = latest_materialization(instance, "mail/recipients").metadata["mesh/inputs"].value["people.directory"]
        assert read["snapshot_id"] == store.current("people.directory", int(major)).snapshot_id


def test_an_old_major_that_breaks_its_contract_blocks_the_whole_publish(instance, store: PortStore):
    broken = producer(adapt=lambda frame: frame)  # forgets to adapt: v1's strict contract fails
    result = materialize(broken.definitions(), instance, raise_on_error=False)
    assert not result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["contract"] is True and checks["contract_v1"] is False
    assert store.majors("people.directory") == [], "nothing is published unless every major passes"


@pytest.mark.parametrize("old_version", ["2.1.0", "3.0.0"])
def test_previous_major_must_be_older(old_version):
    people = Domain("people", owner="team:people")
    with pytest.raises(DefinitionError, match="must be distinct and below the current major"):

        @people.output_port(
            contract=V2, version="2.0.0",
            previous=[PreviousMajor(old_version, V1, adapt=to_v1, deprecation_date=date(2027, 1, 31))],
        )
        def directory() -> pd.DataFrame:
            return FRAME
