"""Write–audit–publish: a frame that breaks its contract fails the run and publishes nothing."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
import pandera.pandas as pa
import pytest

from conftest import latest_materialization, materialize
from mesh_core import Contract, Domain, PortStore
from mesh_core.expectations import Expectation
from mesh_core.publish import ServedMajor, write_audit_publish

CONTRACT = pa.DataFrameSchema(
    {
        "entry_id": pa.Column(int, unique=True),
        "amount": pa.Column(float, pa.Check.in_range(0, 1_000_000)),
        "memo": pa.Column(str),
    },
    strict=True,
)
GOOD = pd.DataFrame({"entry_id": [1, 2, 3], "amount": [10.0, 20.0, 30.0], "memo": ["a", "b", "c"]})

BAD_FRAMES = {
    "wrong dtype": (GOOD.assign(entry_id=["1", "2", "3"]), {"entry_id: dtype('int64')": 1}, []),
    "null in non-nullable": (GOOD.assign(memo=["a", None, "c"]), {"memo: not_nullable": 1}, [1]),
    "missing column": (GOOD.drop(columns="memo"), {"memo: missing column": 1}, []),
    "duplicate in unique": (GOOD.assign(entry_id=[1, 1, 3]), {"entry_id: field_uniqueness": 2}, [0, 1]),
    "out of range": (GOOD.assign(amount=[10.0, -5.0, 2e6]), {"amount: in_range(0, 1000000)": 2}, [1, 2]),
}


def ledger(frames: list[pd.DataFrame]) -> dg.Definitions:
    """A real domain whose port publishes the next frame of ``frames`` on each run."""
    domain = Domain("ledger", owner="team:ledger")

    @domain.output_port(contract=CONTRACT, version="1.0.0")
    def entries() -> pd.DataFrame:
        return frames.pop(0)

    return domain.definitions()


def published_bytes(store: PortStore) -> tuple[str, list[bytes]]:
    snapshot = store.current("ledger.entries", 1)
    return snapshot.snapshot_id, [Path(uri).read_bytes() for uri in snapshot.file_uris]


@pytest.mark.parametrize("case", sorted(BAD_FRAMES))
def test_violation_fails_records_evidence_and_keeps_previous_snapshot(case, instance, store):
    bad, expected_counts, failing_rows = BAD_FRAMES[case]
    defs = ledger([GOOD, bad])
    assert materialize(defs, instance).success
    before = published_bytes(store)
    good_materialization = latest_materialization(instance, "ledger/entries")

    result = materialize(defs, instance, raise_on_error=False)

    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    message = failure.step_failure_data.error.message
    assert "port ledger.entries" in message and "nothing published; contract v1.0.0 violated" in message
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert evaluations["consumer_expectations"].passed, "no consumer registered expectations"
    evaluation = evaluations["contract"]
    assert not evaluation.passed
    evidence = {key: value.value for key, value in evaluation.metadata.items()}
    assert evidence["failures_by_check"] == expected_counts
    assert evidence["failure_count"] == sum(expected_counts.values())
    assert [row["_index"] for row in evidence["failed_rows_sample"]] == failing_rows
    assert evidence["failure_cases_sample"], "pandera's failure cases travel with the check"
    if case == "missing column":
        assert evidence["missing_columns"] == ["memo"]
    # The failed check is recorded in the instance, and no new materialization is.
    [record] = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey(["ledger", "entries"]), "contract"), limit=1
    )
    assert record.run_id == result.run_id
    assert not record.event.dagster_event.event_specific_data.passed
    assert latest_materialization(instance, "ledger/entries") == good_materialization
    # Consumers still read the previous snapshot, byte for byte.
    assert published_bytes(store) == before
    pd.testing.assert_frame_equal(store.read("ledger.entries", 1)[0], GOOD)


def test_passing_publish_records_check_and_data_version(instance, store):
    result = materialize(ledger([GOOD]), instance)
    assert all(evaluation.passed for evaluation in result.get_asset_check_evaluations())
    snapshot = store.current("ledger.entries", 1)
    materialization = latest_materialization(instance, "ledger/entries")
    assert materialization.tags["dagster/data_version"] == snapshot.content_hash
    assert materialization.metadata["mesh/snapshot_id"].value == snapshot.snapshot_id
    assert materialization.metadata["dagster/uri"].value == snapshot.path
    assert materialization.metadata["dagster/row_count"].value == 3


def test_a_reason_found_elsewhere_blocks_a_publish_whose_audits_pass(store):
    served = [ServedMajor(Contract(CONTRACT, version="1.0.0"), "contract")]
    results = write_audit_publish(
        store, "ledger.entries", served, GOOD, {}, [], blocked_by="its dbt tests failed"
    )
    checks = []
    with pytest.raises(dg.Failure, match="nothing published; its dbt tests failed"):
        for result in results:
            checks.append(result)
    assert [(c.check_name, c.passed) for c in checks] == [("contract", True), ("consumer_expectations", True)]
    assert store.majors("ledger.entries") == []



PII_CONTRACT = pa.DataFrameSchema(
    {
        "entry_id": pa.Column(int, unique=True),
        "email": pa.Column(str, pa.Check.str_contains("@"), metadata={"pii": True}),
    },
    strict=True,
)


def test_failure_samples_redact_pii_in_the_check_metadata_every_team_sees(store):
    """A failing PII value never reaches check metadata: not from the contract, nor from a consumer's expectations."""
    clear = "ann.example.com"
    frame = pd.DataFrame({"entry_id": [1, 2], "email": [clear, "bob@example.com"]})
    expects_mail_at_example = pa.DataFrameSchema({"email": pa.Column(str, pa.Check.str_endswith("@example.org"))})
    served = [ServedMajor(Contract(PII_CONTRACT, version="1.0.0"), "contract")]
    expectations = [Expectation("billing", 1, expects_mail_at_example)]
    checks = []
    with pytest.raises(dg.Failure, match="nothing published") as failure:
        for result in write_audit_publish(store, "ledger.entries", served, frame, {}, expectations):
            checks.append(result)
    contract, consumers = checks
    evidence = {key: value.value for key, value in contract.metadata.items()}
    assert evidence["failures_by_check"] == {"email: str_contains('@')": 1}
    assert [row["_index"] for row in evidence["failed_rows_sample"]] == [0]
    assert evidence["failed_rows_sample"][0]["email"] == "<pii>"
    assert evidence["failed_rows_sample"][0]["entry_id"] == 1
    assert [case["failure_case"] for case in evidence["failure_cases_sample"]] == ["<pii>"]
    assert consumers.metadata["failures_by_consumer"].value == {"billing": {"email: str_endswith('@example.org')": 2}}
    everything = repr([check.metadata for check in checks]) + str(failure.value)
    assert clear not in everything and "bob@example.com" not in everything


