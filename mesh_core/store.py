"""The port store: immutable parquet snapshots published atomically under MESH_HOME/MESH_ENV."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mesh_core.errors import StoreError
from mesh_core.ports import IDENTIFIER, parse_port_id
from mesh_core.semver import semver_major
from mesh_core.settings import MeshSettings
from mesh_core.sql_catalog import refresh_views

DEFAULT_RETAIN = 10
_POINTER = "current.json"


@dataclass(frozen=True)
class Snapshot:
    """One immutable publish of a port.

    Attributes:
        port_id: e.g. ``"users.profiles"``.
        major: The contract major version it was published under.
        version: The full contract version.
        snapshot_id: Sortable id: UTC time plus the start of the content hash.
        content_hash: sha256 of the parquet file; used as the Dagster data version.
        rows: Row count.
        published_at: ISO-8601 UTC timestamp.
        path: Absolute path of the parquet file.
    """

    port_id: str
    major: int
    version: str
    snapshot_id: str
    content_hash: str
    rows: int
    published_at: str
    path: str


class PortStore:
    """Snapshots of output ports, and the internal assets of domains, on local disk.

    Layout: ``<home>/<env>/<domain>/<port>/v<major>/snapshots/<id>.parquet`` with a
    ``current.json`` pointer per major, replaced atomically on publish, and
    ``<home>/<env>/catalog.duckdb`` holding a view per port.

    Example:
        >>> store = PortStore.from_env()  # doctest: +SKIP
        >>> snapshot = store.publish("users.profiles", frame, version="1.0.0")  # doctest: +SKIP
        >>> frame, snapshot = store.read("users.profiles", major=1)  # doctest: +SKIP
    """

    def __init__(self, home: str | Path, env: str = "dev", *, retain: int = DEFAULT_RETAIN) -> None:
        if retain < 1:
            raise StoreError(f"retain must be at least 1, got {retain}")
        self.home = Path(home).absolute()
        self.env = env
        self.retain = retain

    @classmethod
    def from_env(cls) -> PortStore:
        """The store named by ``MESH_HOME`` and ``MESH_ENV``."""
        settings = MeshSettings.from_env()
        return cls(settings.home, settings.env)

    @property
    def root(self) -> Path:
        """The environment's folder."""
        return self.home / self.env

    @property
    def catalog_path(self) -> Path:
        """The DuckDB catalog file with one view per published port."""
        return self.root / "catalog.duckdb"

    def port_dir(self, port_id: str, major: int) -> Path:
        """The folder of one major version of a port."""
        domain, port = parse_port_id(port_id)
        return self.root / domain / port / f"v{major}"

    def publish(self, port_id: str, frame: pd.DataFrame, *, version: str) -> Snapshot:
        """Write ``frame`` as a new snapshot and make it the current one, atomically.

        The caller validates first (see ``mesh_core.publish``). A crash at any point
        leaves the previous snapshot current and no partial file visible to readers.
        """
        major = semver_major(version, port=port_id)
        directory = self.port_dir(port_id, major)
        snapshots = directory / "snapshots"
        snapshots.mkdir(parents=True, exist_ok=True)
        now = datetime.now(timezone.utc)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        temporary, content_hash = _write_parquet_durably(table, snapshots)
        try:
            snapshot_id = f"{now:%Y%m%dT%H%M%S%fZ}-{content_hash[:12]}"
            final = snapshots / f"{snapshot_id}.parquet"
            os.replace(temporary, final)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        _fsync_dir(snapshots)
        snapshot = Snapshot(
            port_id=port_id,
            major=major,
            version=version,
            snapshot_id=snapshot_id,
            content_hash=content_hash,
            rows=table.num_rows,
            published_at=now.isoformat(),
            path=str(final),
        )
        _write_json_atomically(directory / _POINTER, asdict(snapshot))
        domain, port = parse_port_id(port_id)
        refresh_views(self.catalog_path, domain, port, major, final, latest=major >= max(self.majors(port_id)))
        self._prune(snapshots, keep=final)
        return snapshot

    def current(self, port_id: str, major: int) -> Snapshot:
        """The snapshot consumers of ``major`` currently read.

        Raises:
            StoreError: if nothing was published for that major, or the pointer is damaged.
        """
        pointer = self.port_dir(port_id, major) / _POINTER
        domain, _ = parse_port_id(port_id)
        if not pointer.exists():
            published = self.majors(port_id)
            hint = (
                f"published majors are {published}" if published else "materialize the producer first"
            )
            raise StoreError(
                f"no snapshot of v{major} is published in env '{self.env}'; {hint}",
                domain=domain,
                port=port_id,
                file=pointer,
            )
        try:
            snapshot = Snapshot(**json.loads(pointer.read_text()))
        except (ValueError, TypeError) as error:
            raise StoreError(f"damaged snapshot pointer: {error}", domain=domain, port=port_id, file=pointer) from error
        return snapshot

    def read(self, port_id: str, major: int) -> tuple[pd.DataFrame, Snapshot]:
        """The current snapshot of ``major`` as a DataFrame, with its description."""
        snapshot = self.current(port_id, major)
        try:
            frame = pq.read_table(snapshot.path).to_pandas()
        except (OSError, pa.ArrowException) as error:
            raise StoreError(
                f"cannot read snapshot {snapshot.snapshot_id}: {error}",
                domain=parse_port_id(port_id)[0],
                port=port_id,
                file=snapshot.path,
            ) from error
        return frame, snapshot

    def majors(self, port_id: str) -> list[int]:
        """The major versions of a port that have a published snapshot, ascending."""
        domain, port = parse_port_id(port_id)
        folder = self.root / domain / port
        if not folder.exists():
            return []
        return sorted(
            int(child.name[1:])
            for child in folder.iterdir()
            if child.name[:1] == "v" and child.name[1:].isdigit() and (child / _POINTER).exists()
        )

    def snapshots(self, port_id: str, major: int) -> list[str]:
        """Ids of the retained snapshots of ``major``, oldest first."""
        folder = self.port_dir(port_id, major) / "snapshots"
        return sorted(path.stem for path in folder.glob("*.parquet")) if folder.exists() else []

    def write_internal(self, domain: str, name: str, frame: pd.DataFrame) -> Path:
        """Store an internal (unpublished) asset of ``domain``, replacing it atomically."""
        path = self.internal_path(domain, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary, _ = _write_parquet_durably(pa.Table.from_pandas(frame, preserve_index=False), path.parent)
        os.replace(temporary, path)
        _fsync_dir(path.parent)
        return path

    def read_internal(self, domain: str, name: str) -> pd.DataFrame:
        """Load an internal asset of ``domain``."""
        path = self.internal_path(domain, name)
        if not path.exists():
            raise StoreError(
                f"internal asset '{name}' has not been materialized in env '{self.env}'",
                domain=domain,
                file=path,
            )
        return pq.read_table(path).to_pandas()

    def internal_path(self, domain: str, name: str) -> Path:
        """Where an internal asset of ``domain`` is stored."""
        if not (IDENTIFIER.match(domain) and IDENTIFIER.match(name)):
            raise StoreError(f"invalid internal asset name {domain}/{name}", domain=domain)
        return self.root / domain / "_internal" / f"{name}.parquet"

    def _prune(self, snapshots: Path, keep: Path) -> None:
        files = sorted(snapshots.glob("*.parquet"))
        for old in files[: max(0, len(files) - self.retain)]:
            if old != keep:
                old.unlink(missing_ok=True)


def _write_parquet_durably(table: pa.Table, directory: Path) -> tuple[Path, str]:
    """Write to a hidden temporary file in ``directory`` and fsync it; readers never list it.

    Returns the file and the sha256 of its bytes, hashed as they are written.
    """
    handle, name = tempfile.mkstemp(prefix=".writing-", suffix=".parquet.tmp", dir=directory)
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as raw:
            sink = _HashingSink(raw)
            pq.write_table(table, sink)
            raw.flush()
            os.fsync(raw.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary, sink.digest.hexdigest()


class _HashingSink:
    """A binary file that hashes every byte written through it."""

    closed = False

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()

    def tell(self) -> int:
        return self.raw.tell()


def _write_json_atomically(path: Path, payload: dict) -> None:
    handle, name = tempfile.mkstemp(prefix=".writing-", suffix=".json.tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as sink:
            json.dump(payload, sink, indent=2)
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
