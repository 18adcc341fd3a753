"""Access enforced at read: every reader class passes one check, refusals are audited, and no `mesh validate` is needed."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pandera.pandas as pa
import pytest
from conftest import location_defs, materialize

from mesh_core import Domain, InputPort, MeshError, PortStore
from mesh_core.access import ReadPolicy
from mesh_core.audit_trail import read_audit
from mesh_core.settings import MeshSettings
from mesh_core.sql import connect

RESTRICTED = ReadPolicy("users", "restricted", consumers=("podcasts", "artists"), pii_cleared=("podcasts",),
                        pii=("email",))
PROFILES = pd.DataFrame({"user_id": [1, 2, 3], "email": ["ann@example.com", "bob@example.com", "cy@example.com"]})


def audit(**filters) -> list[dict]:
    frame = read_audit(MeshSettings.from_env(), **filters)
    return frame[["reader", "port", "action", "decision", "policy", "run_id"]].to_dict("records")


def test_port_store_read_refuses_unlisted_and_anonymous_readers_and_audits_each_read(store: PortStore):
    store.publish("users.profiles", PROFILES, version="1.0.0", policy=RESTRICTED)
    store.publish("users.secrets", PROFILES, version="1.0.0", policy=ReadPolicy("users", "private"))
    store.publish("users.countries", PROFILES[["user_id"]], version="1.0.0", policy=ReadPolicy("users", "public"))

    with pytest.raises(MeshError) as refused:
        store.as_reader("labels").read("users.profiles", 1)
    assert "domain labels" in str(refused.value) and "users.profiles" in str(refused.value)
    assert "its access is restricted" in str(refused.value)
    with pytest.raises(MeshError, match="an anonymous reader may not read users.profiles"):
        store.read("users.profiles", 1)
    with pytest.raises(MeshError, match="its access is private"):
        PortStore.from_env(reader="podcasts").read("users.secrets", 1)
    assert len(store.as_reader("users").read("users.secrets", 1)[0]) == 3  # a domain reads its own ports
    assert len(store.read("users.countries", 1)[0]) == 3  # anyone reads a public port
    assert store.as_reader("podcasts").read("users.profiles", 1)[0]["email"].tolist() == PROFILES["email"].tolist()

    reads = [record for record in audit() if record["action"] == "read"]
    assert [(r["reader"], r["port"], r["decision"], r["policy"]) for r in reads] == [
        ("labels", "users.profiles", "refused", "access:restricted"),
        (None, "users.profiles", "refused", "access:restricted"),
        ("podcasts", "users.secrets", "refused", "access:private"),
        ("users", "users.secrets", "allowed", "access:private"),
        (None, "users.countries", "allowed", "access:public"),
        ("podcasts", "users.profiles", "allowed", "access:restricted"),
    ]
    publishes = [r for r in audit() if r["action"] == "publish"]
    assert [(r["reader"], r["port"]) for r in publishes] == [
        ("users", "users.profiles"), ("users", "users.secrets"), ("users", "users.countries")
    ]


def test_a_snapshot_published_without_a_policy_is_public(store: PortStore):
    store.publish("users.profiles", PROFILES[["user_id"]], version="1.0.0")
    assert len(store.read("users.profiles", 1)[0]) == 3


def test_the_io_manager_refuses_an_unlisted_domain_at_run_time(instance: dg.DagsterInstance, mesh_home: Path):
    """A domain outside the workspace, never validated, declares an input on a restricted port."""
    assert materialize(location_defs("users"), instance).success
    labels = Domain("labels", owner="team:labels")

    @labels.output_port(contract=pa.DataFrameSchema({"user_id": pa.Column(int)}), version="1.0.0",
                        inputs={"profiles": InputPort("users.profiles", version="1")})
    def mailing(profiles: pd.DataFrame) -> pd.DataFrame:
        return profiles[["user_id"]]

    result = materialize(labels.definitions(), instance, raise_on_error=False)
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    error = failure.step_failure_data.error
    message = error.message + (error.cause.message if error.cause else "")
    assert "domain labels may not read users.profiles: its access is restricted" in message
    refused = audit(reader="labels")
    assert refused == [{"reader": "labels", "port": "users.profiles", "action": "read", "decision": "refused",
                        "policy": "access:restricted", "run_id": result.run_id}]
    assert PortStore(mesh_home, "dev").majors("labels.mailing") == []

    podcasts = materialize(location_defs("podcasts"), instance)  # a listed consumer, cleared for PII
    assert {"reader": "podcasts", "port": "users.profiles", "action": "read", "decision": "allowed",
            "policy": "access:restricted", "run_id": podcasts.run_id} in audit(reader="podcasts")


def test_a_dbt_domain_s_sources_refuse_a_port_it_is_not_listed_on(instance: dg.DagsterInstance, store: PortStore):
    """artists' dbt models read users.profiles; here its producer lists podcasts only."""
    plays = pd.DataFrame({"play_id": [1], "user_id": [1], "episode_id": [1], "artist_id": [1],
                          "played_at": pd.to_datetime(["2026-01-01"], utc=True), "seconds_played": [30],
                          "country": ["DE"]})
    store.publish("podcasts.plays", plays, version="1.0.0", policy=ReadPolicy("podcasts", "public"))
    store.publish("users.profiles", PROFILES.assign(plan="free"), version="1.0.0",
                  policy=ReadPolicy("users", "restricted", consumers=("podcasts",), pii=("email",)))

    result = materialize(location_defs("artists"), instance, raise_on_error=False)
    assert not result.success
    assert store.majors("artists.roster") == [1], "a model that reads no refused source still builds and publishes"
    messages = [event.step_failure_data.error for event in result.all_events if event.is_step_failure]
    text = " ".join(error.message + (error.cause.message if error.cause else "") for error in messages)
    assert "domain artists may not read users.profiles: its access is restricted (its consumers: podcasts)" in text
    assert {"reader": "artists", "port": "users.profiles", "action": "read", "decision": "refused",
            "policy": "access:restricted", "run_id": result.run_id} in audit(reader="artists")
    assert store.majors("artists.payouts") == []


