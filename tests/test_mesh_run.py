"""`mesh run`: headless meta-orchestration in plan order, one subprocess per location."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import pytest

from conftest import REPO, MeshRunOnce
from mesh_core import PortStore
from mesh_core.audit_trail import query_audit
from meshkit import break_plays_contract, copy_mesh, mesh


def test_run_materializes_the_whole_mesh_and_records_runs(mesh_run_once: MeshRunOnce):
    result, store = mesh_run_once, mesh_run_once.store
    assert result.code == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    ports = {run["port_id"]: run for run in report["ports"]}
    assert list(ports) == ["users.profiles", "podcasts.episodes", "podcasts.plays", "artists.payouts", "artists.roster"]
    for port_id, run in ports.items():
        assert run["status"] == "published"
        assert run["snapshot_id"] == store.current(port_id, 1).snapshot_id
        assert run["rows"] == store.current(port_id, 1).rows
        assert {"contract", "consumer_expectations"} <= set(run["checks"]) and all(run["checks"].values())
        assert run["duration_s"] > 0
    assert [ports[p]["stage"] for p in ("users.profiles", "podcasts.plays", "artists.payouts")] == [1, 2, 3]
    assert "[stage 1/3]" in result.stderr, "progress goes to stderr when stdout carries JSON"
    with dg.DagsterInstance.from_config(str(mesh_run_once.dagster_home)) as instance:
        runs = instance.get_runs()
        assert len(runs) == 3, "each location starts once: users, then podcasts, then artists"
        assert len({run.tags["mesh/run"] for run in runs}) == 1
        assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)
    trail = query_audit(store.location, port="users.profiles")  # each location read as its own domain
    reads = trail[trail["action"] == "read"]
    assert set(zip(reads["reader"], reads["decision"])) == {("podcasts", "allowed"), ("artists", "masked")}
    assert set(trail["run_id"]) <= {run.run_id for run in runs}


def test_a_contract_failure_skips_downstream_and_spares_independent_branches(dagster_home: Path, tmp_path: Path, store: PortStore):
    root = copy_mesh(tmp_path / "mesh").parent
    break_plays_contract(root)
    result = mesh("run", cwd=root, env={"DAGSTER_HOME": str(dagster_home)})
    assert result.code == 1
    ports = ("artists.roster", "podcasts.episodes", "users.profiles", "podcasts.plays", "artists.payouts")
    table_rows = [line.split() for line in result.stdout.splitlines()]
    summary = {row[0]: row[1] for row in table_rows if len(row) > 1 and row[0] in ports}
    assert summary == {
        "artists.roster": "published",
        "podcasts.episodes": "published",
        "users.profiles": "published",
        "podcasts.plays": "failed",
        "artists.payouts": "skipped",
    }
    assert "artists.payouts: upstream podcasts.plays not published" in result.stdout
    assert "contract v1.0.0 violated" in result.stdout and "seconds_played" in result.stdout
    assert "3 published, 1 failed, 1 skipped" in result.stdout
    assert store.current("users.profiles", 1).rows == 1000
    assert store.majors("podcasts.plays") == [] and store.majors("artists.payouts") == []


@pytest.mark.slow  # a whole run of a copy of the mesh; tests/test_killed_runs.py's Ctrl-C test takes the same path
def test_a_stage_skipped_whole_leaves_no_event_log_behind(dagster_home: Path, tmp_path: Path):
    # Each location process makes its run's event log while it waits; artists' stage never comes.
    root = copy_mesh(tmp_path / "mesh").parent
    break_plays_contract(root)
    result = mesh("run", "--select", "users", "--select", "podcasts.plays", cwd=root,
                  env={"DAGSTER_HOME": str(dagster_home)})
    assert result.code == 1 and "artists.payouts: upstream podcasts.plays not published" in result.stdout
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        run_ids = {run.run_id for run in instance.get_runs()}
    assert len(run_ids) == 2, "users, then podcasts; no artists run"
    assert {log.stem for log in (dagster_home / "history" / "runs").glob("*.db")} - {"index"} == run_ids


def test_select_runs_a_port_and_everything_downstream(dagster_home: Path):
    result = mesh("run", "--select", "podcasts.plays", "--select", "users", "--format", "json", cwd=REPO, env={"DAGSTER_HOME": str(dagster_home)})
    assert result.code == 0, result.stderr
    assert [run["port_id"] for run in result.json()["ports"]] == ["users.profiles", "podcasts.plays", "artists.payouts"]


def test_two_locations_in_one_stage_run_side_by_side_on_a_fresh_instance(dagster_home: Path):
    # Independent ports of two locations share the first stage, so both processes open a
    # brand-new DAGSTER_HOME at once (mesh run creates its storage first).
    result = mesh("run", "--select", "podcasts.episodes", "--select", "artists.roster", "--format", "json", cwd=REPO,
                  env={"DAGSTER_HOME": str(dagster_home)})
    assert result.code == 0, result.stdout + result.stderr
    assert {run["port_id"]: run["stage"] for run in result.json()["ports"]} == {"artists.roster": 1, "podcasts.episodes": 1}
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert [run.status for run in instance.get_runs()] == [dg.DagsterRunStatus.SUCCESS] * 2


def test_env_selects_the_store_namespace_and_a_run_without_dagster_home_says_where_its_runs_went(mesh_home: Path):
    result = mesh("run", "--select", "artists.roster", "--env", "kitchen", cwd=REPO, env={"DAGSTER_HOME": None})
    assert result.code == 0, result.stderr
    assert "DAGSTER_HOME is not set, so these runs went to a temporary Dagster instance" in result.stderr
    assert PortStore(mesh_home, "kitchen").current("artists.roster", 1).rows == 30
    assert PortStore(mesh_home, "dev").majors("artists.roster") == []


def test_unknown_selection_is_a_usage_error():
    result = mesh("run", "--select", "podcast", cwd=REPO)
    assert result.code == 2 and "'podcast' is neither a domain" in result.stderr


def test_dbt_runs_without_the_virtual_environment_on_path(dagster_home: Path, store: PortStore):
    # As `.venv/bin/python -m pytest` or a workspace executable_path runs it: no activation.
    result = mesh("run", "--select", "artists.roster", cwd=REPO,
                  env={"DAGSTER_HOME": str(dagster_home), "PATH": os.defpath})
    assert result.code == 0, result.stdout + result.stderr
    assert store.current("artists.roster", 1).rows == 30
