"""Kitchens in the store: zero-copy reads through the parent chain, writes of their own, SQL over both, safe destroy."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import pandera.pandas as pa
import pytest

from conftest import materialize
from mesh_core import Domain, InputPort, MeshError, MeshSettings, PortStore
from mesh_core.mesh.kitchen import create_kitchen, destroy_kitchen, list_kitchens
from mesh_core.sql import connect

@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


PROFILES = pd.DataFrame({"user_id": [1, 2, 3], "country": ["FR", "DE", "FR"]})


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with the sha256 of its bytes."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*")) if path.is_file()
    }


@pytest.fixture
def dev(store: PortStore) -> PortStore:
    store.publish("users.profiles", PROFILES, version="1.0.0")
    store.publish("podcasts.plays", pd.DataFrame({"play_id": [1, 2], "user_id": [1, 3]}), version="1.0.0")
    store.write_internal("podcasts", "catalog", pd.DataFrame({"episode_id": [7]}))
    return store


def kitchen_store(mesh_home: Path, name: str) -> PortStore:
    return PortStore(mesh_home, name)


def test_a_kitchen_reads_its_parents_ports_zero_copy_and_writes_only_its_own(dev: PortStore, mesh_home: Path):
    before = tree(mesh_home / "dev")
    made = create_kitchen(MeshSettings.from_env(), "try-filter")
    assert made.parent == "dev" and made.dagster_home == mesh_home / "try-filter" / "_dagster"
    assert sorted(p.name for p in (mesh_home / "try-filter").iterdir()) == ["_dagster", "_kitchen.json"], "nothing copied"
    kitchen = kitchen_store(mesh_home, "try-filter")

    frame, snapshot = kitchen.read("users.profiles", 1)
    pd.testing.assert_frame_equal(frame, PROFILES)
    assert snapshot == dev.current("users.profiles", 1), "the parent's snapshot, pinned by its Delta version"
    assert snapshot.path.startswith(str(mesh_home / "dev"))
    assert kitchen.read("users.profiles", 1, snapshot_id=snapshot.snapshot_id)[1] == snapshot, "time travel too"
    assert kitchen.read_internal("podcasts", "catalog")["episode_id"].tolist() == [7]

    rebuilt = kitchen.publish("podcasts.plays", pd.DataFrame({"play_id": [1], "user_id": [1]}), version="1.0.0")
    assert rebuilt.path == str(mesh_home / "try-filter" / "podcasts" / "plays" / "v1")
    assert kitchen.current("podcasts.plays", 1).rows == 1 and dev.current("podcasts.plays", 1).rows == 2
    kitchen.publish("podcasts.plays", pd.DataFrame({"play_id": [1], "user_id": [1]}), version="2.0.0")
    assert kitchen.majors("podcasts.plays") == [1, 2] and dev.majors("podcasts.plays") == [1]
    assert tree(mesh_home / "dev") == before, "the parent's files are byte for byte the same"


def test_a_kitchen_of_a_kitchen_reads_through_the_chain(dev: PortStore, mesh_home: Path):
    settings = MeshSettings.from_env()
    create_kitchen(settings, "first")
    kitchen_store(mesh_home, "first").publish("podcasts.plays", pd.DataFrame({"play_id": [9], "user_id": [2]}),
                                              version="1.0.0")
    create_kitchen(settings, "second", parent="first")
    second = kitchen_store(mesh_home, "second")

    assert second.read("podcasts.plays", 1)[0]["play_id"].tolist() == [9], "from the kitchen it was made from"
    assert second.current("users.profiles", 1) == dev.current("users.profiles", 1), "from dev, two levels up"
    assert [k.name for k in list_kitchens(settings)] == ["first", "second"]
    with pytest.raises(MeshError, match="is the parent of kitchen"):
        destroy_kitchen(settings, "first")


def test_a_port_missing_from_the_whole_chain_is_a_clear_error(dev: PortStore, mesh_home: Path):
    create_kitchen(MeshSettings.from_env(), "k")
    with pytest.raises(MeshError, match="no snapshot of v1 is published") as raised:
        kitchen_store(mesh_home, "k").current("artists.payouts", 1)
    assert raised.value.port == "artists.payouts"


def test_a_location_in_a_kitchen_reads_parent_ports_and_publishes_into_the_kitchen(
    dev: PortStore, mesh_home: Path, instance, monkeypatch: pytest.MonkeyPatch
):
    create_kitchen(MeshSettings.from_env(), "k")
    podcasts = Domain("podcasts", owner="team:podcasts")

    @podcasts.output_port(
        contract=pa.DataFrameSchema({"play_id": pa.Column(int), "user_id": pa.Column(int)}), version="1.0.0",
        inputs={"profiles": InputPort("users.profiles", version="1")},
    )
    def plays(profiles: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"play_id": [10, 11], "user_id": profiles["user_id"].head(2).tolist()})

    before = tree(mesh_home / "dev")
    monkeypatch.setenv("MESH_ENV", "k")
    result = materialize(podcasts.definitions(), instance, ["podcasts/plays"])

    assert result.success
    event = instance.get_latest_materialization_event(dg.AssetKey(["podcasts", "plays"]))
    read = event.asset_materialization.metadata["mesh/inputs"].value
    assert read["users.profiles"]["snapshot_id"] == dev.current("users.profiles", 1).snapshot_id
    assert kitchen_store(mesh_home, "k").read("podcasts.plays", 1)[0]["play_id"].tolist() == [10, 11]
    assert tree(mesh_home / "dev") == before


def test_sql_in_a_kitchen_sees_its_rebuilt_ports_and_the_parents_side_by_side(dev: PortStore, mesh_home: Path):
    create_kitchen(MeshSettings.from_env(), "k")
    kitchen = kitchen_store(mesh_home, "k")
    kitchen.publish("podcasts.plays", pd.DataFrame({"play_id": [1], "user_id": [1]}), version="1.0.0")

    with connect(kitchen) as connection:
        count = lambda name: connection.execute(f"SELECT count(*) FROM {name}").fetchone()[0]  # noqa: E731
        assert count('"podcasts"."plays"') == 1, "the kitchen's snapshot"
        assert count('"parent"."podcasts"."plays"') == 2, "the parent's snapshot"
        assert count('"users"."profiles"') == count('"parent"."users"."profiles"') == 3, "not rebuilt: the parent's"
        removed = connection.execute(
            'SELECT play_id FROM parent.podcasts.plays EXCEPT SELECT play_id FROM podcasts.plays'
        ).fetchall()
        assert removed == [(2,)]
    with connect(dev) as connection:
        assert "parent" not in {row[0] for row in connection.execute("SELECT database_name FROM duckdb_databases()").fetchall()}


@pytest.mark.parametrize(
    ("name", "parent", "message"),
    [
        ("dev", "dev", "'dev' is reserved"),
        ("prod", "dev", "'prod' is reserved"),
        ("Bad Name", "dev", "kitchen name 'Bad Name' is not a valid environment name"),
        ("../dev", "dev", "is not a valid environment name"),
        ("k", "nowhere", "the store has no environment 'nowhere'"),
        ("k", "../x", "--from '../x' is not a valid environment name"),
    ],
)
def test_bad_kitchen_names_and_parents_are_refused_and_change_nothing(dev, mesh_home: Path, name, parent, message):
    before = sorted(path.name for path in mesh_home.iterdir())
    with pytest.raises(MeshError, match=message):
        create_kitchen(MeshSettings.from_env(), name, parent)
    assert sorted(path.name for path in mesh_home.iterdir()) == before


def test_an_existing_environment_or_kitchen_is_not_created_again(dev, mesh_home: Path):
    settings = MeshSettings.from_env()
    create_kitchen(settings, "k")
    for name in ("k", "staging", "manifests"):
        (mesh_home / name).mkdir(exist_ok=True)
        with pytest.raises(MeshError, match=f"'{name}' already exists in the store"):
            create_kitchen(settings, name)


def test_folders_that_hold_no_environment_are_no_parents(dev, mesh_home: Path):
    """The manifest cache and a catalog written into MESH_HOME are neither offered nor taken as parents."""
    (mesh_home / "manifests").mkdir()
    (mesh_home / "manifests" / "users.json").write_text("{}")
    (mesh_home / "site" / "products").mkdir(parents=True)
    settings = MeshSettings.from_env()
    for parent in ("manifests", "site"):
        with pytest.raises(MeshError, match=rf"no environment '{parent}'.* one of \['dev'\]"):
            create_kitchen(settings, "k", parent)
    assert create_kitchen(settings, "k", "dev").parent == "dev"


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_destroy_refuses_the_shared_environments(dev: PortStore, mesh_home: Path, name: str):
    before = tree(mesh_home / "dev")
    with pytest.raises(MeshError, match=f"'{name}' is a shared environment, not a kitchen"):
        destroy_kitchen(MeshSettings.from_env(), name)
    assert tree(mesh_home / "dev") == before


def test_destroy_refuses_an_environment_that_is_not_a_kitchen(dev: PortStore, mesh_home: Path):
    other = PortStore(mesh_home, "staging")
    other.publish("users.profiles", PROFILES, version="1.0.0")
    before = tree(mesh_home / "staging")
    with pytest.raises(MeshError, match="'staging' is not a kitchen"):
        destroy_kitchen(MeshSettings.from_env(), "staging")
    assert tree(mesh_home / "staging") == before


def test_destroy_removes_the_kitchen_and_nothing_else(dev: PortStore, mesh_home: Path):
    settings = MeshSettings.from_env()
    before = tree(mesh_home / "dev")
    create_kitchen(settings, "k")
    kitchen_store(mesh_home, "k").publish("users.profiles", PROFILES.head(1), version="1.0.0")
    (mesh_home / "k" / "_dagster" / "history").mkdir()

    assert destroy_kitchen(settings, "k").name == "k"

    assert sorted(path.name for path in (mesh_home / "k").iterdir()) == ["_audit"], "only its audit trail (the publish)"
    assert tree(mesh_home / "dev") == before
    assert list_kitchens(settings) == []
    with pytest.raises(MeshError, match="'k' is not a kitchen"):
        destroy_kitchen(settings, "k")


def test_the_kitchen_commands_report_bad_input_plainly(mesh_home: Path, monkeypatch: pytest.MonkeyPatch):
    from click.testing import CliRunner

    from conftest import REPO
    from mesh_core.mesh.cli import main

    monkeypatch.chdir(REPO)

    def mesh(*args: str, cwd: Path) -> Result:
        outcome = CliRunner().invoke(main, list(args))
        return Result(outcome.exit_code, outcome.stdout, outcome.stderr)

    no_parent = mesh("kitchen", "create", "k", cwd=REPO)
    assert no_parent.code == 2 and "the store has no environment 'dev'" in no_parent.stderr
    PortStore(mesh_home, "dev").publish("users.profiles", PROFILES, version="1.0.0")
    created = mesh("kitchen", "create", "k", cwd=REPO)
    assert created.code == 0, created.stderr
    assert f"MESH_ENV=k DAGSTER_HOME={mesh_home / 'k' / '_dagster'} dagster dev" in created.stdout
    listed = json.loads(mesh("kitchen", "list", "--format", "json", cwd=REPO).stdout)
    assert listed["kitchens"][0]["parent"] == "dev"
    for args, message in [
        (("destroy", "dev"), "'dev' is a shared environment, not a kitchen"),
        (("destroy", "nope"), "'nope' is not a kitchen (kitchens: k)"),
        (("run", "dev"), "'dev' is not a kitchen"),
        (("create", "k"), "'k' already exists in the store"),
    ]:
        refused = mesh("kitchen", *args, cwd=REPO)
        assert refused.code == 2 and message in refused.stderr and "Traceback" not in refused.stderr, refused.stderr
    assert mesh("kitchen", "destroy", "k", cwd=REPO).stdout.strip() == "kitchen k destroyed; dev untouched"
    assert sorted(path.name for path in mesh_home.iterdir()) == ["dev"]


def test_kitchen_diff_compares_rows_keys_values_and_downstream_with_the_parent(dev: PortStore, mesh_home: Path):
    from mesh_core.manifest import build_manifest
    from mesh_core.mesh.graph import MeshGraph
    from mesh_core.mesh.kitchen_diff import diff_kitchen, render_text

    totals = pa.DataFrameSchema(
        {"artist_id": pa.Column(int), "day": pa.Column(str), "plays": pa.Column(int), "usd": pa.Column(float)},
        unique=["artist_id", "day"],
    )
    sales, reports = Domain("sales", owner="team:sales"), Domain("reports", owner="team:reports")

    @sales.output_port(contract=totals, version="1.0.0")
    def daily() -> pd.DataFrame:
        raise AssertionError("not run")

    @reports.output_port(contract=pa.DataFrameSchema({"usd": pa.Column(float)}), version="1.0.0",
                         inputs={"daily": InputPort("sales.daily", version="1")})
    def summary(daily: pd.DataFrame) -> pd.DataFrame:
        raise AssertionError("not run")

    graph = MeshGraph.from_manifests([build_manifest(sales.definitions(), "sales"),
                                      build_manifest(reports.definitions(), "reports")])
    old = pd.DataFrame({"artist_id": [1, 1, 2, 3], "day": ["d1", "d2", "d1", "d1"], "plays": [3, 4, 5, 6],
                        "usd": [0.5, 0.25, 1.0, 2.0]})
    new = pd.DataFrame({"artist_id": [1, 1, 2, 4], "day": ["d1", "d2", "d1", "d1"], "plays": [2, 4, 5, 1],
                        "usd": [0.4, 0.25, 1.0, 0.1]})
    dev.publish("sales.daily", old, version="1.0.0")
    create_kitchen(MeshSettings.from_env(), "k")
    kitchen = kitchen_store(mesh_home, "k")
    kitchen.publish("sales.daily", new, version="1.0.0")

    (compared,) = diff_kitchen(kitchen, graph, base={})
    report = compared.to_dict()

    assert report["port"] == "sales.daily" and report["rows"] == {"parent": 4, "kitchen": 4}
    assert report["keys"]["columns"] == ["artist_id", "day"]
    assert report["keys"]["added_sample"] == [{"artist_id": 4, "day": "d1"}]
    assert report["keys"]["removed_sample"] == [{"artist_id": 3, "day": "d1"}]
    assert report["changed"]["rows"] == 1 and report["changed"]["columns"] == {"plays": 1, "usd": 1}
    assert report["changed"]["sample"][0] == {"key": {"artist_id": 1, "day": "d1"}, "column": "plays",
                                              "parent": 3, "kitchen": 2}
    assert report["downstream"] == {"reports.summary": "not broken"}
    assert report["contract"]["status"] == "added", "no base registry: the contract is new to it"
    text = render_text("k", "dev", [compared])
    lines = [line.strip() for line in text.splitlines()]
    assert "keys (artist_id, day): 1 added, 1 removed" in lines
    assert "artist_id=1, day=d1 plays: 3 -> 2" in lines, "values keep their dtype"


def test_kitchen_metadata_that_cannot_be_read_is_not_called_damaged(tmp_path):
    from mesh_core.delta import Location
    from mesh_core.errors import StoreError
    from mesh_core.kitchens import KITCHEN_FILE, kitchen_record

    unreachable = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y", "AWS_REGION": "us-east-1",
                   "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ALLOW_HTTP": "true"}  # nothing listens on port 9
    with pytest.raises(StoreError, match="cannot read kitchen metadata") as raised:
        kitchen_record(Location("s3://mesh/a/dev", unreachable))
    assert "damaged" not in str(raised.value)

    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / KITCHEN_FILE).write_text("{not json")
    with pytest.raises(StoreError, match="damaged kitchen metadata"):
        kitchen_record(Location(str(tmp_path / "dev")))
    assert kitchen_record(Location(str(tmp_path / "elsewhere"))) is None
