"""``mesh access policy``: write the storage permissions that the manifests imply."""

from __future__ import annotations

from pathlib import Path

import click

from mesh_core.errors import MeshError
from mesh_core.mesh.sources import SOURCES


@click.group()
def access() -> None:
    """Access to ports, held by the storage itself."""


def _principal(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    principals = {}
    for value in values:
        domain, sep, principal = value.partition("=")
        if not sep or not domain or not principal:
            raise click.BadParameter(f"{value!r} is not DOMAIN=PRINCIPAL", ctx=ctx, param=param)
        principals[domain] = principal
    return principals


@access.command()
@click.option("-w", "--workspace", type=click.Path(path_type=Path), default=Path("workspace.yaml"), show_default=True,
              help="The workspace.yaml listing the mesh's code locations.")
@click.option("--format", "fmt", type=click.Choice(["s3", "posix"]), required=True,
              help="s3: a bucket policy (JSON); posix: a sh script of group modes for a local store.")
@click.option("--principal", "principals", multiple=True, callback=_principal, metavar="DOMAIN=PRINCIPAL",
              help="A domain's AWS principal ARN (s3) or OS user (posix); repeatable. "
                   "'mesh=...' names the operator, who may read everything.")
@click.option("--principal-template", metavar="TEMPLATE",
              help="The principal of every domain not named by --principal, with {domain}, "
                   "e.g. arn:aws:iam::123456789012:role/mesh-{domain} or mesh-{domain}.")
@click.option("--from", "source", type=click.Choice(SOURCES), default="both", show_default=True,
              help="Read the mesh from the workspace's locations, the registry in the store, or both. The policy "
                   "replaces the bucket's whole policy: a domain left out of it loses its grants.")
@click.option("--kitchen", "kitchens", multiple=True, callback=_principal, metavar="KITCHEN=PRINCIPAL",
              help="A kitchen of the environment and the principal that runs it (s3); repeatable.")
@click.option("--store", "store_uri", help="The store (default: MESH_HOME): s3://bucket/prefix, or a local folder.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file, not stdout.")
def policy(workspace: Path, fmt: str, principals: dict[str, str], principal_template: str | None,
           source: str, kitchens: dict[str, str], store_uri: str | None, out: Path | None) -> None:
    """Write the S3 bucket policy or the POSIX group modes that the ports' access and consumers imply.

    Each domain writes only its own prefix; a port is readable by every domain (public),
    its consumers (restricted) or its own domain alone (private). mesh_core's check at
    read is cooperative; once applied, these permissions are what the storage enforces,
    for the domains and ports the mesh held when the policy was written.
    """
    from mesh_core.mesh.cli import load_mesh
    from mesh_core.mesh.storage_grants import posix_script, render_s3, resolve_principals, s3_bucket_policy

    if principal_template is not None and "{domain}" not in principal_template:
        raise click.BadParameter("must contain {domain}", param_hint="--principal-template")
    mesh = load_mesh(workspace, source=source)
    domains = sorted({port["domain"] for port in mesh.graph.ports.values()})
    resolved = resolve_principals(domains, principals, principal_template)
    store = store_uri or mesh.settings.store_uri or str(mesh.settings.home)
    if fmt == "s3":
        text = render_s3(s3_bucket_policy(mesh.graph, store, mesh.settings.env, resolved, kitchens)) + "\n"
    else:
        if kitchens:
            raise MeshError("--kitchen is for --format s3: a local kitchen is one developer's own folder")
        if "://" in store:
            raise MeshError(f"--format posix is for a local store; {store} is not one (use --format s3)")
        text = posix_script(mesh.graph, str(Path(store).absolute() / mesh.settings.env), resolved)
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        out.write_text(text)
    except OSError as error:
        raise MeshError(f"cannot write the policy: {error.strerror}", file=out) from error
    click.echo(f"wrote the {fmt} policy for {len(mesh.graph.ports)} ports in {len(domains)} domains to {out}")
