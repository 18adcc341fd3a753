"""`mesh catalog`: the machine-readable files, and the site in a real headless browser."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml
from open_data_contract_standard.model import OpenDataContractStandard

from conftest import REPO
from meshkit import mesh

PORTS = ["artists.payouts", "artists.roster", "podcasts.episodes", "podcasts.plays", "users.profiles"]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    out = tmp_path / "site"
    result = mesh("catalog", "--out", str(out), cwd=REPO, env={"DAGSTER_HOME": ""})
    assert result.code == 0, result.stderr
    assert "without status" in result.stdout
    return out


def test_catalog_writes_valid_machine_readable_files(site: Path):
    catalog = json.loads((site / "catalog.json").read_text())
    jsonschema.validate(catalog, json.loads((site / "catalog.schema.json").read_text()))
    assert [p["id"] for p in catalog["products"]] == PORTS
    payouts = next(p for p in catalog["products"] if p["id"] == "artists.payouts")
    assert payouts["inputs"] == ["podcasts.plays", "users.profiles"] and payouts["status"] is None
    profiles = next(p for p in catalog["products"] if p["id"] == "users.profiles")
    assert profiles["consumers"] == ["artists.payouts", "podcasts.plays"]
    assert {c["name"] for c in profiles["columns"] if c["pii"]} == {"email"}
    for port_id in PORTS:
        contract = OpenDataContractStandard.from_file(str(site / "odcs" / f"{port_id}.yaml"))
        assert contract.id == f"{port_id}-1.0.0" and contract.kind == "DataContract"
        assert contract.schema_[0].properties
    email = next(p for p in OpenDataContractStandard.from_file(str(site / "odcs/users.profiles.yaml")).schema_[0].properties
                 if p.name == "email")
    assert email.classification == "pii" and email.required
    assert next(p for p in catalog["products"] if p["id"] == "users.profiles")["tags"] == {"tier": "gold"}
    artists = yaml.safe_load((site / "odps/artists.yaml").read_text())
    assert (artists["apiVersion"], artists["kind"], artists["status"]) == ("v1.0.0", "DataProduct", "active")
    assert artists["team"] == [{"username": "team:artists", "role": "owner"}]
    assert [p["name"] for p in artists["inputPorts"]] == ["podcasts.plays", "users.profiles"]
    assert [p["name"] for p in artists["outputPorts"]] == ["artists.payouts", "artists.roster"]
    assert all(p["contractId"].endswith("-1.0.0") for p in artists["inputPorts"] + artists["outputPorts"])


def test_catalog_in_a_real_browser(site: Path):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing; .ci/run installs Debian's chromium package")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], timeout=60_000)
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto((site / "index.html").as_uri())
            assert page.locator("tr.product").count() == len(PORTS)
            page.fill("#search", "payouts")
            visible = page.locator("tr.product:visible")
            assert visible.count() == 1 and "artists.payouts" in visible.inner_text()
            page.select_option("#filter-domain", "users")
            assert page.locator("tr.product:visible").count() == 0
            page.select_option("#filter-domain", "")
            page.fill("#search", "")
            page.select_option("#filter-tag", "tier=gold")
            assert page.locator("tr.product:visible").all_inner_texts()[0].startswith("users.profiles")
            assert page.locator("tr.product:visible").count() == 1
            page.select_option("#filter-tag", "")
            page.fill("#search", "payouts")
            page.click("a:text-is('artists.payouts')")
            page.wait_for_url("**/products/artists.payouts.html")
            for section in ("what", "where", "when", "with-what", "how"):
                assert page.locator(f"section#{section}").is_visible(), section
            assert page.locator("#contract tbody tr").count() == 5
            lineage = page.locator("svg#lineage")
            assert lineage.is_visible()
            assert sorted(lineage.locator("text").all_text_contents()) == ["artists.payouts", "podcasts.plays", "users.profiles"]
            assert lineage.locator("line, path[marker-end]").count() == 3, "every edge is drawn"
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "catalog-artists.payouts.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []


@pytest.mark.parametrize(
    "strict, shown",
    [(None, "refused, the publish fails"), (False, "published as they are"), ("filter", "dropped before publish")],
)
def test_catalog_shows_what_a_port_does_with_undeclared_columns(strict, shown, tmp_path: Path):
    import pandas as pd
    import pandera.pandas as pa

    from mesh_core import Domain
    from mesh_core.manifest import build_manifest
    from mesh_core.mesh.catalog_site import build_site
    from mesh_core.mesh.graph import MeshGraph

    ledger = Domain("ledger", owner="team:ledger")

    @ledger.output_port(contract=pa.DataFrameSchema({"id": pa.Column(int)}), version="2.1.0", strict=strict)
    def entries() -> pd.DataFrame:
        return pd.DataFrame({"id": [1]})

    manifest = build_manifest(ledger.definitions(), "ledger")
    catalog = build_site(MeshGraph.from_manifests([manifest]), [manifest], tmp_path / "site", None)

    jsonschema.validate(catalog, json.loads((tmp_path / "site/catalog.schema.json").read_text()))
    [product] = catalog["products"]
    assert (product["strict"], product["major"]) == (True if strict is None else strict, 2)
    page = (tmp_path / "site/products/ledger.entries.html").read_text()
    assert f"Columns the contract does not declare: {shown}." in page
    assert 'read("ledger.entries", major=2)' in page
