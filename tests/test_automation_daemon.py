"""Cross-location automation with the real Dagster daemon: publishing users ripples through the mesh.

The daemon runs on workspace.yaml in a temporary DAGSTER_HOME and MESH_HOME, in its own
process group, and is stopped with everything it started. Code servers talk over
Unix sockets; nothing binds beyond loopback.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from conftest import REPO

DEADLINE_S = 240
pytestmark = [pytest.mark.daemon, pytest.mark.slow]  # CI runs it with -m slow


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
