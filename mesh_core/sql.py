"""SQL on the mesh: a DuckDB connection with a view per published port.

Example:
    >>> from mesh_core.sql import connect  # doctest: +SKIP
    >>> connect().sql('SELECT count(*) FROM "users"."profiles"').fetchone()  # doctest: +SKIP
"""

from __future__ import annotations

import duckdb

from mesh_core.sql_catalog import create_views
from mesh_core.store import PortStore


def connect(store: PortStore | None = None, *, reader: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with ``"<domain>"."<port>_v<major>"`` and ``"<domain>"."<port>"`` views.

    The views read each port major's snapshot that is current as the connection opens,
    verified against its recorded hashes unless ``MESH_VERIFY=off``. Open a new
    connection to see later publishes. ``store`` defaults to ``PortStore.from_env()``,
    read as domain ``reader``: a port it may not read has a view that raises the
    refusal, and the PII columns it is not cleared for are masked in the views (an
    anonymous reader sees public ports only, their PII masked). Each view is recorded
    in the audit trail as a read when the connection opens.

    In a kitchen, ports it has not rebuilt are read from its parent's snapshots, and the
    attached database ``parent`` holds the parent's views (``"parent"."<domain>"."<port>"``),
    so one session compares both.
    """
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    store = store or PortStore.from_env(reader=reader)
    create_views(connection, store)
    if store.parent is not None:
        connection.execute("ATTACH ':memory:' AS parent")
        create_views(connection, store.parent, catalog="parent")
    return connection
