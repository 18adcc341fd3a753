"""PII masking for uncleared readers: HMAC-SHA256 under the environment's key, computed by DuckDB.

A masked string is the hex HMAC-SHA256 of its UTF-8 bytes; a masked integer is the first
8 bytes of the HMAC of its decimal text, as a non-negative 63-bit integer. Both are
deterministic under one key, so joins on masked keys still work, and cannot be reversed
without the key. Every other type is masked to null (a hash cannot keep its dtype).
Nulls stay null. The same SQL expression masks frames read through ``PortStore``, the
DuckDB catalog's views and a dbt domain's sources, so all agree.

Example:
    >>> import pyarrow as pa
    >>> mask_table(pa.table({"email": ["a@b.c"]}), ["email"], b"key").column("email")[0].as_py()[:16]
    'f2b3ad5c8ab5e4b7'
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mesh_core.errors import MeshError

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

logger = logging.getLogger(__name__)

# The embedded development environment's key, used only for a local store in env 'dev' when
# MESH_PII_KEY is unset, so `dagster dev` on the example works out of the box. It is public:
# masked values under it can be reversed by guessing, so it is refused everywhere else.
DEV_KEY = b"mesh-core embedded dev key: not a secret"
_BLOCK = 64  # SHA-256's block size, for HMAC's pads
_LOW_63_BITS = (1 << 63) - 1
_warned: set[str] = set()


def resolve_key(key: str | None, *, env: str, local: bool, reader: str | None, port_id: str) -> bytes:
    """The masking key: ``MESH_PII_KEY``, or the dev key for a local store in env ``dev``.

    Raises:
        MeshError: no key is set where one is needed, naming the reader and the port.
    """
    if key:
        return key.encode()
    if env == "dev" and local:
        if port_id not in _warned:
            _warned.add(port_id)
            logger.warning("MESH_PII_KEY is unset: masking PII of %s with the embedded dev key (not a secret)", port_id)
        return DEV_KEY
    who = f"domain {reader}" if reader else "an anonymous reader"
    raise MeshError(
        f"{who} reads {port_id} with its PII columns masked, but MESH_PII_KEY is not set; set it to the "
        f"environment's masking secret (env '{env}' is not the embedded local dev environment)",
        domain=reader, port=port_id,
    )


def pads(key: bytes) -> dict[str, bytes]:
    """HMAC's inner and outer pads of ``key``, as query parameters ``ipad`` and ``opad``."""
    import hashlib

    block = (hashlib.sha256(key).digest() if len(key) > _BLOCK else key).ljust(_BLOCK, b"\0")
    return {"ipad": bytes(b ^ 0x36 for b in block), "opad": bytes(b ^ 0x5C for b in block)}


def mask_sql(column: str, arrow_type: pa.DataType, ipad: str = "$ipad", opad: str = "$opad") -> str:
    """The DuckDB expression masking the quoted ``column`` of ``arrow_type``; ``ipad``/``opad`` name the pads."""
    import pyarrow as pa

    def hmac(message: str) -> str:
        return f"sha256({opad} || unhex(sha256({ipad} || {message})))"

    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return f"{hmac(f'CAST({column} AS BLOB)')}"
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return f"CAST({hmac(column)} AS BLOB)"
    if pa.types.is_integer(arrow_type):
        digest = hmac(f"CAST(CAST({column} AS VARCHAR) AS BLOB)")
        return f"CAST(CAST('0x' || left({digest}, 16) AS UBIGINT) & {_LOW_63_BITS} AS BIGINT)"
    return f"CAST(NULL AS {_duckdb_type(arrow_type)})"


def mask_table(table: pa.Table, columns: Sequence[str], key: bytes) -> pa.Table:
    """``table`` with each of ``columns`` (that it has) masked under ``key``; other columns untouched."""
    import duckdb

    present = [name for name in columns if name in table.column_names]
    if not present:
        return table
    connection = duckdb.connect()
    try:
        masked = mask_relation(connection, table, present, key)
    finally:
        connection.close()
    for name in present:
        index = table.column_names.index(name)
        table = table.set_column(index, table.field(index).with_type(masked.schema.field(name).type),
                                 masked.column(name))
    return table


def mask_relation(connection: duckdb.DuckDBPyConnection, table: pa.Table, columns: Sequence[str], key: bytes) -> pa.Table:
    """The masked ``columns`` of ``table`` alone, computed on ``connection``."""
    connection.register("_mesh_unmasked", table)
    select = ", ".join(f"{mask_sql(quote(name), table.schema.field(name).type)} AS {quote(name)}" for name in columns)
    try:
        return connection.sql(f"SELECT {select} FROM _mesh_unmasked", params=pads(key)).to_arrow_table()
    finally:
        connection.unregister("_mesh_unmasked")


def masked_select(schema: pa.Schema, columns: Sequence[str], ipad: str = "$ipad", opad: str = "$opad") -> str:
    """A select list keeping every column of ``schema`` in order, ``columns`` masked."""
    return ", ".join(
        f"{mask_sql(quote(field.name), field.type, ipad, opad)} AS {quote(field.name)}"
        if field.name in columns else quote(field.name)
        for field in schema
    )


def quote(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _duckdb_type(arrow_type: pa.DataType) -> str:
    import duckdb
    import pyarrow as pa

    empty = pa.table({"c": pa.array([], arrow_type)})
    return str(duckdb.sql("SELECT c FROM empty").types[0])
