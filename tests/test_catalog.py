"""`mesh catalog`: the machine-readable files, the standards' own linters, and the site in a real headless browser.

The linters run from a virtual environment of their own, never the project's, so they
cannot pin its dependencies: set ``MESH_LINT_VENV`` to it (``.ci/run`` does)::

    python3 -m venv /tmp/lintvenv && /tmp/lintvenv/bin/pip install "dataproduct-cli==0.3.2" "datacontract-cli==1.2.8"
    MESH_LINT_VENV=/tmp/lintvenv python -m pytest tests/test_catalog.py

Without it the linter tests are skipped, except under CI, where they fail.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jsonschema
import pytest
import yaml
from open_data_contract_standard.model import OpenDataContractStandard

from conftest import REPO
from mesh_core.mesh.catalog_data import odcs_yaml
from meshkit import copy_mesh, edit, mesh

PORTS = ["artists.payouts", "artists.roster", "podcasts.episodes", "podcasts.plays", "users.profiles"]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts"
CATALOG_URL = "http://127.0.0.1:8000"  # MESH_CATALOG_URL's default: the catalog's own links start with it
DEAD_PROXY = "http://127.0.0.1:9"  # nothing listens there: a linter that reaches for the network fails


def build_catalog(workspace_root: Path, out: Path, mesh_home: Path) -> dict:
    """Run `mesh catalog --format json` as a user would; return what it printed."""
    result = mesh("catalog", "--out", str(out), "--format", "json", cwd=workspace_root,
                  env={"DAGSTER_HOME": "", "MESH_HOME": str(mesh_home)})
    assert result.code == 0, result.stderr
    return result.json()


@pytest.fixture(scope="module")
def catalog_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One MESH_HOME for the module, so manifests load once and later catalogs reuse them."""
    return tmp_path_factory.mktemp("catalog_mesh")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, catalog_home: Path) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("catalog") / "site"
    return out, build_catalog(REPO, out, catalog_home)


@pytest.fixture
def site(built: tuple[Path, dict]) -> Path:
    return built[0]


def test_catalog_writes_valid_machine_readable_files(site: Path):
    catalog = json.loads((site / "catalog.json").read_text())
    jsonschema.validate(catalog, json.loads((site / "catalog.schema.json").read_text()))
    assert [p["id"] for p in catalog["products"]] == PORTS
    payouts = next(p for p in catalog["products"] if p["id"] == "artists.payouts")
    assert payouts["inputs"] == ["podcasts.plays", "users.profiles"] and payouts["status"] is None
    profiles = next(p for p in catalog["products"] if p["id"] == "users.profiles")
    assert profiles["consumers"] == ["artists.payouts", "podcasts.plays"]
    assert {c["name"] for c in profiles["columns"] if c["pii"]} == {"email"}
    assert profiles["links"]["contract"] == f"{CATALOG_URL}/odcs/users.profiles-1.0.0.odcs.yaml"
    # The links Dagster shows (mesh/link/*) that point into the catalog name files it writes.
    into_catalog = [url.removeprefix(CATALOG_URL + "/").split("#")[0]
                    for entry in catalog["products"] + catalog["domains"] for url in entry["links"].values()
                    if url.startswith(CATALOG_URL + "/")]
    assert len(into_catalog) == 2 * len(PORTS) + 2 * 3
    assert [path for path in into_catalog if not (site / path).is_file()] == []
    assert sorted(p.name for p in (site / "odcs").iterdir()) == [f"{port_id}-1.0.0.odcs.yaml" for port_id in PORTS]
    for port_id in PORTS:
        contract = OpenDataContractStandard.from_file(str(site / "odcs" / f"{port_id}-1.0.0.odcs.yaml"))
        assert (contract.id, contract.kind, contract.apiVersion) == (f"{port_id}-1.0.0", "DataContract", "v3.2.0")
        assert contract.schema_[0].properties
    properties = OpenDataContractStandard.from_file(str(site / "odcs/users.profiles-1.0.0.odcs.yaml")).schema_[0].properties
    email = next(p for p in properties if p.name == "email")
    assert email.classification == "pii" and email.required
    assert next(p for p in properties if p.name == "signed_up_at").logicalType == "timestamp"
    assert next(p for p in catalog["products"] if p["id"] == "users.profiles")["tags"] == {"tier": "gold"}
    assert sorted(p.name for p in (site / "odps").iterdir()) == ["artists.odps.yaml", "podcasts.odps.yaml", "users.odps.yaml"]
    # The page's snippet reads as a named domain: an anonymous reader is refused a restricted port.
    page = (site / "products/users.profiles.html").read_text()
    assert 'PortStore.from_env(reader="&lt;your domain&gt;").read("users.profiles", major=1)' in page
    artists = yaml.safe_load((site / "odps/artists.odps.yaml").read_text())
    assert (artists["apiVersion"], artists["kind"], artists["status"]) == ("v1.0.0", "DataProduct", "active")
    assert artists["team"] == {"name": "artists"}
    assert [p["name"] for p in artists["inputPorts"]] == ["podcasts.plays", "users.profiles"]
    assert [p["name"] for p in artists["outputPorts"]] == ["artists.payouts", "artists.roster"]
    assert all(p["contractId"].endswith("-1.0.0") for p in artists["inputPorts"] + artists["outputPorts"])


