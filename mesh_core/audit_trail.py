"""The audit trail: one record per port read (allowed, masked or refused) and per publish, kept in the store.

Records live under ``<MESH_HOME>/<env>/_audit/<domain>/``, where ``<domain>`` is the
reading or publishing domain (``_anonymous`` for a reader that named none), segmented
by UTC day. The trail is append-only, and each record is whole or absent:

- **Local store:** one file per domain and day, ``<day>.jsonl``. A record is one JSON
  line written with a single ``write(2)`` on a file opened ``O_APPEND``, so a writer
  killed with ``kill -9`` leaves it whole or absent, and concurrent writers never
  interleave. Each record also starts with a newline, so a torn tail (a full disk) can
  never glue itself to the next record; readers skip any line that is not a whole record.
  Appends are not fsynced: a process kill loses nothing, a power cut may lose the tail.
- **Object store (S3):** objects cannot be appended to, so each record is one object,
  ``<day>/<time>-<random>.json``, under the domain's prefix: one PUT, which S3 makes
  visible whole or not at all. The day is a prefix, not a file.

Example:
    >>> from mesh_core.audit_trail import read_audit  # doctest: +SKIP
    >>> read_audit(MeshSettings.from_env(), port="users.profiles")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mesh_core.errors import MeshError
from mesh_core.settings import MeshSettings

if TYPE_CHECKING:
    import pandas as pd

    from mesh_core.delta import Location

AUDIT_FOLDER = "_audit"
ANONYMOUS = "_anonymous"
ACTIONS = ("read", "publish")
DECISIONS = ("allowed", "masked", "refused")
_made: set[str] = set()  # local segment folders known to exist, so an append is one open and one write


@dataclass(frozen=True)
class AuditRecord:
    """One read or publish of a port, and what decided it.

    Attributes:
        time: When it happened (UTC).
        reader: The reading or publishing domain; ``None`` for an anonymous reader.
        run_id: The Dagster run, when known.
        port: The port id, ``"domain.port"``.
        version: The contract major read or published, e.g. ``"v1"``.
        snapshot: The Delta table version read or published, when known.
        action: ``"read"`` or ``"publish"``.
        decision: ``"allowed"``, ``"masked"`` or ``"refused"``.
        policy: What decided, e.g. ``"access:restricted"``, ``"access:public"``, ``"pii:masked"``.
        detail: Why, for a refusal; the masked columns, for a masked read.
    """

    time: datetime
    reader: str | None
    run_id: str | None
    port: str
    version: str
    snapshot: int | None
    action: str
    decision: str
    policy: str
    detail: str | None = None

    def to_json(self) -> str:
        """The record as one line of JSON, its time in ISO-8601 UTC."""
        recorded = asdict(self)
        recorded["time"] = as_utc(self.time).isoformat()
        return json.dumps(recorded, separators=(",", ":"))


_COLUMNS = tuple(field.name for field in fields(AuditRecord))


def audit_location(settings: MeshSettings) -> Location:
    """Where the environment's audit trail lives in the store."""
    from mesh_core.delta import Location

    return Location(f"{settings.store_uri or settings.home}/{settings.env}", settings.storage_options)


def append_audit(settings: MeshSettings, record: AuditRecord) -> None:
    """Append ``record`` to the audit trail of ``settings``' store and environment."""
    append_to(audit_location(settings), record)


def append_to(environment: Location, record: AuditRecord) -> None:
    """Append ``record`` to the audit trail of the environment at ``environment`` (``<home>/<env>``).

    Raises:
        MeshError: the trail cannot be written (named in the message).
    """
    if record.action not in ACTIONS or record.decision not in DECISIONS:
        raise MeshError(f"audit record with action {record.action!r} and decision {record.decision!r}",
                        port=record.port)
    domain = record.reader or ANONYMOUS
    day = as_utc(record.time).strftime("%Y-%m-%d")
    line = ("\n" + record.to_json() + "\n").encode()
    if environment.is_local:
        folder = f"{environment.uri}/{AUDIT_FOLDER}/{domain}"
        _append_local(folder, f"{folder}/{day}.jsonl", line, record.port)
        return
    name = f"{AUDIT_FOLDER}/{domain}/{day}/{as_utc(record.time).strftime('%H%M%S%f')}-{uuid.uuid4().hex}.json"
    try:
        with environment.filesystem().open_output_stream(name) as stream:
            stream.write(line)
    except OSError as error:
        raise MeshError(f"cannot write the audit trail: {error}", port=record.port,
                        file=f"{environment.uri}/{name}") from error


