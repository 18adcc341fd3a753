"""The ``mesh`` command: graph, validate, plan, impact, run, diff, publish and register across every location.

Exit codes: 0 ok, 1 problems found, 2 usage or load error.
"""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import click
import networkx as nx

from mesh_core.errors import MeshError
from mesh_core.mesh import render
from mesh_core.mesh.access_cli import access
from mesh_core.mesh.audit_cli import audit
from mesh_core.mesh.usage_cli import usage
from mesh_core.mesh.graph import MeshGraph
from mesh_core.mesh.manifests import paused_gc
from mesh_core.mesh.sources import SOURCES, MeshSources, read_mesh
from mesh_core.mesh.kitchen_cli import kitchen
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
    sources: MeshSources | None = None


def load_mesh(workspace: Path, *, refresh: bool = False, source: str = "workspace") -> Mesh:
    """Load the manifests ``source`` names (the workspace's, cached; the registry's; or both) and build the graph.

    ``MESH_HOME`` is resolved against the folder of ``workspace``, once, for every location.
    When stderr is a terminal, a transient progress bar shows the locations while they load.
    """
    from mesh_core.mesh.progress import LoadProgress

    locations = [] if source == "registry" else load_workspace(workspace)
    settings = MeshSettings.from_env(workspace_root=workspace.absolute().parent)
    progress = LoadProgress(live=sys.stderr.isatty())
    try:
        sources = read_mesh(
            locations, settings, source, refresh=refresh, on_start=progress.start, on_loaded=progress.loaded
        )
    finally:
        progress.close()
    with paused_gc():
        graph = MeshGraph.from_manifests(sources.manifests)
    return Mesh(workspace, settings, locations, sources.manifests, graph, sources)


def _stale_registry(mesh: Mesh) -> list:
    """A warning for each workspace domain whose registry entry holds other code than the workspace."""
    from mesh_core.mesh.sources import stale_entries
    from mesh_core.mesh.validate import Problem

    entries = mesh.sources.entries if mesh.sources else {}
    return [
        Problem("warning", domain=name, port=None, file=entries[name].file, message=(
            f"registry entry is stale: registered {entries[name].registered_at} from other code than the workspace "
            "holds; other repositories see the old manifest until this domain publishes or runs `mesh register`"
        ))
        for name in stale_entries(mesh.sources)
    ] if mesh.sources else []


def _instance_statuses(mesh: Mesh, now) -> list | None:
    """Every product's status from the Dagster instance at DAGSTER_HOME, or None when it is not set."""
    if not os.environ.get("DAGSTER_HOME"):
        return None
    from mesh_core.dagster_instance import open_instance
    from mesh_core.mesh.status import product_statuses

    with open_instance() as instance:
        return product_statuses(mesh.graph, instance, now, mesh.sources.entries if mesh.sources else None)


def workspace_option(function):
    """``-w/--workspace``, default ``./workspace.yaml``."""
    return click.option(
        "-w", "--workspace", type=click.Path(path_type=Path), default=Path("workspace.yaml"), show_default=True,
        help="The workspace.yaml listing the mesh's code locations.",
    )(function)


