"""Policies as code: each default policy violated and satisfied, waivers, and the workspace's own policies."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path

import pandera.pandas as pa
import pytest

from mesh_core import Domain, MeshError
from mesh_core.errors import DefinitionError
from mesh_core.mesh.graph import MeshGraph
from mesh_core.mesh.policy_check import check_policies, load_policies, waivers
from mesh_core.mesh.validate import validate
from mesh_core.schema_doc import schema_document

FILE = "/repo/domains/shop/shop_domain/ports.py"
GOOD = pa.DataFrameSchema({
    "order_id": pa.Column(int, unique=True, description="Order id."),
    "amount": pa.Column(float, nullable=True, description="Amount."),
})


def port(**changes) -> dict:
    """A manifest entry for shop.orders that satisfies every default policy, with ``changes`` applied."""
    entry = {
        "id": "shop.orders", "domain": "shop", "asset_key": ["shop", "orders"], "version": "1.0.0",
        "owner": "team:shop", "description": "Every order.", "access": "public", "consumers": [],
        "freshness_seconds": 86400.0, "contract": schema_document(GOOD), "inputs": [], "file": FILE, "waivers": {},
    }
    entry.update(changes)
    return entry


def graph_of(*ports: dict) -> MeshGraph:
    return MeshGraph.from_manifests([{"location": "shop", "ports": list(ports), "internal_assets": [], "asset_keys": []}])


def _pii_contract() -> dict:
    document = schema_document(pa.DataFrameSchema({
        "order_id": pa.Column(int, unique=True), "email": pa.Column(str, metadata={"pii": True}),
    }))
    return document


def _no_guarantee() -> dict:
    return schema_document(pa.DataFrameSchema({"note": pa.Column(str, nullable=True)}))


def _bad_column_name() -> dict:
    return schema_document(pa.DataFrameSchema({"order_id": pa.Column(int, unique=True), "OrderDate": pa.Column(str)}))


VIOLATIONS = {
    "owner-required": ({"owner": None}, "error", "has no owner"),
    "description-required": ({"description": "  "}, "error", "has no description"),
    "sla-required": ({"freshness_seconds": None}, "warning", "declares no freshness SLA"),
    "pii-not-public": (
        {"contract": _pii_contract()}, "error",
        "is public but has PII columns ['email']; make it restricted to named consumers",
    ),
    "naming-conventions": ({"contract": _bad_column_name()}, "error", "column 'OrderDate' is not lowercase snake_case"),
    "public-guarantee": (
        {"contract": _no_guarantee()}, "error", "is public but its contract guarantees no unique and no non-null column",
    ),
}
SATISFIED_OTHERWISE = {  # the same defect, made acceptable the way the policy means
    "pii-not-public": {"contract": _pii_contract(), "access": "restricted", "consumers": ["billing"]},
    "public-guarantee": {"contract": _no_guarantee(), "access": "private"},
}


@pytest.fixture
def defaults(tmp_path: Path):
    return load_policies(tmp_path)  # no mesh_policies.py there: mesh_core's defaults only


def test_a_port_following_the_conventions_satisfies_every_default(defaults):
    assert [item.policy.name for item in defaults] == list(VIOLATIONS)
    assert check_policies(graph_of(port()), defaults) == []


@pytest.mark.parametrize("name", sorted(VIOLATIONS))
def test_each_default_policy_is_violated_by_its_defect(name: str, defaults):
    changes, severity, message = VIOLATIONS[name]
    findings = check_policies(graph_of(port(**changes)), defaults)
    assert [(f.severity, f.domain, f.port, f.message, f.file) for f in findings] == [
        (severity, "shop", "shop.orders", f"policy {name}: {message}", FILE)
    ]


@pytest.mark.parametrize("name", sorted(SATISFIED_OTHERWISE))
def test_a_port_that_fixes_the_defect_satisfies_the_policy(name: str, defaults):
    assert check_policies(graph_of(port(**SATISFIED_OTHERWISE[name])), defaults) == []


@pytest.mark.parametrize("name", sorted(VIOLATIONS))
def test_a_waiver_silences_the_policy_and_is_reported(name: str, defaults):
    changes, severity, _ = VIOLATIONS[name]
    waived = graph_of(port(**changes, waivers={name: "Agreed with governance in ticket GOV-7."}))
    assert check_policies(waived, defaults) == []
    assert [(w.port, w.policy, w.justification, w.severity) for w in waivers(waived, defaults)] == [
        ("shop.orders", name, "Agreed with governance in ticket GOV-7.", {"warning": "warn"}.get(severity, severity))
    ]


def test_a_waiver_silences_only_the_policy_it_names(defaults):
    both = graph_of(port(owner=None, freshness_seconds=None, waivers={"sla-required": "Rebuilt by hand."}))
    assert [f.message for f in check_policies(both, defaults)] == ["policy owner-required: has no owner"]


def test_a_waiver_of_an_unknown_policy_is_an_error_in_validate(defaults):
    graph = graph_of(port(waivers={"sla-requried": "typo"}))
    problems = validate(graph, today=date(2026, 1, 1), policies=defaults)
    assert [(p.severity, p.port, p.file) for p in problems] == [("error", "shop.orders", FILE)]
    assert problems[0].message.startswith("waives unknown policy 'sla-requried'; policies: description-required, ")


@pytest.mark.parametrize("waived, message", [
    ({"sla-required": ""}, "waiver of sla-required needs a written justification, got ''"),
    ({"sla-required": "   "}, "waiver of sla-required needs a written justification"),
    ({"sla-required": None}, "waiver of sla-required needs a written justification, got None"),
    ({"SLA": "why"}, "waiver 'SLA' must name a policy"),
    (["sla-required"], "waivers must be a mapping"),
])
def test_a_waiver_without_justification_fails_where_the_port_is_declared(waived, message: str):
    shop = Domain("shop", owner="team:shop")
    with pytest.raises(DefinitionError) as raised:

        @shop.output_port(contract=GOOD, version="1.0.0", waivers=waived)
        def orders():
            """Every order."""

    assert message in raised.value.message
    assert (raised.value.domain, raised.value.port, raised.value.file) == ("shop", "shop.orders", __file__)


def test_a_workspace_adds_its_own_policy_in_mesh_policies_py(tmp_path: Path):
    (tmp_path / "mesh_policies.py").write_text(
        "from mesh_core.policies import owner_required, policy  # a default imported to compose with: no clash\n\n\n"
        '@policy("tier-tag", severity="warn", rationale="Tiers tell consumers what to rely on.")\n'
        "def tier_tag(port):\n"
        '    if "tier" not in port.get("tags", {}):\n'
        '        yield "has no tier tag"\n'
    )
    loaded = load_policies(tmp_path)
    assert (loaded[-1].policy.name, loaded[-1].source) == ("tier-tag", str(tmp_path / "mesh_policies.py"))
    findings = check_policies(graph_of(port(tags={})), loaded)
    assert [(f.severity, f.message) for f in findings] == [("warning", "policy tier-tag: has no tier tag")]
    assert check_policies(graph_of(port(tags={"tier": "gold"})), loaded) == []


BROKEN_POLICIES = {
    "syntax error": ("def broken(:\n", "cannot load policies (line 1): SyntaxError"),
    "raises on import": ("import os\n\nraise RuntimeError('no config')\n", "cannot load policies (line 3): RuntimeError: no config"),
    "bad severity": (
        "from mesh_core.policies import policy\n\n"
        "@policy('x-rule', severity='fatal', rationale='r')\ndef x(port):\n    return []\n",
        "severity 'fatal' must be 'error' or 'warn'",
    ),
    "no policy": ("RULES = []\n", "defines no policy"),
    "a default's name": (
        "from mesh_core.policies import policy\n\n"
        "@policy('sla-required', severity='warn', rationale='again')\ndef mine(port):\n    return []\n",
        "two policies are named 'sla-required'",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_POLICIES))
def test_a_broken_mesh_policies_py_is_a_mesh_error_naming_the_file(case: str, tmp_path: Path):
    source, message = BROKEN_POLICIES[case]
    (tmp_path / "mesh_policies.py").write_text(source)
    with pytest.raises(MeshError) as raised:
        load_policies(tmp_path)
    assert message in raised.value.message
    assert raised.value.file == str(tmp_path / "mesh_policies.py")


def test_a_policy_that_crashes_names_itself_and_the_port(tmp_path: Path):
    (tmp_path / "mesh_policies.py").write_text(
        "from mesh_core.policies import policy\n\n"
        "@policy('needs-tags', severity='error', rationale='r')\ndef needs_tags(port):\n    return port['tagz']\n"
    )
    with pytest.raises(MeshError) as raised:
        check_policies(graph_of(port()), load_policies(tmp_path))
    assert "policy needs-tags" in raised.value.message and "KeyError: 'tagz'" in raised.value.message
    assert (raised.value.domain, raised.value.port) == ("shop", "shop.orders")


def test_manifests_from_before_waivers_are_checked_too(defaults):
    old = copy.deepcopy(port())
    del old["waivers"]
    assert check_policies(graph_of(old), defaults) == []


@pytest.mark.slow  # loads the example's three locations, then two again after edits: about 40 s
def test_mesh_validate_policies_and_catalog_on_a_copy_of_the_example(tmp_path: Path):
    """One copy of the example mesh, its manifests cached in the test's MESH_HOME across the commands."""
    import json

    from meshkit import copy_mesh, edit, mesh

    root = copy_mesh(tmp_path / "mesh").parent
    listed = mesh("policies", "--format", "json", cwd=root)
    assert listed.code == 0, listed.stderr
    assert [(p["name"], p["severity"], p["source"]) for p in listed.json()["policies"]] == [
        (name, {"warning": "warn"}.get(severity, severity), "mesh_core") for name, (_, severity, _) in VIOLATIONS.items()
    ]
    example_waivers = {(w["port"], w["policy"], w["severity"]) for w in listed.json()["waivers"]}
    assert example_waivers == {
        (port_id, "sla-required", "warn")
        for port_id in ("artists.payouts", "artists.roster", "podcasts.episodes", "podcasts.plays")
    }
    assert all(w["justification"].strip() for w in listed.json()["waivers"])

    catalog = mesh("catalog", "--out", str(tmp_path / "site"), cwd=root)
    assert catalog.code == 0, catalog.stderr
    products = {p["id"]: p for p in json.loads((tmp_path / "site/catalog.json").read_text())["products"]}
    assert [w["policy"] for w in products["podcasts.plays"]["waivers"]] == ["sla-required"]
    assert products["users.profiles"]["waivers"] == []
    page = (tmp_path / "site/products/podcasts.plays.html").read_text()
    assert 'id="governance"' in page and "podcasts runs nothing on a clock" in page

    ports = root / "domains/podcasts/podcasts_domain/ports.py"
    edit(ports, '    waivers={"sla-required": "A root without inputs', '    waivers={"sla-requried": "A root without inputs')
    (root / "mesh_policies.py").write_text(
        "from mesh_core.policies import policy\n\n\n"
        '@policy("tier-tag", severity="error", rationale="Tiers tell consumers what to rely on.")\n'
        "def tier_tag(port):\n"
        '    if port["domain"] == "podcasts" and "tier" not in port["tags"]:\n'
        '        yield "has no tier tag"\n'
    )
    checked = mesh("validate", "--format", "json", cwd=root)
    assert checked.code == 1, checked.stdout + checked.stderr
    found = {(p["severity"], p["port"], p["message"]) for p in checked.json()["problems"]}
    assert found == {
        ("error", "podcasts.episodes", "policy tier-tag: has no tier tag"),
        ("error", "podcasts.plays", "policy tier-tag: has no tier tag"),
        ("warning", "podcasts.episodes", "policy sla-required: declares no freshness SLA"),
        ("error", "podcasts.episodes", "waives unknown policy 'sla-requried'; policies: description-required, "
         "naming-conventions, owner-required, pii-not-public, public-guarantee, sla-required, tier-tag"),
    }
    assert all(p["file"] == str(ports) for p in checked.json()["problems"])
    text = mesh("validate", cwd=root)
    assert "WARNING podcasts podcasts.episodes: policy sla-required: declares no freshness SLA" in text.stdout
    listed = mesh("policies", cwd=root)
    assert listed.code == 1 and "podcasts.episodes waives UNKNOWN policy sla-requried" in listed.stdout
    assert f"tier-tag [error] ({root / 'mesh_policies.py'})" in listed.stdout

    (root / "mesh_policies.py").write_text("from mesh_core.policies import policy\n\n@policy(\n")
    broken = mesh("validate", cwd=root)
    assert broken.code == 2 and "Traceback" not in broken.stderr
    assert broken.stderr.startswith(f"error: {root / 'mesh_policies.py'}: cannot load policies (line 3): SyntaxError")
