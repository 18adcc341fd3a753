"""`mesh run` starts each stage's location process early, so its imports overlap earlier stages.

A two-location workspace: `source` publishes `source.numbers`, which `sink` consumes in the
next stage. The sink's module records its process id when it is imported; the source's port
waits (bounded) for that record, so it publishes only if the sink was imported while the
source's stage ran.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mesh_core.mesh.cli import load_mesh
from mesh_core.mesh.run import run_mesh

pytestmark = pytest.mark.slow  # starts location processes and waits on them; CI runs it with -m slow

SOURCE = '''
import os, time
from pathlib import Path
import pandas as pd
import pandera.pandas as pa
from mesh_core import Domain

source = Domain("source", owner="team:source")


@source.output_port(contract=pa.DataFrameSchema({"n": pa.Column(int)}), version="1.0.0")
def numbers() -> pd.DataFrame:
    """Waits until the sink location has been imported, then fails if told to."""
    marker = Path(os.environ["EARLY_MARKERS"]) / "sink.pid"
    deadline = time.monotonic() + 120
    while not marker.exists():
        if time.monotonic() > deadline:
            raise RuntimeError("the sink location was not imported while the source stage ran")
        time.sleep(0.2)
    if os.environ.get("EARLY_FAIL"):
        raise RuntimeError("source told to fail")
    return pd.DataFrame({"n": [1, 2, 3]})


defs = source.definitions()
'''

SINK = '''
import os
from pathlib import Path
import pandas as pd
import pandera.pandas as pa
from mesh_core import Domain, InputPort

marker = Path(os.environ["EARLY_MARKERS"]) / "sink.pid"
marker.with_suffix(".tmp").write_text(str(os.getpid()))
marker.with_suffix(".tmp").replace(marker)

sink = Domain("sink", owner="team:sink")


@sink.output_port(
    contract=pa.DataFrameSchema({"n": pa.Column(int)}), version="1.0.0",
    inputs={"numbers": InputPort("source.numbers", version="1")},
)
def doubled(numbers: pd.DataFrame) -> pd.DataFrame:
    return numbers.assign(n=numbers["n"] * 2)


defs = sink.definitions()
'''


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The two-location workspace, a throwaway Dagster instance, and a folder for the sink's record."""
    for name, code in (("source", SOURCE), ("sink", SINK)):
        (tmp_path / name / f"{name}_domain").mkdir(parents=True)
        (tmp_path / name / f"{name}_domain" / "__init__.py").write_text(code)
    (tmp_path / "workspace.yaml").write_text(
        "load_from:\n"
        "  - python_module: {module_name: source_domain, working_directory: source}\n"
        "  - python_module: {module_name: sink_domain, working_directory: sink}\n"
    )
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv("EARLY_MARKERS", str(markers))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return tmp_path / "workspace.yaml"


def _run(workspace: Path):
    mesh = load_mesh(workspace)
    (Path(os.environ["EARLY_MARKERS"]) / "sink.pid").unlink()  # written when the manifest loaded
    runs = run_mesh(mesh.graph, mesh.locations, set(mesh.graph.ports), settings=mesh.settings)
    return {run.port_id: run for run in runs}


def test_the_next_stage_imports_while_the_current_one_runs(workspace: Path):
    runs = _run(workspace)
    assert runs["source.numbers"].status == "published", runs["source.numbers"].error
    assert (runs["sink.doubled"].status, runs["sink.doubled"].rows) == ("published", 3)


def test_an_early_process_whose_stage_is_skipped_is_stopped(workspace: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EARLY_FAIL", "1")
    runs = _run(workspace)
    assert runs["source.numbers"].status == "failed" and "source told to fail" in runs["source.numbers"].error
    assert runs["sink.doubled"].status == "skipped"
    pid = int((Path(os.environ["EARLY_MARKERS"]) / "sink.pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # stopped (and reaped) before run_mesh returned
