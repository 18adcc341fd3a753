"""Each example code location loads as its own Definitions, with the conventions of the mesh."""

from __future__ import annotations

import dagster as dg
import pytest

from conftest import location_defs

EXPECTED = {
    "users": {"ports": {"profiles"}, "internal": {"registrations"}, "foreign": set()},
    "podcasts": {"ports": {"episodes", "plays"}, "internal": set(), "foreign": {"users/profiles"}},
    "artists": {
        "ports": {"roster", "payouts"},
        "internal": {"onboarding", "stg_plays", "int_royalties"},  # a Python feed and dbt models
        "foreign": {"podcasts/plays", "users/profiles"},
    },
}
EDGES = {
    "users/profiles": {"users/registrations"},
    "podcasts/plays": {"users/profiles"},
    "artists/stg_plays": {"podcasts/plays"},
    "artists/int_royalties": {"artists/stg_plays", "users/profiles"},
    "artists/payouts": {"artists/int_royalties"},
    "artists/roster": {"artists/onboarding"},
}
DBT_TESTS = {
    ("artists/roster", "unique_roster_artist_id"),
    ("artists/roster", "not_null_roster_artist_id"),
    ("artists/payouts", "not_null_payouts_artist_id"),
    ("artists/payouts", "not_null_payouts_day"),
}


@pytest.mark.parametrize("domain", sorted(EXPECTED))
def test_location_loads_with_keys_groups_owners_and_checks(domain: str):
    defs = location_defs(domain)
    graph = defs.resolve_asset_graph()
    expected = EXPECTED[domain]
    own = {key.to_user_string() for key in graph.materializable_asset_keys}
    assert own == {f"{domain}/{name}" for name in expected["ports"] | expected["internal"]}
    foreign = {key.to_user_string() for key in graph.get_all_asset_keys()} - own
    assert foreign == expected["foreign"], "foreign ports are referenced, never materialized here"
    for key in graph.materializable_asset_keys:
        node = graph.get(key)
        assert node.group_name == domain
        assert node.owners == [f"team:{domain}"]
        assert key.path[0] == domain and len(key.path) == 2
        parents = {parent.to_user_string() for parent in node.parent_keys}
        assert parents == EDGES.get(key.to_user_string(), set())
    checks = {(check.asset_key.to_user_string(), check.name) for check in graph.asset_check_keys}
    mesh_checks = {
        (f"{domain}/{name}", check) for name in expected["ports"] for check in ("contract", "consumer_expectations")
    }
    assert checks == mesh_checks | (DBT_TESTS if domain == "artists" else set())
    for check_key in graph.asset_check_keys:
        if (check_key.asset_key.to_user_string(), check_key.name) in mesh_checks:
            assert graph.get(check_key).blocking


@pytest.mark.parametrize("domain", sorted(EXPECTED))
def test_automation_sensor_runs_by_default_and_gates_on_checks(domain: str):
    defs = location_defs(domain)
    sensor = defs.resolve_sensor_def(f"{domain}_automation")
    assert isinstance(sensor, dg.AutomationConditionSensorDefinition)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    graph = defs.resolve_asset_graph()
    for key in graph.materializable_asset_keys:
        condition = graph.get(key).automation_condition
        if graph.get(key).parent_keys:
            assert [child.get_label() for child in condition.children] == ["eager", "all_deps_blocking_checks_passed"]
        else:
            assert condition is None, f"{key} is a root: it runs when launched, not on its own"


def test_port_metadata_tags_pii_and_access():
    node = location_defs("users").resolve_asset_graph().get(dg.AssetKey(["users", "profiles"]))
    metadata = node.metadata
    assert metadata["mesh/port_id"] == "users.profiles"
    assert metadata["mesh/access"] == "restricted"
    assert metadata["mesh/consumers"] == ["podcasts", "artists"]
    assert metadata["mesh/pii_columns"] == ["email"]
    columns = {column.name: column for column in metadata["dagster/column_schema"].columns}
    assert columns["email"].tags == {"pii": "true"}
    assert columns["user_id"].constraints.unique and not columns["user_id"].constraints.nullable
    assert node.freshness_policy is not None
