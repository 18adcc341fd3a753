"""The dbt source whose tables mesh_core provides: input ports and local assets, pinned per run."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from mesh_core.domain import Domain
from mesh_core.errors import DefinitionError, MeshError
from mesh_core.ports import InputPort

if TYPE_CHECKING:  # a run loads the store and DuckDB; the location's definitions do not
    import duckdb

    from mesh_core.store import PortStore

SOURCE_SCHEMA = "mesh_inputs"
_REFUSED_SCHEMA = "mesh_refused"  # one null row per refused source, under its view that raises


def source_keys(
    domain: Domain, sources: Mapping[str, Any], source_nodes: dict[str, str], declared_in: str
) -> dict[str, dg.AssetKey]:
    """Each source table's asset key: its input port's, or its local asset's."""
    keys = {}
    for table, spec in sources.items():
        if isinstance(spec, InputPort):
            spec.check(domain=domain.name, port=None, file=declared_in)
        if table not in source_nodes:
            raise DefinitionError(f"dbt source table '{table}' is not declared in the project's sources",
                                  domain=domain.name)
        if isinstance(spec, InputPort):
            keys[table] = spec.asset_key
        elif isinstance(spec, dg.AssetsDefinition):
            keys[table] = spec.key
        else:
            raise DefinitionError(f"source '{table}' must map to an InputPort or a local asset", domain=domain.name)
    return keys


def pin_sources(
    store: PortStore, database: Path, sources: Mapping[str, Any], domain: str
) -> dict[str, dict[str, Any]]:
    """Point each source table at an exact snapshot, verified; return what was pinned (the "with what").

    Each input port is read as the store's reader, through its access check and audit. A
    local snapshot becomes a view over its version's parquet files; a snapshot on object
    storage, which DuckDB cannot reach offline, or one whose PII columns the reader reads
    masked at read (a snapshot without a masked copy), is copied into the run's database.
    An uncleared reader's view reads the snapshot's masked copy.
    """
    database.parent.mkdir(parents=True, exist_ok=True)
    inputs_read, relations, refused = {}, {}, {}
    for table, spec in sources.items():
        masked: tuple[str, ...] = ()
        if isinstance(spec, InputPort):
            snapshot = store.current(spec.port_id, spec.major)
            try:
                masked = store.admit(snapshot).masked  # the access check, as the store's reader; audited
            except MeshError as error:  # only the models that read it fail: the others still build
                refused[table] = (snapshot, error)
                continue
            snapshot, masked_at_read = store.readable(snapshot, masked)  # the masked copy, if it has one
            snapshot = store.verified(snapshot)
            inputs_read[spec.port_id] = {"port_id": spec.port_id, "version": snapshot.version,
                                         "snapshot_id": snapshot.snapshot_id, "data_version": snapshot.content_hash,
                                         "verified": snapshot.verified,
                                         **({"masked": list(masked)} if masked else {})}
            masked = masked_at_read
        else:
            try:
                snapshot = store.internal_snapshot(domain, spec.key.path[-1])
            except MeshError as error:
                raise MeshError(f"local asset {spec.key.to_user_string()} has not been materialized", domain=domain,
                                file=error.file) from error
            snapshot = store.verified(snapshot)
        relations[table] = (snapshot, masked)
    with _open(database, domain, store.env) as connection:
        connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{SOURCE_SCHEMA}"')
        for table, (snapshot, masked) in relations.items():
            name = f'"{SOURCE_SCHEMA}"."{table}"'
            if store.location.is_local and not masked:
                files = ", ".join("'" + uri.replace("'", "''") + "'" for uri in snapshot.file_uris)
                connection.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet([{files}])")
            else:  # masked at read, it is stored masked: a view over the files would need the key at every query
                frame = store.admitted_frame(snapshot, masked)  # noqa: F841 - DuckDB reads the local variable by name
                connection.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM frame")
        for table, (snapshot, error) in refused.items():
            _refusing_source(connection, store, snapshot, table, error)
    return inputs_read


def _refusing_source(
    connection: duckdb.DuckDBPyConnection, store: PortStore, snapshot: Any, table: str, error: MeshError
) -> None:
    """A source table the reader may not read: a view with its columns that raises the refusal when queried.

    A model that reads it fails with the refusal (already audited by ``admit``); the
    domain's other models, which do not, still build and publish.
    """
    from mesh_core.sql_catalog import null_row, raising

    row = null_row(store, snapshot)  # noqa: F841 - DuckDB reads the local variable by name
    select = "SELECT * FROM row" if row is not None else "SELECT NULL AS refused"
    connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{_REFUSED_SCHEMA}"')
    connection.execute(f'CREATE OR REPLACE TABLE "{_REFUSED_SCHEMA}"."{table}" AS {select}')
    connection.execute(f'CREATE OR REPLACE VIEW "{SOURCE_SCHEMA}"."{table}" AS SELECT * FROM '
                       f'"{_REFUSED_SCHEMA}"."{table}" WHERE {raising(error)}')


def _open(database: Path, domain: str, env: str) -> duckdb.DuckDBPyConnection:
    """The dbt domain's DuckDB database, opened for writing.

    Raises:
        MeshError: another process holds it: another build of the domain in the same env.
    """
    import duckdb

    try:
        return duckdb.connect(str(database))
    except duckdb.IOException as error:
        if "lock" not in str(error).lower():
            raise
        raise MeshError(
            f"the dbt database is in use by another build of {domain} in env '{env}' (another `mesh run`, or "
            "`dagster dev` materializing it); wait for it to finish, or run in another env (--env)",
            domain=domain, file=database,
        ) from None