def from_option(function):
    """``--from workspace|registry|both``, default both."""
    return click.option(
        "--from", "source", type=click.Choice(SOURCES), default="both", show_default=True,
        help="Read the mesh from the workspace's locations, the registry in the store, or both.",
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
@from_option
def graph(workspace: Path, fmt: str, source: str) -> None:
    """Print the cross-location port graph."""
    mesh = load_mesh(workspace, source=source)
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
@from_option
def validate_command(workspace: Path, fmt: str, today, source: str) -> None:
    """Check the whole mesh and list every problem. Exits 1 on any error."""
    from mesh_core.mesh.policy_check import load_policies

    mesh = load_mesh(workspace, source=source)
    policies = load_policies(workspace.absolute().parent)
    problems = validate(mesh.graph, today.date() if today else date.today(), policies) + _stale_registry(mesh)
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
@from_option
def policies(workspace: Path, fmt: str, source: str) -> None:
    """List the mesh's policies with their severity and source, and every waiver. Exits 1 on a bad waiver."""
    from mesh_core.mesh.policy_check import load_policies, waivers

    mesh = load_mesh(workspace, source=source)
    loaded = load_policies(workspace.absolute().parent)
    waived = waivers(mesh.graph, loaded)
    bad = [w for w in waived if w.severity is None or not w.justification.strip()]
    if fmt == "json":
        click.echo(render.as_json({
            "policies": [item.to_dict() for item in loaded], "waivers": [w.to_dict() for w in waived], "ok": not bad,
        }))
    else:
        for item in loaded:
            click.echo(f"{item.policy.name} [{item.policy.severity}] ({item.source}): {item.policy.rationale}")
        for w in waived:
            known = f"waives {w.policy} [{w.severity}]" if w.severity else f"waives UNKNOWN policy {w.policy}"
            click.echo(f"{w.port} {known}: {w.justification or '(no justification)'}")
        click.echo(f"{len(loaded)} policies, {len(waived)} waiver(s), {len(bad)} bad")
    sys.exit(1 if bad else 0)


@main.command()
@workspace_option
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@from_option
def plan(workspace: Path, fmt: str, source: str) -> None:
    """Print the order of operations: stages of ports that can run in parallel."""
    mesh = load_mesh(workspace, source=source)
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
@from_option
def impact(port_id: str, workspace: Path, fmt: str, change: str | None, source: str) -> None:
    """List every port and domain downstream of PORT_ID, with the path to each."""
    from mesh_core.mesh.impact import classify_change, load_changed_contract

    mesh = load_mesh(workspace, source=source)
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
    from mesh_core.mesh.progress import journey_table

    runs = run_with_progress(load_mesh(workspace), selection, env=env, fmt=fmt)
    if fmt == "json":
        click.echo(render.as_json({"ports": [r.to_dict() for r in runs], "ok": all(r.status == "published" for r in runs)}))
    else:
        click.echo(journey_table(runs))
    if not os.environ.get("DAGSTER_HOME"):
        click.echo("note: DAGSTER_HOME is not set, so these runs went to a temporary Dagster instance, now gone: "
                   "the store keeps what they published, but `mesh status` and the Dagster UI will not show them. "
                   "Set DAGSTER_HOME to keep them.", err=True)
    sys.exit(0 if all(r.status == "published" for r in runs) else 1)


def run_with_progress(mesh: Mesh, selection: tuple[str, ...], *, env: str | None, fmt: str) -> list:
    """Run ``selection`` and everything downstream in ``env``, showing progress as ``fmt`` suits; each port's run.

    Raises:
        MeshError: the selection reaches a ``grpc_server`` location, whose code runs elsewhere.
    """
    from mesh_core.mesh.progress import PlainProgress, RichProgress
    from mesh_core.mesh.run import MeshRunInterrupted, resolve_selection, run_mesh

    targets = resolve_selection(mesh.graph, selection)
    elsewhere = sorted({mesh.graph.ports[p]["location"] for p in targets} & {loc.name for loc in mesh.locations if loc.grpc})
    if elsewhere:
        raise MeshError(
            f"grpc_server location(s) {elsewhere} run in their own code servers, not here: select ports of the other "
            "locations, or run `mesh run` in those domains' repositories"
        )
    live = sys.stdout.isatty() and fmt == "text"
    progress = RichProgress(len(targets)) if live else PlainProgress(sys.stderr if fmt == "json" else sys.stdout)
    previous = signal.signal(signal.SIGTERM, _interrupted)  # `kill`, a CI job's timeout: ended as Ctrl-C ends it
    try:
        return run_mesh(
            mesh.graph, mesh.locations, targets, settings=mesh.settings, env=env,
            on_stage=progress.stage, on_port=progress.port, on_activity=progress.activity,
        )
    except MeshRunInterrupted as interrupted:
        progress.close()
        click.echo("interrupted: the running location processes were ended and their Dagster runs marked failed; "
                   "nothing later was started", err=True)
        return interrupted.runs
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
        progress.close()


def _interrupted(number: int, _frame: object) -> None:
    """SIGTERM during ``mesh run``: stop as Ctrl-C stops it, location processes ended and their runs failed."""
    raise KeyboardInterrupt


@main.command()
@workspace_option
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option("--now", "now_", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"]),
              help="Judge freshness as of this time (UTC unless it says otherwise).")
@from_option
def status(workspace: Path, fmt: str, now_, source: str) -> None:
    """Each product's last publish, checks, freshness and staleness. Exits 1 on an SLA breach or a failing check."""
    from datetime import datetime, timezone

    mesh = load_mesh(workspace, source=source)
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
@from_option
def catalog(workspace: Path, out: Path, fmt: str, source: str) -> None:
    """Build the mesh catalog: an offline static site, catalog.json, ODPS per domain and ODCS per port version."""
    from datetime import datetime, timezone

    from mesh_core.mesh.catalog_site import build_site
    from mesh_core.mesh.usage_cli import gather_usage

    mesh = load_mesh(workspace, source=source)
    found = _instance_statuses(mesh, datetime.now(timezone.utc))
    statuses = {s.port_id: s.to_dict() for s in found} if found is not None else None
    figures = {p.port_id: p.to_dict() for p in gather_usage(mesh, None)[0]}
    try:
        site = build_site(mesh.graph, mesh.manifests, out, statuses, figures)
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


@main.command(name="new-domain")
@click.argument("name")
@workspace_option
@click.option("--consumes", metavar="DOMAIN.PORT", help="The public port that the example input port reads.")
@click.option("--standalone", "standalone", type=click.Path(path_type=Path), metavar="DIR",
              help="Write the domain as a repository of its own in DIR (absent or empty), not in domains/.")
@from_option
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def new_domain(name: str, workspace: Path, consumes: str | None, standalone: Path | None, source: str, fmt: str) -> None:
    """Scaffold domain NAME: a contract, an output port, an input port reading --consumes, and tests.

    In the repository it writes domains/NAME/ and adds the location to workspace.yaml. The
    port to consume is looked up in the mesh (--from). Bad names, taken names and non-empty
    folders are refused before anything is written.
    """
    from importlib.metadata import version

    from mesh_core.mesh import scaffold

    scaffold.check_name(name)
    if standalone is None or source != "registry":
        located = {loc.name: f"location {loc.name} in {workspace}" for loc in load_workspace(workspace)}
        scaffold.check_new(name, existing=located)
    if standalone is not None:
        scaffold.check_folder(standalone, may_be_empty=True)
    else:
        scaffold.check_folder(workspace.parent / "domains" / name, may_be_empty=False)
    mesh = load_mesh(workspace, source=source)
    published = {port["domain"]: f"it publishes {port_id}" for port_id, port in mesh.graph.ports.items()}
    scaffold.check_new(name, existing=published)
    consumed = scaffold.choose_input(mesh.graph.ports, consumes)
    if standalone is not None:
        plan = scaffold.DomainPlan(name, consumed, mesh_core_requirement=f"mesh-core>={version('mesh-core')}")
        created = scaffold.create_standalone(plan, standalone)
    else:
        created = scaffold.create_in_repo(scaffold.DomainPlan(name, consumed), workspace)
    if fmt == "json":
        click.echo(render.as_json(created.to_dict()))
        return
    where = f"as a repository of its own in {created.folder}" if created.standalone else f"in {created.folder}"
    click.echo(f"created domain {name} {where}: {created.plan.port_id} reads {consumed['id']}")
    if created.workspace:
        click.echo(f"added location {name} to {created.workspace}")
    click.echo("next steps:")
    for step in created.next_steps:
        click.echo(f"  {step}")


@main.command()
@workspace_option
@click.option("--env", help="The MESH_ENV whose registry to write (default: the current one).")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def register(workspace: Path, env: str | None, fmt: str) -> None:
    """Register every location of the workspace in the store's registry, for other repositories to see.

    Run it in CI or on deploy; a publish of a port registers its domain too.
    """
    from mesh_core.mesh.sources import register_locations

    mesh = load_mesh(workspace, source="workspace")
    written = register_locations(mesh.locations, mesh.manifests, mesh.settings, env)
    if fmt == "json":
        click.echo(render.as_json({"registered": [
            {"domain": e.domain, "location": e.location, "code_version": e.code_version, "file": e.file} for e in written
        ]}))
    else:
        for entry in written:
            click.echo(f"registered {entry.domain} (location {entry.location}, code {entry.code_version}) in {entry.file}")


@main.command()
@click.argument("domain")
@workspace_option
@click.option("--env", help="The MESH_ENV whose registry to change (default: the current one).")
@click.option("--owner", help="The domain's owner, when the workspace no longer holds it (default: the location's).")
def unregister(domain: str, workspace: Path, env: str | None, owner: str | None) -> None:
    """Remove DOMAIN's entry from the store's registry, as its owner: other repositories stop seeing it."""
    from mesh_core.mesh.sources import unregister_domain

    mesh = load_mesh(workspace, source="workspace") if owner is None else None
    removed = unregister_domain(domain, mesh.locations if mesh else [], mesh.manifests if mesh else [],
                                mesh.settings if mesh else MeshSettings.from_env(workspace_root=workspace.absolute().parent),
                                env, owner)
    click.echo(f"unregistered {removed.domain} (owner {removed.owner}, location {removed.location}): removed {removed.file}")


main.add_command(store)
main.add_command(sql)
main.add_command(access)
main.add_command(audit)
main.add_command(usage)
main.add_command(kitchen)
