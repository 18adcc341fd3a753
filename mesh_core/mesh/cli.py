"""The ``mesh`` command: graph, validate, plan, impact, run, diff and publish across every location.

Exit codes: 0 ok, 1 problems found, 2 usage or load error.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import click
import networkx as nx

from mesh_core.errors import MeshError
from mesh_core.mesh import render
from mesh_core.mesh.graph import MeshGraph
from mesh_core.mesh.manifests import load_manifests, paused_gc
from mesh_core.mesh.store_cli import sql, store
from mesh_core.mesh.validate import validate
from mesh_core.mesh.workspace import Location, load_workspace
from mesh_core.settings import MeshSettings

FORMATS = click.Choice(["text", "json"])
_CHECK_WORDS = {True: "ok", False: "FAILED", None: "not evaluated"}


@dataclass
class Mesh:
    """What every command works on: the workspace, its settings, its manifests and their graph."""

    workspace: Path
    settings: MeshSettings
    locations: list[Location]
    manifests: list[dict]
    graph: MeshGraph


def load_mesh(workspace: Path, *, refresh: bool = False) -> Mesh:
    """Load every location's manifest (cached) and build the graph.

    ``MESH_HOME`` is resolved against the folder of ``workspace``, once, for every location.
    When stderr is a terminal, a transient progress bar shows the locations while they load.
    """
    from mesh_core.mesh.progress import LoadProgress

    locations = load_workspace(workspace)
    settings = MeshSettings.from_env(workspace_root=workspace.absolute().parent)
    progress = LoadProgress(live=sys.stderr.isatty())
    try:
        manifests = load_manifests(
            locations, settings.home, refresh=refresh, on_start=progress.start, on_loaded=progress.loaded
        )
    finally:
        progress.close()
    with paused_gc():
        graph = MeshGraph.from_manifests(manifests)
    return Mesh(workspace, settings, locations, manifests, graph)


def _instance_statuses(mesh: Mesh, now) -> list | None:
    """Every product's status from the Dagster instance at DAGSTER_HOME, or None when it is not set."""
    import os

    if not os.environ.get("DAGSTER_HOME"):
        return None
    from mesh_core.dagster_instance import open_instance
    from mesh_core.mesh.status import product_statuses

    with open_instance() as instance:
        return product_statuses(mesh.graph, instance, now)


def workspace_option(function):
    """``-w/--workspace``, default ``./workspace.yaml``."""
    return click.option(
        "-w", "--workspace", type=click.Path(path_type=Path), default=Path("workspace.yaml"), show_default=True,
        help="The workspace.yaml listing the mesh's code locations.",
    )(function)


