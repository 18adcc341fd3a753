"""P3: loading a code location with 500 output ports, through mesh_core and as plain Dagster.

Both locations are generated as Python files: the same assets, blocking checks, automation
conditions and foreign input, one written with ``mesh_core.Domain`` and one by hand. Each
load runs in a fresh process, as ``dagster dev`` starts one per location: import the file,
then ``Definitions.validate_loadable`` (what ``dagster definitions validate`` runs), then
build and serialize the repository snapshot (what a code server sends the webserver).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.timing import Measurement, compared, table

CONTRACT = '''pa.DataFrameSchema({{
    "id": pa.Column("int64", pa.Check.ge(1), unique=True, description="Key."),
    "value": pa.Column("float64", pa.Check.in_range(0.0, 1.0), description="A share."),
    "label": pa.Column("str", pa.Check.isin(["a", "b"]), description="A label."),
}}, strict=True, name="Port{i}")'''

MESH_HEADER = '''import pandas as pd
import pandera.pandas as pa
from mesh_core import Domain, InputPort

bench = Domain("bench", owner="team:bench", description="Benchmark location.")
'''
MESH_PORT = '''

@bench.output_port(contract={contract}, version="1.0.0"{inputs})
def p{i}({params}) -> pd.DataFrame:
    """Port {i}."""
    return pd.DataFrame({{"id": [1], "value": [0.5], "label": ["a"]}})
'''

PLAIN_HEADER = '''import dagster as dg
import pandas as pd
import pandera.pandas as pa

EAGER = dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
feed = dg.AssetSpec(["source", "feed"])
assets = []


def checks(key):
    return [dg.AssetCheckSpec("contract", asset=key, blocking=True),
            dg.AssetCheckSpec("consumer_expectations", asset=key, blocking=True)]
'''
PLAIN_PORT = '''

SCHEMA_{i} = {contract}


@dg.asset(key=["bench", "p{i}"], group_name="bench", owners=["team:bench"], check_specs=checks(["bench", "p{i}"]),
          automation_condition={automation}{deps})
def p{i}():
    """Port {i}."""
    frame = SCHEMA_{i}.validate(pd.DataFrame({{"id": [1], "value": [0.5], "label": ["a"]}}), lazy=True)
    yield dg.MaterializeResult(metadata={{"dagster/row_count": len(frame)}})
    yield dg.AssetCheckResult(check_name="contract", passed=True)
    yield dg.AssetCheckResult(check_name="consumer_expectations", passed=True)


assets.append(p{i})
'''
PLAIN_FOOTER = "\ndefs = dg.Definitions(assets=[feed, *assets])\n"

LOAD = '''import sys, time, json
started = time.perf_counter()
import dagster as dg, pandera.pandas, mesh_core  # the imports both locations pay
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._serdes import serialize_value
imported = time.perf_counter()
import runpy
defs = runpy.run_path(sys.argv[1])["defs"]
dg.Definitions.validate_loadable(defs)
built = time.perf_counter()
# What a code server sends the webserver and daemon: the repository snapshot, serialized
# (dagster/_grpc/server.py, with defer_snapshots=True as the workspace asks for it).
snapshot = serialize_value(RepositorySnap.from_def(defs.get_repository_def(), defer_snapshots=True))
done = time.perf_counter()
print(json.dumps({"imports": imported - started, "build": built - imported, "snapshot": done - built,
                  "snapshot_bytes": len(snapshot)}))
'''


def mesh_location(ports: int) -> str:
    """A mesh_core location; every other port reads the foreign port ``source.feed``."""
    body = [MESH_HEADER]
    for i in range(ports):
        reads = i % 2 == 1
        body.append(MESH_PORT.format(
            i=i, contract=CONTRACT.format(i=i),
            inputs=', inputs={"feed": InputPort("source.feed", version="1")}' if reads else "",
            params="feed: pd.DataFrame" if reads else "",
        ))
    return "".join(body) + "\ndefs = bench.definitions()\n"


def plain_location(ports: int) -> str:
    """The same assets, checks and automation written with Dagster alone."""
    body = [PLAIN_HEADER]
    for i in range(ports):
        reads = i % 2 == 1
        body.append(PLAIN_PORT.format(
            i=i, contract=CONTRACT.format(i=i), automation="EAGER" if reads else "None",
            deps=", deps=[feed]" if reads else "",
        ))
    return "".join(body) + PLAIN_FOOTER


def _load(path: Path, env: dict[str, str]) -> tuple[float, dict[str, float]]:
    started = time.perf_counter()
    output = subprocess.run([sys.executable, "-c", LOAD, str(path)], check=True, capture_output=True, text=True,
                            env=env, timeout=600).stdout
    return time.perf_counter() - started, json.loads(output.splitlines()[-1])


def run(quick: bool) -> str:
    ports = 100 if quick else 500
    repeats = 2 if quick else 5
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "MESH_HOME": str(Path(folder, "mesh")), "DAGSTER_HOME": folder}
        files = {"plain Dagster": Path(folder, "plain_location.py"), "mesh_core": Path(folder, "mesh_location.py")}
        files["plain Dagster"].write_text(plain_location(ports))
        files["mesh_core"].write_text(mesh_location(ports))
        whole: dict[str, list[float]] = {name: [] for name in files}
        build: dict[str, list[float]] = {name: [] for name in files}
        snapshot: dict[str, list[float]] = {name: [] for name in files}
        size: dict[str, int] = {}
        for name, path in files.items():
            _load(path, env)  # warm the file cache and bytecode
        for _ in range(repeats):
            for name, path in files.items():  # interleaved, so drift hits both alike
                seconds, inside = _load(path, env)
                whole[name].append(seconds)
                build[name].append(inside["build"])
                snapshot[name].append(inside["snapshot"])
                size[name] = inside["snapshot_bytes"]
    plain_whole, mesh_whole = (Measurement(f"{name}: whole process", whole[name]) for name in files)
    plain_build, mesh_build = (Measurement(f"{name}: definitions only (after imports)", build[name]) for name in files)
    plain_snap, mesh_snap = (Measurement(f"{name}: repository snapshot, serialized ({size[name] / 2**20:.2f} MB)",
                                         snapshot[name]) for name in files)
    rows = [(plain_whole.case, plain_whole, "1.00 (baseline)"),
            (mesh_whole.case, mesh_whole, compared(mesh_whole, plain_whole, 1.2)),
            (plain_build.case, plain_build, "1.00 (baseline)"), (mesh_build.case, mesh_build, compared(mesh_build, plain_build)),
            (plain_snap.case, plain_snap, "1.00 (baseline)"), (mesh_snap.case, mesh_snap, compared(mesh_snap, plain_snap))]
    notes = (
        f"{ports} output ports with a 3-column contract, two blocking checks each, half reading a foreign port "
        "under the eager-and-checks-passed automation condition. mesh_core also derives each port's code "
        "version from its source and contract and builds its metadata (column schema, links, connection "
        "snippet). Each load is a fresh process that imports, builds the definitions, validates them and builds "
        "and serializes the repository snapshot a code server sends the webserver (`RepositorySnap.from_def`, "
        "deferred job snapshots, as the workspace requests it); the two locations alternate. "
        "Aim: ≤ 1.2 (whole process, snapshot included)."
    )
    return table(f"P3: loading a code location with {ports} output ports", notes, rows)
