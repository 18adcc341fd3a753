"""The tools `mesh` starts in a location's own interpreter: `python -m mesh_core.runner` and `mesh_core.manifest`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO


def tool(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_a_malformed_run_tag_is_a_usage_error_before_the_location_loads(tmp_path: Path):
    done = tool("mesh_core.runner", "--module", "users_domain.definitions", "--select", "users/profiles",
                "--tag", "mesh/run", "--out", str(tmp_path / "result.json"), cwd=REPO / "domains/users")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == "Error: Invalid value for '--tag': 'mesh/run' is not KEY=VALUE"
    assert "Traceback" not in done.stderr and not (tmp_path / "result.json").exists()


def test_the_manifest_tool_takes_the_flags_mesh_passes(tmp_path: Path):
    out = tmp_path / "users.json"
    done = tool("mesh_core.manifest", "--module", "users_domain.definitions", "--location", "users", "--out", str(out),
                cwd=REPO / "domains/users")
    assert done.returncode == 0, done.stderr
    assert [port["id"] for port in json.loads(out.read_text())["ports"]] == ["users.profiles"]
    missing = tool("mesh_core.manifest", "--module", "users_domain.definitions", "--out", str(out), cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.strip().endswith("Missing option '--location'.")