class MeshGroup(click.Group):
    """Turns a MeshError into a clear message and exit code 2, with no traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MeshError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(2)


@click.group(cls=MeshGroup)
def main() -> None:
    """Meta-orchestration and governance for a data mesh on Dagster."""


@main.command()
@workspace_option
@click.option("--format", "fmt", type=click.Choice(["text", "json", "mermaid"]), default="text", show_default=True)
def graph(workspace: Path, fmt: str) -> None:
    """Print the cross-location port graph."""
    mesh = load_mesh(workspace)
    if fmt == "json":
        click.echo(render.as_json(mesh.graph.to_dict()))
    elif fmt == "mermaid":
        click.echo(render.graph_mermaid(mesh.graph))
    else:
        click.echo(render.graph_text(mesh.graph))


@main.command(name="validate")
@workspace_option
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), help="Judge deprecations as of this date.")
def validate_command(workspace: Path, fmt: str, today) -> None:
    """Check the whole mesh and list every problem. Exits 1 on any error."""
    mesh = load_mesh(workspace)
    problems = validate(mesh.graph, today.date() if today else date.today())
    errors = sum(problem.severity == "error" for problem in problems)
    warnings = len(problems) - errors
    if fmt == "json":
        click.echo(render.as_json({"problems": [p.to_dict() for p in problems], "errors": errors, "warnings": warnings}))
    else:
        for p in problems:
            where = f" ({p.file})" if p.file else ""
            click.echo(f"{p.severity.upper():7} {p.domain} {p.port or '-'}: {p.message}{where}")
        click.echo(f"{len(mesh.graph.ports)} ports in {len(mesh.manifests)} locations: {errors} error(s), {warnings} warning(s)")
    sys.exit(1 if errors else 0)


@main.command()
@workspace_option
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def plan(workspace: Path, fmt: str) -> None:
    """Print the order of operations: stages of ports that can run in parallel."""
    mesh = load_mesh(workspace)
    try:
        stages = mesh.graph.plan()
    except nx.NetworkXUnfeasible:
        cycle = nx.find_cycle(mesh.graph.graph)
        click.echo("error: the ports form a cycle: " + " -> ".join([edge[0] for edge in cycle] + [cycle[0][0]]), err=True)
        sys.exit(1)
    if fmt == "json":
        click.echo(render.as_json({"stages": stages}))
    else:
        for number, stage in enumerate(stages, start=1):
            click.echo(f"stage {number}: {', '.join(stage)}")


@main.command()
@click.argument("port_id")
@workspace_option
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option("--change", help="A contract document (JSON file) or a git ref holding the changed contract.")
def impact(port_id: str, workspace: Path, fmt: str, change: str | None) -> None:
    """List every port and domain downstream of PORT_ID, with the path to each."""
    from mesh_core.mesh.impact import classify_change, load_changed_contract

    mesh = load_mesh(workspace)
    if port_id not in mesh.graph.ports:
        raise click.BadParameter(f"no port {port_id} in the mesh; ports: {', '.join(sorted(mesh.graph.ports))}")
    paths = mesh.graph.impact(port_id)
    verdicts = {}
    if change:
        changed = load_changed_contract(change, port_id, mesh.workspace)
        verdicts = classify_change(mesh.graph, port_id, changed)
    rows = [
        {
            "port": target,
            "domain": mesh.graph.ports[target]["domain"],
            "path": path,
            **({"verdict": verdicts.get(target, "not affected")} if change else {}),
        }
        for target, path in paths.items()
    ]
    if fmt == "json":
        click.echo(render.as_json({"port": port_id, "downstream": rows, "domains": sorted({r["domain"] for r in rows})}))
    else:
        for row in rows:
            verdict = f"  [{row['verdict']}]" if change else ""
            click.echo(f"{row['port']} ({row['domain']}): {' -> '.join(row['path'])}{verdict}")
        click.echo(f"{len(rows)} port(s) in {len({r['domain'] for r in rows})} domain(s) downstream of {port_id}")
    sys.exit(1 if any(v.startswith("breaks") for v in verdicts.values()) else 0)


@main.command()
@workspace_option
@click.option("--base", help="A git ref to compare with; by default, the registry written by `mesh publish`.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def diff(workspace: Path, base: str | None, fmt: str) -> None:
    """Compare every contract with a base and classify each change. Exits 1 on a breaking change without a major bump."""
    from mesh_core.mesh.baseline import ports_at_ref, registry_path, registry_ports
    from mesh_core.mesh.diff import diff_ports

    mesh = load_mesh(workspace)
    base_ports = ports_at_ref(workspace, base) if base else registry_ports(registry_path(workspace))
    diffs = diff_ports(base_ports, mesh.graph.ports)
    failing = [d for d in diffs if d.gate_fails]
    if fmt == "json":
        click.echo(render.as_json({"base": base or "registry", "ports": [d.to_dict() for d in diffs]}))
    else:
        for d in diffs:
            if d.status == "unchanged":
                continue
            gate = "  FAIL: breaking change without a major version bump" if d.gate_fails and d.status == "changed" else ""
            click.echo(f"{d.port_id}: {d.status} {d.base_version or '-'} -> {d.version or '-'}{gate}")
            for change in d.changes:
                click.echo(f"  {change}")
        click.echo(f"{len(diffs)} port(s) compared with {base or 'the registry'}: {len(failing)} failing the gate")
    sys.exit(1 if failing else 0)


@main.command()
@workspace_option
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def publish(workspace: Path, fmt: str) -> None:
    """Write every port's current contract to the registry (contracts/), to commit with the code.

    Exits 1 when a version is already published with a different contract.
    """
    from mesh_core.mesh.baseline import registry_path
    from mesh_core.mesh.diff import publish_registry

    mesh = load_mesh(workspace)
    registry = registry_path(workspace)
    written, conflicts = publish_registry(mesh.graph.ports, registry)
    if fmt == "json":
        click.echo(render.as_json({
            "registry": str(registry), "written": [str(path) for path in written], "conflicts": conflicts,
            "ok": not conflicts,
        }))
    else:
        for path in written:
            click.echo(f"wrote {path}")
        for conflict in conflicts:
            click.echo(f"error: {conflict}; bump the version", err=True)
        click.echo(f"{len(written)} contract version(s) written, {len(conflicts)} conflict(s)")
    sys.exit(1 if conflicts else 0)


@main.command()
@workspace_option
@click.option("--select", "selection", multiple=True, help="A domain or a port id; repeatable. Default: every port.")
@click.option("--env", help="The MESH_ENV to run in (default: the current one).")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def run(workspace: Path, selection: tuple[str, ...], env: str | None, fmt: str) -> None:
    """Materialize the selected ports and everything downstream, in plan order. Exits 1 if any port is not published."""
    from mesh_core.mesh.progress import PlainProgress, RichProgress, journey_table
    from mesh_core.mesh.run import resolve_selection, run_mesh

    mesh = load_mesh(workspace)
    targets = resolve_selection(mesh.graph, selection)
    live = sys.stdout.isatty() and fmt == "text"
    progress = RichProgress(len(targets)) if live else PlainProgress(sys.stderr if fmt == "json" else sys.stdout)
    try:
        runs = run_mesh(
            mesh.graph, mesh.locations, targets, settings=mesh.settings, env=env,
            on_stage=progress.stage, on_port=progress.port, on_activity=progress.activity,
        )
    finally:
        progress.close()
    if fmt == "json":
        click.echo(render.as_json({"ports": [r.to_dict() for r in runs], "ok": all(r.status == "published" for r in runs)}))
    else:
        click.echo(journey_table(runs))
    sys.exit(0 if all(r.status == "published" for r in runs) else 1)


@main.command()
@workspace_option
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option("--now", "now_", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"]),
              help="Judge freshness as of this time (UTC unless it says otherwise).")
def status(workspace: Path, fmt: str, now_) -> None:
    """Each product's last publish, checks, freshness and staleness. Exits 1 on an SLA breach or a failing check."""
    from datetime import datetime, timezone

    mesh = load_mesh(workspace)
    now = (now_ if now_ and now_.tzinfo else (now_ or datetime.now(timezone.utc)).replace(tzinfo=timezone.utc))
    statuses = _instance_statuses(mesh, now)
    if statuses is None:
        raise click.UsageError("set DAGSTER_HOME to the Dagster instance the mesh runs against")
    if fmt == "json":
        click.echo(render.as_json({"now": now.isoformat(), "products": [s.to_dict() for s in statuses]}))
    else:
        for s in statuses:
            checks = ", ".join(f"{name} {_CHECK_WORDS[ok]}" for name, ok in sorted(s.checks.items())) or "no checks run"
            stale = f"; stale: {', '.join(s.stale)}" if s.stale else ""
            click.echo(
                f"{s.port_id}: {'FAILING' if s.failing else 'ok'}; published {s.published_at or 'never'}"
                f" ({s.snapshot_id or '-'}); freshness {s.freshness}; {checks}{stale}"
            )
    sys.exit(1 if any(s.failing for s in statuses) else 0)


