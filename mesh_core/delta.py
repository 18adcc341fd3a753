"""Delta Lake tables through ``deltalake``: hashed data files, commits carrying mesh metadata, verified reads.

A table is written in two steps. ``write_file`` writes one parquet file into the table's
folder (invisible to readers: nothing in the log names it) and hashes its bytes as they
are written. ``commit`` then makes the files the table's whole content in one Delta
commit whose commit info carries the mesh metadata under the key ``"mesh"``, on top of
an exact read version (optimistic concurrency: a concurrent writer makes it fail).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import DeltaTable, Schema
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError
from deltalake.fs import DeltaStorageHandler
from deltalake.transaction import AddAction, CommitProperties, create_table_with_add_actions

METADATA_KEY = "mesh"
# Commits that change no data: a publish before them is still the table's content.
_NO_DATA_CHANGE = ("VACUUM START", "VACUUM END", "SET TBLPROPERTIES", "CREATE CHECKPOINT")
# Mesh keeps every commit's info: the current publish's metadata must outlive log cleanup.
# A checkpoint every 10 commits bounds the log a reader replays to open a table (on S3, each
# commit since the last checkpoint is a round trip: 1 s at 99 commits with delta-rs's default of 100).
CHECKPOINT_INTERVAL = 10
# A column is dictionary-encoded when its first rows repeat values enough: at most one
# distinct value per ``_DICTIONARY_MAX_SHARE`` of ``_DICTIONARY_SAMPLE`` rows. A dictionary
# for a column of nearly unique values (keys, timestamps, measures) costs time and bytes.
_DICTIONARY_SAMPLE = 65_536
_DICTIONARY_MAX_SHARE = 10
_TABLE_CONFIGURATION = {
    "delta.enableExpiredLogCleanup": "false",
    "delta.checkpointInterval": str(CHECKPOINT_INTERVAL),
}


class CommitRetry(Exception):
    """Only commits that change no data (a vacuum) came first: commit again on the newest version."""


class CommitLost(Exception):
    """Another writer committed a data change to the table after ``base_version``."""

    def __init__(self, version: int, operation: str) -> None:
        self.version = version
        self.operation = operation
        super().__init__(f"version {version} ({operation}) was committed by another writer first")


@dataclass(frozen=True)
class DataFile:
    """One parquet file of a table: its path inside the table, sha256, size and row count."""

    path: str
    sha256: str
    size: int
    rows: int


@dataclass(frozen=True)
class Location:
    """Where a table lives: a local folder or an object-store URI, and the options to reach it."""

    uri: str
    storage_options: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def child(self, *parts: str) -> Location:
        """The location ``parts`` below this one."""
        return Location("/".join([self.uri.rstrip("/"), *parts]), self.storage_options)

    @property
    def is_local(self) -> bool:
        """Whether the location is a local folder."""
        return "://" not in self.uri

    def filesystem(self) -> pafs.FileSystem:
        """A pyarrow filesystem rooted here: the local one, pyarrow's S3 with the same options, or deltalake's store."""
        if self.is_local:
            return pafs.SubTreeFileSystem(self.uri, pafs.LocalFileSystem())
        scheme, _, path = self.uri.partition("://")
        if scheme in ("s3", "s3a"):
            return pafs.SubTreeFileSystem(path, _s3(self.storage_options))
        return pafs.PyFileSystem(DeltaStorageHandler(self.uri, self.storage_options or None))

    def options(self) -> dict[str, str] | None:
        """The storage options for ``deltalake`` calls."""
        return self.storage_options or None


def _s3(options: dict[str, str]) -> pafs.S3FileSystem:
    """pyarrow's S3 filesystem configured from the ``AWS_*`` options deltalake uses."""
    endpoint = options.get("AWS_ENDPOINT_URL", "")
    scheme, _, host = endpoint.partition("://") if "://" in endpoint else ("https", "", endpoint)
    return pafs.S3FileSystem(
        access_key=options.get("AWS_ACCESS_KEY_ID"),
        secret_key=options.get("AWS_SECRET_ACCESS_KEY"),
        session_token=options.get("AWS_SESSION_TOKEN"),
        region=options.get("AWS_REGION") or options.get("AWS_DEFAULT_REGION"),
        endpoint_override=host or None,
        scheme=scheme,
    )


def content_hash(files: list[DataFile]) -> str:
    """The hash of a commit's content: the sha256 of its one file, or of its files' hashes in order."""
    if len(files) == 1:
        return files[0].sha256
    return hashlib.sha256("\n".join(f.sha256 for f in files).encode()).hexdigest()


