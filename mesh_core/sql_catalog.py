"""SQL views over the port store: one view per published port major, following its current Delta version.

Views are built when a connection opens (``mesh_core.sql.connect``) and are never
written by a publish, so a reader can neither block a publish nor see a view drift
from the store. Each view is admitted as the store's reader (``PortStore.admit``): a
refused port's view raises the refusal, and the PII columns the reader is not cleared
for are masked (``mesh_core.masking``), so ``"<domain>"."<port>"`` is clear only for a
cleared reader. A masked view reads data masked in Python and registered on the
connection: the masking key never reaches SQL, and no view names the clear files.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import TYPE_CHECKING

from mesh_core.errors import MeshError
from mesh_core.masking import mask_table

if TYPE_CHECKING:  # a location names its views at definition time, without loading the store
    import duckdb
    import pyarrow as pa
    import pyarrow.dataset as pyarrow_dataset

    from mesh_core.delta import Location
    from mesh_core.store import PortStore, Snapshot

logger = logging.getLogger(__name__)


def view_name(domain: str, port: str, major: int | None = None, catalog: str | None = None) -> str:
    """The quoted SQL name of a port's view; ``major`` selects a ``_v<major>`` view, ``catalog`` a database."""
    name = port if major is None else f"{port}_v{major}"
    return (f'"{catalog}".' if catalog else "") + f'"{domain}"."{name}"'


def published_ports(store: PortStore) -> dict[str, list[int]]:
    """Every port id in the store's environment (and, in a kitchen, its parents') with its published majors."""
    found = published_ports(store.parent) if store.parent is not None else {}
    for domain in _folders(store.location):
        for port in _folders(store.location.child(domain)):
            port_id = f"{domain}.{port}"
            try:
                majors = store.majors(port_id)
            except MeshError as error:
                logger.warning("skipping %s: %s", port_id, error)
                continue
            if majors:
                found[port_id] = majors
    return found


def major_views(port: str, major: int, majors: list[int]) -> list[str]:
    """A port major's view names: ``<port>_v<major>``, and ``<port>`` too for the newest of ``majors``."""
    return [f"{port}_v{major}"] + ([port] if major == majors[-1] else [])


def port_views(store: PortStore) -> list[str]:
    """The quoted names of every view ``create_views`` would make for ``store``, sorted; nothing is read."""
    return sorted(
        view_name(domain, view)
        for port_id, majors in published_ports(store).items()
        for domain, port in [port_id.split(".")]
        for major in majors
        for view in major_views(port, major, majors)
    )


def create_views(
    connection: duckdb.DuckDBPyConnection, store: PortStore, catalog: str | None = None,
    names: Collection[tuple[str, str]] | None = None,
) -> dict[str, str]:
    """Create a view per port major (and per port, for its newest major) on ``connection``.

    Each view reads the files of the major's current snapshot, checked against their
    hashes first unless the store's verification is off. A port that cannot be served
    gets a view that raises its error when queried. In a kitchen, a port it has not rebuilt
    is served by its parent's snapshot. The views go into ``catalog`` when given (an
    attached database), else the default one. ``names`` limits the views to those
    ``(domain, view)`` pairs (e.g. ``("users", "profiles_v1")``): only their ports are
    admitted, so only they are recorded as read. Returns each view's snapshot id or error.
    """
    served = {}
    for port_id, majors in sorted(published_ports(store).items()):
        domain, port = port_id.split(".")
        schema = (f'"{catalog}".' if catalog else "") + f'"{domain}"'
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for major in majors:
            views = [view_name(domain, view, catalog=catalog) for view in major_views(port, major, majors)
                     if names is None or (domain, view) in names]
            if not views:
                continue
            current = None
            try:
                snapshot = current = store.current(port_id, major)
                snapshot, masked = store.readable(snapshot, store.admit(snapshot).masked)
                snapshot = store.verified(snapshot)
                source = _masked(connection, store, snapshot, masked) if masked else _source(connection, store, snapshot)
            except MeshError as error:
                refusing = _refusing(connection, store, current, error)
                for name in views:
                    connection.execute(f"CREATE OR REPLACE VIEW {name} AS {refusing}")
                served[views[0]] = f"error: {error}"
                continue
            for name in views:
                connection.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {source}")
            served[views[0]] = snapshot.snapshot_id
    return served


def _refusing(connection: duckdb.DuckDBPyConnection, store: PortStore, snapshot: Snapshot | None,
              error: MeshError) -> str:
    """A query with the snapshot's columns and types that raises ``error`` when run, even under ``count(*)``.

    Its one row of nulls is filtered on the error, so any query of the view (naming a
    column, aggregating, counting) raises the refusal itself, not a binder error. Without
    a readable schema (no snapshot, or a file it cannot open) its one column is ``refused``.
    """
    row = null_row(store, snapshot) if snapshot is not None else None
    if row is None:
        return f"SELECT refused FROM (SELECT NULL AS refused) WHERE {raising(error)}"
    name = _relation_name("_mesh_refused", snapshot)
    connection.register(name, row)
    return f'SELECT * FROM "{name}" WHERE {raising(error)}'


def null_row(store: PortStore, snapshot: Snapshot) -> pa.Table | None:
    """One row of nulls with ``snapshot``'s columns and types, what a refusing view stands on; None if unreadable."""
    import pyarrow as pa

    try:
        schema = _dataset(store, snapshot).schema
    except (OSError, pa.ArrowException):
        return None
    return pa.table({field.name: pa.nulls(1, field.type) for field in schema})


def raising(error: MeshError) -> str:
    """A SQL filter that raises ``error`` on the first row it is evaluated for."""
    return f"error({_literal(str(error))}) IS NULL"


def _source(connection: duckdb.DuckDBPyConnection, store: PortStore, snapshot: Snapshot) -> str:
    """A local snapshot is read by DuckDB itself; a remote one through an Arrow dataset on deltalake's store."""
    if store.location.is_local:
        return "read_parquet([" + ", ".join(_literal(uri) for uri in snapshot.file_uris) + "])"
    table = _relation_name("_mesh", snapshot)
    connection.register(table, _dataset(store, snapshot))
    return f'"{table}"'


def _masked(
    connection: duckdb.DuckDBPyConnection, store: PortStore, snapshot: Snapshot, masked: tuple[str, ...]
) -> str:
    """The snapshot with ``masked`` columns masked in Python, as ``mask_table`` does, registered on the connection.

    The data is read as the view is made, once per connection: SQL gets masked values
    only, never the key (a view computing the mask in SQL would need it, and so would a
    function it calls, which would let any query hash its guesses).
    """
    table = mask_table(_dataset(store, snapshot).to_table(), masked, store.masking_key(snapshot.port_id))
    name = _relation_name("_mesh_masked", snapshot)
    connection.register(name, table)
    return f'"{name}"'


def _dataset(store: PortStore, snapshot: Snapshot) -> pyarrow_dataset.Dataset:
    import pyarrow.dataset as ds

    from mesh_core.delta import Location

    location = Location(snapshot.path, store.location.storage_options)
    return ds.dataset([data_file.path for data_file in snapshot.files], filesystem=location.filesystem())


def _relation_name(prefix: str, snapshot: Snapshot) -> str:
    return f"{prefix}_{snapshot.port_id.replace('.', '__')}_v{snapshot.major}_{snapshot.snapshot_id.replace('-', '_')}"


def _folders(location: Location) -> list[str]:
    from mesh_core.store import folders

    return [name for name in folders(location) if not name.startswith(("_", "."))]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