@main.command()
@workspace_option
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder to write the site to.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def catalog(workspace: Path, out: Path, fmt: str) -> None:
    """Build the mesh catalog: an offline static site, catalog.json, ODPS per domain and ODCS per port version."""
    from datetime import datetime, timezone

    from mesh_core.mesh.catalog_site import build_site

    mesh = load_mesh(workspace)
    found = _instance_statuses(mesh, datetime.now(timezone.utc))
    statuses = {s.port_id: s.to_dict() for s in found} if found is not None else None
    try:
        site = build_site(mesh.graph, mesh.manifests, out, statuses)
    except OSError as error:
        raise MeshError(f"cannot write the catalog to {out}: {error.strerror}", file=error.filename) from error
    if fmt == "json":
        click.echo(render.as_json({
            "out": str(out.absolute()),
            "products": [p["id"] for p in site.catalog["products"]],
            "domains": [d["name"] for d in site.catalog["domains"]],
            "with_status": statuses is not None,
            "files": site.files,
        }))
    else:
        source = "with status from DAGSTER_HOME" if statuses is not None else "without status (DAGSTER_HOME not set)"
        counts = f"{len(site.catalog['products'])} products in {len(site.catalog['domains'])} domains"
        click.echo(f"wrote {counts} to {out} {source}")


main.add_command(store)
main.add_command(sql)
