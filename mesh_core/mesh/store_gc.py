"""``mesh store gc``: vacuum every table of the store, sparing what consumers still name.

Each table keeps its newest ``retain`` publishes and every version that a consumer
materialization still in the Dagster instance names under ``mesh/inputs``. Files of
other versions, and files no commit names (left by killed writers), are removed once
older than the grace period, which also spares publishes still writing. Masked copies
(``_masked/``, which Delta's vacuum never looks into) follow the same rule: a masked file
no kept version names goes once older than the grace period.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

import pyarrow.fs as pafs

import dagster as dg

from mesh_core import delta
from mesh_core.delta import Location
from mesh_core.errors import StoreError
from mesh_core.store import MASKED_FOLDER, PortStore, folders

DEFAULT_GRACE_HOURS = 1
_PAGE = 1000


@dataclass
class TableGc:
    """What gc kept and removed in one table."""

    table: str
    kept_versions: list[int]
    removed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-safe form."""
        return {"table": self.table, "kept_versions": self.kept_versions, "removed": self.removed}


def pinned_versions(instance: dg.DagsterInstance) -> dict[tuple[str, int], set[int]]:
    """The Delta versions each port major's consumers still name in their materializations' ``mesh/inputs``."""
    pinned: dict[tuple[str, int], set[int]] = defaultdict(set)
    for key in instance.get_asset_keys():
        cursor = None
        while True:
            page = instance.fetch_materializations(key, limit=_PAGE, cursor=cursor)
            for record in page.records:
                inputs = record.asset_materialization.metadata.get("mesh/inputs")
                for read in (inputs.value if inputs else {}).values():
                    try:
                        major = int(str(read["version"]).split(".")[0])
                        pinned[(read["port_id"], major)].add(int(str(read["snapshot_id"]).split("-")[0]))
                    except (KeyError, ValueError, TypeError):
                        continue
            if not page.has_more:
                break
            cursor = page.cursor
    return dict(pinned)


def collect(
    store: PortStore,
    pinned: dict[tuple[str, int], set[int]],
    *,
    dry_run: bool,
    grace_hours: int = DEFAULT_GRACE_HOURS,
) -> list[TableGc]:
    """Vacuum every port and internal table of ``store``; with ``dry_run``, only list what would go."""
    results = []
    for key, location in _tables(store):
        table = delta.load(location)
        if table is None:
            continue
        publishes = [
            version for version in range(table.version() + 1)
            if delta.mesh_metadata(delta.commit_info(location, version)) is not None
        ]
        keep = sorted(set(publishes[-store.retain:]) | pinned.get(key, set()) | {table.version()})
        try:
            removed = table.vacuum(
                retention_hours=grace_hours, dry_run=dry_run, enforce_retention_duration=False, full=True,
                keep_versions=keep,
            )
            removed += _collect_masked(location, keep, dry_run=dry_run, grace_hours=grace_hours)
        except OSError as error:
            raise StoreError(f"cannot vacuum: {error}", file=location.uri) from error
        results.append(TableGc(location.uri, keep, sorted(removed)))
    return results


def _collect_masked(location: Location, keep: list[int], *, dry_run: bool, grace_hours: int) -> list[str]:
    """Remove the masked files no version in ``keep`` names, once older than ``grace_hours``; returns their paths."""
    named = set()
    for version in keep:
        recorded = delta.mesh_metadata(delta.commit_info(location, version)) or {}
        named |= {data_file["path"] for data_file in recorded.get("masked_files") or ()}
    filesystem = location.filesystem()
    selector = pafs.FileSelector(MASKED_FOLDER, allow_not_found=True)
    cutoff = time.time() - grace_hours * 3600
    removed = []
    for info in filesystem.get_file_info(selector):
        path = f"{MASKED_FOLDER}/{info.base_name}"
        if info.type == pafs.FileType.File and path not in named and info.mtime.timestamp() < cutoff:
            if not dry_run:
                filesystem.delete_file(path)
            removed.append(path)
    return removed


def _tables(store: PortStore) -> list[tuple[tuple[str, int], Location]]:
    """Every table of the store's environment, keyed by (port id, major); internal assets by (domain._internal.name, 0)."""
    found = []
    for domain in folders(store.location):
        if domain.startswith((".", "_")):
            continue
        for port in folders(store.location.child(domain)):
            if port == "_internal":
                for name in folders(store.location.child(domain, port)):
                    found.append(((f"{domain}._internal.{name}", 0), store.location.child(domain, port, name)))
                continue
            for major in folders(store.location.child(domain, port)):
                if major[:1] == "v" and major[1:].isdigit():
                    found.append(((f"{domain}.{port}", int(major[1:])), store.location.child(domain, port, major)))
    return found