def load(location: Location, version: int | None = None) -> DeltaTable | None:
    """The table at ``location`` (at ``version``, else the newest), or None if there is none."""
    try:
        return DeltaTable(location.uri, version=version, storage_options=location.options())
    except TableNotFoundError:
        return None


def write_file(location: Location, table: pa.Table, folder: str | None = None, stem: str = "part") -> DataFile:
    """Write ``table`` as a new parquet file in the table's folder, hashing its bytes as they are written.

    ``folder`` (a sub-folder of the table, e.g. ``_masked``) and ``stem`` (the file name's start)
    place a file Delta does not serve: a folder starting with ``_`` is hidden from Delta and its vacuum.
    """
    if location.is_local:
        pafs.LocalFileSystem().create_dir(f"{location.uri}/{folder}" if folder else location.uri, recursive=True)
    filesystem = location.filesystem()
    name = (f"{folder}/" if folder else "") + f"{stem}-{uuid.uuid4().hex}.parquet"
    with filesystem.open_output_stream(name) as raw:
        sink = _HashingSink(raw)
        pq.write_table(table, sink, use_dictionary=dictionary_columns(table))
        size = sink.size
    return DataFile(name, sink.digest.hexdigest(), size, table.num_rows)


def dictionary_columns(table: pa.Table) -> list[str]:
    """The columns worth a parquet dictionary: already dictionaries, or few distinct values in the first rows.

    The choice depends only on the data, so the same table always gives the same bytes
    (and the same hash). Nested and all-null columns are written without a dictionary.
    """
    chosen = []
    for name, column in zip(table.column_names, table.columns):
        kind = column.type
        if pa.types.is_dictionary(kind):
            chosen.append(name)
        elif not (pa.types.is_nested(kind) or pa.types.is_null(kind)):
            sample = column.slice(0, _DICTIONARY_SAMPLE)
            if pc.count_distinct(sample, mode="all").as_py() * _DICTIONARY_MAX_SHARE <= len(sample):
                chosen.append(name)
    return chosen


def copy_parquet(location: Location, source: Path) -> tuple[DataFile, pa.Schema]:
    """Copy a parquet file byte for byte into the table's folder (its hash stays); returns it and its schema."""
    data = source.read_bytes()
    metadata = pq.read_metadata(pa.BufferReader(data))
    if location.is_local:
        pafs.LocalFileSystem().create_dir(location.uri, recursive=True)
    name = f"part-{uuid.uuid4().hex}.parquet"
    with location.filesystem().open_output_stream(name) as sink:
        sink.write(data)
    return DataFile(name, hashlib.sha256(data).hexdigest(), len(data), metadata.num_rows), metadata.schema.to_arrow_schema()


def remove_files(location: Location, files: list[DataFile]) -> None:
    """Delete data files no commit names (a lost publish's), best effort."""
    filesystem = location.filesystem()
    for data_file in files:
        try:
            filesystem.delete_file(data_file.path)
        except OSError:
            continue


def commit(
    location: Location, files: list[DataFile], schema: pa.Schema, metadata: dict[str, Any], base: DeltaTable | None
) -> None:
    """Make ``files`` the table's whole content in one commit on top of ``base`` (None: create it).

    Raises:
        CommitLost: another writer committed a data change first.
        CommitRetry: only a vacuum committed first; the same files may be committed again.
    """
    properties = CommitProperties(custom_metadata={METADATA_KEY: json.dumps(metadata)}, max_commit_retries=0)
    now = int(time.time() * 1000)
    actions = [AddAction(f.path, f.size, {}, now, True, json.dumps({"numRecords": f.rows})) for f in files]
    try:
        if base is None:
            create_table_with_add_actions(
                location.uri, Schema.from_arrow(schema), actions, mode="error", configuration=_TABLE_CONFIGURATION,
                storage_options=location.options(), commit_properties=properties,
            )
        else:
            base.create_write_transaction(actions, "overwrite", schema, commit_properties=properties)
    except (CommitFailedError, DeltaError) as error:
        after = -1 if base is None else base.version()
        newest = load(location)
        if newest is None or newest.version() <= after:
            raise
        winner = _first_data_change(location, after, newest.version())
        if winner is None:
            raise CommitRetry(str(error)) from error
        raise CommitLost(*winner) from error


