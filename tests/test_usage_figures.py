"""The figures of `mesh usage` from a real audit trail, Dagster instance and port store, without running the mesh."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pandas as pd
import pandera.pandas as pa

from mesh_core import PortStore
from mesh_core.audit_trail import AuditRecord, append_audit, read_audit
from mesh_core.mesh.graph import MeshGraph
from mesh_core.mesh.usage import product_usage
from mesh_core.schema_doc import schema_document
from mesh_core.settings import MeshSettings

NOON = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
CONTRACT = schema_document(pa.DataFrameSchema({"id": pa.Column(int, unique=True)}))


def graph() -> MeshGraph:
    ports = [{"id": f"shop.{name}", "domain": "shop", "asset_key": ["shop", name], "version": "1.0.0",
              "access": "public", "consumers": [], "contract": CONTRACT, "inputs": []} for name in ("orders", "refunds")]
    return MeshGraph.from_manifests([{"location": "shop", "ports": ports, "internal_assets": [], "asset_keys": []}])


def read(reader: str | None, port: str = "shop.orders", *, at: datetime = NOON, **changes) -> AuditRecord:
    fields = {"time": at, "reader": reader, "run_id": "r", "port": port, "version": "v1", "snapshot": 1,
              "action": "read", "decision": "allowed", "policy": "access:public", **changes}
    return AuditRecord(**fields)


def test_reads_are_counted_per_consumer_and_day_and_refusals_apart(mesh_home: Path):
    settings = MeshSettings.from_env()
    for record in (
        read("billing"), read("billing", at=NOON + timedelta(days=1)), read("crm", decision="masked"),
        read("crm", decision="refused", policy="access:restricted"), read(None, at=NOON + timedelta(hours=1)),
        read("shop", action="publish", at=NOON + timedelta(days=2)), read("shop", "shop.refunds"),
    ):
        append_audit(settings, record)
    usage = {u.port_id: u for u in product_usage(graph(), read_audit(settings), None, None)}

    orders = usage["shop.orders"]
    assert orders.reads == {"billing": 2, "crm": 1, "_anonymous": 1}
    assert orders.reads_by_day == {"2026-12-01": {"billing": 1, "crm": 1, "_anonymous": 1}, "2026-12-02": {"billing": 1}}
    assert orders.refused == 1
    assert (orders.last_reader, orders.last_read_at) == ("billing", "2026-12-02T12:00:00+00:00"), "a publish is no read"
    assert not orders.unused
    assert usage["shop.refunds"].reads == {"shop": 1} and usage["shop.refunds"].unused, "its own domain is no consumer"
    assert (orders.compute_seconds, orders.runs, orders.stored_bytes) == (None, None, None)


def test_a_runs_seconds_are_split_among_the_ports_it_selected(instance: dg.DagsterInstance, store: PortStore,
                                                             mesh_home: Path):
    @dg.asset(key=["shop", "orders"])
    def orders() -> None:
        """A port's asset."""

    @dg.asset(key=["shop", "refunds"])
    def refunds() -> None:
        """Another port's asset."""

    both = dg.materialize([orders, refunds], instance=instance)
    one = dg.materialize([orders, refunds], instance=instance, selection=[orders])
    store.publish("shop.orders", pd.DataFrame({"id": range(100)}), version="1.0.0")

    usage = {u.port_id: u for u in product_usage(graph(), read_audit(MeshSettings.from_env()), instance, store)}
    durations = {record.dagster_run.run_id: record.end_time - record.start_time for record in instance.get_run_records()}
    assert usage["shop.refunds"].compute_seconds == round(durations[both.run_id] / 2, 3)
    assert usage["shop.orders"].compute_seconds == round(durations[both.run_id] / 2 + durations[one.run_id], 3)
    assert (usage["shop.orders"].runs, usage["shop.refunds"].runs) == (2, 1)
    folder = mesh_home / "dev" / "shop" / "orders"
    on_disk = sum(os.path.getsize(Path(parent) / name) for parent, _, names in os.walk(folder) for name in names)
    assert usage["shop.orders"].stored_bytes == on_disk > 0
    assert usage["shop.refunds"].stored_bytes == 0, "never published"


def test_anonymous_and_operator_reads_leave_a_port_a_deprecation_candidate(mesh_home: Path):
    settings = MeshSettings.from_env()
    for record in (read(None), read("mesh"), read("shop"), read(None, "shop.refunds"), read("billing", "shop.refunds")):
        append_audit(settings, record)
    usage = {u.port_id: u for u in product_usage(graph(), read_audit(settings), None, None)}

    assert usage["shop.orders"].reads == {"_anonymous": 1, "mesh": 1, "shop": 1}
    assert usage["shop.orders"].unused, "`mesh sql` without --reader, or the operator, is no consumer"
    assert not usage["shop.refunds"].unused


def test_usage_since_takes_a_utc_offset_and_reads_a_bare_time_as_utc(mesh_home: Path):
    from conftest import REPO
    from meshkit import mesh

    with_offset = mesh("usage", "--since", "2026-12-01T14:00:00+02:00", "--format", "json", cwd=REPO)
    assert with_offset.code == 0, with_offset.stderr
    assert with_offset.json()["since"] == "2026-12-01T12:00:00+00:00"
    bare = mesh("usage", "--since", "2026-12-01T12:00:00", "--format", "json", cwd=REPO)
    assert bare.json()["since"] == "2026-12-01T12:00:00+00:00"
