"""The Dagster instance on PostgreSQL: `dagster.postgres.yaml` against a real cluster (tests/conftest.py).

Each test gets a fresh database of one cluster started for the session on 127.0.0.1, and a
DAGSTER_HOME whose dagster.yaml is the repository's dagster.postgres.yaml, connected through the
``DAGSTER_PG_*`` variables only.
"""

from __future__ import annotations

import time
from pathlib import Path

import dagster as dg
import pytest

from conftest import REPO
from mesh_core import PortStore
from meshkit import mesh
from test_automation_daemon import test_publishing_users_triggers_podcasts_then_artists  # noqa: F401 - rerun here

pytestmark = pytest.mark.slow
PORTS = ["users.profiles", "podcasts.episodes", "podcasts.plays", "artists.payouts", "artists.roster"]


@pytest.fixture
def pg_env(postgres_home: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The instance's variables, in this process too (the instance reads them through ``env:``)."""
    for name, value in postgres_home[1].items():
        monkeypatch.setenv(name, value)
    return postgres_home[1]


# The daemon test of cross-location automation (test_automation_daemon.py), on this instance.
@pytest.fixture
def dagster_home(postgres_home: tuple[Path, dict[str, str]]) -> Path:
    return postgres_home[0]


@pytest.fixture
def daemon_env(pg_env: dict[str, str], mesh_home: Path) -> dict[str, str]:
    import os

    with dg.DagsterInstance.get():  # the schema is created once, before several processes open it
        pass
    return {**os.environ, "MESH_HOME": str(mesh_home), "MESH_ENV": "dev"}


def test_the_instance_is_postgres_configured_from_the_environment_only(pg_env: dict[str, str]):
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    assert pg_env["DAGSTER_PG_PASSWORD"] not in (REPO / "dagster.postgres.yaml").read_text()
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert instance.get_concurrency_config().run_queue_config.tag_concurrency_limits == [
            {"key": "dagster/code_location", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
        ]


def test_mesh_run_and_status_on_postgres(pg_env: dict[str, str], mesh_home: Path):
    run = mesh("run", "--format", "json", cwd=REPO, env=pg_env)
    assert run.code == 0, run.stdout + run.stderr
    assert [port["status"] for port in run.json()["ports"]] == ["published"] * len(PORTS)
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert len(runs) == 3 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        assert instance.get_latest_materialization_event(dg.AssetKey(["artists", "payouts"])) is not None
    status = mesh("status", "--format", "json", cwd=REPO, env=pg_env)
    assert status.code == 0, status.stdout + status.stderr
    products = {product["port_id"]: product for product in status.json()["products"]}
    assert sorted(products) == sorted(PORTS)
    store = PortStore(mesh_home, "dev")
    for port_id, product in products.items():
        assert product["snapshot_id"] == store.current(port_id, 1).snapshot_id


@pytest.mark.parametrize("command", [["status"], ["run", "--select", "users"]])
def test_a_wrong_password_is_an_error_that_does_not_print_it(command: list[str], pg_env: dict[str, str]):
    wrong = "Wr0ng-pa55word-for-mesh"
    result = mesh(*command, cwd=REPO, env={**pg_env, "DAGSTER_PG_PASSWORD": wrong})
    assert result.code != 0
    output = result.stdout + result.stderr
    assert "password authentication failed" in output, output[-3000:]
    assert wrong not in output and pg_env["DAGSTER_PG_PASSWORD"] not in output
    assert "Traceback" not in output, output[-3000:]


def _submit(instance: dg.DagsterInstance, locations: list[str]) -> list[str]:
    """Submit one run of each location's assets to the instance's queue, as ``dagster job launch`` does."""
    from dagster._cli.job import _create_run
    from dagster._cli.workspace.cli_target import (
        WorkspaceOpts,
        get_code_location_from_workspace,
        get_remote_job_from_remote_repo,
        get_remote_repository_from_code_location,
        get_workspace_from_cli_opts,
    )

    submitted = []
    opts = WorkspaceOpts(workspace=[str(REPO / "workspace.yaml")])
    with get_workspace_from_cli_opts(instance, version="", workspace_opts=opts) as workspace:
        for name in locations:
            location = get_code_location_from_workspace(workspace, name)
            repository = get_remote_repository_from_code_location(location, None)
            job = get_remote_job_from_remote_repo(repository, "__ASSET_JOB")
            run = _create_run(instance=instance, code_location=location, remote_repo=repository, remote_job=job,
                              run_config={}, tags={}, op_selection=None, run_id=None)
            submitted.append(instance.submit_run(run.run_id, workspace).run_id)
    return submitted


def test_the_queue_runs_one_run_per_domain_at_a_time(pg_env: dict[str, str], daemon_env: dict[str, str], daemon):
    """Three runs of users submitted at once wait in the queue and never overlap; podcasts' run is not held."""
    done = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
    deadline = time.monotonic() + 600
    with dg.DagsterInstance.get() as instance:
        submitted = _submit(instance, ["users", "users", "users", "podcasts"])
        while time.monotonic() < deadline:
            runs = {run_id: instance.get_run_by_id(run_id) for run_id in submitted}
            if all(run.status in done for run in runs.values()):
                break
            assert daemon.poll() is None, "the daemon exited early"
            time.sleep(2)
        else:
            pytest.fail(f"runs did not finish: {[(run.tags, run.status) for run in runs.values()]}")
        # Every users run, launched here or by users' automation, with its time in progress.
        users = sorted(
            (record.start_time, record.end_time or float("inf"))
            for record in instance.get_run_records(dg.RunsFilter(tags={"dagster/code_location": "users"}))
            if record.start_time
        )
    assert len(users) >= 3
    for (_, first_end), (second_start, _) in zip(users, users[1:]):
        assert second_start >= first_end, f"two users runs were in progress at once: {users}"
