"""Kitchen metadata: an environment with a parent, recorded in ``<store>/<env>/_kitchen.json``.

The store reads it (``PortStore.parent``) to serve a port the kitchen has not rebuilt from
the parent's published snapshot, read-only; the ``mesh kitchen`` commands write it.

Example:
    >>> parent_of(Location("/srv/mesh/try-filter"))  # doctest: +SKIP
    'dev'
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from mesh_core.delta import Location
from mesh_core.errors import StoreError

KITCHEN_FILE = "_kitchen.json"


def kitchen_record(location: Location) -> dict[str, Any] | None:
    """What ``_kitchen.json`` in the environment at ``location`` says, or None when it is not a kitchen.

    The environment's top level is listed, not the file asked for: on S3 asking for a
    missing object is refused (403) to a principal that may not list the whole bucket,
    while ``mesh access policy`` lets every principal list the top level.

    Raises:
        StoreError: the file is there but damaged, or the store cannot be read (denied, unreachable).
    """
    where = f"{location.uri}/{KITCHEN_FILE}"
    filesystem = location.filesystem()
    try:
        found = filesystem.get_file_info(pafs.FileSelector("", allow_not_found=True))
        if not any(info.base_name == KITCHEN_FILE and info.type == pafs.FileType.File for info in found):
            return None
        with filesystem.open_input_stream(KITCHEN_FILE) as stream:
            data = stream.read()
    except (OSError, pa.ArrowException) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise StoreError(f"cannot read kitchen metadata (access denied or store unreachable?): {reason}",
                         file=where) from error
    try:
        record = json.loads(data.decode())
    except ValueError as error:
        raise StoreError(f"damaged kitchen metadata: {error}", file=where) from error
    if not isinstance(record, dict) or not isinstance(record.get("parent"), str):
        raise StoreError("damaged kitchen metadata: no parent environment recorded", file=where)
    return record


def parent_of(location: Location) -> str | None:
    """The parent environment of the environment at ``location``, or None when it is not a kitchen."""
    record = kitchen_record(location)
    return None if record is None else record["parent"]


def write_kitchen_record(location: Location, name: str, parent: str) -> dict[str, Any]:
    """Make the environment at ``location`` a kitchen of ``parent``: one atomic write of ``_kitchen.json``.

    Locally the record is written beside its final name and renamed; an object store
    makes an object visible only once it is written whole. A reader never sees half of it.
    """
    record = {"kitchen": name, "parent": parent, "created_at": datetime.now(timezone.utc).isoformat()}
    body = json.dumps(record, indent=2).encode()
    filesystem = location.filesystem()
    if not location.is_local:
        with filesystem.open_output_stream(KITCHEN_FILE) as stream:
            stream.write(body)
        return record
    Path(location.uri).mkdir(parents=True, exist_ok=True)
    partial = f"{KITCHEN_FILE}.{uuid.uuid4().hex}.partial"
    with filesystem.open_output_stream(partial) as stream:
        stream.write(body)
    try:
        filesystem.move(partial, KITCHEN_FILE)
    except BaseException:
        _delete(filesystem, partial)
        raise
    return record


def _delete(filesystem: pafs.FileSystem, path: str) -> None:
    try:
        filesystem.delete_file(path)
    except (OSError, FileNotFoundError):
        pass
