"""A run whose process is killed ends FAILURE in the instance instead of staying STARTED forever.

The run is the sleepy fixture location's one port, which sleeps until it is killed. Every
process a test starts runs in a temporary DAGSTER_HOME (with the repository's dagster.yaml)
and MESH_HOME, and is stopped by the test; nothing binds beyond loopback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest
import yaml

from conftest import REPO
from meshkit import MESH, copy_mesh, edit

SLEEPY = REPO / "tests" / "fixtures" / "sleepy"
DEADLINE_S = 240


@pytest.fixture
def daemon_workspace() -> list[str]:
    """The daemon loads only the sleepy location: run monitoring needs no more."""
    return ["-m", "sleepy_domain", "-d", str(SLEEPY)]


def _run_status(dagster_home: Path) -> tuple[str, dg.DagsterRunStatus] | None:
    """The id and status of the instance's only run, or None before it is created."""
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        records = instance.get_run_records()
        assert len(records) <= 1, "the test starts one run"
        return (records[0].dagster_run.run_id, records[0].dagster_run.status) if records else None


def _wait_for_status(dagster_home: Path, status: dg.DagsterRunStatus, deadline: float, watched: subprocess.Popen) -> str:
    """Wait until the only run has ``status``, while ``watched`` (the process that should keep going) lives."""
    while time.monotonic() < deadline:
        seen = _run_status(dagster_home)
        if seen is not None and seen[1] == status:
            return seen[0]
        assert watched.poll() is None, f"process {watched.args[:3]} exited early with {watched.returncode}; run: {seen}"
        time.sleep(0.5)
    pytest.fail(f"the run did not reach {status.value} within {DEADLINE_S}s: {_run_status(dagster_home)}")


def _children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid``."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


