"""`mesh status`: freshness against SLAs (with an injected clock), check results and staleness."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from conftest import REPO, MeshRunOnce
from meshkit import break_plays_contract, copy_mesh, edit, mesh


def statuses(root: Path, env: dict[str, str], *args: str) -> tuple[int, dict[str, dict]]:
    result = mesh("status", "--format", "json", *args, cwd=root, env=env)
    assert result.code in (0, 1), result.stderr
    return result.code, {p["port_id"]: p for p in result.json()["products"]}


def test_status_reports_freshness_and_checks(tmp_path: Path, mesh_run_once: MeshRunOnce, monkeypatch):
    monkeypatch.delenv("MESH_HOME")  # as the shared run had it: the store beside workspace.yaml
    root, env = mesh_run_once.root, {"DAGSTER_HOME": str(mesh_run_once.dagster_home)}
    assert mesh_run_once.code == 0, mesh_run_once.stderr

    code, products = statuses(root, env)
    assert code == 0
    profiles = products["users.profiles"]
    assert (profiles["freshness"], profiles["sla_s"]) == ("pass", 86400.0)
    assert profiles["checks"] == {"contract": True, "consumer_expectations": True}
    assert all(not p["failing"] and p["stale"] == [] for p in products.values())
    assert products["podcasts.plays"]["freshness"] == "n/a", "no SLA declared"

    built = mesh("catalog", "--out", str(tmp_path / "site"), cwd=root, env=env)
    assert built.code == 0 and "with status from DAGSTER_HOME" in built.stdout
    catalog = json.loads((tmp_path / "site" / "catalog.json").read_text())
    listed = {p["id"]: p["status"] for p in catalog["products"]}
    assert listed["users.profiles"]["freshness"] == "pass"
    assert listed["users.profiles"]["snapshot_id"] == profiles["snapshot_id"]

    published = datetime.fromisoformat(profiles["published_at"])
    at = lambda hours: (published + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S%z")  # noqa: E731
    code, products = statuses(root, env, "--now", at(22))
    assert (code, products["users.profiles"]["freshness"]) == (0, "warn")
    code, products = statuses(root, env, "--now", at(25))
    assert (code, products["users.profiles"]["freshness"]) == (1, "fail")
    assert products["users.profiles"]["failing"] and not products["podcasts.plays"]["failing"]
    text = mesh("status", "--now", at(25), cwd=root, env=env)
    assert text.code == 1 and "users.profiles: FAILING" in text.stdout and "freshness fail" in text.stdout


def test_a_newer_input_makes_readers_stale_and_a_failed_publish_fails_checks(tmp_path: Path, dagster_home: Path):
    root = copy_mesh(tmp_path / "mesh").parent
    env = {"DAGSTER_HOME": str(dagster_home)}
    assert mesh("run", cwd=root, env=env).code == 0
    edit(root / "domains/users/users_domain/sources.py", "seed: int = 7", "seed: int = 8")
    break_plays_contract(root)
    assert mesh("run", "--select", "users", cwd=root, env=env).code == 1
    code, products = statuses(root, env)
    assert code == 1
    assert products["podcasts.plays"]["checks"]["contract"] is False and products["podcasts.plays"]["failing"]
    assert products["artists.payouts"]["stale"] == ["input users.profiles has a newer snapshot"]
    assert "input users.profiles has a newer snapshot" in products["podcasts.plays"]["stale"]


def test_status_needs_an_instance(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    result = mesh("status", cwd=REPO, env={"DAGSTER_HOME": ""})
    assert result.code == 2 and "set DAGSTER_HOME" in result.stderr


def test_checks_planned_but_never_evaluated_show_as_not_evaluated(tmp_path: Path, dagster_home: Path):
    # plays runs before users.profiles was ever published: its input cannot load, so the run
    # fails with its checks planned and never evaluated.
    root = copy_mesh(tmp_path / "mesh").parent
    env = {"DAGSTER_HOME": str(dagster_home)}
    assert mesh("run", "--select", "podcasts.plays", cwd=root, env=env).code == 1

    code, products = statuses(root, env)
    plays = products["podcasts.plays"]
    assert plays["checks"] == {"contract": None, "consumer_expectations": None}
    assert not plays["failing"], "a check that never ran has not failed"
    assert (code, products["users.profiles"]["freshness"]) == (1, "fail"), "never published within its SLA"
    text = mesh("status", cwd=root, env=env)
    assert text.code == 1 and "Traceback" not in text.stderr
    assert "podcasts.plays: ok; published never (-); freshness n/a; consumer_expectations not evaluated, contract not evaluated" in text.stdout

    built = mesh("catalog", "--out", str(tmp_path / "site"), cwd=root, env=env)
    assert built.code == 0, built.stderr
    catalog = json.loads((tmp_path / "site" / "catalog.json").read_text())
    assert {p["id"]: p["status"]["checks"] for p in catalog["products"]}["podcasts.plays"] == plays["checks"]
    page = (tmp_path / "site" / "products" / "podcasts.plays.html").read_text()
    assert "<td>contract</td><td>not evaluated</td>" in page and "failed" not in page
