"""P4: `mesh validate`, `plan` and `impact` on 10,000 and 40,000 ports from cached manifests."""

from __future__ import annotations

import json
import random
import tempfile
from datetime import date
from pathlib import Path

from benchmarks.timing import Measurement, measure, table
from mesh_core.mesh.graph import MeshGraph
from mesh_core.mesh.manifests import paused_gc
from mesh_core.mesh.validate import validate

DOMAINS = 200
COLUMNS = 6


def synthetic_manifests(ports: int, seed: int = 1) -> list[dict]:
    """``DOMAINS`` locations; each port reads up to three ports of earlier domains, some with expectations."""
    rng = random.Random(seed)
    per_domain = ports // DOMAINS
    contract = {
        "columns": {
            f"c{i}": {"dtype": "int64", "nullable": False, "unique": i == 0, "required": True,
                      "checks": {"greater_than_or_equal_to": {"min_value": 0}}, "description": "", "pii": False}
            for i in range(COLUMNS)
        },
        "unique": None, "strict": True, "checks": {},
    }
    expectation = {"columns": {"c1": {"dtype": "int64", "nullable": False, "checks": {}}}}
    manifests, published = [], []
    for d in range(DOMAINS):
        domain = f"d{d:03d}"
        entries = []
        for p in range(per_domain):
            port_id = f"{domain}.p{p:04d}"
            reads = [
                {"port_id": source, "major": 1, "direct": True, "expectations": expectation if rng.random() < 0.3 else None}
                for source in (rng.sample(published, k=min(3, len(published))) if published else [])
            ]
            entries.append({
                "id": port_id, "asset_key": [domain, f"p{p:04d}"], "domain": domain, "version": "1.2.0",
                "access": "public", "consumers": [], "contract": contract, "previous_majors": [],
                "inputs": reads, "owner": f"team:{domain}", "description": "", "file": None,
            })
        published += [entry["id"] for entry in entries]
        manifests.append({"location": domain, "ports": entries, "internal_assets": [],
                          "asset_keys": [entry["asset_key"] for entry in entries]})
    return manifests


def run(quick: bool) -> str:
    sizes = (1_000, 4_000) if quick else (10_000, 40_000)
    repeats = 3 if quick else 5
    results: dict[str, dict[int, Measurement]] = {}
    for size in sizes:
        with tempfile.TemporaryDirectory() as folder:
            for manifest in synthetic_manifests(size):
                Path(folder, f"{manifest['location']}.json").write_text(json.dumps(manifest))
            files = sorted(Path(folder).glob("*.json"))

            def load() -> MeshGraph:
                # As `mesh` does: read the cached manifests and build the graph with the GC paused.
                with paused_gc():
                    return MeshGraph.from_manifests([json.loads(path.read_text()) for path in files])

            graph = load()
            root = sorted(graph.ports)[0]
            cases = {
                "load cached manifests + build graph": load,
                "validate": lambda: validate(graph, date(2026, 1, 1)),
                "plan": graph.plan,
                f"impact (from {root})": lambda: graph.impact(root),
                "floor: visit every port's consumers once": lambda: [len(c) for c in graph.graph.succ.values()],
            }
            for name, function in cases.items():
                key = name.split(" (")[0]
                results.setdefault(key, {})[size] = measure(f"{name}, {size:,} ports", function, repeats)
    small, large = sizes
    rows = []
    for key, by_size in results.items():
        rows.append((by_size[small].case, by_size[small], "1.00 (baseline)"))
        rows.append((by_size[large].case, by_size[large], f"{by_size[large].median / by_size[small].median:.2f} ({large // small}x ports)"))
    notes = (
        f"{DOMAINS} domains; each port reads up to 3 ports of earlier domains, 30% with expectations. "
        f"Ratio: the {large:,}-port time over the {small:,}-port time of the same operation, same run. "
        "Aim: under 1 s per operation at 10k ports, 40k/10k ratio at most 4.5. The floor row is one bare pass "
        "over networkx's adjacency: its own ratio shows how much of the growth is the machine's memory "
        "hierarchy (a working set 4x larger) rather than the algorithms, which are linear."
    )
    return table(f"P4: mesh graph operations at {small:,} and {large:,} ports", notes, rows)
