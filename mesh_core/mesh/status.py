"""``mesh status``: each product's last publish, checks, freshness against its SLA, and staleness."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import dagster as dg

from mesh_core.mesh.graph import MeshGraph

WARN_AT = 0.8  # share of the SLA after which freshness warns


@dataclass
class ProductStatus:
    """What ``mesh status`` knows about one product."""

    port_id: str
    published_at: str | None = None
    snapshot_id: str | None = None
    checks: dict[str, bool | None] = field(default_factory=dict)  # None: planned, not evaluated
    freshness: str = "n/a"  # pass | warn | fail | n/a (no SLA)
    age_s: float | None = None
    sla_s: float | None = None
    stale: list[str] = field(default_factory=list)

    @property
    def failing(self) -> bool:
        """An SLA violated or a check failing (a check not evaluated is not failing)."""
        return self.freshness == "fail" or any(passed is False for passed in self.checks.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {**asdict(self), "failing": self.failing}


def product_statuses(
    graph: MeshGraph, instance: dg.DagsterInstance, now: datetime, entries: dict[str, Any] | None = None
) -> list[ProductStatus]:
    """The status of every port, as the Dagster instance records it at ``now``.

    ``entries`` are the registry's entries by domain: a port published, after its domain
    registered, by other code than the entry describes marks the entry stale.
    """
    latest = {
        port_id: instance.get_latest_materialization_event(dg.AssetKey(port["asset_key"]))
        for port_id, port in graph.ports.items()
    }
    statuses = [_status(port_id, graph.ports[port_id], latest, instance, now) for port_id in sorted(graph.ports)]
    for status in statuses:
        entry = (entries or {}).get(graph.ports[status.port_id]["domain"])
        if entry is not None and _registry_stale(entry, status.port_id, latest[status.port_id]):
            status.stale.append(f"its domain's registry entry ({entry.registered_at}) is older than this publish")
    return statuses


def _registry_stale(entry: Any, port_id: str, event: Any) -> bool:
    """Whether ``event`` published code the entry does not describe, after the entry was written."""
    if event is None:
        return False
    registered = {port["id"]: port.get("code_version") for port in entry.manifest.get("ports", [])}
    published = event.asset_materialization.tags.get("dagster/code_version")
    written = datetime.fromisoformat(entry.registered_at).timestamp()
    return written < event.timestamp and registered.get(port_id) != published


def _status(port_id: str, port: dict[str, Any], latest: dict[str, Any], instance: dg.DagsterInstance, now: datetime) -> ProductStatus:
    status = ProductStatus(port_id, sla_s=port.get("freshness_seconds"))
    key = dg.AssetKey(port["asset_key"])
    for check in port.get("checks", []):
        history = instance.event_log_storage.get_asset_check_execution_history(dg.AssetCheckKey(key, check), limit=1)
        evaluation = history[0].event.dagster_event.event_specific_data if history and history[0].event else None
        if evaluation is not None:  # a run that failed before the check ran leaves it only planned
            status.checks[check] = bool(evaluation.passed) if isinstance(evaluation, dg.AssetCheckEvaluation) else None
    event = latest.get(port_id)
    if event is None:
        status.freshness = "fail" if status.sla_s else "n/a"
        status.stale.append("no materialization in this Dagster instance")
        return status
    materialization = event.asset_materialization
    published = datetime.fromtimestamp(event.timestamp, tz=timezone.utc)
    status.published_at = published.isoformat()
    snapshot = materialization.metadata.get("mesh/snapshot_id")
    status.snapshot_id = snapshot.value if snapshot else None
    status.age_s = (now - published).total_seconds()
    if status.sla_s:
        share = status.age_s / status.sla_s
        status.freshness = "fail" if share > 1 else "warn" if share >= WARN_AT else "pass"
    if port.get("code_version") and materialization.tags.get("dagster/code_version") != port["code_version"]:
        status.stale.append("its code or contract changed")
    read = materialization.metadata.get("mesh/inputs")
    for input_id, used in sorted((read.value if read else {}).items()):
        newest = latest.get(input_id)
        newest_snapshot = newest.asset_materialization.metadata.get("mesh/snapshot_id") if newest else None
        if newest_snapshot and newest_snapshot.value != used.get("snapshot_id"):
            status.stale.append(f"input {input_id} has a newer snapshot")
    return status
