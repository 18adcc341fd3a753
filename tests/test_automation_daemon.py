"""Cross-location automation with the real Dagster daemon: publishing users ripples through the mesh.

The daemon runs on workspace.yaml in a temporary DAGSTER_HOME and MESH_HOME, in its own
process group, and is stopped with everything it started. Code servers talk over
Unix sockets; nothing binds beyond loopback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from conftest import REPO

DEADLINE_S = 240
pytestmark = pytest.mark.daemon


@pytest.fixture
def dagster_home(dagster_home: Path) -> Path:
    """conftest's DAGSTER_HOME with its storage created once, as `dagster dev` does, before
    the daemon and its code servers open it together."""
    with dg.DagsterInstance.from_config(str(dagster_home)):
        pass
    return dagster_home


@pytest.fixture
def daemon_env(dagster_home: Path, mesh_home: Path) -> dict[str, str]:
    return {**os.environ, "DAGSTER_HOME": str(dagster_home), "MESH_HOME": str(mesh_home), "MESH_ENV": "dev"}


@pytest.fixture
def daemon(daemon_env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen]:
    log = (tmp_path / "daemon.log").open("w")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")],
        cwd=REPO,
        env=daemon_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        _stop_group(process)
        log.close()


def _stop_group(process: subprocess.Popen) -> None:
    """Stop the daemon and every process it started (its own process group), nothing else."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


def _wait_for_materialization(instance: dg.DagsterInstance, key: str, daemon: subprocess.Popen, deadline: float):
    asset_key = dg.AssetKey.from_user_string(key)
    while time.monotonic() < deadline:
        assert daemon.poll() is None, "the daemon exited early"
        event = instance.get_latest_materialization_event(asset_key)
        if event is not None:
            return event
        time.sleep(1)
    pytest.fail(f"{key} was not materialized by automation within {DEADLINE_S}s")


def _wait_for_first_evaluations(dagster_home: Path, keys: list[str], daemon: subprocess.Popen, deadline: float):
    """Automation judges updates against its previous tick, so let each sensor tick once first."""
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        pending = set(keys)
        while pending and time.monotonic() < deadline:
            assert daemon.poll() is None, "the daemon exited early"
            storage = instance.schedule_storage
            pending = {
                key
                for key in pending
                if not storage.get_auto_materialize_asset_evaluations(dg.AssetKey.from_user_string(key), limit=1)
            }
            time.sleep(1)
        assert not pending, f"automation never evaluated {sorted(pending)}"


def test_publishing_users_triggers_podcasts_then_artists(daemon, daemon_env, dagster_home, tmp_path):
    deadline = time.monotonic() + DEADLINE_S
    _wait_for_first_evaluations(dagster_home, ["podcasts/plays", "artists/payouts"], daemon, deadline)
    manual = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "asset",
            "materialize",
            "-m",
            "users_domain.definitions",
            "-d",
            str(REPO / "domains" / "users"),
            "--select",
            "group:users",
        ],
        cwd=REPO,
        env=daemon_env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert manual.returncode == 0, manual.stderr[-3000:]

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        profiles = instance.get_latest_materialization_event(dg.AssetKey(["users", "profiles"]))
        assert profiles is not None
        plays = _wait_for_materialization(instance, "podcasts/plays", daemon, deadline)
        payouts = _wait_for_materialization(instance, "artists/payouts", daemon, deadline)

        assert profiles.timestamp < plays.timestamp < payouts.timestamp
        for event in (plays, payouts):
            run = instance.get_run_by_id(event.run_id)
            assert run.tags.get("dagster/from_automation_condition") == "true", run.tags
        manual_runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/from_automation_condition": "true"}))
        launched = {key.to_user_string() for run in manual_runs for key in (run.asset_selection or [])}
        assert launched >= {"podcasts/plays", "artists/payouts"}
        assert "users/profiles" not in launched, "users was launched by hand, not by automation"
        # Roots are never launched by automation.
        assert "podcasts/episodes" not in launched and "artists/roster" not in launched
