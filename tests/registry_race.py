"""Two ports of one domain registering at once, from real processes: ``python registry_race.py HOME PORT BARRIER``.

The process reads what the registry says before a publish of ``tracks.PORT`` (as a
publish does), waits until every process of the race has read (``BARRIER`` holds one
file per process), then registers as a publish does once it committed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from mesh_core import Domain, InputPort, PortStore
from mesh_core.expectations import expectations_at_publish
from mesh_core.settings import MeshSettings

TRACKS = pa.DataFrameSchema({"track_id": pa.Column(int)})
PORTS = ("catalog", "charts")


def producer():
    """The tracks domain, with two ports."""
    tracks = Domain("tracks", owner="team:tracks")
    for name in PORTS:
        tracks.output_port(contract=TRACKS, version="1.0.0", name=name)(lambda: pd.DataFrame({"track_id": [1]}))
    return tracks.definitions()


def consumer():
    """The royalties domain, pinning both ports of tracks."""
    royalties = Domain("royalties", owner="team:royalties")

    @royalties.output_port(contract=TRACKS, version="1.0.0", inputs={
        name: InputPort(f"tracks.{name}", version="1") for name in PORTS})
    def owed(catalog: pd.DataFrame, charts: pd.DataFrame) -> pd.DataFrame:
        return catalog

    return royalties.definitions()


def race(home: str, port: str, barrier: Path, processes: int = 2) -> None:
    producer()
    options = MeshSettings.from_env().storage_options
    view = expectations_at_publish(PortStore(home, "dev", storage_options=options), f"tracks.{port}")
    (barrier / port).touch()
    deadline = time.monotonic() + 60
    while len(list(barrier.iterdir())) < processes:
        if time.monotonic() > deadline:
            raise SystemExit("the other process never read the registry")
        time.sleep(0.01)
    view.register()


def run_race(home: str, barrier: Path) -> None:
    """Both ports' processes, started at once and waited for (at most 180 s each)."""
    barrier.mkdir()
    racers = [subprocess.Popen([sys.executable, __file__, home, port, str(barrier)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for port in PORTS]
    for racer in racers:
        try:
            _, errors = racer.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            racer.kill()
            racer.communicate(timeout=10)
            raise
        assert racer.returncode == 0, errors


if __name__ == "__main__":
    race(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