def _append_local(folder: str, path: str, line: bytes, port: str) -> None:
    try:
        if folder not in _made:
            Path(folder).mkdir(parents=True, exist_ok=True)
            _made.add(folder)
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, line)
        finally:
            os.close(descriptor)
    except OSError as error:
        _made.discard(folder)
        raise MeshError(f"cannot write the audit trail: {error}", port=port, file=path) from error


def read_audit(
    settings: MeshSettings,
    *,
    port: str | None = None,
    reader: str | None = None,
    since: datetime | None = None,
) -> pd.DataFrame:
    """The audit records of ``settings``' environment, oldest first, queried through DuckDB.

    Args:
        settings: Which store and environment.
        port: Only records of this port id.
        reader: Only records of this domain (``"_anonymous"`` for anonymous readers).
        since: Only records at or after this time (a naive time is taken as UTC).

    Returns:
        One row per record, with the columns of ``AuditRecord``: ``time`` in UTC, text
        columns as ``str`` or ``None``, ``snapshot`` a nullable integer.
    """
    return query_audit(audit_location(settings), port=port, reader=reader, since=since)


def query_audit(
    environment: Location, *, port: str | None = None, reader: str | None = None, since: datetime | None = None
) -> pd.DataFrame:
    """``read_audit`` for the environment at ``environment`` (``<home>/<env>``)."""
    import duckdb
    import pyarrow as pa

    records = _records(environment, reader=reader, since=since)
    table = pa.table(
        {
            "time": pa.array([record.get("time") for record in records], pa.string()),
            **{
                name: pa.array([_text(record.get(name)) for record in records], pa.string())
                for name in _COLUMNS
                if name not in ("time", "snapshot")
            },
            "snapshot": pa.array([_integer(record.get("snapshot")) for record in records], pa.int64()),
        }
    )
    conditions, parameters = [], {}
    if port is not None:
        conditions.append("port = $port")
        parameters["port"] = port
    if reader is not None:
        conditions.append("coalesce(reader, '_anonymous') = $reader")
        parameters["reader"] = reader
    if since is not None:
        conditions.append("time >= $since")
        parameters["since"] = as_utc(since)
    conditions.insert(0, "time IS NOT NULL")
    others = ", ".join(name for name in _COLUMNS if name != "time")
    connection = duckdb.connect()
    try:
        connection.execute("SET TimeZone = 'UTC'")
        connection.register("audit_records", table)
        frame = connection.execute(
            f"SELECT * FROM (SELECT TRY_CAST(time AS TIMESTAMPTZ) AS time, {others} FROM audit_records) "
            f"WHERE {' AND '.join(conditions)} ORDER BY time, port",
            parameters,
        ).df()
    finally:
        connection.close()
    for name in _COLUMNS:
        if name not in ("time", "snapshot"):  # text: None where unknown, as in the record
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    frame["snapshot"] = frame["snapshot"].astype("Int64")
    return frame


def _records(environment: Location, *, reader: str | None, since: datetime | None) -> list[dict[str, Any]]:
    """Every whole record in the segments that can hold matches; torn or foreign lines are skipped."""
    import pyarrow.fs as pafs

    filesystem = environment.filesystem()
    root = AUDIT_FOLDER if reader is None else f"{AUDIT_FOLDER}/{reader}"
    first_day = as_utc(since).strftime("%Y-%m-%d") if since is not None else ""
    try:
        infos = filesystem.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    except OSError as error:
        raise MeshError(f"cannot list the audit trail: {error}", file=f"{environment.uri}/{root}") from error
    records = []
    for info in sorted(infos, key=lambda info: info.path):
        if info.type != pafs.FileType.File or not info.path.endswith((".jsonl", ".json")):
            continue
        day = _segment_day(info.path)
        if day is None or day < first_day:
            continue
        try:
            with filesystem.open_input_stream(info.path) as stream:
                content = stream.read()
        except (OSError, FileNotFoundError):
            continue  # removed while listing
        records += [record for record in map(_record, content.split(b"\n")) if record is not None]
    return records


def _segment_day(path: str) -> str | None:
    """The day a segment holds: ``<domain>/<day>.jsonl`` locally, ``<domain>/<day>/<record>.json`` on S3."""
    parts = path.split("/")
    day = parts[-1].removesuffix(".jsonl") if path.endswith(".jsonl") else parts[-2]
    return day if len(day) == 10 and day[4] == "-" and day[7] == "-" else None


def _record(line: bytes) -> dict[str, Any] | None:
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None  # a torn tail
    if not isinstance(record, dict) or not all(name in record for name in ("time", "port", "action", "decision")):
        return None
    return record


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive time is taken as UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
