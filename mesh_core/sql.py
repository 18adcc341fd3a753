"""SQL on the mesh: a DuckDB connection with a view per published port.

Example:
    >>> from mesh_core.sql import connect  # doctest: +SKIP
    >>> connect().sql('SELECT count(*) FROM "users"."profiles"').fetchone()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Collection

import duckdb

from mesh_core.errors import MeshError
from mesh_core.sql_catalog import create_views
from mesh_core.store import PortStore


def connect(
    store: PortStore | None = None, *, reader: str | None = None, tables: Collection[str] | None = None
) -> duckdb.DuckDBPyConnection:
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
    if store is None:
        store = PortStore.from_env(reader=reader)
    elif reader is not None and store.reader != reader:
        if store.reader is not None:
            raise MeshError(f"connect(): the store reads as domain {store.reader}, but reader={reader!r} was given; "
                            "pass one of them", domain=reader)
        store = store.as_reader(reader, store.run_id)
    wanted = None if tables is None else _parse_names(tables)
    create_views(connection, store, names=None if wanted is None else wanted.get(None, set()))
    if store.parent is not None:
        connection.execute("ATTACH ':memory:' AS parent")
        create_views(connection, store.parent, catalog="parent",
                     names=None if wanted is None else wanted.get("parent", set()))
    return connection


def tables_read(query: str) -> list[str]:
    """The qualified names of the tables ``query`` (one or more statements) reads, as DuckDB's parser sees them.

    Raises:
        duckdb.Error: the query does not parse.
    """
    return sorted({name for statement in duckdb.extract_statements(query)
                   for name in duckdb.get_table_names(statement.query, qualified=True)})


def _parse_names(tables: Collection[str]) -> dict[str | None, set[tuple[str, str]]]:
    """Each catalog's (``None``: the default one) views named in ``tables``, as ``(domain, view)`` pairs.

    A name may be quoted and carry an alias (``users.profiles AS p``); a name without a
    schema cannot be a port's view and is skipped.
    """
    wanted: dict[str | None, set[tuple[str, str]]] = {}
    for table in tables:
        parts = _identifiers(table)
        if len(parts) == 2:
            wanted.setdefault(None, set()).add((parts[0], parts[1]))
        elif len(parts) == 3:
            wanted.setdefault(parts[0], set()).add((parts[1], parts[2]))
    return wanted


def _identifiers(name: str) -> list[str]:
    """The dot-separated identifiers at the start of ``name``, unquoted and case-folded, up to a space."""
    parts, current, index = [], "", 0
    while index < len(name) and name[index] != " ":
        if name[index] == '"':
            end = index + 1
            while end < len(name) and not (name[end] == '"' and name[end + 1:end + 2] != '"'):
                end += 2 if name[end] == '"' else 1
            current += name[index + 1:end].replace('""', '"')
            index = end + 1
        elif name[index] == ".":
            parts.append(current)
            current, index = "", index + 1
        else:
            current += name[index]
            index += 1
    return [part.casefold() for part in [*parts, current]]
