"""Product metadata on output ports, using Dagster's standard keys where one exists."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import linecache
import marshal
import platform
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
import pandera.pandas as pa

from mesh_core.contracts import Contract
from mesh_core.schema_doc import is_pii
from mesh_core.settings import MeshSettings
from mesh_core.sql_catalog import view_name

if TYPE_CHECKING:
    from mesh_core.store import Snapshot


def column_schema(schema: pa.DataFrameSchema) -> dg.TableSchema:
    """The contract's columns as a Dagster ``TableSchema``, with descriptions and PII tags."""
    columns = []
    for name, column in schema.columns.items():
        columns.append(
            dg.TableColumn(
                name=str(name),
                type=str(column.dtype),
                description=column.description,
                constraints=dg.TableColumnConstraints(
                    nullable=column.nullable,
                    unique=column.unique,
                    other=[str(check) for check in column.checks],
                ),
                tags={"pii": "true"} if is_pii(column) else {},
            )
        )
    return dg.TableSchema(columns=columns)


def port_definition_metadata(port_id: str, contract: Contract) -> dict[str, Any]:
    """What a port is and where to find it: attached to the asset definition.

    The PII columns are always stated (none is an answer); the restricted port's consumers
    and the domains cleared for PII are left out when there are none, as every entry is
    carried, for each port, in the repository snapshot a code server sends.
    """
    domain, port = port_id.split(".")
    grants = {"mesh/consumers": list(contract.consumers), "mesh/pii_cleared": list(contract.pii_cleared)}
    return {
        "dagster/column_schema": column_schema(contract.schema),
        "dagster/table_name": view_name(domain, port).replace('"', ""),
        "mesh/port_id": port_id,
        "mesh/contract_version": contract.version,
        "mesh/access": contract.access,
        "mesh/pii_columns": list(contract.pii_columns),
        **{key: value for key, value in grants.items() if value},
    }


def materialization_metadata(snapshot: Snapshot, inputs_read: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Where the new snapshot is, and with what inputs it was built."""
    domain, port = snapshot.port_id.split(".")
    return {
        "dagster/uri": snapshot.path,
        "dagster/table_name": f"{domain}.{port}_v{snapshot.major}",
        "dagster/row_count": snapshot.rows,
        "mesh/snapshot_id": snapshot.snapshot_id,
        "mesh/content_hash": snapshot.content_hash,
        "mesh/contract_version": snapshot.version,
        "mesh/delta_version": snapshot.delta_version,
        "mesh/inputs": dg.MetadataValue.json(inputs_read),
    }


def connection_snippet(port_id: str, major: int, env: str) -> dg.MarkdownMetadataValue:
    """Ready-to-paste Python and SQL that read the port's current snapshot."""
    domain, port = port_id.split(".")
    return dg.MetadataValue.md(
        "Python:\n\n```python\nfrom mesh_core import PortStore\n\n"
        f'frame, snapshot = PortStore.from_env(reader="<your domain>").read("{port_id}", major={major})\n```\n\n'
        f"SQL (DuckDB), views over the current snapshots as the connection opens:\n\n```python\n"
        f"from mesh_core.sql import connect\n\n"
        f'connect(reader="<your domain>").sql(\'SELECT * FROM "{domain}"."{port}_v{major}"\')\n```\n\n'
        f"or `MESH_ENV={env} mesh sql --reader <your domain> 'SELECT * FROM \"{domain}\".\"{port}_v{major}\"'`\n"
    )


def port_links(settings: MeshSettings, port_id: str, version: str, source_file: str | None) -> dict[str, str]:
    """Where to read about, run, and change a port: catalog, Dagster UI, contract, source."""
    domain, port = port_id.split(".")
    links = {
        "catalog": f"{settings.catalog_url}/products/{port_id}.html",
        "dagster": f"{settings.dagster_url}/assets/{domain}/{port}",
        "contract": f"{settings.catalog_url}/{contract_path(port_id, version)}",
    }
    if source_file:
        links["source"] = _source_link(settings, Path(source_file).parent, domain)
    return links


def contract_id(port_id: str, version: str) -> str:
    """The id of one version of a port's contract in ODCS and ODPS documents, e.g. ``users.profiles-1.0.0``."""
    return f"{port_id}-{version}"


def contract_path(port_id: str, version: str) -> str:
    """Where, in the catalog, one version of a port's ODCS contract is; linters look for ``*.odcs.yaml``."""
    return f"odcs/{contract_id(port_id, version)}.odcs.yaml"


def domain_links(settings: MeshSettings, domain: str, owner: str, source_dir: Path | None) -> dict[str, str]:
    """A domain's URLs: catalog page, Dagster asset group, source folder and owner contact."""
    links = {
        "catalog": f"{settings.catalog_url}/domains/{domain}.html",
        "dagster": f"{settings.dagster_url}/locations/__repository__@{domain}/asset-groups/{domain}",
        "owner": f"mailto:{owner}" if "@" in owner else f"{settings.catalog_url}/domains/{domain}.html#owner",
    }
    if source_dir:
        links["source"] = _source_link(settings, source_dir, domain)
    return links


def links_metadata(links: dict[str, str]) -> dict[str, Any]:
    """Links as clickable Dagster metadata, plus the whole set as JSON."""
    return {"mesh/links": dg.MetadataValue.json(links)} | {
        f"mesh/link/{name}": dg.MetadataValue.url(url) for name, url in links.items()
    }


def code_version(*parts: str) -> str:
    """A short, stable hash of what defines a port: its code and its contract."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def function_source(fn: Any) -> str:
    """A function's source code, decorators included, for its code version.

    The lines come from the code object's own span, as ``inspect.getsource`` finds
    them but without re-tokenizing the file for every port (a tenth of a location's
    load time at 500 ports). Without a source file, the compiled code stands in.
    """
    code = getattr(fn, "__code__", None)
    if code is None:
        return f"{fn.__module__}.{fn.__qualname__}"
    lines = linecache.getlines(code.co_filename)
    last = max((end for _, end, _, _ in code.co_positions() if end is not None), default=0)
    if not lines or last < code.co_firstlineno:
        return marshal.dumps(code).hex()
    return "".join(lines[code.co_firstlineno - 1 : last])


def how_metadata(run_id: str | None, source_file: str | None) -> dict[str, Any]:
    """How a snapshot was built: run, git commit of the domain's code, toolchain versions."""
    metadata: dict[str, Any] = {"mesh/toolchain": dg.MetadataValue.json(_toolchain())}
    if run_id:
        metadata["mesh/run_id"] = run_id
    commit = _git_commit(str(Path(source_file).parent)) if source_file else None
    if commit:
        metadata["mesh/git_commit"] = commit
    return metadata


@functools.cache
def _toolchain() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("dagster", "pandas", "pandera", "pyarrow", "duckdb", "dbt-core", "dagster-dbt"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


@functools.cache
def _git_commit(folder: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _source_link(settings: MeshSettings, folder: Path, domain: str) -> str:
    if settings.source_url:
        return f"{settings.source_url}/domains/{domain}"
    return folder.absolute().as_uri()