@pytest.mark.parametrize("dtype, logical", [
    ("int64", "integer"), ("Int64", "integer"), ("uint8", "integer"), ("UInt32", "integer"), ("float64", "number"),
    ("Float64", "number"), ("bool", "boolean"), ("boolean", "boolean"), ("str", "string"), ("string[pyarrow]", "string"),
    ("datetime64[us, UTC]", "timestamp"), ("date", "date"), ("category", "object"),
])
def test_odcs_logical_types_follow_the_pandas_dtype(dtype: str, logical: str):
    column = {"dtype": dtype, "nullable": False, "unique": False, "pii": False, "description": "", "checks": []}
    served = {"version": "1.0.0", "contract": {"columns": {"c": column}}, "deprecation_date": None}
    contract = OpenDataContractStandard.from_string(odcs_yaml("d.p", {"description": "", "version": "1.0.0"}, served))
    assert contract.schema_[0].properties[0].logicalType == logical


def test_catalog_json_output_lists_every_file_written(built: tuple[Path, dict], catalog_home: Path, tmp_path: Path):
    out, printed = built
    on_disk = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert printed == {
        "out": str(out), "products": PORTS, "domains": ["artists", "podcasts", "users"], "with_status": False,
        "files": on_disk,
    }
    text = mesh("catalog", "--out", str(tmp_path / "text"), cwd=REPO,
                env={"DAGSTER_HOME": "", "MESH_HOME": str(catalog_home)})
    assert text.code == 0, text.stderr
    assert text.stdout == f"wrote 5 products in 3 domains to {tmp_path / 'text'} without status (DAGSTER_HOME not set)\n"


def test_catalog_into_a_file_is_a_clear_error(catalog_home: Path, tmp_path: Path):
    (tmp_path / "site").write_text("not a folder")
    result = mesh("catalog", "--out", str(tmp_path / "site"), cwd=REPO, env={"DAGSTER_HOME": "", "MESH_HOME": str(catalog_home)})
    assert result.code == 2 and "Traceback" not in result.stderr
    assert result.stderr == f"error: {tmp_path / 'site' / 'products'}: cannot write the catalog to {tmp_path / 'site'}: Not a directory\n"
    assert (tmp_path / "site").read_text() == "not a folder"


@pytest.fixture(scope="module")
def lint_venv() -> Path:
    """The separate virtual environment holding dataproduct-cli and datacontract-cli (MESH_LINT_VENV)."""
    venv = os.environ.get("MESH_LINT_VENV")
    missing = "set MESH_LINT_VENV to a venv with dataproduct-cli and datacontract-cli (see this module's docstring)"
    if venv and all((Path(venv) / "bin" / tool).exists() for tool in ("dataproduct", "datacontract")):
        return Path(venv)
    if venv:
        missing = f"MESH_LINT_VENV={venv} has no bin/dataproduct and bin/datacontract"
    if os.environ.get("CI"):
        pytest.fail(missing)
    pytest.skip(missing)