# pandera's default strict=False: on an output port that still refuses columns it does not declare.
LOOSE = pa.DataFrameSchema({"entry_id": pa.Column(int), "memo": pa.Column(str)})
WITH_SSN = pd.DataFrame({"entry_id": [1, 2], "memo": ["a", "b"], "ssn": ["123-45-6789", "987-65-4321"]})


class PublishesExtras(pa.DataFrameModel):
    entry_id: int
    memo: str

    class Config:
        strict = False


class DropsExtras(pa.DataFrameModel):
    entry_id: int
    memo: str

    class Config:
        strict = "filter"


def ledger_of(contract, **port) -> dg.Definitions:
    domain = Domain("ledger", owner="team:ledger")

    @domain.output_port(contract=contract, version="1.0.0", **port)
    def entries() -> pd.DataFrame:
        return WITH_SSN.copy()

    return domain.definitions()


@pytest.mark.parametrize(
    "contract, port",
    [(LOOSE, {}), (LOOSE, {"strict": True}), (PublishesExtras.to_schema(), {})],
    ids=["schema left at pandera's default", "port says strict", "a model's schema, its Config unseen"],
)
def test_undeclared_column_is_refused_and_named(contract, port, instance, store):
    result = materialize(ledger_of(contract, **port), instance, raise_on_error=False)

    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    message = failure.step_failure_data.error.message
    assert "port ledger.entries" in message and "ssn: undeclared column" in message
    assert "strict=False" in message and "strict='filter'" in message, "the error says how to allow them"
    evaluation = next(e for e in result.get_asset_check_evaluations() if e.check_name == "contract")
    assert not evaluation.passed
    assert evaluation.metadata["undeclared_columns"].value == ["ssn"]
    assert evaluation.metadata["failures_by_check"].value == {"ssn: undeclared column": 1}
    assert store.majors("ledger.entries") == [], "nothing published"


@pytest.mark.parametrize(
    "contract, port, published",
    [
        (PublishesExtras, {}, ["entry_id", "memo", "ssn"]),
        (DropsExtras, {}, ["entry_id", "memo"]),
        (LOOSE, {"strict": False}, ["entry_id", "memo", "ssn"]),
        (LOOSE, {"strict": "filter"}, ["entry_id", "memo"]),
        (pa.DataFrameSchema(LOOSE.columns, strict="filter"), {}, ["entry_id", "memo"]),
    ],
    ids=["model Config strict=False", "model Config filter", "port strict=False", "port filter", "schema filter"],
)
def test_a_contract_that_says_so_publishes_or_drops_undeclared_columns(contract, port, published, instance, store):
    result = materialize(ledger_of(contract, **port), instance)

    assert all(evaluation.passed for evaluation in result.get_asset_check_evaluations())
    frame, _ = store.read("ledger.entries", 1)
    assert list(frame.columns) == published
