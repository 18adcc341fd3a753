"""The store as runs see it: verified inputs recorded, tampering failing the consumer, MESH_VERIFY=off said, min_rows."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pandera.pandas as pa
import pytest
from conftest import latest_materialization, materialize
from deltalake import DeltaTable

from mesh_core import Domain, InputPort, MeshError, PortStore
from mesh_core.settings import MeshSettings

CATALOG = pa.DataFrameSchema({"track_id": pa.Column(int, unique=True), "artist_id": pa.Column(float)})
GOOD = pd.DataFrame({"track_id": [1, 2, 3], "artist_id": [10.0, 11.0, 12.0]})
OTHER = pd.DataFrame({"track_id": [7], "artist_id": [70.0]})


def producer(frames: list[pd.DataFrame], min_rows: int = 1) -> dg.Definitions:
    tracks = Domain("tracks", owner="team:tracks")

    @tracks.output_port(contract=CATALOG, version="1.0.0", min_rows=min_rows)
    def catalog() -> pd.DataFrame:
        return frames.pop(0)

    return tracks.definitions()


def consumer() -> dg.Definitions:
    royalties = Domain("royalties", owner="team:royalties")

    @royalties.output_port(
        contract=pa.DataFrameSchema({"artist_id": pa.Column(float)}), version="1.0.0",
        inputs={"catalog": InputPort("tracks.catalog", version="1")},
    )
    def owed(catalog: pd.DataFrame) -> pd.DataFrame:
        return catalog[["artist_id"]]

    return royalties.definitions()


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    failure = next(event for event in result.all_events if event.is_step_failure)
    error, parts = failure.step_failure_data.error, []
    while error is not None:
        parts.append(error.message)
        error = error.cause
    return "\n".join(parts)


def tamper(store: PortStore) -> Path:
    """Put another port's file in place of the catalog's current file."""
    victim = Path(store.current("tracks.catalog", 1).file_uris[0])
    other = store.publish("tracks.other", OTHER, version="1.0.0")
    victim.write_bytes(Path(other.file_uris[0]).read_bytes())
    return victim


def test_a_consumer_records_the_hash_it_verified_and_its_commit_records_the_run(instance, store: PortStore):
    assert materialize(producer([GOOD]), instance).success
    result = materialize(consumer(), instance)
    produced = store.current("tracks.catalog", 1)
    metadata = latest_materialization(instance, "royalties/owed").metadata
    assert metadata["mesh/inputs"].value == {
        "tracks.catalog": {
            "port_id": "tracks.catalog", "version": "1.0.0", "snapshot_id": produced.snapshot_id,
            "data_version": produced.content_hash, "verified": True,
        }
    }
    assert metadata["mesh/verification"].value == "on"
    owed = store.current("royalties.owed", 1)
    materialization = latest_materialization(instance, "royalties/owed")
    assert owed.run_id == result.run_id
    assert owed.code_version == materialization.tags["dagster/code_version"]
    assert owed.checks == {"contract": True, "consumer_expectations": True}
    recorded = json.loads(DeltaTable(owed.path).history(1)[0]["mesh"])
    assert recorded["run_id"] == result.run_id and recorded["snapshot_id"] == owed.snapshot_id


def test_a_tampered_input_fails_the_consumer_naming_the_file(instance, store: PortStore):
    assert materialize(producer([GOOD]), instance).success
    victim = tamper(store)
    result = materialize(consumer(), instance, raise_on_error=False)
    assert not result.success
    text = failure_text(result)
    assert "changed since it was published" in text and str(victim) in text
    assert store.majors("royalties.owed") == []


def test_verification_off_reads_unverified_and_the_run_says_so(instance, store: PortStore, monkeypatch: pytest.MonkeyPatch):
    assert materialize(producer([GOOD]), instance).success
    tamper(store)
    monkeypatch.setenv("MESH_VERIFY", "off")
    assert materialize(consumer(), instance).success
    metadata = latest_materialization(instance, "royalties/owed").metadata
    assert metadata["mesh/verification"].value.startswith("off (MESH_VERIFY=off)")
    assert metadata["mesh/inputs"].value["tracks.catalog"]["verified"] is False
    assert len(store.read("royalties.owed", 1)[0]) == 1  # it read the file that was there


def test_mesh_verify_takes_on_or_off_only(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MESH_VERIFY", "sometimes")
    with pytest.raises(MeshError, match="MESH_VERIFY='sometimes' must be 'on' or 'off'"):
        MeshSettings.from_env()


def test_an_empty_frame_is_not_published_unless_the_port_allows_it(instance, store: PortStore):
    empty = GOOD.iloc[0:0]
    defs = producer([GOOD, empty])
    assert materialize(defs, instance).success
    kept = store.current("tracks.catalog", 1)
    result = materialize(defs, instance, raise_on_error=False)
    assert not result.success
    assert "refusing to publish 0 row(s) to v1: the port requires at least 1" in failure_text(result)
    assert store.current("tracks.catalog", 1) == kept
    assert materialize(producer([empty], min_rows=0), instance).success
    assert store.current("tracks.catalog", 1).rows == 0
