"""Access, masking and the audit trail on the object store (moto's S3 server on loopback)."""

from __future__ import annotations

import pandas as pd
import pytest
from test_store_s3 import objects, s3_endpoint, s3_home  # noqa: F401 - s3_endpoint and s3_home are fixtures

from mesh_core import MeshError, PortStore
from mesh_core.access import ReadPolicy
from mesh_core.audit_trail import read_audit
from mesh_core.settings import MeshSettings

pytestmark = pytest.mark.slow  # starts moto's S3 server; CI runs it with -m slow

POLICY = ReadPolicy("users", "restricted", consumers=("podcasts", "artists"), pii_cleared=("podcasts",), pii=("email",))
PROFILES = pd.DataFrame({"user_id": [1, 2], "email": ["ann@example.com", "bob@example.com"]})


def test_reads_are_checked_masked_and_audited_one_object_per_record_on_s3(s3_home, s3_endpoint, monkeypatch):
    store = PortStore.from_env()
    store.publish("users.profiles", PROFILES, version="1.0.0", policy=POLICY)
    with pytest.raises(MeshError, match="MESH_PII_KEY is not set"):  # no dev key off the local disk
        PortStore.from_env(reader="artists").read("users.profiles", 1)
    monkeypatch.setenv("MESH_PII_KEY", "s3-test-masking-key")
    masked = PortStore.from_env(reader="artists").read("users.profiles", 1)[0]
    assert not set(masked["email"]) & set(PROFILES["email"])
    with pytest.raises(MeshError, match="domain labels may not read users.profiles"):
        PortStore.from_env(reader="labels").read("users.profiles", 1)

    trail = read_audit(MeshSettings.from_env())
    assert list(zip(trail["reader"], trail["action"], trail["decision"])) == [
        ("users", "publish", "allowed"), ("artists", "read", "masked"), ("labels", "read", "refused")
    ]
    prefix = f"{s3_home[len('s3://mesh/'):]}/dev/_audit/"
    keys = sorted(key[len(prefix):] for key in objects(s3_endpoint, prefix))
    assert [key.split("/")[0] for key in keys] == ["artists", "labels", "users"]
    assert all(key.endswith(".json") and len(key.split("/")) == 3 for key in keys)  # <domain>/<day>/<record>.json
    assert read_audit(MeshSettings.from_env(), reader="labels")["port"].tolist() == ["users.profiles"]


def test_an_uncleared_reader_reads_the_masked_copy_on_s3_without_a_key(s3_home, s3_endpoint, monkeypatch):
    monkeypatch.setenv("MESH_PII_KEY", "s3-test-masking-key")
    snapshot = PortStore.from_env().publish("users.profiles", PROFILES, version="1.0.0", policy=POLICY)
    monkeypatch.delenv("MESH_PII_KEY")
    masked = PortStore.from_env(reader="artists").read("users.profiles", 1)[0]
    assert not set(masked["email"]) & set(PROFILES["email"]) and masked["email"].str.fullmatch("[A-Za-z0-9_-]{22}").all()
    prefix = f"{s3_home[len('s3://mesh/'):]}/dev/users/profiles/v1/_masked/"
    assert [key.rsplit("/", 1)[-1] for key in objects(s3_endpoint, prefix)] == [
        snapshot.masked_files[0].path.rsplit("/", 1)[-1]
    ]
