"""PII masking: uncleared readers get HMAC-SHA256 under MESH_PII_KEY, deterministic, joinable and of the same dtype."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pandas as pd
import pandera.pandas as pa
import pytest

from mesh_core import Clearance, Contract, MeshError, PortStore
from mesh_core.access import ReadPolicy
from mesh_core.masking import DEV_KEY
from mesh_core.sql import connect

KEY = "test-key-of-this-environment"
PROFILES = pd.DataFrame({"user_id": [11, 12, 13, 14], "email": ["ann@a.org", "bob@b.org", None, "dee@d.org"]})
PLAYS = pd.DataFrame({"play_id": range(7), "user_id": [11, 11, 12, 13, 13, 13, 99],
                      "email": ["ann@a.org", "ann@a.org", "bob@b.org", None, None, None, "zed@z.org"]})
POLICY = ReadPolicy("users", "restricted", consumers=("podcasts", "artists", "labels"), pii_cleared=("podcasts",),
                    pii=("email", "user_id"))


def mask_of(key: str, text: str) -> str:
    """The mask of ``text``: HMAC-SHA256 under ``key``, its first 16 bytes in unpadded base64url."""
    return base64.urlsafe_b64encode(hmac.new(key.encode(), text.encode(), hashlib.sha256).digest()[:16]).rstrip(b"=").decode()


def int_hmac(key: str, number: int) -> int:
    return int.from_bytes(hmac.new(key.encode(), str(number).encode(), hashlib.sha256).digest()[:8], "big") & (2**63 - 1)


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch, store: PortStore) -> PortStore:
    monkeypatch.setenv("MESH_PII_KEY", KEY)
    store.publish("users.profiles", PROFILES, version="1.0.0", policy=POLICY)
    store.publish("users.plays", PLAYS, version="1.0.0", policy=POLICY)
    return store


def test_uncleared_readers_get_the_hmac_of_each_pii_value_with_dtypes_kept(keyed: PortStore):
    masked, snapshot = PortStore.from_env(reader="artists").read("users.profiles", 1)
    assert snapshot.masked == ("email", "user_id")
    assert masked["email"].tolist()[:2] == [mask_of(KEY, "ann@a.org"), mask_of(KEY, "bob@b.org")]
    assert masked["email"].isna().tolist() == [False, False, True, False]  # null stays null
    assert masked["user_id"].tolist() == [int_hmac(KEY, n) for n in PROFILES["user_id"]]
    assert masked.dtypes.to_dict() == PROFILES.dtypes.to_dict()
    # The consumer's own check of what it reads still passes on masked data.
    relied_on = pa.DataFrameSchema({"user_id": pa.Column(int, unique=True), "email": pa.Column(str, nullable=True)})
    relied_on.validate(masked)

    clear, snapshot = PortStore.from_env(reader="podcasts").read("users.profiles", 1)
    assert snapshot.masked == ()
    pd.testing.assert_frame_equal(clear, PROFILES)
    pd.testing.assert_frame_equal(PortStore.from_env(reader="users").read("users.profiles", 1)[0], PROFILES)


def test_masked_values_agree_across_runs_and_consumers_and_change_with_the_key(keyed, monkeypatch):
    artists = PortStore.from_env(reader="artists").read("users.profiles", 1)[0]
    labels = PortStore.from_env(reader="labels").read("users.profiles", 1)[0]
    keyed.publish("users.profiles", PROFILES, version="1.0.0", policy=POLICY)  # the next run's snapshot
    again = PortStore.from_env(reader="artists").read("users.profiles", 1)[0]
    pd.testing.assert_frame_equal(artists, labels)
    pd.testing.assert_frame_equal(artists, again)
    with connect(reader="labels") as sql:
        assert sql.sql('SELECT email FROM "users"."profiles"').df()["email"].tolist() == labels["email"].tolist()
        assert sql.sql('SELECT user_id FROM "users"."profiles_v1"').df()["user_id"].tolist() == labels["user_id"].tolist()

    monkeypatch.setenv("MESH_PII_KEY", "another-environment")
    other = PortStore.from_env(reader="artists").read("users.profiles", 1)[0]
    assert set(other["email"].dropna()).isdisjoint(artists["email"].dropna())


def test_a_join_on_masked_keys_gives_the_clear_join_s_row_count(keyed: PortStore):
    reader = PortStore.from_env(reader="artists")
    masked = reader.read("users.plays", 1)[0].merge(reader.read("users.profiles", 1)[0], on="user_id")
    clear = PLAYS.merge(PROFILES, on="user_id")
    assert len(masked) == len(clear) == 6
    by_email = reader.read("users.plays", 1)[0].merge(reader.read("users.profiles", 1)[0], on="email")
    assert len(by_email) == len(PLAYS.merge(PROFILES, on="email"))


def test_the_catalog_view_is_clear_only_for_a_cleared_reader(keyed: PortStore):
    with connect(reader="podcasts") as cleared, connect(reader="artists") as uncleared:
        query = 'SELECT email FROM "users"."profiles" WHERE email IS NOT NULL ORDER BY 1'
        assert [row[0] for row in cleared.sql(query).fetchall()] == ["ann@a.org", "bob@b.org", "dee@d.org"]
        masked = [row[0] for row in uncleared.sql(query).fetchall()]
        assert sorted(masked) == sorted(mask_of(KEY, e) for e in ["ann@a.org", "bob@b.org", "dee@d.org"])
        assert "ann@a.org" not in str(uncleared.sql("SELECT sql FROM duckdb_views()").fetchall())


def test_without_a_key_outside_the_local_dev_env_masking_is_refused(store: PortStore, monkeypatch):
    monkeypatch.setenv("MESH_ENV", "prod")
    monkeypatch.delenv("MESH_PII_KEY", raising=False)
    prod = PortStore.from_env()
    prod.publish("users.profiles", PROFILES, version="1.0.0", policy=POLICY)
    with pytest.raises(MeshError) as refused:
        PortStore.from_env(reader="artists").read("users.profiles", 1)
    assert "domain artists" in str(refused.value) and "users.profiles" in str(refused.value)
    assert "MESH_PII_KEY is not set" in str(refused.value)
    assert len(PortStore.from_env(reader="podcasts").read("users.profiles", 1)[0]) == 4  # cleared: no key needed


def test_the_local_dev_env_masks_with_the_documented_dev_key(store: PortStore, monkeypatch):
    monkeypatch.delenv("MESH_PII_KEY", raising=False)
    store.publish("users.profiles", PROFILES, version="1.0.0", policy=POLICY)
    masked = PortStore.from_env(reader="artists").read("users.profiles", 1)[0]
    assert masked["email"][0] == mask_of(DEV_KEY.decode(), "ann@a.org")



@pytest.mark.parametrize(("key", "env", "problem"), [
    (DEV_KEY.decode(), "staging", "is the embedded dev key, which is public"),
    (DEV_KEY.decode(), "dev-on-s3", "is the embedded dev key, which is public"),
    ("x", "dev", "is 1 bytes long; a masking key needs at least 16"),
    ("fifteen-bytes!!", "prod", "is 15 bytes long"),
])
def test_a_public_or_short_key_is_refused(key: str, env: str, problem: str):
    from mesh_core.masking import resolve_key

    local = env != "dev-on-s3"
    with pytest.raises(MeshError, match=problem) as refused:
        resolve_key(key, env="dev" if env == "dev-on-s3" else env, local=local, reader="artists",
                    port_id="users.profiles")
    assert "domain artists" in str(refused.value) and "users.profiles" in str(refused.value)
    assert len(key) < 8 or key not in str(refused.value), "the key itself is never shown"
    assert resolve_key(DEV_KEY.decode(), env="dev", local=True, reader=None, port_id="p") == DEV_KEY
    assert resolve_key("sixteen-bytes-ok", env="prod", local=False, reader=None, port_id="p") == b"sixteen-bytes-ok"


def test_consumers_with_clearances_make_the_read_policy():
    schema = pa.DataFrameSchema({"email": pa.Column(str, metadata={"pii": True}), "n": pa.Column(int)})
    contract = Contract(schema, "1.0.0", access="restricted", domain="users", port="users.profiles",
                        consumers={"podcasts": Clearance(pii=True), "artists": Clearance(pii=False)})
    assert contract.consumers == ("podcasts", "artists")
    assert contract.read_policy() == ReadPolicy("users", "restricted", ("podcasts", "artists"), ("podcasts",),
                                                ("email",))
    listed = Contract(schema, "1.0.0", access="restricted", consumers=["podcasts"], domain="users")
    assert listed.read_policy().pii_cleared == ()
    with pytest.raises(MeshError, match="Clearance"):
        Contract(schema, "1.0.0", access="restricted", consumers={"podcasts": True})


def test_a_dagster_run_masks_an_uncleared_input_with_the_key_read_through_envvar(store, instance, monkeypatch):
    import dagster as dg
    from conftest import materialize

    from mesh_core import Domain, InputPort

    monkeypatch.setenv("MESH_PII_KEY", KEY)
    store.publish("users.profiles", PROFILES, version="1.0.0",
                  policy=ReadPolicy("users", "restricted", consumers=("mailers",), pii=("email",)))
    mailers = Domain("mailers", owner="team:mailers")

    @mailers.output_port(contract=pa.DataFrameSchema({"user_id": pa.Column(int), "email": pa.Column(str, nullable=True)}),
                         version="1.0.0", inputs={"profiles": InputPort("users.profiles", version="1")})
    def contacts(profiles: pd.DataFrame) -> pd.DataFrame:
        return profiles

    defs = mailers.definitions()
    assert defs.resources["mesh_store"].pii_key == dg.EnvVar("MESH_PII_KEY")  # never the secret itself
    result = materialize(defs, instance)
    published = store.as_reader("mailers").read("mailers.contacts", 1)[0]
    assert published["email"].tolist()[:2] == [mask_of(KEY, "ann@a.org"), mask_of(KEY, "bob@b.org")]
    inputs = instance.get_latest_materialization_event(dg.AssetKey(["mailers", "contacts"]))
    assert inputs.asset_materialization.metadata["mesh/inputs"].value["users.profiles"]["masked"] == ["email"]
    assert KEY not in str(inputs) and result.success
