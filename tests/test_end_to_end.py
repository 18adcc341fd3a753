"""The example mesh end to end: users, then podcasts, then artists, on one instance and one store."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

import json

from conftest import REPO, latest_materialization, location_defs, materialize

from mesh_core.sql import connect


# The royalty rule, restated here as an independent oracle for the dbt models.
USD_PER_SECOND = {"free": 0.000_02, "premium": 0.000_10}
PANDAS_PAYOUTS = json.loads((REPO / "tests/fixtures/payouts_scale1.json").read_text())


def test_outputs_are_consistent_across_domains(published_mesh):
    store = published_mesh.store.as_reader("artists")  # payouts are private to artists
    profiles, _ = store.read("users.profiles", 1)
    plays, _ = store.read("podcasts.plays", 1)
    payouts, _ = store.read("artists.payouts", 1)
    episodes, _ = store.read("podcasts.episodes", 1)

    assert profiles["user_id"].is_unique and len(profiles) == 1_000
    assert len(plays) > 9_000, "nearly all plays belong to mastered listeners"
    assert plays["user_id"].isin(profiles["user_id"]).all()
    assert plays["episode_id"].isin(episodes["episode_id"]).all()
    rate = plays.merge(profiles[["user_id", "plan"]], on="user_id")["plan"].map(USD_PER_SECOND)
    assert payouts["amount_usd"].sum() == pytest.approx((plays["seconds_played"] * rate).sum(), rel=1e-9)
    assert payouts["plays"].sum() == len(plays)
    assert payouts["seconds_played"].sum() == plays["seconds_played"].sum()


def test_dbt_payouts_equal_the_previous_pandas_implementation(published_mesh):
    store = published_mesh.store.as_reader("artists")
    payouts, _ = store.read("artists.payouts", 1)
    assert len(payouts) == PANDAS_PAYOUTS["rows"]
    assert payouts["plays"].sum() == PANDAS_PAYOUTS["plays"]
    assert payouts["seconds_played"].sum() == PANDAS_PAYOUTS["seconds_played"]
    assert payouts["amount_usd"].sum() == pytest.approx(PANDAS_PAYOUTS["amount_usd"], rel=1e-12)
    by_artist = payouts.groupby("artist_id")["amount_usd"].sum()
    assert {str(k): v for k, v in by_artist.items()} == pytest.approx(PANDAS_PAYOUTS["amount_usd_by_artist"], rel=1e-9)


def test_dbt_builds_into_the_environments_own_database(published_mesh):
    store = published_mesh.store
    database = store.root / "dbt" / "artists" / "artists.duckdb"
    with duckdb.connect(str(database), read_only=True) as sql:
        tables = {row[0] for row in sql.execute("select table_name from information_schema.tables").fetchall()}
    assert {"stg_plays", "int_royalties", "payouts", "roster"} <= tables


def test_each_consumer_records_the_snapshots_it_read(published_mesh):
    instance, store = published_mesh.instance, published_mesh.store
    profiles = store.current("users.profiles", 1)
    plays = store.current("podcasts.plays", 1)

    read_by_plays = latest_materialization(instance, "podcasts/plays").metadata["mesh/inputs"].value
    assert read_by_plays == {
        "users.profiles": {
            "port_id": "users.profiles",
            "version": "1.0.0",
            "snapshot_id": profiles.snapshot_id,
            "data_version": profiles.content_hash,
            "verified": True,
        }
    }
    read_by_payouts = latest_materialization(instance, "artists/payouts").metadata["mesh/inputs"].value
    assert {port: read["snapshot_id"] for port, read in read_by_payouts.items()} == {
        "podcasts.plays": plays.snapshot_id,
        "users.profiles": profiles.snapshot_id,
    }
    assert latest_materialization(instance, "users/profiles").metadata["mesh/inputs"].value == {}


def test_sql_users_query_the_mesh_through_duckdb(published_mesh):
    store = published_mesh.store.as_reader("artists")
    with connect(store) as sql:
        joined = sql.execute(
            """
            select count(*) from "podcasts"."plays" p
            join "users"."profiles" u using (user_id)
            """
        ).fetchone()[0]
        total = sql.execute('select sum(amount_usd) from "artists"."payouts"').fetchone()[0]
    assert joined == store.current("podcasts.plays", 1).rows
    assert total == pytest.approx(store.read("artists.payouts", 1)[0]["amount_usd"].sum())


def test_a_consumer_before_its_producer_fails_clearly(instance):
    result = materialize(location_defs("podcasts"), instance, ["podcasts/plays"], raise_on_error=False)
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    message = failure.step_failure_data.error.cause.message if failure.step_failure_data.error.cause else ""
    message += failure.step_failure_data.error.message
    assert "port users.profiles" in message and "materialize the producer first" in message


def test_feeds_are_deterministic_and_scale(monkeypatch):
    from podcasts_domain import sources

    first = sources.play_events(1, sources.episode_catalog(1))
    again = sources.play_events(1, sources.episode_catalog(1))
    pd.testing.assert_frame_equal(first, again)
    assert len(sources.play_events(3, sources.episode_catalog(3))) == 3 * len(first)


def test_artists_read_users_emails_masked_and_keep_no_clear_email(published_mesh):
    """artists is not cleared for users.profiles.email: its dbt sources, snapshots and metadata hold no clear email."""
    from mesh_core.audit_trail import query_audit

    instance, store = published_mesh.instance, published_mesh.store
    clear = set(store.as_reader("users").read("users.profiles", 1)[0]["email"])
    masked = store.as_reader("artists").read("users.profiles", 1)[0]
    assert clear.isdisjoint(masked["email"]) and masked["email"].str.fullmatch("[A-Za-z0-9_-]{22}").all()

    database = store.root / "dbt" / "artists" / "artists.duckdb"
    with duckdb.connect(str(database), read_only=True) as sql:
        source = sql.execute('select user_id, email from "mesh_inputs"."users__profiles" order by user_id').df()
        columns = sql.execute(
            "select table_schema, table_name, column_name from information_schema.columns where data_type = 'VARCHAR'"
        ).fetchall()
        seen = {value for schema, table, column in columns
                for (value,) in sql.execute(f'select distinct "{column}" from "{schema}"."{table}"').fetchall()}
    assert source["email"].tolist() == masked.sort_values("user_id")["email"].tolist()  # agrees with PortStore
    assert clear.isdisjoint(seen)
    for port_id in ("artists.roster", "artists.payouts"):
        frame = store.as_reader("artists").read(port_id, 1)[0]
        assert clear.isdisjoint(frame.astype(str).stack())
    for path in (store.root / "artists").rglob("*"):  # snapshots and their Delta logs (commit metadata)
        if path.is_file() and path.suffix != ".parquet":
            assert not any(email.encode() in path.read_bytes() for email in clear), path
    for key in ("artists/roster", "artists/payouts"):
        metadata = str(latest_materialization(instance, key).metadata)
        assert not any(email in metadata for email in clear)
        assert "'masked': ['email']" in metadata or key == "artists/roster"

    trail = query_audit(store.location, port="users.profiles")
    reads = trail[(trail["action"] == "read") & trail["run_id"].notna()]
    assert set(zip(reads["reader"], reads["decision"])) == {("podcasts", "allowed"), ("artists", "masked")}
