"""P6: peak RSS of publishing a port of N rows, against the frame's own in-memory size.

Each case runs in a fresh process (``python -m benchmarks.memory ROWS CASE``), which builds
the frame, resets the kernel's peak-RSS mark (``/proc/self/clear_refs``), publishes, and
reports how far the peak rose above the footprint just before publishing: the memory
that publishing adds on top of the frame it was handed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.timing import table_rows

CASES = ("mesh_core write–audit–publish", "pandera validate (in place) + df.to_parquet")


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} is not in /proc/self/status")


def probe(rows: int, case: str) -> dict[str, float]:
    """Publish ``rows`` rows in this process; return the frame size and the memory used, in MiB."""
    from benchmarks.frames import plays_frame, plays_schema
    from benchmarks.publish import publish_port
    from mesh_core import Contract
    from mesh_core.store import PortStore

    schema = plays_schema()
    contract = Contract(schema, version="1.0.0")
    with tempfile.TemporaryDirectory() as folder:
        store = PortStore(Path(folder, "mesh"))
        publish_port(store, contract, plays_frame(1_000))  # warm every code path before measuring
        frame = plays_frame(rows)
        frame_mib = frame.memory_usage(deep=True).sum() / 2**20
        Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) restarts from the current RSS
        before = _status_kib("VmRSS")
        if case == CASES[0]:
            publish_port(store, contract, frame)
        else:
            schema.validate(frame, lazy=True, inplace=True).to_parquet(Path(folder, "plain.parquet"), index=False)
        peak = _status_kib("VmHWM")
    return {"frame_mib": frame_mib, "added_mib": (peak - before) / 1024}


def run(quick: bool) -> str:
    rows = 200_000 if quick else 2_000_000
    results = {}
    for case in CASES:
        output = subprocess.run([sys.executable, "-m", "benchmarks.memory", str(rows), case],
                                check=True, capture_output=True, text=True, timeout=600).stdout
        results[case] = json.loads(output)
    frame_mib = results[CASES[0]]["frame_mib"]
    lines = [(case, f"{r['added_mib']:.1f}", f"{(frame_mib + r['added_mib']) / frame_mib:.2f}")
             for case, r in results.items()]
    notes = (
        f"{rows:,} rows of the P1 frame, {frame_mib:.1f} MiB in memory (pandas `memory_usage(deep=True)`). "
        "Added: how far peak RSS rose while publishing, above the process's RSS just before (frame built). "
        "Ratio: (frame + added) over the frame, so 1.00 would be a publish that needs no memory of its own. "
        "Aim: ≤ 2.0."
    )
    return table_rows(f"P6: peak memory of publishing {rows:,} rows", notes,
                      ("case", "added by publishing (MiB)", "ratio: (frame + added) / frame"), lines)


if __name__ == "__main__":
    print(json.dumps(probe(int(sys.argv[1]), sys.argv[2])))
