"""``mesh usage``: each product's reads per consumer, last reader, unused ports and cost."""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from mesh_core.mesh import render
from mesh_core.mesh.audit_cli import TIME_FORMATS


def gather_usage(mesh: Any, since: datetime | None) -> tuple[list[Any], bool]:
    """Every product's usage in ``mesh`` since ``since``, and whether compute seconds were read (DAGSTER_HOME set)."""
    from mesh_core.audit_trail import read_audit
    from mesh_core.mesh.usage import product_usage
    from mesh_core.store import PortStore

    settings = mesh.settings
    store = PortStore(settings.store_uri or settings.home, settings.env, workdir=settings.home,
                      storage_options=settings.storage_options)
    audit = read_audit(settings, since=since)
    with ExitStack() as stack:
        instance = None
        if os.environ.get("DAGSTER_HOME"):
            from mesh_core.dagster_instance import open_instance

            instance = stack.enter_context(open_instance())
        return product_usage(mesh.graph, audit, instance, store, since), instance is not None


@click.command()
@click.option("-w", "--workspace", type=click.Path(path_type=Path), default=Path("workspace.yaml"), show_default=True,
              help="The workspace.yaml listing the mesh's code locations.")
@click.option("--since", type=click.DateTime(TIME_FORMATS),
              help="Count reads and runs from this time on (UTC unless it gives an offset, e.g. +02:00 or Z); "
                   "default: everything recorded.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def usage(workspace: Path, since: datetime | None, fmt: str) -> None:
    """Reads per consumer and day, last reader, unused ports and cost (compute seconds, stored bytes) per product.

    Reads come from the audit trail in the store; compute seconds from the Dagster
    instance at DAGSTER_HOME (left out when it is not set). An unused port, read by no
    other domain in the window, is a deprecation candidate; exits 0 either way.
    """
    from mesh_core.mesh.cli import load_mesh

    from mesh_core.audit_trail import as_utc

    since = as_utc(since) if since is not None else None
    mesh = load_mesh(workspace)
    products, with_compute = gather_usage(mesh, since)
    if fmt == "json":
        click.echo(render.as_json({
            "since": since.isoformat() if since else None, "with_compute": with_compute,
            "products": [p.to_dict() for p in products],
            "deprecation_candidates": [p.port_id for p in products if p.unused],
        }))
        return
    for p in products:
        reads = ", ".join(f"{reader} {count}" for reader, count in sorted(p.reads.items())) or "none"
        last = f"; last read {p.last_read_at} by {p.last_reader}" if p.last_reader else ""
        refused = f"; {p.refused} refused" if p.refused else ""
        compute = f"{p.compute_seconds:.1f} compute s in {p.runs} run(s)" if p.runs is not None else "compute n/a"
        stored = f"{p.stored_bytes:,} bytes stored" if p.stored_bytes is not None else "bytes n/a"
        flag = " UNUSED (deprecation candidate)" if p.unused else ""
        click.echo(f"{p.port_id}:{flag} reads {reads}{last}{refused}; {compute}; {stored}")
        for day, readers in sorted(p.reads_by_day.items()):
            click.echo(f"  {day}: " + ", ".join(f"{reader} {count}" for reader, count in sorted(readers.items())))
    if not with_compute:
        click.echo("compute seconds need the Dagster instance: set DAGSTER_HOME", err=True)
    sys.exit(0)
