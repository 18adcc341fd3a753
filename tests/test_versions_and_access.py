"""One way to do each thing: the version parser, the access rule and the PII tag, each used everywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandera.pandas as pa
import pytest

from mesh_core import Contract, MeshError
from mesh_core.access import may_consume
from mesh_core.mesh.baseline import registry_ports
from mesh_core.mesh.graph import MeshGraph, Read
from mesh_core.mesh.impact import classify_change
from mesh_core.mesh.validate import served_majors, validate
from mesh_core.metadata import column_schema
from mesh_core.schema_doc import schema_document
from mesh_core.semver import parse_version, semver_major

DOCUMENT_SCHEMA = pa.DataFrameSchema({"id": pa.Column(int)})
DOCUMENT = schema_document(DOCUMENT_SCHEMA)


@pytest.mark.parametrize(
    "version, major", [("1.0.0", 1), ("12.3.4", 12), ("2.0.0-rc.1", 2), ("0.1.0+build.7", 0), ("3.0.0-alpha.beta", 3)]
)
def test_the_major_of_a_semantic_version(version, major):
    assert semver_major(version) == major


@pytest.mark.parametrize(
    "older, newer",
    [("2.0.0-rc.1", "2.0.0"), ("2.0.0-rc.2", "2.0.0-rc.10"), ("1.9.0", "1.10.0"), ("1.0.0-alpha", "1.0.0-alpha.1")],
)
def test_versions_order_with_pre_release_precedence(older, newer):
    assert parse_version(older) < parse_version(newer)


def _register(registry: Path, version: str) -> None:
    entry = {"port_id": "users.profiles", "version": version, "access": "public", "consumers": [],
             "contract": DOCUMENT, "previous_majors": []}
    folder = registry / "users" / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{version}.json").write_text(json.dumps(entry))


@pytest.mark.parametrize(
    "versions, newest",
    [(["1.9.0", "2.0.0-rc.1", "2.0.0", "1.10.0"], "2.0.0"), (["1.9.0", "1.10.0"], "1.10.0"),
     (["2.0.0-rc.1", "2.0.0-rc.2"], "2.0.0-rc.2")],
)
def test_the_registry_baseline_is_the_newest_version_released_last(versions, newest, tmp_path: Path):
    for version in versions:
        _register(tmp_path, version)
    assert registry_ports(tmp_path)["users.profiles"]["version"] == newest


def test_a_registry_entry_without_a_semantic_version_names_its_file(tmp_path: Path):
    _register(tmp_path, "1.0.0")
    _register(tmp_path, "v2")
    with pytest.raises(MeshError, match="'v2' is not a semantic version") as raised:
        registry_ports(tmp_path)
    assert raised.value.port == "users.profiles" and raised.value.file.endswith("v2.json")


def _graph(version: str = "1.0.0", access: str = "public", consumers: tuple[str, ...] = ()) -> MeshGraph:
    port = {"id": "users.profiles", "domain": "users", "version": version, "access": access,
            "consumers": list(consumers), "contract": DOCUMENT, "previous_majors": []}
    reader = {"id": "podcasts.plays", "domain": "podcasts", "version": "1.0.0", "access": "public",
              "consumers": [], "contract": DOCUMENT, "previous_majors": []}
    read = Read("podcasts.plays", "podcasts", "podcasts", "users.profiles", 1, None, True, "ports.py")
    return MeshGraph({"users.profiles": port, "podcasts.plays": reader}, [read], {})


@pytest.mark.parametrize("version", ["v1.0.0", "1", "1.0"])
def test_a_manifest_version_that_is_not_semver_is_a_mesh_error_naming_the_port(version):
    with pytest.raises(MeshError, match="not a semantic version") as raised:
        served_majors(_graph(version).ports["users.profiles"])
    assert raised.value.port == "users.profiles"
    with pytest.raises(MeshError, match="not a semantic version") as raised:
        classify_change(_graph(), "users.profiles", {"version": version, "contract": DOCUMENT})
    assert raised.value.port == "users.profiles"


def test_a_pre_release_serves_its_major():
    assert classify_change(_graph(), "users.profiles", {"version": "1.1.0-rc.1", "contract": DOCUMENT}) == {
        "podcasts.plays": "not broken"
    }


@pytest.mark.parametrize(
    "consumer, access, consumers, allowed",
    [
        ("podcasts", "public", (), True),
        ("podcasts", "restricted", ("podcasts",), True),
        ("podcasts", "restricted", ("artists",), False),
        ("podcasts", "private", (), False),
        ("users", "private", (), True),
        ("users", "restricted", (), True),
    ],
)
def test_one_access_rule_for_contracts_and_mesh_validate(consumer, access, consumers, allowed):
    assert may_consume(consumer, producer="users", access=access, consumers=consumers) is allowed
    contract = Contract(DOCUMENT_SCHEMA, version="1.0.0", access=access, consumers=consumers, domain="users")
    assert contract.allows(consumer) is allowed
    graph = _graph(access=access, consumers=consumers)
    graph = MeshGraph(graph.ports, [Read("x.y", consumer, consumer, "users.profiles", 1, None, True, None)], {})
    problems = [p.message for p in validate(graph, date(2026, 1, 1))]
    assert any("whose access is" in message for message in problems) is not allowed


@pytest.mark.parametrize("metadata, pii", [({"pii": True}, True), ({"pii": "true"}, False), ({}, False), (None, False)])
def test_one_pii_rule_for_contracts_dagster_metadata_and_documents(metadata, pii):
    schema = pa.DataFrameSchema({"email": pa.Column(str, metadata=metadata)})
    assert (Contract(schema, version="1.0.0").pii_columns == ["email"]) is pii
    assert (column_schema(schema).columns[0].tags == {"pii": "true"}) is pii
    assert schema_document(schema)["columns"]["email"]["pii"] is pii


@pytest.mark.parametrize("module", ["mesh_core.semver", "mesh_core.access"])
def test_the_mesh_command_s_rules_import_no_heavy_library(module):
    probe = (
        f"import sys, {module};"
        "print(sorted(m for m in ('dagster', 'pandera', 'pandas', 'pyarrow', 'duckdb') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"
