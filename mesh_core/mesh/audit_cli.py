"""``mesh audit``: who read and published which port, allowed, masked or refused, from the store's audit trail."""

from __future__ import annotations

import click

from mesh_core.mesh import render

TIME_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S"]  # --since, here and in usage


@click.command()
@click.option("--port", help="Only records of this port id, e.g. users.profiles.")
@click.option("--reader", help="Only records of this reading or publishing domain ('_anonymous' for anonymous reads).")
@click.option("--since", type=click.DateTime(TIME_FORMATS), help="Only records at or after this time (UTC unless it says).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def audit(port: str | None, reader: str | None, since, fmt: str) -> None:
    """List the audit trail of MESH_HOME's environment (MESH_ENV), oldest first, queried through DuckDB."""
    from mesh_core.audit_trail import read_audit
    from mesh_core.settings import MeshSettings

    frame = read_audit(MeshSettings.from_env(), port=port, reader=reader, since=since)
    if fmt == "json":
        records = frame.astype(object).where(frame.notna(), None).to_dict("records")
        click.echo(render.as_json([{**record, "time": record["time"].isoformat()} for record in records]))
        return
    if frame.empty:
        click.echo("no audit records")
        return
    for record in frame.itertuples(index=False):
        who = record.reader if isinstance(record.reader, str) else "(anonymous)"
        snapshot = "" if record.snapshot is None or record.snapshot != record.snapshot else f"@{int(record.snapshot)}"
        run = f" run {record.run_id}" if isinstance(record.run_id, str) else ""
        detail = f": {record.detail}" if isinstance(record.detail, str) else ""
        click.echo(
            f"{record.time.isoformat(timespec='seconds')} {record.action:<7} {record.decision:<7} {who} "
            f"{record.port} {record.version}{snapshot} [{record.policy}]{run}{detail}"
        )
