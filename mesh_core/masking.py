"""PII masking for uncleared readers: HMAC-SHA256 under the environment's key, computed by DuckDB.

A masked string is the hex HMAC-SHA256 of its UTF-8 bytes; a masked integer is the first
8 bytes of the HMAC of its decimal text, as a non-negative 63-bit integer. Both are
deterministic under one key, so joins on masked keys still work, and cannot be reversed
without the key. Every other type is masked to null (a hash cannot keep its dtype).
Nulls stay null. Frames read through ``PortStore`` are masked in Arrow, hashing each
distinct value once (``mask_table``); the DuckDB catalog's views and a dbt domain's
sources use the same function as SQL (``mask_sql``); the tests hold the two to agree.

Example:
    >>> import pyarrow as pa
    >>> mask_table(pa.table({"email": ["a@b.c"]}), ["email"], b"key").column("email")[0].as_py()[:16]
    '39ae49c50426b2bd'
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from mesh_core.errors import MeshError

if TYPE_CHECKING:
    import pyarrow as pa

logger = logging.getLogger(__name__)

# The embedded development environment's key, used only for a local store in env 'dev' when
# MESH_PII_KEY is unset, so `dagster dev` on the example works out of the box. It is public:
# masked values under it can be reversed by guessing, so it is refused everywhere else.
DEV_KEY = b"mesh-core embedded dev key: not a secret"
_BLOCK = 64  # SHA-256's block size, for HMAC's pads
_LOW_63_BITS = (1 << 63) - 1
_FINGERPRINT_LABEL = b"mesh-core masking key fingerprint"
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


def key_fingerprint(key: bytes) -> str:
    """A keyed hash of a fixed label under ``key``: names the key a masked copy was made with, never reveals it."""
    return _hmac(key)(_FINGERPRINT_LABEL).hex()[:16]


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
    """``table`` with each of ``columns`` (that it has) masked under ``key``; other columns untouched.

    Each distinct value is hashed once (a column is dictionary-encoded first), so a PII
    column repeated across rows, such as a user's email on each of their plays, costs
    one HMAC per user, not per row.
    """
    for name in columns:
        if name in table.column_names:
            index = table.column_names.index(name)
            masked = mask_array(table.column(index).combine_chunks(), key)
            table = table.set_column(index, table.field(index).with_type(masked.type), masked)
    return table


def mask_array(array: pa.Array, key: bytes) -> pa.Array:
    """``array`` masked under ``key``: strings and binaries to their hex HMAC, integers to a 63-bit one, else nulls."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if isinstance(array, pa.DictionaryArray):
        array, kind = array.dictionary_decode(), kind.value_type
    textual = pa.types.is_string(kind) or pa.types.is_large_string(kind)
    binary = pa.types.is_binary(kind) or pa.types.is_large_binary(kind)
    if not (textual or binary or pa.types.is_integer(kind)):
        return pa.nulls(len(array), kind)
    encoded = pc.dictionary_encode(array)
    values = encoded.dictionary.to_pylist()
    digest = _hmac(key)
    if textual:
        digests = pa.array([digest(value.encode()).hex() for value in values], kind)
    elif binary:
        digests = pa.array([digest(value).hex().encode() for value in values], kind)
    else:
        digests = pa.array(
            [int.from_bytes(digest(str(value).encode())[:8], "big") & _LOW_63_BITS for value in values], pa.int64()
        )
    return digests.take(encoded.indices)


def _hmac(key: bytes) -> Callable[[bytes], bytes]:
    """HMAC-SHA256 under ``key`` (RFC 2104), its pads hashed once: two SHA-256 states copied per message."""
    import hashlib

    padded = pads(key)
    inner, outer = hashlib.sha256(padded["ipad"]), hashlib.sha256(padded["opad"])

    def digest(message: bytes) -> bytes:
        first = inner.copy()
        first.update(message)
        second = outer.copy()
        second.update(first.digest())
        return second.digest()

    return digest


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
    return str(duckdb.sql("SELECT c FROM empty").types[0])  # DuckDB scans the local `empty` by name
