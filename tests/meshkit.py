"""Helpers for tests of the mesh wing: copies of the example mesh and the real `mesh` command."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from conftest import REPO

MESH = str(Path(sys.executable).parent / "mesh")


@dataclass
class MeshRun:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        return json.loads(self.stdout)


def copy_mesh(target: Path) -> Path:
    """A copy of the example mesh's workspace.yaml, dagster.yaml, dg.toml and domains; returns workspace.yaml."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("workspace.yaml", "dagster.yaml", "dg.toml"):
        shutil.copy(REPO / name, target / name)
    shutil.copytree(
        REPO / "domains", target / "domains", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__")
    )
    return target / "workspace.yaml"


def break_plays_contract(root: Path) -> None:
    """Make podcasts.plays emit a negative ``seconds_played`` in a copied mesh: its contract check fails."""
    edit(
        root / "domains/podcasts/podcasts_domain/ports.py",
        '    return enriched[columns].sort_values("play_id", ignore_index=True)',
        '    enriched["seconds_played"] = -1\n    return enriched[columns].sort_values("play_id", ignore_index=True)',
    )


def edit(path: Path, old: str, new: str) -> None:
    """Replace ``old`` (which must be present) with ``new`` in a copied file."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def mesh(*args: str, cwd: Path, env: dict[str, str | None] | None = None, timeout: int = 600) -> MeshRun:
    """Run the installed `mesh` command as a user would; ``env`` adds variables, or unsets those given ``None``."""
    merged = {**os.environ, **(env or {})}
    done = subprocess.run(
        [MESH, *args], cwd=cwd, env={name: value for name, value in merged.items() if value is not None},
        capture_output=True, text=True, timeout=timeout,
    )
    return MeshRun(done.returncode, done.stdout, done.stderr)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now, for a server a test starts on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    """The ``data`` of one GraphQL request to the Dagster webserver at ``url``."""
    request = urllib.request.Request(
        f"{url}/graphql", data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]