def lint(venv: Path, tool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run a linter offline: no platform API key, every HTTP(S) request through a dead proxy,
    and no network namespace at all where the kernel lets us make one."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ENTROPY_DATA_", "DATAMESH_MANAGER_", "DATACONTRACT_MANAGER_"))}
    env |= {"PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", "NO_COLOR": "1", "COLUMNS": "300",
            "NO_PROXY": "", "no_proxy": "",
            **{name: DEAD_PROXY for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")}}
    isolate = ["unshare", "-rn"] if _can_unshare_network() else []
    return subprocess.run([*isolate, str(venv / "bin" / tool), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@functools.cache
def _can_unshare_network() -> bool:
    unshare = shutil.which("unshare")
    return bool(unshare) and subprocess.run([unshare, "-rn", "true"], capture_output=True, timeout=30).returncode == 0


def assert_standards_accept(site: Path, venv: Path) -> None:
    """Every ODPS file passes `dataproduct lint`, each of its contractIds resolved to an ODCS file in the catalog,
    which that linter hands to `datacontract lint`; between them, they lint every ODCS file.

    `datacontract lint` checks a contract against the ODCS version it declares, as one direct run shows.
    """
    contracts = {yaml.safe_load(path.read_text())["id"]: path for path in (site / "odcs").glob("*.odcs.yaml")}
    assert contracts
    linted = set()
    for path in sorted((site / "odps").glob("*.odps.yaml")):
        document = yaml.safe_load(path.read_text())
        done = lint(venv, "dataproduct", "lint", str(path.relative_to(site)), "--output-format", "json", cwd=site)
        assert done.returncode == 0, done.stdout + done.stderr
        checks = json.loads(done.stdout)["checks"]
        assert [c for c in checks if c["result"] != "passed"] == [], path.name
        linked = {port["contractId"] for port in document["inputPorts"] + document["outputPorts"]}
        assert {c["name"] for c in checks} == {f"Data product is valid against ODPS {document['apiVersion']}"} | {
            f"Data contract '{p['contractId']}' linked by {kind}[{p['name']}] is resolvable"
            for kind in ("inputPorts", "outputPorts") for p in document[kind]
        } | {f"Data contract '{i}' passes datacontract lint" for i in linked}, path.name
        linted |= linked
    assert linted == set(contracts), "every ODCS file is some port's contract, and every contractId is a file"
    for path in contracts.values():
        OpenDataContractStandard.from_file(str(path))  # the project's own model loads each one
    path = contracts["users.profiles-1.0.0"] if "users.profiles-1.0.0" in contracts else next(iter(contracts.values()))
    report = site.parent / "odcs-lint.json"
    done = lint(venv, "datacontract", "lint", str(path), "--output-format", "json", "--output", str(report), cwd=site)
    assert done.returncode == 0, done.stdout + done.stderr
    declared = yaml.safe_load(path.read_text())["apiVersion"]
    assert [(c["name"], c["result"]) for c in json.loads(report.read_text())["checks"]] == [
        (f"Data contract is valid against ODCS {declared}", "passed")
    ]


def test_the_standards_linters_accept_every_odps_and_odcs_file(lint_venv: Path, site: Path):
    # lint_venv comes first: without the linters, no catalog is built for nothing.
    assert_standards_accept(site, lint_venv)
    # The offline guard bites: a linter that reaches for the network cannot connect, and fails.
    fetched = lint(lint_venv, "datacontract", "lint", "https://example.com/contract.odcs.yaml", cwd=site)
    assert fetched.returncode == 1 and "Max retries exceeded" in " ".join(fetched.stdout.split()), fetched.stdout


def test_a_previous_major_has_its_own_contract_and_its_pinned_consumers_name_it(lint_venv: Path, tmp_path: Path):
    root = copy_mesh(tmp_path / "mesh").parent
    edit(root / "workspace.yaml",  # users and podcasts suffice
         "  - python_module:\n      module_name: artists_domain.definitions\n      working_directory: domains/artists\n"
         "      location_name: artists\n", "")
    edit(root / "domains/users/users_domain/ports.py", "from datetime import timedelta\n",
         "from datetime import date, timedelta\n\nfrom mesh_core import PreviousMajor\n")
    edit(root / "domains/users/users_domain/ports.py", '    version="1.0.0",\n',
         '    version="2.0.0",\n    previous=[PreviousMajor("1.4.0", Profiles, adapt=lambda frame: frame, '
         "deprecation_date=date(2099, 1, 31))],\n")
    out = tmp_path / "site"
    build_catalog(root, out, tmp_path / "home")
    assert_standards_accept(out, lint_venv)
    users = yaml.safe_load((out / "odps/users.odps.yaml").read_text())
    assert [(p["version"], p["contractId"], p.get("customProperties")) for p in users["outputPorts"]] == [
        ("2.0.0", "users.profiles-2.0.0", None),
        ("1.4.0", "users.profiles-1.4.0", [{"property": "deprecationDate", "value": "2099-01-31"}]),
    ]
    podcasts = yaml.safe_load((out / "odps/podcasts.odps.yaml").read_text())
    assert podcasts["inputPorts"] == [{"name": "users.profiles", "version": "1.4.0", "contractId": "users.profiles-1.4.0"}]
    old = OpenDataContractStandard.from_file(str(out / "odcs/users.profiles-1.4.0.odcs.yaml"))
    assert (old.version, old.status) == ("1.4.0", "deprecated")


@contextmanager
def browser_page() -> Iterator[tuple[Any, list[str]]]:
    """A page in Debian's headless Chromium, driven by Playwright, and the console errors it collects."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing; .ci/run installs Debian's chromium package")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], timeout=60_000)
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            errors: list[str] = []
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            yield page, errors
        finally:
            browser.close()


def test_catalog_in_a_real_browser(site: Path):
    with browser_page() as (page, errors):
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
        assert errors == []


def test_every_link_in_the_offline_site_leads_somewhere(site: Path):
    """Crawl the site from index.html in the browser, following every link (SVG ones too).

    A relative link must reach a file in the site; a file:// link an existing file; a link
    into the catalog (MESH_CATALOG_URL) must be relative, so the site works from disk; any
    other http(s) link (the Dagster UI) may stay absolute.
    """
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    visited: set[str] = set()
    broken: list[str] = []
    queue = ["index.html"]
    with browser_page() as (page, errors):
        while queue:
            current = queue.pop()
            if current in visited:
                continue
            visited.add(current)
            page.goto((site / current).as_uri())
            links = page.eval_on_selector_all(
                "a", "links => links.map(a => [a.getAttribute('href'), new URL(a.getAttribute('href'), document.baseURI).href])"
            )
            for href, resolved in links:
                url = urlsplit(resolved)
                if url.scheme == "file":
                    target = Path(unquote(url.path))
                    if not target.exists():
                        broken.append(f"{current}: {href} (no such file)")
                    elif target.suffix == ".html" and target.is_relative_to(site):
                        queue.append(target.relative_to(site).as_posix())
                elif url.scheme in ("http", "https"):
                    if resolved.startswith(CATALOG_URL + "/"):
                        broken.append(f"{current}: {href} (an absolute link into the catalog)")
                elif url.scheme != "mailto":
                    broken.append(f"{current}: {href} (scheme {url.scheme})")
        assert errors == []
    assert broken == []
    assert sorted(visited) == pages, "every page is reachable from index.html"


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
    catalog = build_site(MeshGraph.from_manifests([manifest]), [manifest], tmp_path / "site", None).catalog

    jsonschema.validate(catalog, json.loads((tmp_path / "site/catalog.schema.json").read_text()))
    [product] = catalog["products"]
    assert (product["strict"], product["major"]) == (True if strict is None else strict, 2)
    page = (tmp_path / "site/products/ledger.entries.html").read_text()
    assert f"Columns the contract does not declare: {shown}." in page
    assert 'read("ledger.entries", major=2)' in page
