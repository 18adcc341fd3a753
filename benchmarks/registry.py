"""P10: `mesh validate` at 10,000 ports with the manifests read from the registry in the store, beside the cached workspace."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

from benchmarks.graph import synthetic_manifests
from benchmarks.timing import interleaved, ratio, table
from mesh_core.manifest_format import MANIFEST_VERSION, read_cached_manifest, write_cached_manifest
from mesh_core.mesh.graph import MeshGraph
from mesh_core.mesh.manifests import paused_gc
from mesh_core.mesh.validate import validate
from mesh_core.registry import Registry


def run(quick: bool) -> str:
    size = 1_000 if quick else 10_000
    repeats = 3 if quick else 7
    with tempfile.TemporaryDirectory() as folder:
        manifests = [{**manifest, "manifest_version": MANIFEST_VERSION} for manifest in synthetic_manifests(size)]
        cache = Path(folder, "manifests")
        cache.mkdir()
        for manifest in manifests:
            write_cached_manifest(cache / f"{manifest['location']}.json", manifest, "key")
        registry = Registry.of_store(Path(folder, "store"), "dev")
        for manifest in manifests:
            registry.register(manifest, location=manifest["location"])
        names = [manifest["location"] for manifest in manifests]

        def from_cache() -> int:
            # As `mesh validate --from workspace` does once every location is cached.
            with paused_gc():
                graph = MeshGraph.from_manifests([read_cached_manifest(cache / f"{name}.json", "key") for name in names])
            return len(validate(graph, date(2026, 1, 1)))

        def from_registry() -> int:
            # As `mesh validate --from registry` does: list the entries, check each against its header.
            with paused_gc():
                graph = MeshGraph.from_manifests([entry.manifest for entry in registry.entries().values()])
            return len(validate(graph, date(2026, 1, 1)))

        assert from_cache() == from_registry()
        cached, registered = interleaved(
            [(f"cached workspace manifests, {size:,} ports", from_cache),
             (f"registry entries, {size:,} ports", from_registry)], repeats,
        )
    rows = [(cached.case, cached, "1.00 (baseline)"), (registered.case, registered, ratio(registered, cached))]
    notes = (
        f"Both read {len(names)} manifests of P4's synthetic mesh from local files, build the graph and validate it; "
        "the cases alternate. The registry lists its folder and checks each entry's sha256, domain and format, as "
        "the cache checks its key. Aim: at most 1.2x the cached-workspace path."
    )
    return table(f"P10: mesh validate from the registry at {size:,} ports", notes, rows)
