"""Consumer-driven contracts: a producer cannot publish what breaks a registered consumer's expectations."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pytest

from conftest import materialize
from mesh_core import Domain, InputPort, PortStore
from mesh_core.manifest import build_manifest
from mesh_core.manifest_format import manifests_dir, write_cached_manifest
from mesh_core.registry import Registry

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


def consumer_manifest() -> dict:
    royalties = Domain("royalties", owner="team:royalties")

    @royalties.output_port(
        contract=pa.DataFrameSchema({"artist_id": pa.Column(float)}),
        version="1.0.0",
        inputs={"catalog": InputPort("tracks.catalog", version="1", expectations=RELIED_ON)},
    )
    def owed(catalog: pd.DataFrame) -> pd.DataFrame:
        return catalog[["artist_id"]]

    return build_manifest(royalties.definitions(), "royalties")


def register_consumer(mesh_home: Path) -> Path:
    """Register the consumer as its own repository would: in the store's registry, nowhere else."""
    return Path(registry(mesh_home).register(consumer_manifest(), location="royalties").file)


def registry(mesh_home: Path) -> Registry:
    return Registry.of_store(mesh_home, "dev")


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


def test_a_consumer_only_in_the_local_manifest_cache_is_not_read(instance, store: PortStore, mesh_home: Path):
    manifests_dir(mesh_home).mkdir(parents=True)
    write_cached_manifest(manifests_dir(mesh_home) / "royalties.json", consumer_manifest(), cache_key="as mesh wrote it")

    assert materialize(producer([BREAKING]), instance).success, "expectations come from the registry alone"


def test_the_producer_registers_on_publish_and_records_who_pins_its_port(instance, store: PortStore, mesh_home: Path):
    register_consumer(mesh_home)

    assert materialize(producer([GOOD]), instance).success

    entry = registry(mesh_home).read("tracks")
    assert entry is not None and entry.owner == "team:tracks"
    assert [port["id"] for port in entry.manifest["ports"]] == ["tracks.catalog"]
    assert entry.pinned_by == {"tracks.catalog": ["royalties"]}


def failing_check(result) -> dict:
    assert not result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["contract"].passed
    assert not checks["consumer_expectations"].passed
    return {name: value.value for name, value in checks["consumer_expectations"].metadata.items()}


@pytest.mark.parametrize("damage", ["truncated", "edited", "newer_format"])
def test_an_unreadable_consumer_entry_fails_the_publish_closed_naming_the_consumer(
    instance, store: PortStore, mesh_home: Path, damage: str
):
    path = register_consumer(mesh_home)
    header, body = path.read_bytes().split(b"\n", 1)
    damaged = {
        "truncated": header + b"\n" + body[: len(body) // 2],
        "edited": header + b"\n" + body.replace(b'"artist_id"', b'"artist_xx"'),
        "newer_format": header.replace(b'"manifest_version": 1', b'"manifest_version": 99') + b"\n" + body,
    }[damage]
    assert damaged != path.read_bytes()
    path.write_bytes(damaged)

    metadata = failing_check(materialize(producer([GOOD]), instance, raise_on_error=False))

    assert metadata["failing_consumers"] == ["royalties"]
    assert str(path) in metadata["unreadable_consumers"]["royalties"]
    assert store.majors("tracks.catalog") == [], "fails closed: nothing published unchecked"
    assert path.read_bytes() == damaged, "the consumer's entry is left as it was"


def test_a_consumer_whose_entry_went_missing_fails_the_publish_until_it_registers_again(
    instance, store: PortStore, mesh_home: Path
):
    path = register_consumer(mesh_home)
    defs = producer([GOOD, GOOD, GOOD])
    assert materialize(defs, instance).success
    path.unlink()

    metadata = failing_check(materialize(defs, instance, raise_on_error=False))

    assert metadata["failing_consumers"] == ["royalties"]
    assert "is missing, but it pinned tracks.catalog" in metadata["unreadable_consumers"]["royalties"]
    assert store.current("tracks.catalog", 1).delta_version == 0
    register_consumer(mesh_home)
    assert materialize(defs, instance).success


def test_mesh_expectations_lenient_publishes_past_an_unreadable_entry_and_says_so(
    instance, store: PortStore, mesh_home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    register_consumer(mesh_home).write_bytes(b"not a registry entry")
    monkeypatch.setenv("MESH_EXPECTATIONS", "lenient")

    result = materialize(producer([BREAKING]), instance)

    assert result.success
    logged = [e.message for e in instance.all_logs(result.run_id) if "MESH_EXPECTATIONS=lenient" in e.message]
    assert logged and "consumer royalties" in logged[0]


def test_expectations_the_registry_cannot_rebuild_fail_the_publish_naming_them(
    instance, store: PortStore, mesh_home: Path
):
    manifest = consumer_manifest()
    # As written before expectations were checked at load: pandera could not write them as JSON.
    manifest["ports"][0]["inputs"][0]["expectations"]["pandera"] = None
    registry(mesh_home).register(manifest, location="royalties")

    metadata = failing_check(materialize(producer([GOOD]), instance, raise_on_error=False))

    assert "cannot be rebuilt" in metadata["unreadable_consumers"]["royalties"]
    assert store.majors("tracks.catalog") == [], "fails closed: nothing published unchecked"


def test_a_lenient_publish_keeps_the_pin_of_a_missing_consumer_so_the_next_strict_one_fails_closed(
    instance, store: PortStore, mesh_home: Path, monkeypatch: pytest.MonkeyPatch
):
    path = register_consumer(mesh_home)
    defs = producer([GOOD, GOOD, GOOD])
    assert materialize(defs, instance).success
    path.unlink()
    monkeypatch.setenv("MESH_EXPECTATIONS", "lenient")

    assert materialize(defs, instance).success, "lenient lets this one publish through"

    assert registry(mesh_home).read("tracks").pinned_by == {"tracks.catalog": ["royalties"]}
    monkeypatch.setenv("MESH_EXPECTATIONS", "strict")
    metadata = failing_check(materialize(defs, instance, raise_on_error=False))
    assert "is missing, but it pinned tracks.catalog" in metadata["unreadable_consumers"]["royalties"]
