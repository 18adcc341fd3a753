"""K1: kitchens cost no copy: the time to create one, and the bytes a one-domain kitchen run writes.

The example mesh is materialized in ``dev`` with ``mesh run`` (fresh MESH_HOME and
DAGSTER_HOME). Then kitchens are created over it (timed in-process and as a whole
``mesh kitchen create``), and ``mesh kitchen run K --select podcasts`` rebuilds podcasts
and its downstream ports in one. The bytes it wrote are set against the parent's size
and against the size in ``dev`` of the ports it rebuilt. Self-contained:
``python -m benchmarks.kitchen [--quick]`` prints the section; ``run(quick)`` returns it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MESH = str(Path(sys.executable).parent / "mesh")
REBUILT = ("podcasts", "artists/payouts")  # what --select podcasts rebuilds: podcasts and its downstream


def _size(folder: Path, skip: tuple[str, ...] = ()) -> int:
    return sum(
        path.stat().st_size for path in folder.rglob("*")
        if path.is_file() and not any(part in skip for part in path.relative_to(folder).parts)
    )


def _tables(env: Path) -> int:
    """The bytes of the Delta tables (port and internal) under an environment's folder."""
    return sum(_size(log.parent) for log in env.rglob("_delta_log"))


def _mesh(*args: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([MESH, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=7200)
    if done.returncode != 0:
        raise RuntimeError(f"mesh {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - started


def run(quick: bool) -> str:
    """Measure K1 and return its BENCHMARKS.md section."""
    from mesh_core.mesh.kitchen import create_kitchen
    from mesh_core.settings import MeshSettings

    scale, creates = (1.0, 5) if quick else (20.0, 20)
    with tempfile.TemporaryDirectory(prefix="bench-kitchen-") as folder:
        home, dagster_home = Path(folder) / "mesh", Path(folder) / "dagster"
        dagster_home.mkdir()
        shutil.copy(ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
        env = {**os.environ, "MESH_HOME": str(home), "MESH_ENV": "dev", "MESH_SCALE": str(scale),
               "DAGSTER_HOME": str(dagster_home), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        _mesh("run", env=env)
        parent = _tables(home / "dev")
        rebuilt_in_dev = sum(_tables(home / "dev" / part) for part in REBUILT)

        saved = {name: os.environ.get(name) for name in ("MESH_HOME", "MESH_ENV")}
        os.environ.update(MESH_HOME=str(home), MESH_ENV="dev")
        try:
            settings = MeshSettings.from_env(workspace_root=ROOT)
            create_kitchen(settings, "warm", "dev", ROOT / "dagster.yaml")  # the first call pays for imports
            timings = []
            for number in range(creates):
                started = time.perf_counter()
                create_kitchen(settings, f"k{number}", "dev", ROOT / "dagster.yaml")
                timings.append(time.perf_counter() - started)
        finally:
            for name, value in saved.items():
                os.environ.pop(name, None) if value is None else os.environ.__setitem__(name, value)
        created_bytes = _size(home / "k0", skip=("_dagster",))
        cli_create = _mesh("kitchen", "create", "try", env=env)
        run_s = _mesh("kitchen", "run", "try", "--select", "podcasts", env=env)
        written = _tables(home / "try")
        not_rebuilt = _tables(home / "try" / "users") + _tables(home / "try" / "artists" / "roster")
        working = _size(home / "try", skip=("_dagster",)) - written
        instance = _size(home / "try" / "_dagster")
    median = statistics.median(timings)
    return "\n".join([
        "## K1: kitchens: creation time and bytes written by a one-domain kitchen run",
        "",
        f"Example mesh at MESH_SCALE={scale:g} materialized in dev with `mesh run`; `mesh kitchen run --select podcasts` "
        "rebuilds podcasts.episodes, podcasts.plays and artists.payouts in the kitchen and reads users from dev.",
        "",
        "| Measure | Value |",
        "|---|---|",
        f"| create a kitchen, in-process (median of {creates}, after a warm-up) | {median * 1000:.1f} ms "
        f"({min(timings) * 1000:.1f}–{max(timings) * 1000:.1f}) |",
        f"| `mesh kitchen create`, whole process | {cli_create:.2f} s |",
        f"| bytes in the store after create (metadata only) | {created_bytes:,} |",
        f"| parent (dev) size: its tables | {parent:,} bytes |",
        f"| the rebuilt ports' tables in dev | {rebuilt_in_dev:,} bytes |",
        f"| bytes written by the kitchen run: its tables | {written:,} ({written / parent:.1%} of the parent) |",
        f"| of which for the ports it did not rebuild (users, artists.roster) | {not_rebuilt:,} |",
        f"| the kitchen run's local working files (dbt database) | {working:,} bytes |",
        f"| the kitchen run's Dagster instance (DAGSTER_HOME) | {instance:,} bytes |",
        f"| `mesh kitchen run --select podcasts`, whole process | {run_s:.1f} s |",
        "",
    ])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.kitchen", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: checks the benchmark runs")
    print(run(parser.parse_args().quick))
