"""``mesh kitchen``: create, run, diff, list and destroy kitchens (environments with a parent)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from mesh_core.mesh import render

FORMATS = click.Choice(["text", "json"])


def _workspace_option(function):
    return click.option(
        "-w", "--workspace", type=click.Path(path_type=Path), default=Path("workspace.yaml"), show_default=True,
        help="The workspace.yaml listing the mesh's code locations.",
    )(function)


def _settings(workspace: Path):
    from mesh_core.settings import MeshSettings

    return MeshSettings.from_env(workspace_root=workspace.absolute().parent)


@click.group()
def kitchen() -> None:
    """Kitchens: sandbox environments that read their parent's ports until they rebuild them."""


@kitchen.command()
@click.argument("name")
@click.option("--from", "parent", default="dev", show_default=True, help="The parent environment.")
@_workspace_option
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def create(name: str, parent: str, workspace: Path, fmt: str) -> None:
    """Create kitchen NAME over a parent environment, instantly and without copying data."""
    from mesh_core.mesh.kitchen import create_kitchen

    made = create_kitchen(_settings(workspace), name, parent, workspace.absolute().parent / "dagster.yaml")
    if fmt == "json":
        click.echo(render.as_json(made.to_dict()))
        return
    click.echo(f"kitchen {made.name} created over {made.parent}: it reads {made.parent}'s ports until it rebuilds them")
    click.echo(f"  run a change:  mesh kitchen run {made.name} --select <domain>")
    click.echo(f"  Dagster UI:    MESH_ENV={made.name} DAGSTER_HOME={made.dagster_home} dagster dev")


@kitchen.command()
@click.argument("name")
@_workspace_option
@click.option("--select", "selection", multiple=True, help="A domain or a port id; repeatable. Default: every port.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def run(name: str, workspace: Path, selection: tuple[str, ...], fmt: str) -> None:
    """Rebuild the selection and everything downstream in kitchen NAME, with the working tree's code.

    Every contract and consumer check runs; the parent is only read. Exits 1 if any port is not published.
    """
    from mesh_core.mesh.cli import load_mesh, run_with_progress
    from mesh_core.mesh.kitchen import get_kitchen
    from mesh_core.mesh.progress import journey_table

    found = get_kitchen(_settings(workspace), name)
    os.environ["DAGSTER_HOME"] = str(found.dagster_home)  # the kitchen's runs go to its own instance
    runs = run_with_progress(load_mesh(workspace), selection, env=name, fmt=fmt)
    ok = all(r.status == "published" for r in runs)
    if fmt == "json":
        click.echo(render.as_json({"kitchen": name, "parent": found.parent, "ports": [r.to_dict() for r in runs],
                                   "ok": ok}))
    else:
        click.echo(journey_table(runs))
    sys.exit(0 if ok else 1)


@kitchen.command()
@click.argument("name")
@_workspace_option
@click.option("--base", help="A git ref to diff contracts with; by default, the registry written by `mesh publish`.")
@click.option("--reader", help="The domain to read both snapshots as: its access applies, and the read is audited "
                               "as its. Default: anonymous (public ports only; others get row counts).")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def diff(name: str, workspace: Path, base: str | None, reader: str | None, fmt: str) -> None:
    """Compare every port rebuilt in kitchen NAME with its parent: contract, rows, keys, values, downstream.

    Samples show a PII column's values as <pii>, whoever reads.
    """
    from mesh_core.mesh.baseline import ports_at_ref, registry_path, registry_ports
    from mesh_core.mesh.cli import load_mesh
    from mesh_core.mesh.kitchen import get_kitchen
    from mesh_core.mesh.kitchen_diff import diff_kitchen, render_text
    from mesh_core.store import PortStore

    settings = _settings(workspace)
    found = get_kitchen(settings, name)
    mesh = load_mesh(workspace)
    base_ports = ports_at_ref(workspace, base) if base else registry_ports(registry_path(workspace))
    store = PortStore(settings.store_uri or settings.home, name, workdir=settings.home,
                      storage_options=settings.storage_options, verify=settings.verify, reader=reader,
                      pii_key=settings.pii_key)
    comparisons = diff_kitchen(store, mesh.graph, base_ports)
    if fmt == "json":
        click.echo(render.as_json({"kitchen": name, "parent": found.parent, "base": base or "registry",
                                   "ports": [c.to_dict() for c in comparisons]}))
    else:
        click.echo(render_text(name, found.parent, comparisons))


@kitchen.command(name="list")
@_workspace_option
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def list_command(workspace: Path, fmt: str) -> None:
    """Every kitchen in the store, with its parent."""
    from mesh_core.mesh.kitchen import list_kitchens

    kitchens = list_kitchens(_settings(workspace))
    if fmt == "json":
        click.echo(render.as_json({"kitchens": [k.to_dict() for k in kitchens]}))
        return
    for k in kitchens:
        click.echo(f"{k.name}  from {k.parent}  created {k.created_at}")
    click.echo(f"{len(kitchens)} kitchen(s)")


@kitchen.command()
@click.argument("name")
@_workspace_option
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def destroy(name: str, workspace: Path, fmt: str) -> None:
    """Remove kitchen NAME: its snapshots, working files and Dagster instance. Never its parent's data.

    Its audit trail stays (``MESH_ENV=NAME mesh audit`` lists it): the reads it made of its parent's ports.
    """
    from mesh_core.mesh.kitchen import audit_kept, destroy_kitchen

    settings = _settings(workspace)
    gone = destroy_kitchen(settings, name)
    kept = audit_kept(settings, name)
    if fmt == "json":
        click.echo(render.as_json({"destroyed": gone.name, "parent": gone.parent, "audit_kept": kept}))
    else:
        click.echo(f"kitchen {gone.name} destroyed; {gone.parent} untouched")
        if kept:
            click.echo(f"its audit trail kept: MESH_ENV={gone.name} mesh audit")
