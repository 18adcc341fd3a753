"""A location process loads with the garbage collector off, then freezes what it loaded and collects again.

The loaded objects (Dagster, the location's code and definitions) live as long as the process;
frozen, they are skipped by later collections and by the one at interpreter exit. Loaded by a
code server instead, a domain freezes its imports when declared and its definitions when made.
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


DOMAIN_LOCATION = '''
import gc, json, sys
import pandas as pd
import pandera.pandas as pa
from mesh_core import Domain

seen = {"before": gc.get_freeze_count()}
bench = Domain("bench", owner="team:bench")
seen["declared"] = gc.get_freeze_count()


@bench.output_port(contract=pa.DataFrameSchema({"id": pa.Column("int64")}), version="1.0.0")
def numbers() -> pd.DataFrame:
    return pd.DataFrame({"id": [1]})


defs = bench.definitions()
seen["defined"] = gc.get_freeze_count()
Domain("other", owner="team:other").definitions()
seen.update(again=gc.get_freeze_count(), enabled=gc.isenabled())
print(json.dumps(seen))
'''


def test_a_code_server_loading_a_domain_freezes_its_imports_then_its_definitions_once(tmp_path: Path):
    # As `dagster api grpc` loads it: the collector on, no mesh_core process around it.
    location = tmp_path / "location.py"
    location.write_text(DOMAIN_LOCATION)
    done = subprocess.run(
        [sys.executable, str(location)], capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "MESH_HOME": str(tmp_path / "mesh"), "DAGSTER_HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["before"] == 0
    assert seen["declared"] > 50_000, "Dagster, pandas and pandera were frozen when the domain was declared"
    assert seen["defined"] > seen["declared"], "the port's definitions were frozen when they were made"
    assert seen["again"] == seen["defined"], "a second domain in the process freezes nothing more"
    assert seen["enabled"] is True
