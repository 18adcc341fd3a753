"""``mesh usage``: who reads each product and what it costs.

- **Reads** come from the audit trail (``mesh_core.audit_trail``): every read that was
  served (``allowed`` or ``masked``), counted per reading domain and per day. Refused
  reads are counted apart; they served nothing.
- **Unused ports** are the deprecation candidates: no other domain read them in the window.
  Anonymous reads (``_anonymous``: ``mesh sql`` without ``--reader``, a notebook) and the
  operator's (``mesh``) are counted as reads but do not make a port used: they are no consumer.
- **Compute seconds** come from the Dagster instance's run records: each finished run's
  wall time (start to end) is charged to the domain whose assets it selected and split
  evenly among the output ports it selected (a run that selected only internal assets is
  split among all of the domain's ports). ``mesh run`` tags each run with
  ``mesh/location``; the asset selection also covers runs started from the UI or by
  automation.
- **Stored bytes** are every file under the port's folder in the store: all majors,
  retained snapshots and the Delta log.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mesh_core.mesh.graph import MeshGraph
from mesh_core.mesh.storage_grants import OPERATOR

if TYPE_CHECKING:
    import dagster as dg
    import pandas as pd

    from mesh_core.store import PortStore

SERVED = ("allowed", "masked")
ANONYMOUS = "_anonymous"  # the reader of an anonymous read, as `mesh audit --reader` names it


@dataclass
class ProductUsage:
    """One product's reads and cost."""

    port_id: str
    domain: str
    reads: dict[str, int] = field(default_factory=dict)  # reading domain -> served reads
    reads_by_day: dict[str, dict[str, int]] = field(default_factory=dict)  # day -> reading domain -> reads
    refused: int = 0
    last_read_at: str | None = None
    last_reader: str | None = None
    compute_seconds: float | None = None  # None: no Dagster instance was read
    runs: int | None = None
    stored_bytes: int | None = None

    @property
    def unused(self) -> bool:
        """No domain other than its producer read it (anonymous and operator reads aside): a deprecation candidate."""
        return not any(reader not in (self.domain, ANONYMOUS, OPERATOR) for reader in self.reads)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {**asdict(self), "unused": self.unused}


def product_usage(
    graph: MeshGraph,
    audit: pd.DataFrame,
    instance: dg.DagsterInstance | None,
    store: PortStore | None,
    since: datetime | None = None,
) -> list[ProductUsage]:
    """Every product's usage: reads from ``audit`` (``read_audit``'s frame), cost from ``instance`` and ``store``.

    ``instance`` or ``store`` may be None: those figures are then None.
    """
    usage = {port_id: ProductUsage(port_id, port["domain"]) for port_id, port in sorted(graph.ports.items())}
    _count_reads(usage, audit)
    if instance is not None:
        for product in usage.values():
            product.compute_seconds, product.runs = 0.0, 0
        for port_id, (seconds, runs) in compute_seconds(graph, instance, since).items():
            usage[port_id].compute_seconds, usage[port_id].runs = round(seconds, 3), runs
    if store is not None:
        for port_id in usage:
            usage[port_id].stored_bytes = stored_bytes(store, port_id)
    return list(usage.values())


def _count_reads(usage: dict[str, ProductUsage], audit: pd.DataFrame) -> None:
    reads = audit[(audit["action"] == "read") & audit["port"].isin(list(usage))]
    served = reads[reads["decision"].isin(SERVED)]
    for port_id, refused in Counter(reads.loc[~reads["decision"].isin(SERVED), "port"]).items():
        usage[port_id].refused = refused
    for (port_id, reader), count in served.fillna({"reader": ANONYMOUS}).groupby(["port", "reader"]).size().items():
        usage[port_id].reads[reader] = int(count)
    days = served.assign(day=served["time"].dt.strftime("%Y-%m-%d")).fillna({"reader": ANONYMOUS})
    for (port_id, day, reader), count in days.groupby(["port", "day", "reader"]).size().items():
        usage[port_id].reads_by_day.setdefault(day, {})[reader] = int(count)
    for port_id, rows in served.groupby("port"):
        last = rows.sort_values("time").iloc[-1]
        usage[port_id].last_read_at = last["time"].isoformat()
        usage[port_id].last_reader = last["reader"] if isinstance(last["reader"], str) else ANONYMOUS


def compute_seconds(
    graph: MeshGraph, instance: dg.DagsterInstance, since: datetime | None = None
) -> dict[str, tuple[float, int]]:
    """Per port: the compute seconds charged to it and the number of runs that built it, from finished runs."""
    import dagster as dg

    ports_of: dict[str, list[str]] = defaultdict(list)
    port_of_key = {tuple(port["asset_key"]): port_id for port_id, port in graph.ports.items()}
    for port_id, port in graph.ports.items():
        ports_of[port["domain"]].append(port_id)
    charged: dict[str, list[float]] = defaultdict(list)
    filters = dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE],
                            created_after=since)
    for record in instance.get_run_records(filters=filters):
        if record.start_time is None or record.end_time is None:
            continue
        selected = _selected_keys(instance, record)
        seconds = record.end_time - record.start_time
        for domain in sorted({key.path[0] for key in selected if key.path[0] in ports_of}):
            ports = sorted(port_of_key[tuple(key.path)] for key in selected if tuple(key.path) in port_of_key
                           and key.path[0] == domain) or sorted(ports_of[domain])
            for port_id in ports:
                charged[port_id].append(seconds / len(ports))
    return {port_id: (sum(shares), len(shares)) for port_id, shares in charged.items()}


def _selected_keys(instance: dg.DagsterInstance, record: Any) -> set[dg.AssetKey]:
    """The assets a run selected; a run of a whole job names none, so its planned materializations tell."""
    import dagster as dg

    if record.dagster_run.asset_selection:
        return set(record.dagster_run.asset_selection)
    planned = instance.get_records_for_run(
        record.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    ).records
    return {entry.event_log_entry.dagster_event.asset_key for entry in planned}


def stored_bytes(store: PortStore, port_id: str) -> int:
    """Bytes of every file under the port's folder in the store (all majors, snapshots and the Delta log)."""
    import pyarrow.fs as pafs

    domain, name = port_id.split(".")
    location = store.location.child(domain, name)
    infos = location.filesystem().get_file_info(pafs.FileSelector("", recursive=True, allow_not_found=True))
    return sum(info.size or 0 for info in infos if info.type == pafs.FileType.File)
