"""P6: peak RSS of publishing a port of N rows, against the frame's own in-memory size.

Each case runs in a fresh process (``python -m benchmarks.memory ROWS CASE``) that imports
only what its case needs, builds the frame and publishes once, with no warm-up publish
before. Once the frame is built the peak mark is reset (``/proc/self/clear_refs``), so the
peak that follows is the whole process's while publishing (interpreter, imports, the frame
and the publish), not the frame generator's temporaries; what publishing added is that
peak above the footprint just before it.
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
    """Publish ``rows`` rows in this process, once; the frame's size and the memory used, in MiB."""
    from benchmarks.frames import plays_frame, plays_schema

    schema = plays_schema()
    if case == CASES[0]:
        from benchmarks.publish import publish_port
        from mesh_core import Contract
        from mesh_core.store import PortStore

        contract = Contract(schema, version="1.0.0")
    with tempfile.TemporaryDirectory() as folder:
        frame = plays_frame(rows)
        frame_mib = frame.memory_usage(deep=True).sum() / 2**20
        Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) restarts from the current RSS
        before = _status_kib("VmRSS")
        if case == CASES[0]:
            publish_port(PortStore(Path(folder, "mesh")), contract, frame)
        else:
            schema.validate(frame, lazy=True, inplace=True).to_parquet(Path(folder, "plain.parquet"), index=False)
        peak = _status_kib("VmHWM")
    return {"frame_mib": frame_mib, "added_mib": (peak - before) / 1024, "before_mib": before / 1024,
            "whole_mib": peak / 1024}


def run(quick: bool) -> str:
    sizes = (200_000,) if quick else (2_000_000, 8_000_000)  # the larger frame shows the fixed import cost amortize
    lines, results = [], {}
    for rows in sizes:
        for case in CASES:
            output = subprocess.run([sys.executable, "-m", "benchmarks.memory", str(rows), case],
                                    check=True, capture_output=True, text=True, timeout=1200).stdout
            results[rows, case] = json.loads(output)
        frame_mib = results[rows, CASES[0]]["frame_mib"]
        lines += [(f"{case}, {rows:,} rows ({frame_mib:.1f} MiB)", f"{r['added_mib']:.1f}",
                   f"{(frame_mib + r['added_mib']) / frame_mib:.2f}", f"{r['before_mib']:.1f}",
                   f"{r['whole_mib']:.1f}", f"{r['whole_mib'] / frame_mib:.2f}")
                  for case, r in ((case, results[rows, case]) for case in CASES)]
    mesh, plain = (results[sizes[0], case] for case in CASES)
    notes = (
        f"The P1 frame at {' and '.join(f'{rows:,}' for rows in sizes)} rows, its size in memory in brackets (pandas "
        "`memory_usage(deep=True)`). "
        "One publish per fresh process, no warm-up. Added: how far peak RSS rose while publishing, above the "
        "process's RSS just before (frame built); ratio (frame + added) / frame, so 1.00 would be a publish that "
        "needs no memory of its own. Whole process: the process's peak RSS while publishing (interpreter, imports, "
        "frame, publish; the peak mark is reset after the frame is built, so the frame generator's own temporaries "
        "are not counted) over the frame. Aim: whole-process peak ≤ 2.5× the frame. The processes differ before "
        f"publishing by what they import (mesh_core brings Dagster, deltalake): {mesh['before_mib']:.0f} against "
        f"{plain['before_mib']:.0f} MiB with the {sizes[0]:,}-row frame built, so the whole-process ratio carries "
        "that fixed cost; it shrinks as the frame grows (the larger frame's rows)."
    )
    return table_rows(f"P6: peak memory of publishing {' and '.join(f'{rows:,}' for rows in sizes)} rows", notes,
                      ("case", "added by publishing (MiB)", "(frame + added) / frame", "RSS before publishing (MiB)",
                       "whole-process peak while publishing (MiB)", "whole-process peak / frame"), lines)


if __name__ == "__main__":
    print(json.dumps(probe(int(sys.argv[1]), sys.argv[2])))