def test_sql_views_refuse_what_the_reader_may_not_read(store: PortStore):
    store.publish("users.profiles", PROFILES, version="1.0.0", policy=RESTRICTED)
    with connect(store) as anonymous:
        with pytest.raises(Exception, match="an anonymous reader may not read users.profiles"):
            anonymous.sql('SELECT * FROM "users"."profiles"').fetchall()
        with pytest.raises(Exception, match="an anonymous reader may not read users.profiles"):
            anonymous.sql('SELECT count(*) FROM "users"."profiles"').fetchall()  # not a count of 1
        for query in ('SELECT email, user_id FROM "users"."profiles"', 'SELECT max(user_id) FROM "users"."profiles"'):
            with pytest.raises(Exception, match="an anonymous reader may not read users.profiles"):
                anonymous.sql(query).fetchall()  # the refusal, not a binder error about the columns
    with connect(reader="podcasts") as podcasts:
        assert podcasts.sql('SELECT email FROM "users"."profiles" ORDER BY user_id').fetchall() == [
            ("ann@example.com",), ("bob@example.com",), ("cy@example.com",)
        ]
    assert [(r["reader"], r["decision"]) for r in audit(port="users.profiles") if r["action"] == "read"] == [
        (None, "refused"), ("podcasts", "allowed")
    ]



