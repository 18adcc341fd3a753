"""A location process loads with the garbage collector off, then freezes what it loaded and collects again.

The loaded objects (Dagster, the location's code and definitions) live as long as the process;
frozen, they are skipped by later collections and by the one at interpreter exit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

LOCATION = '''
import atexit, gc, json, os
import dagster as dg

record = {"enabled_while_loading": gc.isenabled()}


@atexit.register
def _at_exit():
    record.update(enabled_at_exit=gc.isenabled(), frozen_at_exit=gc.get_freeze_count())
    with open(os.environ["GC_RECORD"], "w") as file:
        json.dump(record, file)


@dg.asset
def one() -> int:
    return 1


defs = dg.Definitions(assets=[one])
'''


@pytest.mark.parametrize("tool", ["mesh_core.runner", "mesh_core.manifest"])
def test_a_location_process_loads_with_the_collector_off_then_freezes_what_it_loaded(tool: str, tmp_path: Path):
    location = tmp_path / "location.py"
    location.write_text(LOCATION)
    record = tmp_path / "gc.json"
    args = ["--location", "one"] if tool == "mesh_core.manifest" else []
    done = subprocess.run(
        [sys.executable, "-m", tool, "--python-file", str(location), *args, "--out", str(tmp_path / "out.json")],
        input="\n", capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "GC_RECORD": str(record)},
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(record.read_text())
    assert seen["enabled_while_loading"] is False
    assert seen["enabled_at_exit"] is True
    assert seen["frozen_at_exit"] > 50_000, "the imports and definitions were frozen"
