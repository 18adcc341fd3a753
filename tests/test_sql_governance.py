"""The SQL catalog keeps governance: the masking key never reaches SQL, and a connection reads as its reader."""

from __future__ import annotations

import json
from collections.abc import Iterator

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner

from mesh_core import MeshError, PortStore
from mesh_core.access import ReadPolicy
from mesh_core.audit_trail import read_audit
from mesh_core.mesh.cli import main
from mesh_core.settings import MeshSettings
from mesh_core.sql import connect

KEY = "supersecret-key-of-this-env"
PROFILES = pd.DataFrame({"user_id": [11, 12], "email": ["ann@a.org", "bob@b.org"]})
POLICY = ReadPolicy("users", "restricted", consumers=("podcasts", "artists"), pii_cleared=("podcasts",),
                    pii=("email", "user_id"))
# Everything a SQL session may list: variables, settings, functions, views, tables, macros.
LISTINGS = [
    "SELECT * FROM duckdb_variables()",
    "SELECT * FROM duckdb_settings()",
    "SELECT * FROM duckdb_functions()",
    "SELECT * FROM duckdb_views()",
    "SELECT * FROM duckdb_tables()",
    "SELECT * FROM duckdb_columns()",
    "SELECT getvariable('mesh_pii_ipad'), getvariable('mesh_pii_opad')",
]


def _pads(key: bytes) -> list[bytes]:
    block = key.ljust(64, b"\0")
    return [bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)]


def mesh_sql(*args: str):
    """`mesh sql ARGS` run in-process, as the command line runs it."""
    return CliRunner().invoke(main, ["sql", *args])


def _cells(connection, query: str) -> Iterator[object]:
    for row in connection.sql(query).fetchall():
        yield from row


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch, store: PortStore) -> PortStore:
    monkeypatch.setenv("MESH_PII_KEY", KEY)
    store.publish("users.profiles", PROFILES, version="1.0.0", policy=POLICY)
    return store


def test_no_sql_on_an_uncleared_reader_s_connection_reveals_the_key_or_its_pads(keyed: PortStore):
    secrets = [KEY.encode(), *_pads(KEY.encode())]
    with connect(reader="artists") as sql:
        masked = sql.sql('SELECT email FROM "users"."profiles" ORDER BY user_id').fetchall()
        assert len(masked) == 2 and "ann@a.org" not in str(masked)
        settings = [row[0] for row in sql.sql("SELECT name FROM duckdb_settings()").fetchall()]
        queries = LISTINGS + [f"SELECT current_setting('{name}')" for name in settings
                              if name not in ("profiling_output",)]
        seen = 0
        for query in queries:
            try:
                cells = list(_cells(sql, query))
            except duckdb.Error:  # a setting that cannot be read reveals nothing either
                cells = []
            else:
                seen += 1
            for cell in cells:
                if isinstance(cell, bytes):
                    unpadded = [bytes(b ^ pad for b in cell) for pad in (0, 0x36, 0x5C)]
                    assert not any(KEY.encode() in text for text in unpadded), query
                else:
                    text = str(cell)
                    assert KEY not in text and not any(secret.hex() in text.lower() for secret in secrets), query
                    assert "ann@a.org" not in text, query
        assert seen > len(LISTINGS)  # the listings ran: the test cannot pass by every query failing


def test_connect_reads_a_given_store_as_the_given_reader(keyed: PortStore):
    anonymous = PortStore.from_env()
    with connect(anonymous, reader="podcasts") as sql:  # cleared: email in clear
        assert sql.sql('SELECT email FROM "users"."profiles" ORDER BY 1').fetchall() == [("ann@a.org",), ("bob@b.org",)]
    with connect(anonymous, reader="artists") as sql:  # uncleared: masked
        assert "ann@a.org" not in str(sql.sql('SELECT email FROM "users"."profiles"').fetchall())
    with connect(anonymous) as sql, pytest.raises(Exception, match="anonymous reader"):  # restricted
        sql.sql('SELECT * FROM "users"."profiles"').fetchall()


def test_connect_refuses_a_store_read_as_another_reader(keyed: PortStore):
    with pytest.raises(MeshError, match="reads as domain podcasts.*reader='artists'"):
        connect(PortStore.from_env(reader="podcasts"), reader="artists")


def test_mesh_sql_reads_and_audits_only_the_ports_its_query_names(store: PortStore):
    for port in ("orders", "refunds"):
        store.publish(f"shop.{port}", pd.DataFrame({"id": range(3)}), version="1.0.0")
    store.publish("shop.orders", pd.DataFrame({"id": range(5)}), version="2.0.0")
    store.publish("shop.refunds", pd.DataFrame({"id": range(5)}), version="2.0.0")
    query = 'select count(*) as n from "shop"."orders" as o'
    ran = mesh_sql("--format", "json", query)
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout) == [{"n": 5}]
    ran = mesh_sql("--format", "json", "select count(*) as n from shop.refunds_v1; select 1 as one")
    assert ran.exit_code == 0, ran.output

    reads = read_audit(MeshSettings.from_env()).query("action == 'read'")
    assert sorted(zip(reads["port"], reads["version"], reads["decision"])) == [
        ("shop.orders", "v2", "allowed"), ("shop.refunds", "v1", "allowed")]
    assert reads["reader"].isna().all()


def test_mesh_sql_reports_a_query_that_does_not_parse(store: PortStore):
    store.publish("shop.orders", pd.DataFrame({"id": range(3)}), version="1.0.0")
    ran = mesh_sql("selec * from shop.orders")
    assert ran.exit_code == 1 and ran.stderr.startswith("error:") and "Traceback" not in ran.stderr
    assert read_audit(MeshSettings.from_env()).query("action == 'read'").empty
