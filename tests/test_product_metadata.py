"""Every output port answers what, where, when, with what and how, in its definition and materializations."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pandera.pandas as pa
import pytest

from conftest import latest_materialization, location_defs, materialize
from mesh_core import Domain

PORTS = ["users/profiles", "podcasts/episodes", "podcasts/plays", "artists/roster", "artists/payouts"]
DEFINITION_KEYS = {
    "dagster/column_schema", "dagster/table_name", "dagster/uri", "mesh/connect", "mesh/contract",
    "mesh/contract_version", "mesh/access", "mesh/pii_columns", "mesh/links", "mesh/link/catalog",
    "mesh/link/dagster", "mesh/link/contract",
}
MATERIALIZATION_KEYS = {
    "dagster/uri", "dagster/table_name", "dagster/row_count", "mesh/snapshot_id", "mesh/content_hash",
    "mesh/inputs", "mesh/toolchain", "mesh/run_id", "mesh/git_commit",
}


@pytest.mark.parametrize("key", PORTS)
def test_each_port_answers_the_four_ws_and_h(key: str, published_mesh):
    published, instance = published_mesh.store, published_mesh.instance
    domain = key.split("/")[0]
    node = location_defs(domain).resolve_asset_graph().get(dg.AssetKey.from_user_string(key))
    # What, and where, on the definition.
    assert node.description and node.owners == [f"team:{domain}"]
    assert DEFINITION_KEYS <= set(node.metadata), DEFINITION_KEYS - set(node.metadata)
    assert all(column.description for column in node.metadata["dagster/column_schema"].columns)
    assert node.code_version, "how: a code version from the port's code and contract"
    event = instance.get_latest_materialization_event(node.key)
    metadata = event.asset_materialization.metadata
    # Where, when, with what and how, on the materialization.
    assert MATERIALIZATION_KEYS <= set(metadata), MATERIALIZATION_KEYS - set(metadata)
    port_id = key.replace("/", ".")
    snapshot = published.current(port_id, 1)
    assert metadata["dagster/uri"].value == snapshot.path
    assert metadata["dagster/row_count"].value == snapshot.rows
    assert metadata["mesh/run_id"].value == event.run_id
    assert metadata["mesh/toolchain"].value["dagster"] == dg.__version__
    assert len(metadata["mesh/git_commit"].value) == 40
    assert event.asset_materialization.tags["dagster/code_version"] == node.code_version
    # When: the contract check's evidence is recorded with the snapshot it let through.
    [record] = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(node.key, "contract"), limit=1
    )
    evidence = record.event.dagster_event.event_specific_data.metadata
    assert evidence["snapshot_id"].value == snapshot.snapshot_id and evidence["rows"].value == snapshot.rows


def test_with_what_names_the_exact_snapshots_read(published_mesh):
    published, instance = published_mesh.store, published_mesh.instance
    expected = {
        "podcasts/plays": {"users.profiles"},
        "artists/payouts": {"podcasts.plays", "users.profiles"},
        "artists/roster": set(),
    }
    for key, ports in expected.items():
        read = instance.get_latest_materialization_event(
            dg.AssetKey.from_user_string(key)
        ).asset_materialization.metadata["mesh/inputs"].value
        assert {port: r["snapshot_id"] for port, r in read.items()} == {
            port: published.current(port, 1).snapshot_id for port in ports
        }


def test_dbt_ports_carry_column_lineage_back_through_models_and_inputs(published_mesh):
    instance = published_mesh.instance

    def lineage(key: str) -> dict[str, set[tuple[str, str]]]:
        metadata = instance.get_latest_materialization_event(
            dg.AssetKey.from_user_string(key)
        ).asset_materialization.metadata
        return {
            column: {(dep.asset_key.to_user_string(), dep.column_name) for dep in deps}
            for column, deps in metadata["dagster/column_lineage"].value.deps_by_column.items()
        }

    payouts = lineage("artists/payouts")
    assert payouts["artist_id"] == {("artists/int_royalties", "artist_id")}
    assert payouts["amount_usd"] == {("artists/int_royalties", "amount_usd")}
    assert payouts["seconds_played"] == {("artists/int_royalties", "seconds_played")}
    assert lineage("artists/roster")["name"] == {("artists/onboarding", "name")}


def test_dbt_column_metadata_is_read_from_duckdb_without_a_dbt_adapter(
    published_mesh, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # dagster-dbt reads column metadata through an in-process dbt adapter, whose making parses
    # dbt's macros (seconds of CPU in every run); mesh_core describes the built relations in DuckDB.
    from dbt.adapters.factory import AdapterContainer

    made: list[str] = []
    register = AdapterContainer.register_adapter
    monkeypatch.setattr(AdapterContainer, "register_adapter",
                        lambda self, *args, **kwargs: made.append("adapter") or register(self, *args, **kwargs))
    home = tmp_path / "mesh"
    shutil.copytree(published_mesh.store.root.parent, home)  # the published upstream ports, copied
    monkeypatch.setenv("MESH_HOME", str(home))
    with dg.DagsterInstance.ephemeral() as instance:
        assert materialize(location_defs("artists"), instance).success
        model = latest_materialization(instance, "artists/int_royalties").metadata
        lineage = latest_materialization(instance, "artists/payouts").metadata["dagster/column_lineage"]
    assert made == []
    assert [(column.name, column.type) for column in model["dagster/column_schema"].value.columns] == [
        ("play_id", "BIGINT"), ("artist_id", "BIGINT"), ("day", "TIMESTAMP WITH TIME ZONE"),
        ("seconds_played", "BIGINT"), ("amount_usd", "DOUBLE"),
    ]
    assert {(dep.asset_key.to_user_string(), dep.column_name) for dep in model["dagster/column_lineage"].value
            .deps_by_column["day"]} == {("artists/stg_plays", "played_at")}
    assert lineage.value.deps_by_column["amount_usd"], "the payouts port's lineage, read from DuckDB"


def test_restricted_port_has_pii_freshness_and_connection_snippet():
    node = location_defs("users").resolve_asset_graph().get(dg.AssetKey(["users", "profiles"]))
    assert node.metadata["mesh/pii_columns"] == ["email"]
    assert node.freshness_policy is not None
    snippet = node.metadata["mesh/connect"].value
    assert 'PortStore.from_env(reader="<your domain>").read("users.profiles", major=1)' in snippet
    assert """connect(reader="<your domain>").sql('SELECT * FROM "users"."profiles_v1"')""" in snippet
    assert node.metadata["mesh/link/dagster"].value == "http://127.0.0.1:3000/assets/users/profiles"


def test_a_port_without_grants_inputs_or_previous_majors_carries_no_empty_entries_yet_its_manifest_lists_them():
    from mesh_core.manifest import build_manifest

    plain = Domain("plain", owner="team:plain")

    @plain.output_port(contract=pa.DataFrameSchema({"id": pa.Column("int64")}), version="1.0.0")
    def numbers() -> pd.DataFrame:
        return pd.DataFrame({"id": [1]})

    defs = plain.definitions()
    metadata = defs.resolve_asset_graph().get(dg.AssetKey(["plain", "numbers"])).metadata
    # Every entry travels, for each port, in the repository snapshot a code server sends.
    assert not {"mesh/consumers", "mesh/pii_cleared", "mesh/previous_majors", "mesh/input_ports"} & set(metadata)
    assert metadata["mesh/pii_columns"] == [], "no PII is stated, not left out"
    [port] = build_manifest(defs, "plain")["ports"]
    assert (port["consumers"], port["pii_cleared"], port["previous_majors"]) == ([], [], [])
    assert port["inputs"] == []


def test_domain_links_follow_the_configured_base_urls(monkeypatch):
    monkeypatch.setenv("MESH_DAGSTER_URL", "https://dagster.example.com/")
    monkeypatch.setenv("MESH_CATALOG_URL", "https://catalog.example.com")
    monkeypatch.setenv("MESH_SOURCE_URL", "https://git.example.com/mesh/tree/main")
    d = Domain("ledger", owner="finance@example.com")
    links = d.definitions().metadata["mesh/domain"].value["links"]
    assert links == {
        "catalog": "https://catalog.example.com/domains/ledger.html",
        "dagster": "https://dagster.example.com/locations/__repository__@ledger/asset-groups/ledger",
        "owner": "mailto:finance@example.com",
        "source": "https://git.example.com/mesh/tree/main/domains/ledger",
    }


SCHEMA = pa.DataFrameSchema({"n": pa.Column(int)})
STRICTER = pa.DataFrameSchema({"n": pa.Column(int, pa.Check.ge(0))})


def entries_v1() -> pd.DataFrame:
    return pd.DataFrame({"n": [1]})


def entries_v2() -> pd.DataFrame:
    return pd.DataFrame({"n": [2]})


def totals(entries: pd.DataFrame) -> pd.DataFrame:
    return entries


def ledger(entries_fn, contract=SCHEMA) -> dg.Definitions:
    domain = Domain("ledger", owner="team:ledger")
    domain.output_port(contract=contract, version="1.0.0", name="entries")(entries_fn)
    domain.output_port(contract=SCHEMA, version="1.0.0", inputs={"entries": "entries"})(totals)
    return domain.definitions()


def stale(instance, defs: dg.Definitions) -> dict[str, bool]:
    """Dagster's two reasons to call a port stale, read through its public API: its code version is not
    the one its latest materialization recorded, or that materialization read an older data version of
    its input than the input's latest one."""
    graph = defs.resolve_asset_graph()
    entries, totals = dg.AssetKey(["ledger", "entries"]), dg.AssetKey(["ledger", "totals"])
    recorded = instance.get_latest_materialization_code_versions([entries, totals])
    read = latest_materialization(instance, "ledger/totals").tags["dagster/input_data_version/ledger/entries"]
    current = latest_materialization(instance, "ledger/entries").tags["dagster/data_version"]
    return {
        "entries": recorded[entries] != graph.get(entries).code_version,
        "totals": recorded[totals] != graph.get(totals).code_version or read != current,
    }


@pytest.mark.parametrize("changed", [ledger(entries_v2), ledger(entries_v1, STRICTER)], ids=["source", "contract"])
def test_a_changed_source_or_contract_changes_the_code_version(changed: dg.Definitions, instance):
    original = ledger(entries_v1)
    assert materialize(original, instance).success
    assert stale(instance, ledger(entries_v1)) == {"entries": False, "totals": False}
    graph = changed.resolve_asset_graph()
    assert graph.get(dg.AssetKey(["ledger", "entries"])).code_version != original.resolve_asset_graph().get(
        dg.AssetKey(["ledger", "entries"])
    ).code_version
    assert stale(instance, changed)["entries"]


def test_downstream_ports_go_stale_when_the_changed_port_republishes(instance):
    assert materialize(ledger(entries_v1), instance).success
    changed = ledger(entries_v2)
    assert materialize(changed, instance, ["ledger/entries"]).success
    assert stale(instance, changed) == {"entries": False, "totals": True}
