"""Governance at read: a read with its access check, PII masking and audit record against ``pd.read_parquet``; the audit append.

Self-contained: ``python -m benchmarks.governance [--quick]`` prints its Markdown section;
``run(quick)`` returns it for ``python -m benchmarks``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from mesh_core.access import ReadPolicy
from mesh_core.audit_trail import AuditRecord, append_audit
from mesh_core.settings import MeshSettings
from mesh_core.store import PortStore

PORT = "bench.plays"
KEY = "benchmark-masking-key"
POLICY = ReadPolicy("bench", "restricted", consumers=("cleared", "uncleared"), pii_cleared=("cleared",), pii=("email",))
READ_AIM, APPEND_AIM_MS = 1.3, 1.0


def plays(rows: int, users: int, seed: int = 1) -> pd.DataFrame:
    """``rows`` plays by ``users`` listeners, each play carrying its listener's email (the PII column)."""
    rng = np.random.default_rng(seed)
    listener = rng.integers(1, users + 1, rows)
    return pd.DataFrame({
        "play_id": np.arange(1, rows + 1, dtype="int64"),
        "user_id": listener,
        "email": pd.array([f"listener{n}@example.com" for n in listener], dtype="str"),
        "seconds_played": rng.integers(0, 3_600, rows),
        "score": rng.random(rows),
        "played_at": pd.to_datetime(rng.integers(1_700_000_000, 1_800_000_000, rows), unit="s", utc=True).as_unit("us"),
    })


def interleaved(cases: list[tuple[str, Callable[[], object]]], repeats: int) -> dict[str, list[float]]:
    """Each case's wall times, the cases alternating within each repetition (after one warm-up each)."""
    for _, function in cases:
        function()
    times: dict[str, list[float]] = {name: [] for name, _ in cases}
    for _ in range(repeats):
        for name, function in cases:
            started = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - started)
    return times


def read_section(quick: bool) -> tuple[str, float]:
    """The masked read against ``pd.read_parquet``, for a repeated and for a unique PII column."""
    rows = 200_000 if quick else 2_000_000
    repeats = 3 if quick else 7
    lines, worst = [], 0.0
    for label, users in (("email repeated per play (100,000 listeners)", 100_000), ("email unique per row", rows)):
        with tempfile.TemporaryDirectory() as folder:
            store = PortStore(Path(folder), "bench", pii_key=KEY)
            files = store.publish(PORT, plays(rows, users), version="1.0.0", policy=POLICY).file_uris
            uncleared, cleared = store.as_reader("uncleared"), store.as_reader("cleared")
            unverified = PortStore(Path(folder), "bench", pii_key=KEY, verify=False).as_reader("uncleared")
            masked, snapshot = uncleared.read(PORT, 1)
            assert snapshot.masked == ("email",) and masked["email"].str.len().eq(64).all()
            assert masked.dtypes.equals(pd.read_parquet(files).dtypes)
            times = interleaved([
                ("pd.read_parquet", lambda: pd.read_parquet(files)),
                ("PortStore.read, cleared reader (check, verify, audit)", lambda: cleared.read(PORT, 1)),
                ("PortStore.read, uncleared reader (check, verify, mask, audit)", lambda: uncleared.read(PORT, 1)),
                ("the same with MESH_VERIFY=off", lambda: unverified.read(PORT, 1)),
            ], repeats)
        base = statistics.median(times["pd.read_parquet"])
        lines.append(f"\n{label}:\n\n| case | median s | min–max s | ratio |\n|---|---|---|---|")
        for name, measured in times.items():
            found = statistics.median(measured) / base
            if name.startswith("PortStore.read, uncleared"):
                worst = max(worst, found) if "repeated" in label else worst
            lines.append(f"| {name} | {statistics.median(measured):.3f} | {min(measured):.3f}–{max(measured):.3f} "
                         f"| {found:.2f} |")
    notes = (
        f"{rows:,} rows, six columns, published once as a restricted port whose `email` is PII; read back by a "
        f"cleared reader, and by an uncleared one who gets `email` as HMAC-SHA256 hex. The baseline reads the "
        f"same file with `pd.read_parquet`. The cases alternate within each of {repeats} repetitions. Masking "
        "hashes each distinct value once (HMAC-SHA256 through `hashlib`, the key's pads hashed once, over the Arrow dictionary), so its cost follows "
        "the column's distinct values, not its rows: the second table, a PII column unique per row, is the worst "
        f"case. Aim: the uncleared read of the repeated column ≤ {READ_AIM}×. Profile of one masked read of the "
        "repeated column (2,000,000 rows, 100,000 distinct emails, load average 18 on 2 cores, seconds): reading "
        "and verifying the files 1.41, `to_pandas` 1.31; masking added `dictionary_encode` of the column 2.48, "
        "the 100,000 HMACs 0.34, and `take` building the 2,000,000 masked strings 1.95. So the HMACs are not the "
        "cost: re-encoding the column and materializing a new 64-character string per row are, and no read-time "
        "masking that keeps the column a plain string column avoids them. Meeting the aim needs the masked column "
        "computed once per publish (a masked copy the store serves to uncleared readers); not done."
    )
    return "\n".join([notes, *lines]), worst


def append_section(quick: bool) -> tuple[str, float]:
    """The cost of one audit append on a local store."""
    count = 2_000 if quick else 20_000
    with tempfile.TemporaryDirectory() as folder:
        settings = MeshSettings(home=Path(folder), env="bench", scale=1.0, store_uri=folder)
        record = AuditRecord(datetime.now(timezone.utc), "podcasts", "run-0", "users.profiles", "v1", 12, "read",
                             "masked", "pii:masked", "email")
        times = []
        for _ in range(count):
            started = time.perf_counter()
            append_audit(settings, record)
            times.append(time.perf_counter() - started)
    times.sort()
    median_ms = statistics.median(times) * 1000
    notes = (
        f"\n{count:,} appends of one record to a local store's segment (`append_audit`: JSON, one `open`, one "
        f"`write` with `O_APPEND`, `close`; no fsync). Median {median_ms:.3f} ms, 90th percentile "
        f"{times[int(count * 0.9)] * 1000:.3f} ms, 99th {times[int(count * 0.99)] * 1000:.3f} ms, max "
        f"{times[-1] * 1000:.3f} ms. Aim: median < {APPEND_AIM_MS} ms. On S3 an append is one PUT (a network "
        "round trip), not measured here."
    )
    return notes, median_ms


def run(quick: bool) -> str:
    """The Markdown section: the masked read and the audit append."""
    reads, ratio = read_section(quick)
    appends, median_ms = append_section(quick)
    verdict = (
        f"\n\nThis run: uncleared read of the repeated column {ratio:.2f}× (aim ≤ {READ_AIM}: "
        f"{'met' if ratio <= READ_AIM else 'missed'}); audit append median {median_ms:.3f} ms "
        f"(aim < {APPEND_AIM_MS} ms: {'met' if median_ms < APPEND_AIM_MS else 'missed'}).\n"
    )
    return "## Governance at read: access check, PII masking and audit\n\n" + reads + "\n" + appends + verdict


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.governance", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: checks the benchmark runs")
    print(run(parser.parse_args().quick))


if __name__ == "__main__":
    main()
