"""`mesh usage`: reads from the audit trail, compute seconds from the Dagster instance, bytes from the store."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest
from conftest import REPO

from meshkit import mesh

PORTS = ("artists.payouts", "artists.roster", "podcasts.episodes", "podcasts.plays", "users.profiles")


def reads_recorded_by_consumers(instance: dg.DagsterInstance) -> Counter:
    """(port, reading domain) -> reads, as each consumer's materializations record what they read ("with what")."""
    found: Counter = Counter()
    for port_id in PORTS:
        for record in instance.fetch_materializations(dg.AssetKey(port_id.split(".")), limit=100).records:
            inputs = record.asset_materialization.metadata.get("mesh/inputs")
            for input_id in (inputs.value if inputs else {}):
                found[(input_id, port_id.split(".")[0])] += 1
    return found


@pytest.mark.slow  # two full runs of the example mesh: about 3 minutes on a busy machine
def test_usage_counts_exactly_the_reads_of_two_mesh_runs(dagster_home: Path, mesh_home: Path, tmp_path: Path):
    env = {"DAGSTER_HOME": str(dagster_home)}
    for _ in range(2):
        ran = mesh("run", "--format", "json", cwd=REPO, env=env)
        assert ran.code == 0, ran.stdout + ran.stderr

    result = mesh("usage", "--format", "json", cwd=REPO, env=env)
    assert result.code == 0, result.stderr
    report = result.json()
    products = {p["port_id"]: p for p in report["products"]}
    assert sorted(products) == sorted(PORTS)

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        expected = reads_recorded_by_consumers(instance)
        runs = instance.get_run_records()
        seconds_by_domain = Counter()
        for record in runs:
            seconds_by_domain[record.dagster_run.tags["mesh/location"]] += record.end_time - record.start_time
    counted = Counter({(port_id, reader): n for port_id, p in products.items() for reader, n in p["reads"].items()})
    assert counted == expected
    assert counted == Counter({("users.profiles", "podcasts"): 2, ("users.profiles", "artists"): 2,
                               ("podcasts.plays", "artists"): 2})
    assert {p["port_id"]: p["refused"] for p in report["products"]} == dict.fromkeys(PORTS, 0)
    assert report["deprecation_candidates"] == ["artists.payouts", "artists.roster", "podcasts.episodes"]
    assert products["podcasts.plays"]["last_reader"] == "artists"
    day = next(iter(products["users.profiles"]["reads_by_day"].values()))
    assert day == {"artists": 2, "podcasts": 2}

    assert len(runs) == 6, "two runs of three locations"
    for domain, seconds in seconds_by_domain.items():
        charged = sum(p["compute_seconds"] for p in products.values() if p["domain"] == domain)
        assert charged == pytest.approx(seconds, abs=0.01) and charged > 0
    assert all(p["runs"] == 2 for p in products.values())

    for port_id, product in products.items():
        folder = mesh_home / "dev" / Path(*port_id.split("."))
        on_disk = sum(os.path.getsize(Path(parent) / name) for parent, _, names in os.walk(folder) for name in names)
        assert product["stored_bytes"] == on_disk > 0

    text = mesh("usage", cwd=REPO, env=env)
    assert "podcasts.episodes: UNUSED (deprecation candidate)" in text.stdout
    assert "users.profiles: reads artists 2, podcasts 2; last read" in text.stdout

    site = mesh("catalog", "--out", str(tmp_path / "site"), cwd=REPO, env=env)
    assert site.code == 0, site.stderr
    catalog = json.loads((tmp_path / "site/catalog.json").read_text())
    shown = {p["id"]: p["usage"] for p in catalog["products"]}
    assert {port_id: shown[port_id]["reads"] for port_id in PORTS} == {p: products[p]["reads"] for p in PORTS}
    page = (tmp_path / "site/products/users.profiles.html").read_text()
    assert 'id="usage"' in page and f"{products['users.profiles']['stored_bytes']:,} bytes" in page
    table = (tmp_path / "site/usage.html").read_text()
    assert all(f'href="products/{port_id}.html"' in table for port_id in PORTS)
