"""PII masking for uncleared readers: HMAC-SHA256 under the environment's key.

A masked string is the first 16 bytes (128 bits, as RFC 2104 allows an HMAC to be cut) of
the HMAC-SHA256 of its UTF-8 bytes, in unpadded base64url: 22 characters, shorter than most
values it replaces, so a masked copy is no larger than the clear data. A masked integer is
the first 8 bytes of the HMAC of its decimal text, as a non-negative 63-bit integer. Both are
deterministic under one key, so joins on masked keys still work, and cannot be reversed
without the key. Every other type is masked to null (a hash cannot keep its dtype).
Nulls stay null. Data is masked in Arrow, hashing each distinct value once
(``mask_table``), by every reader: ``PortStore``, a dbt domain's sources and the DuckDB
catalog's views alike. The key stays in Python: it never reaches SQL.

Example:
    >>> import pyarrow as pa
    >>> mask_table(pa.table({"email": ["a@b.c"]}), ["email"], b"key").column("email")[0].as_py()
    'Oa5JxQQmsr0IVDUIs3btkA'
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
MIN_KEY_BYTES = 16  # 128 bits: a shorter secret can be found by trying keys against a known value
_LOW_63_BITS = (1 << 63) - 1
MASKED_TEXT_BYTES = 16  # of the HMAC kept in a masked string: 128 bits
_FINGERPRINT_LABEL = b"mesh-core masking key fingerprint"
_warned: set[str] = set()


def resolve_key(key: str | None, *, env: str, local: bool, reader: str | None, port_id: str) -> bytes:
    """The masking key: ``MESH_PII_KEY``, or the dev key for a local store in env ``dev``.

    Raises:
        MeshError: no key is set where one is needed, the key is shorter than ``MIN_KEY_BYTES``,
            or it is the public dev key outside the local dev environment; naming the reader and the port.
    """
    dev = env == "dev" and local
    if key:
        encoded = key.encode()
        if encoded == DEV_KEY and not dev:
            problem = "is the embedded dev key, which is public: masked values under it can be reversed"
        elif len(encoded) < MIN_KEY_BYTES:
            problem = f"is {len(encoded)} bytes long; a masking key needs at least {MIN_KEY_BYTES}"
        else:
            return encoded
        raise MeshError(
            f"MESH_PII_KEY {problem}; set it to the environment's own secret, e.g. the output of "
            f"`python -c 'import secrets; print(secrets.token_hex(32))'`", domain=reader, port=port_id,
        )
    if dev:
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
    """``array`` masked under ``key``: strings and binaries to their cut HMAC (``masked_text``), integers to a
    63-bit one, else nulls."""
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
        digests = pa.array([masked_text(digest(value.encode())) for value in values], kind)
    elif binary:
        digests = pa.array([masked_text(digest(value)).encode() for value in values], kind)
    else:
        digests = pa.array(
            [int.from_bytes(digest(str(value).encode())[:8], "big") & _LOW_63_BITS for value in values], pa.int64()
        )
    return digests.take(encoded.indices)


def masked_text(digest: bytes) -> str:
    """A string's mask from its HMAC-SHA256 ``digest``: the first 16 bytes in unpadded base64url (22 characters)."""
    import base64

    return base64.urlsafe_b64encode(digest[:MASKED_TEXT_BYTES]).rstrip(b"=").decode()


def _hmac(key: bytes) -> Callable[[bytes], bytes]:
    """HMAC-SHA256 under ``key``, its key schedule computed once: one ``hmac`` state copied per message."""
    import hashlib
    import hmac

    keyed = hmac.new(key, digestmod=hashlib.sha256)

    def digest(message: bytes) -> bytes:
        state = keyed.copy()
        state.update(message)
        return state.digest()

    return digest
