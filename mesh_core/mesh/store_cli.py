"""``mesh store`` (gc, migrate) and ``mesh sql``: the port store from the command line."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from mesh_core.mesh import render

FORMATS = click.Choice(["text", "json"])


@click.group()
def store() -> None:
    """Look after the port store at MESH_HOME/MESH_ENV."""


@store.command()
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@click.option("--grace-hours", type=click.IntRange(min=0), default=1, show_default=True,
              help="Files younger than this stay: publishes still writing, versions just replaced.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def gc(dry_run: bool, grace_hours: int, fmt: str) -> None:
    """Vacuum every table: keep each port major's newest snapshots and every snapshot a consumer still names.

    Consumers are read from the Dagster instance at DAGSTER_HOME; files left by killed
    writers and versions beyond retention are removed.
    """
    if not os.environ.get("DAGSTER_HOME"):
        raise click.UsageError("set DAGSTER_HOME: gc keeps every snapshot a consumer materialization there names")
    from mesh_core.dagster_instance import open_instance
    from mesh_core.mesh.store_gc import collect, pinned_versions
    from mesh_core.store import PortStore

    with open_instance() as instance:
        pinned = pinned_versions(instance)
    results = collect(PortStore.from_env(), pinned, dry_run=dry_run, grace_hours=grace_hours)
    removed = sum(len(result.removed) for result in results)
    if fmt == "json":
        click.echo(render.as_json({"dry_run": dry_run, "tables": [r.to_dict() for r in results], "removed": removed}))
        return
    verb = "would remove" if dry_run else "removed"
    for result in results:
        click.echo(f"{result.table}: kept versions {result.kept_versions}; {verb} {len(result.removed)} file(s)")
        for path in result.removed:
            click.echo(f"  {path}")
    click.echo(f"{len(results)} table(s); {verb} {removed} file(s)")


@store.command()
@click.option("-w", "--workspace", type=click.Path(path_type=Path), default=Path("workspace.yaml"), show_default=True,
              help="The workspace.yaml whose manifests give the read policies to stamp.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def migrate(workspace: Path, fmt: str) -> None:
    """Bring the store up to date: old layouts become Delta tables, old snapshots get their read policy.

    A port major in the old layout (current.json and snapshots/) becomes a Delta table. A
    current snapshot published before read policies were recorded, which only its producer
    may read, is stamped with its port's policy from the workspace's manifests; one whose
    policy masks PII but that has no masked copy gets it (set MESH_PII_KEY). Each stamp is a
    new commit keeping the snapshot's data files and data version.
    """
    from mesh_core.mesh.store_stamp import stamp_store
    from mesh_core.store import PortStore

    port_store = PortStore.from_env()
    migrated = port_store.migrate()
    stamped, left = stamp_store(port_store, workspace)
    if fmt == "json":
        click.echo(render.as_json({
            "migrated": [{"port_id": s.port_id, "major": s.major, "table": s.path, "snapshot_id": s.snapshot_id}
                         for s in migrated],
            "stamped": [{"port_id": s.port_id, "major": s.major, "snapshot_id": s.snapshot_id,
                         "masked_copy": bool(s.masked_files)} for s in stamped],
            "left": left,
        }))
        return
    for snapshot in migrated:
        click.echo(f"{snapshot.port_id} v{snapshot.major}: now Delta table {snapshot.path} ({snapshot.snapshot_id})")
    for snapshot in stamped:
        copy = "with its masked copy" if snapshot.masked_files else "no masked copy"
        click.echo(f"{snapshot.port_id} v{snapshot.major}: read policy recorded ({snapshot.snapshot_id}, {copy})")
    for problem in left:
        click.echo(f"left: {problem}")
    click.echo(f"{len(migrated)} port major(s) migrated, {len(stamped)} snapshot(s) stamped")


@click.command()
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "json"]), default="text", show_default=True)
@click.option("--reader", help="The domain to read as: its access and PII clearance apply. Default: anonymous "
                               "(public ports only, PII masked).")
def sql(query: str, fmt: str, reader: str | None) -> None:
    """Run QUERY on DuckDB views of every port's current snapshot, e.g. 'select * from "users"."profiles"'.

    Only the ports QUERY names are read, and recorded as read in the audit trail; a
    query that names none (e.g. 'show tables') gets the views' names on stderr.
    """
    import duckdb

    from mesh_core.sql import connect, tables_read
    from mesh_core.sql_catalog import port_views
    from mesh_core.store import PortStore

    try:
        tables = tables_read(query)
    except duckdb.Error as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    store = PortStore.from_env(reader=reader)
    with connect(store, tables=tables) as connection:
        if not connection.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchall()[0][0]:
            views = port_views(store)  # e.g. 'show tables': the query named no port, so no view was made
            click.echo("note: the query names no port's view, so no port is read; "
                       + (f"the views are {', '.join(views)}" if views else "no port is published yet"), err=True)
        try:
            relation = connection.sql(query)
            if relation is None:
                return
            frame = relation.df()
        except duckdb.Error as error:  # a bad query, or a view of a port this reader may not read
            click.echo(f"error: {error}", err=True)
            sys.exit(1)
    if fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    elif fmt == "json":
        click.echo(frame.to_json(orient="records", date_format="iso"))
    else:
        click.echo(frame.to_string(index=False))