def annotate(location: Location, base: DeltaTable, metadata: dict[str, Any]) -> None:
    """Record ``metadata`` in a commit on top of ``base`` that changes no data (it sets the mesh's table properties again).

    Raises:
        CommitLost: another writer committed first (the caller decides again on the newest version).
    """
    properties = CommitProperties(custom_metadata={METADATA_KEY: json.dumps(metadata)}, max_commit_retries=0)
    try:
        base.alter.set_table_properties(dict(_TABLE_CONFIGURATION), commit_properties=properties)
    except (CommitFailedError, DeltaError) as error:
        newest = load(location)
        if newest is None or newest.version() <= base.version():
            raise
        info = commit_info(location, base.version() + 1)
        raise CommitLost(base.version() + 1, str(info.get("operation", "?"))) from error


def restore(location: Location, version: int, metadata: Callable[[int], dict[str, Any]] | None) -> None:
    """Commit the content of ``version`` again as the newest version, recording ``metadata(new version)`` if given."""
    table = load(location)
    if table is None:
        raise TableNotFoundError(location.uri)
    custom = {METADATA_KEY: json.dumps(metadata(table.version() + 1))} if metadata else None
    properties = CommitProperties(custom_metadata=custom, max_commit_retries=0)
    table.restore(version, commit_properties=properties)


def commit_info(location: Location, version: int) -> dict[str, Any]:
    """The commit info of ``version``, read from its log file (immutable once written)."""
    with location.filesystem().open_input_stream(f"_delta_log/{version:020d}.json") as stream:
        lines = stream.read().decode().splitlines()
    for line in lines:
        action = json.loads(line) if line.strip() else {}
        if "commitInfo" in action:
            return action["commitInfo"]
    return {}


def mesh_metadata(info: dict[str, Any]) -> dict[str, Any] | None:
    """The mesh metadata a commit carries, or None."""
    raw = info.get(METADATA_KEY)
    return json.loads(raw) if isinstance(raw, str) else raw


def changes_data(info: dict[str, Any]) -> bool:
    """Whether a commit may change the table's data (a vacuum does not)."""
    return info.get("operation") not in _NO_DATA_CHANGE


def active_files(table: DeltaTable) -> list[str]:
    """The paths, inside the table, of the data files of the loaded version."""
    return [str(path) for path in table.get_add_actions().column("path").to_pylist()]


def read_files(location: Location, files: list[DataFile], *, verify: bool) -> pa.Table:
    """Read ``files`` into one Arrow table; with ``verify``, check each file's sha256 first.

    Raises:
        TamperedFile: a file's bytes do not match the hash its commit recorded.
    """
    filesystem = location.filesystem()
    tables = []
    for data_file in files:
        # A random-access file reads its known size in one go; a stream's read_buffer() grows a
        # buffer chunk by chunk (on S3 twenty times slower than pyarrow reading the object itself).
        with filesystem.open_input_file(data_file.path) as source:
            data = source.read_buffer()
        if verify:
            found = hashlib.sha256(data).hexdigest()
            if found != data_file.sha256:
                raise TamperedFile(data_file, found)
        tables.append(pq.read_table(pa.BufferReader(data)))
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def hash_files(location: Location, files: list[DataFile]) -> None:
    """Check each file's sha256 against ``files`` without parsing it.

    Raises:
        TamperedFile: a file's bytes do not match.
    """
    filesystem = location.filesystem()
    for data_file in files:
        digest = hashlib.sha256()
        with filesystem.open_input_stream(data_file.path) as stream:
            while chunk := stream.read(1 << 22):
                digest.update(chunk)
        if digest.hexdigest() != data_file.sha256:
            raise TamperedFile(data_file, digest.hexdigest())


class TamperedFile(Exception):
    """A data file's bytes differ from what its commit recorded."""

    def __init__(self, data_file: DataFile, found: str) -> None:
        self.data_file = data_file
        self.found = found
        super().__init__(f"{data_file.path}: sha256 {found[:12]}…, recorded {data_file.sha256[:12]}…")


def _first_data_change(location: Location, after: int, newest: int) -> tuple[int, str] | None:
    """The first commit after version ``after``, up to ``newest``, that changes data, if any."""
    for version in range(after + 1, newest + 1):
        info = commit_info(location, version)
        if changes_data(info):
            return version, str(info.get("operation", "?"))
    return None


class _HashingSink:
    """A binary output stream that hashes and counts every byte written through it."""

    closed = False

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: Any) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()

    def tell(self) -> int:
        return self.size
