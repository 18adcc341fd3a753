"""Run the benchmarks and write BENCHMARKS.md: ``python -m benchmarks [--quick] [--out FILE]``."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from benchmarks import faults, governance, graph, kitchen, location, memory, mesh_run, publish, read, registry, s3, validation
from benchmarks.timing import load_line, load_sampled, machine

SUITES = {"P1": validation.run, "P2": publish.run, "P3": location.run, "P4": graph.run, "P5": mesh_run.run, "P6": memory.run,
          "P7": read.run, "P8": s3.run, "P9": faults.run, "P10": registry.run,
          "G1": governance.run, "K1": kitchen.run}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI: checks the benchmarks run")
    parser.add_argument("--only", choices=sorted(SUITES), action="append", help="run only these benchmarks")
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument("--note", default="", help="a line for the header, e.g. how busy the machine was")
    args = parser.parse_args()
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    sections = []
    for name in args.only or sorted(SUITES):
        suite_started = time.perf_counter()
        with load_sampled() as load:
            section = SUITES[name](args.quick)
        title, _, body = section.partition("\n\n")
        sections.append(f"{title}\n\n{load_line(load)}\n\n{body}")
        print(f"{name}: {time.perf_counter() - suite_started:.1f}s", file=sys.stderr, flush=True)
        _write(args, load_before, sections, done=len(sections) == len(args.only or SUITES))  # a long run keeps what it has
    print(f"wrote {args.out} in {time.perf_counter() - started:.1f}s")


def _write(args: argparse.Namespace, load_before: float, sections: list[str], *, done: bool) -> None:
    mode = "quick (CI smoke sizes)" if args.quick else "full"
    header = (
        "# Benchmarks\n\n"
        f"Mode: {mode}. Machine: {machine()}.\n\n"
        "Every ratio compares two cases measured side by side in the same run; absolute times on a "
        "shared 2-core machine are noise. Regenerate with `python -m benchmarks`.\n\n"
        "How to read a ratio: `1.10 (paired 0.95–1.30); within noise of ≤ 1.0` is the median ratio, then the "
        "range of the ratios of the repetitions that ran side by side (the cases alternate, so each pair shared "
        "the machine's load), then the aim: *meets* when every paired ratio is within it, *misses* when none is, "
        "*within noise* when the range straddles it (this run cannot tell). Each section records the machine's "
        "load while it ran.\n\n"
        f"Load average (1 min) when the run started: {load_before:.1f}; "
        + (f"when it ended: {os.getloadavg()[0]:.1f}.\n\n" if done else "the run is not finished.\n\n")
        + (f"{args.note}\n\n" if args.note else "")
    )
    gaps = Path(__file__).with_name("gaps.md").read_text() if done and not args.only else ""
    args.out.write_text(header + "\n".join(sections) + ("\n" + gaps if gaps else ""))

if __name__ == "__main__":
    main()
