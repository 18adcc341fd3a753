"""Consumer-driven contracts: a producer cannot publish what breaks a registered consumer's expectations."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pytest

from conftest import materialize
from mesh_core import Domain, InputPort, MeshError, PortStore
from mesh_core.expectations import registered_expectations
from mesh_core.manifest_format import manifests_dir, read_cached_manifest, write_cached_manifest
from mesh_core.manifest import build_manifest

# The producer promises little: artist_id may be null.
CATALOG = pa.DataFrameSchema({"track_id": pa.Column(int, unique=True), "artist_id": pa.Column(float, nullable=True)})
# The consumer relies on every track naming its artist.
RELIED_ON = pa.DataFrameSchema({"artist_id": pa.Column(float, nullable=False)})
GOOD = pd.DataFrame({"track_id": [1, 2, 3], "artist_id": [10.0, 11.0, 12.0]})
BREAKING = GOOD.assign(artist_id=[10.0, None, 12.0])


def producer(frames: list[pd.DataFrame]):
    tracks = Domain("tracks", owner="team:tracks")

    @tracks.output_port(contract=CATALOG, version="1.0.0")
    def catalog() -> pd.DataFrame:
        return frames.pop(0)

    return tracks.definitions()


def register_consumer(mesh_home: Path) -> None:
    royalties = Domain("royalties", owner="team:royalties")

    @royalties.output_port(
        contract=pa.DataFrameSchema({"artist_id": pa.Column(float)}),
        version="1.0.0",
        inputs={"catalog": InputPort("tracks.catalog", version="1", expectations=RELIED_ON)},
    )
    def owed(catalog: pd.DataFrame) -> pd.DataFrame:
        return catalog[["artist_id"]]

    manifests_dir(mesh_home).mkdir(parents=True)
    manifest = build_manifest(royalties.definitions(), "royalties")
    write_cached_manifest(manifests_dir(mesh_home) / "royalties.json", manifest, cache_key="as mesh wrote it")


def test_a_change_breaking_a_consumer_fails_at_publish_naming_it(instance, store: PortStore, mesh_home: Path):
    register_consumer(mesh_home)
    defs = producer([GOOD, BREAKING])
    assert materialize(defs, instance).success
    before = store.current("tracks.catalog", 1)

    result = materialize(defs, instance, raise_on_error=False)

    assert not result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["contract"].passed, "the producer's own contract allows nulls"
    expectations = checks["consumer_expectations"]
    assert not expectations.passed
    assert expectations.metadata["failing_consumers"].value == ["royalties"]
    assert expectations.metadata["failures_by_consumer"].value == {"royalties": {"artist_id: not_nullable": 1}}
    failure = next(event for event in result.all_events if event.is_step_failure)
    assert "expectations of consumer royalties violated" in failure.step_failure_data.error.message
    assert store.current("tracks.catalog", 1) == before
    pd.testing.assert_frame_equal(store.read("tracks.catalog", 1)[0], GOOD)


def test_without_registered_consumers_the_same_change_publishes(instance, store: PortStore):
    assert materialize(producer([BREAKING]), instance).success
    assert store.current("tracks.catalog", 1).rows == 3


def test_stray_and_damaged_files_in_the_cache_neither_fail_a_publish_nor_hide_a_consumer(
    instance, store: PortStore, mesh_home: Path
):
    register_consumer(mesh_home)
    registered = manifests_dir(mesh_home) / "royalties.json"
    header, body = registered.read_text().split("\n", 1)
    (manifests_dir(mesh_home) / "stray.json").write_text("[]\n")
    (manifests_dir(mesh_home) / "notes.json").write_text('{"ports": null}\n')
    (manifests_dir(mesh_home) / "edited.json").write_text(f"{header}\n{body.replace('tracks.catalog', 'tracks.x')}")
    defs = producer([GOOD, BREAKING])

    assert materialize(defs, instance).success
    result = materialize(defs, instance, raise_on_error=False)

    assert not result.success, "the registered consumer's expectations still hold"
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["consumer_expectations"].metadata["failing_consumers"].value == ["royalties"]
    assert store.current("tracks.catalog", 1).rows == 3


def test_expectations_a_manifest_cannot_rebuild_fail_the_publish_naming_them(instance, store: PortStore, mesh_home: Path):
    register_consumer(mesh_home)
    path = manifests_dir(mesh_home) / "royalties.json"
    manifest = read_cached_manifest(path)
    # As written before expectations were checked at load: pandera could not write them as JSON.
    manifest["ports"][0]["inputs"][0]["expectations"]["pandera"] = None
    write_cached_manifest(path, manifest, "any-key")

    with pytest.raises(MeshError, match="expectations of consumer royalties cannot be rebuilt") as raised:
        registered_expectations(mesh_home, "tracks.catalog")
    assert (raised.value.domain, raised.value.port, raised.value.file) == ("royalties", "tracks.catalog", str(path))
    result = materialize(producer([GOOD]), instance, raise_on_error=False)
    assert not result.success
    assert store.majors("tracks.catalog") == [], "fails closed: nothing published unchecked"
