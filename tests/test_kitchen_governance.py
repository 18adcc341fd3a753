"""Kitchens keep governance: `kitchen diff` reads as a named reader and prints no PII; destroy keeps the audit."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pytest

from mesh_core import Clearance, Domain, MeshError, MeshSettings, PortStore
from mesh_core.access import ReadPolicy
from mesh_core.audit_trail import read_audit
from mesh_core.manifest import build_manifest
from mesh_core.mesh.graph import MeshGraph
from mesh_core.mesh.kitchen import create_kitchen
from mesh_core.mesh.kitchen_diff import diff_kitchen, render_text

OLD = pd.DataFrame({"user_id": [1, 2, 3], "email": ["ann@a.org", "bob@b.org", "cy@c.org"]})
NEW = pd.DataFrame({"user_id": [1, 2, 4], "email": ["ann@a.org", "bob@new.org", "dee@d.org"]})
CLEAR = ("ann@", "bob@", "cy@", "dee@")
POLICY = ReadPolicy("users", "restricted", consumers=("podcasts", "artists"), pii_cleared=("podcasts",),
                    pii=("email",))


def profiles_graph() -> MeshGraph:
    users = Domain("users", owner="team:users")
    contract = pa.DataFrameSchema({"user_id": pa.Column(int, unique=True),
                                   "email": pa.Column(str, metadata={"pii": True})})

    @users.output_port(contract=contract, version="1.0.0", access="restricted",
                       consumers={"podcasts": Clearance(pii=True), "artists": Clearance()})
    def profiles() -> pd.DataFrame:
        raise AssertionError("not run")

    return MeshGraph.from_manifests([build_manifest(users.definitions(), "users")])


@pytest.fixture
def kitchen(store: PortStore, mesh_home: Path, monkeypatch: pytest.MonkeyPatch) -> PortStore:
    monkeypatch.setenv("MESH_PII_KEY", "kitchen-test-key")
    store.publish("users.profiles", OLD, version="1.0.0", policy=POLICY)
    create_kitchen(MeshSettings.from_env(), "k")
    kitchen = PortStore(mesh_home, "k", pii_key="kitchen-test-key")
    kitchen.publish("users.profiles", NEW, version="1.0.0", policy=POLICY)
    return kitchen


def kitchen_reads() -> pd.DataFrame:
    audit = read_audit(replace(MeshSettings.from_env(), env="k"), port="users.profiles")
    return audit[audit["action"] == "read"]


@pytest.mark.parametrize("reader", ["podcasts", "artists"])  # cleared: clear data; uncleared: masked data
def test_kitchen_diff_counts_exactly_prints_no_pii_and_is_audited_as_its_reader(kitchen: PortStore, reader: str):
    (compared,) = diff_kitchen(kitchen.as_reader(reader), profiles_graph(), base={})
    report = compared.to_dict()
    printed = json.dumps(report) + render_text("k", "dev", [compared])

    assert not any(text in printed for text in CLEAR), printed
    assert (report["keys"]["added"], report["keys"]["removed"]) == (1, 1)
    assert report["keys"]["added_sample"] == [{"user_id": 4}]
    assert report["changed"]["rows"] == 1 and report["changed"]["columns"] == {"email": 1}
    assert report["changed"]["sample"] == [{"key": {"user_id": 2}, "column": "email",
                                            "parent": "<pii>", "kitchen": "<pii>"}]
    reads = kitchen_reads()
    assert reads["reader"].tolist() == [reader, reader]
    assert reads["decision"].tolist() == (["allowed"] * 2 if reader == "podcasts" else ["masked"] * 2)


def test_kitchen_diff_of_a_port_its_reader_may_not_read_counts_rows_only(kitchen: PortStore):
    (compared,) = diff_kitchen(kitchen, profiles_graph(), base={})
    report = compared.to_dict()
    assert report["rows"] == {"parent": 3, "kitchen": 3}
    assert report["keys"]["added"] == 0 and report["changed"]["rows"] == 0
    assert "an anonymous reader may not read it" in report["note"] and "--reader" in report["note"]
    reads = kitchen_reads()
    assert reads["reader"].isna().all() and reads["decision"].tolist() == ["refused"]


def test_destroying_a_kitchen_keeps_the_audit_of_its_reads_of_the_parent(store: PortStore, mesh_home: Path,
                                                                        monkeypatch: pytest.MonkeyPatch):
    from click.testing import CliRunner

    from mesh_core.mesh.cli import main

    monkeypatch.setenv("MESH_PII_KEY", "kitchen-test-key")
    store.publish("users.profiles", OLD, version="1.0.0", policy=POLICY)
    settings = MeshSettings.from_env()
    create_kitchen(settings, "k")
    PortStore(mesh_home, "k", reader="podcasts").read("users.profiles", 1)  # served by dev, recorded in k
    PortStore(mesh_home, "k", reader="artists").publish("users.profiles", NEW, version="1.0.0", policy=POLICY)
    assert (mesh_home / "k" / "users").is_dir()

    destroyed = CliRunner().invoke(main, ["kitchen", "destroy", "k"])
    assert destroyed.exit_code == 0, destroyed.output
    assert "audit trail kept" in destroyed.stdout and "MESH_ENV=k mesh audit" in destroyed.stdout
    assert sorted(path.name for path in (mesh_home / "k").iterdir()) == ["_audit"], "only the audit trail stays"

    monkeypatch.setenv("MESH_ENV", "k")
    listed = CliRunner().invoke(main, ["audit", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    records = [(r["action"], r["reader"], r["port"], r["decision"]) for r in json.loads(listed.stdout)]
    assert ("read", "podcasts", "users.profiles", "allowed") in records, "dev's PII read from k is still on record"
    monkeypatch.setenv("MESH_ENV", "dev")

    from mesh_core.mesh.kitchen import list_kitchens

    assert list_kitchens(settings) == []
    with pytest.raises(MeshError, match="no environment 'k'"):
        create_kitchen(settings, "k2", parent="k")  # an audit trail is no environment to read from
    create_kitchen(settings, "k")  # the name is free again; its trail goes on
    PortStore(mesh_home, "k", reader="artists").read("users.profiles", 1)
    reads = kitchen_reads()
    assert reads["reader"].tolist() == ["podcasts", "artists"]


def test_a_destroy_that_cannot_remove_a_file_names_the_kitchen_and_the_file(store: PortStore, mesh_home: Path):
    import subprocess

    from mesh_core.mesh.kitchen import destroy_kitchen

    store.publish("users.profiles", OLD, version="1.0.0")
    create_kitchen(MeshSettings.from_env(), "k")
    stuck = mesh_home / "k" / "_dagster" / "stuck"
    stuck.write_text("")
    # root may delete anything it may write: only the immutable attribute stops it (where the filesystem has it)
    if subprocess.run(["chattr", "+i", str(stuck)], capture_output=True, check=False).returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        with pytest.raises(MeshError) as refused:
            destroy_kitchen(MeshSettings.from_env(), "k")
    finally:
        subprocess.run(["chattr", "-i", str(stuck)], check=True)
    message = str(refused.value)
    assert "kitchen 'k': cannot remove" in message and "_dagster" in message and "destroy k` again" in message
    assert "Traceback" not in message
