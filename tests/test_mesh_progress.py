"""Progress: live on a terminal through the quiet stretches, absent from logs and JSON."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path

from conftest import REPO
from meshkit import MESH, mesh

ESCAPE = "\x1b"


def on_a_terminal(*args: str, env: dict[str, str], timeout: float = 600) -> tuple[int, str]:
    """Run `mesh` with stdout and stderr on a pseudo-terminal; its exit code and everything it drew."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [MESH, *args], cwd=REPO, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower,
        env={**os.environ, **env, "TERM": "xterm-256color", "COLUMNS": "200", "LINES": "50"},
    )
    os.close(follower)
    drawn, deadline = bytearray(), time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the terminal closed: the process has exited
                    break
                if not chunk:
                    break
                drawn += chunk
        code = process.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        os.close(leader)
    return code, drawn.decode(errors="replace")


def test_a_terminal_sees_manifests_load_and_dbt_run(dagster_home: Path):
    env = {"DAGSTER_HOME": str(dagster_home)}
    code, drawn = on_a_terminal("validate", env=env)  # a cold cache: every location loads
    assert code == 0, drawn
    assert "loading manifests: " in drawn and "artists" in drawn
    assert "5 ports in 3 locations: 0 error(s)" in drawn

    code, drawn = on_a_terminal("run", "--select", "artists.roster", env=env)
    assert code == 0, drawn
    assert "artists: Running dbt command" in drawn, "the dbt stage shows what it is doing"
    assert "1 published, 0 failed, 0 skipped" in drawn


def test_logs_and_json_carry_no_progress(dagster_home: Path, tmp_path: Path):
    env = {"DAGSTER_HOME": str(dagster_home)}
    cold = mesh("validate", cwd=REPO, env=env)
    assert (cold.code, cold.stderr) == (0, "")
    assert cold.stdout == "5 ports in 3 locations: 0 error(s), 0 warning(s)\n"

    report = mesh("validate", "--format", "json", cwd=REPO, env={**env, "MESH_HOME": str(tmp_path / "cold")})
    assert (report.code, report.stderr) == (0, "")
    assert report.json()["errors"] == 0

    ran = mesh("run", "--select", "artists.roster", "--format", "json", cwd=REPO, env=env)
    assert ran.code == 0, ran.stderr
    assert [run["status"] for run in json.loads(ran.stdout)["ports"]] == ["published"]
    assert ran.stderr.splitlines()[0] == "[stage 1/1] artists.roster"
    assert ran.stderr.splitlines()[1].startswith("  artists.roster: ok (")
    assert len(ran.stderr.splitlines()) == 2, "no location output, no spinner"
    for output in (cold.stdout, report.stdout, ran.stdout, ran.stderr):
        assert ESCAPE not in output and "\r" not in output