def test_a_kitchen_refuses_an_unlisted_domain_on_its_parent_s_port_and_audits_it_in_the_kitchen(
    store: PortStore, mesh_home: Path
):
    from dataclasses import replace

    from mesh_core.mesh.kitchen import create_kitchen

    store.publish("users.profiles", PROFILES, version="1.0.0", policy=RESTRICTED)
    masked_in_dev = store.as_reader("artists").read("users.profiles", 1)[0]["email"].tolist()
    create_kitchen(MeshSettings.from_env(), "try")
    kitchen = PortStore(mesh_home, "try")
    dev_trail = {path: path.read_bytes() for path in (mesh_home / "dev" / "_audit").rglob("*.jsonl")}

    with pytest.raises(MeshError, match="domain labels may not read users.profiles: its access is restricted"):
        kitchen.as_reader("labels").read("users.profiles", 1)
    masked, snapshot = kitchen.as_reader("artists").read("users.profiles", 1)
    assert snapshot.path == str(mesh_home / "dev" / "users" / "profiles" / "v1")  # served from dev, uncopied
    assert masked["email"].tolist() == masked_in_dev != PROFILES["email"].tolist()  # masked as dev masks
    with connect(kitchen.as_reader("labels")) as connection, pytest.raises(duckdb.Error, match="labels"):
        connection.execute('select * from parent."users"."profiles"').fetchall()

    trail = read_audit(replace(MeshSettings.from_env(), env="try")).query("action == 'read'")
    assert [(r.reader, r.decision) for r in trail.itertuples()][:2] == [("labels", "refused"), ("artists", "masked")]
    assert {path: path.read_bytes() for path in (mesh_home / "dev" / "_audit").rglob("*.jsonl")} == dev_trail, (
        "reads through a kitchen never write to its parent"
    )


def test_the_io_manager_refuses_another_domain_s_internal_asset(instance: dg.DagsterInstance, mesh_home: Path):
    """users' registrations (emails included) are internal: a foreign asset naming it as an input is refused."""
    assert materialize(location_defs("users"), instance).success
    labels = Domain("labels", owner="team:labels")

    @dg.asset(key=["labels", "harvest"], io_manager_key="mesh_io_manager",
              ins={"registrations": dg.AssetIn(key=["users", "registrations"])})
    def harvest(registrations: pd.DataFrame) -> pd.DataFrame:
        return registrations

    registrations = dg.AssetSpec(["users", "registrations"]).with_io_manager_key("mesh_io_manager")
    result = materialize(labels.definitions(assets=[harvest, registrations]), instance, ["labels/harvest"],
                         raise_on_error=False)
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    error = failure.step_failure_data.error
    message = error.message + (error.cause.message if error.cause else "")
    assert "domain labels may not read internal asset users/registrations" in message
    # users' own port still reads it: users/profiles is built from registrations.
    assert materialize(location_defs("users"), instance, ["users/profiles"]).success


def test_time_travel_obeys_the_port_s_current_policy_when_it_is_stricter(store: PortStore):
    """Access revoked, or PII clearance withdrawn, since a snapshot was published covers that snapshot too."""
    first = store.publish("users.profiles", PROFILES, version="1.0.0", policy=ReadPolicy(
        "users", "restricted", consumers=("podcasts", "labels"), pii_cleared=("podcasts",), pii=("email",)))
    store.publish("users.profiles", PROFILES, version="1.0.0", policy=ReadPolicy(
        "users", "restricted", consumers=("podcasts",), pii=("email",)))
    with pytest.raises(MeshError, match=rf"domain labels may not read users.profiles.*older snapshot {first.snapshot_id}"):
        store.as_reader("labels").read("users.profiles", 1, snapshot_id=first.snapshot_id)
    old, snapshot = store.as_reader("podcasts").read("users.profiles", 1, snapshot_id=first.snapshot_id)
    assert snapshot.masked == ("email",) and not set(old["email"]) & set(PROFILES["email"])
    assert store.as_reader("users").read("users.profiles", 1, snapshot_id=first.snapshot_id)[0].equals(PROFILES)
    refused = [r for r in audit(reader="labels") if r["action"] == "read"]
    assert [r["decision"] for r in refused] == ["refused"]


@pytest.mark.parametrize("reader", ["", "Artists", "art ists", "../users"])
def test_a_reader_that_is_no_domain_name_is_refused_before_any_read(store: PortStore, reader: str):
    store.publish("users.countries", PROFILES[["user_id"]], version="1.0.0", policy=ReadPolicy("users", "public"))
    with pytest.raises(MeshError, match=f"reader {reader!r} is not a domain name"):
        store.as_reader(reader)
    with pytest.raises(MeshError, match="is not a domain name"):
        PortStore.from_env(reader=reader)
    assert audit() == [] or all(r["action"] == "publish" for r in audit())