@pytest.mark.daemon
def test_the_shipped_instance_fails_a_killed_run_that_nothing_watched(request, dagster_home, daemon_env, tmp_path):
    """A run killed while no daemon ran (a stopped `dagster dev`, a killed `mesh run`) is failed by run
    monitoring once the daemon runs, after the run's maximum run time (shortened here by its tag)."""
    settings = yaml.safe_load((REPO / "dagster.yaml").read_text())["run_monitoring"]
    assert settings["enabled"] is True and settings["max_runtime_seconds"] > 0
    deadline = time.monotonic() + DEADLINE_S
    worker = subprocess.Popen(
        [sys.executable, "-m", "mesh_core.runner", "--module", "sleepy_domain", "--select", "sleepy/naps",
         "--tag", "dagster/max_runtime=1", "--out", str(tmp_path / "outcome.json")],
        cwd=SLEEPY, env=daemon_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        run_id = _wait_for_status(dagster_home, dg.DagsterRunStatus.STARTED, deadline, worker)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    time.sleep(2)
    assert _run_status(dagster_home) == (run_id, dg.DagsterRunStatus.STARTED), "nothing but the daemon fails it"

    daemon = request.getfixturevalue("daemon")
    assert _wait_for_status(dagster_home, dg.DagsterRunStatus.FAILURE, deadline, daemon) == run_id
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        messages = [entry.message for entry in instance.all_logs(run_id)]
    assert any("maximum runtime" in message for message in messages), messages[-3:]


@contextmanager
def sleepy_mesh_run(dagster_home: Path, env: dict[str, str], folder: Path) -> Iterator[tuple[subprocess.Popen, str, int]]:
    """`mesh run --format json` of the sleepy location, once its run has STARTED: the process, the run id and
    the pid of its location process. The process is killed on the way out if it still runs."""
    workspace = folder / "workspace.yaml"
    workspace.write_text(yaml.safe_dump({"load_from": [
        {"python_module": {"module_name": "sleepy_domain", "working_directory": str(SLEEPY), "location_name": "sleepy"}}
    ]}))
    run = subprocess.Popen(
        [MESH, "run", "-w", str(workspace), "--format", "json"],
        cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        # As a terminal runs it: a shell without job control (CI's background steps) starts its jobs with SIGINT
        # ignored, and Python then installs no Ctrl-C handler at all.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        run_id = _wait_for_status(dagster_home, dg.DagsterRunStatus.STARTED, time.monotonic() + DEADLINE_S, run)
        runners = [pid for pid in _children(run.pid) if b"mesh_core.runner" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert len(runners) == 1, runners
        yield run, run_id, runners[0]
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(timeout=10)


def test_mesh_run_fails_the_run_of_a_location_process_that_was_killed(dagster_home, daemon_env, tmp_path):
    """`mesh run` executes each location's run in its own subprocess: when that dies, `mesh run` fails the run."""
    with sleepy_mesh_run(dagster_home, daemon_env, tmp_path) as (run, run_id, runner):
        os.kill(runner, signal.SIGKILL)
        stdout, stderr = run.communicate(timeout=DEADLINE_S)
    assert run.returncode == 1, stdout + stderr
    assert _run_status(dagster_home) == (run_id, dg.DagsterRunStatus.FAILURE)
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        messages = [entry.message for entry in instance.all_logs(run_id)]
    assert any("the process of location sleepy ended before its run did" in message for message in messages), messages[-3:]


@pytest.mark.parametrize("sent", [signal.SIGINT, pytest.param(signal.SIGTERM, marks=pytest.mark.slow)],
                         ids=["ctrl-c", "sigterm"])
def test_ctrl_c_on_mesh_run_ends_its_location_processes_and_fails_their_runs(dagster_home, daemon_env, tmp_path, sent):
    """SIGINT to `mesh run` alone (a terminal sends it to the foreground group; mesh run's children have their own):
    it ends the running location, marks its run failed, prints where each port got, and returns at once.
    SIGTERM (`kill`, a CI job's timeout) does the same."""
    with sleepy_mesh_run(dagster_home, daemon_env, tmp_path) as (run, run_id, runner):
        interrupted_at = time.monotonic()
        run.send_signal(sent)
        stdout, stderr = run.communicate(timeout=60)
        took = time.monotonic() - interrupted_at
    assert run.returncode == 1 and took < 30, (took, stdout, stderr)
    assert "interrupted: the running location processes were ended" in stderr
    [port] = json.loads(stdout)["ports"]
    assert (port["status"], port["error"]) == ("failed", "interrupted (Ctrl-C or SIGTERM): mesh run ended its location process")
    assert not Path(f"/proc/{runner}").exists() or b"zombie" in Path(f"/proc/{runner}/status").read_bytes()
    assert _run_status(dagster_home) == (run_id, dg.DagsterRunStatus.FAILURE)


@pytest.mark.slow  # the whole example mesh, its first stage held until the interrupt
def test_ctrl_c_leaves_no_event_log_of_a_run_that_never_came(tmp_path: Path):
    """Location processes waiting for their stage made their runs' event logs ahead; ended by Ctrl-C, they remove them."""
    root = copy_mesh(tmp_path / "mesh").parent
    edit(root / "domains/users/users_domain/ports.py",
         '    """Mastered customer profiles: the latest registration per user, with a normalised email."""\n',
         '    """Mastered customer profiles."""\n    import time; time.sleep(120)\n')
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    env = {**os.environ, "DAGSTER_HOME": str(home), "MESH_HOME": str(tmp_path / "store")}
    run = subprocess.Popen([MESH, "run"], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    logs = home / "history" / "runs"
    try:
        deadline = time.monotonic() + DEADLINE_S
        while len(set(logs.glob("*-*-*-*-*.db"))) < 3:  # users' run, and podcasts' and artists' made ahead
            assert time.monotonic() < deadline and run.poll() is None, "the location processes never got ready"
            time.sleep(0.2)
        time.sleep(2)
        run.send_signal(signal.SIGINT)
        run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(timeout=10)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run_ids = {record.dagster_run.run_id for record in instance.get_run_records()}
    assert len(run_ids) == 1, "users' run, failed by the interrupt"
    assert {log.name for log in logs.iterdir()} == {"index.db", *(f"{run_id}.db" for run_id in run_ids)}
