"""The port store: each major of a port is a Delta Lake table under MESH_HOME/MESH_ENV.

A publish is one Delta commit whose commit info records the snapshot: its id (the Delta
version and the content hash), contract version, run, code version, row count, checks
and the sha256 of every data file it added. Readers verify those hashes.
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from mesh_core import delta
from mesh_core.access import Decision, ReadPolicy, decide
from mesh_core.audit_trail import AuditRecord, append_to
from mesh_core.delta import DataFile, Location
from mesh_core.errors import MeshError, StoreError
from mesh_core.masking import key_fingerprint, mask_table, resolve_key
from mesh_core.kitchens import parent_of
from mesh_core.ports import IDENTIFIER, parse_port_id
from mesh_core.semver import semver_major
from mesh_core.settings import MeshSettings

logger = logging.getLogger(__name__)

DEFAULT_RETAIN = 10
_COMMIT_ATTEMPTS = 5
_OLD_LAYOUT = ("current.json", "snapshots")
_warned_keys: set[tuple[str, str]] = set()  # snapshots whose masked copy a store's other key made it mask at read


@dataclass(frozen=True)
class Snapshot:
    """One immutable publish of a port: a Delta version of the port major's table.

    Attributes:
        port_id: e.g. ``"users.profiles"``.
        major: The contract major version it was published under.
        version: The full contract version.
        snapshot_id: ``<Delta version>-<start of the content hash>``.
        content_hash: sha256 of the data; the Dagster data version, so identical data
            republished keeps consumers fresh.
        rows: Row count.
        published_at: ISO-8601 UTC timestamp.
        path: The table's location (a local folder or an object-store URI).
        delta_version: The Delta version of the commit.
        files: The data files of the snapshot, with their sha256.
        run_id: The Dagster run that published it, if any.
        code_version: The port's code version, if known.
        checks: Each check's name and whether it passed.
        verified: Whether the files were checked against their hashes when read.
        retried: How many times the commit was retried after a concurrent vacuum.
        policy: Who may read it and its PII columns (``ReadPolicy.to_record``); ``None``: published before
            policies were recorded, so only its producer reads it (``mesh store migrate`` stamps one).
        masked: The columns this reader received masked.
        masked_files: The masked copy, for readers not cleared for its PII: the same rows with each PII
            column masked, in files under the table's ``_masked/`` folder, with their sha256.
        masking_key_id: The fingerprint of the key the masked copy was made with (``masking.key_fingerprint``).
    """

    port_id: str
    major: int
    version: str
    snapshot_id: str
    content_hash: str
    rows: int
    published_at: str
    path: str
    delta_version: int
    files: tuple[DataFile, ...]
    run_id: str | None = None
    code_version: str | None = None
    checks: dict[str, bool] = field(default_factory=dict)
    verified: bool = field(default=False, compare=False)
    retried: int = field(default=0, compare=False)
    policy: dict[str, Any] | None = None
    masked: tuple[str, ...] = field(default=(), compare=False)
    masked_files: tuple[DataFile, ...] = ()
    masking_key_id: str | None = None

    @property
    def file_uris(self) -> list[str]:
        """The data files' full paths or URIs."""
        return [f"{self.path}/{data_file.path}" for data_file in self.files]

    def commit_metadata(self) -> dict[str, Any]:
        """What the commit records about this snapshot."""
        recorded = asdict(self)
        del recorded["path"], recorded["verified"], recorded["retried"], recorded["masked"]
        return recorded

    @classmethod
    def from_commit(cls, recorded: dict[str, Any], path: str) -> Snapshot:
        """The snapshot a commit recorded."""
        files = tuple(DataFile(**data_file) for data_file in recorded["files"])
        masked_files = tuple(DataFile(**data_file) for data_file in recorded.get("masked_files") or ())
        fields = {name: value for name, value in recorded.items() if name in _RECORDED_FIELDS}
        return cls(**{**fields, "files": files, "masked_files": masked_files, "path": path})

    def masked_copy(self) -> Snapshot:
        """This snapshot as its masked copy: the same description, its ``masked_files`` as its files."""
        return replace(self, files=self.masked_files)


_RECORDED_FIELDS = {
    "port_id", "major", "version", "snapshot_id", "content_hash", "rows", "published_at", "delta_version",
    "run_id", "code_version", "checks", "policy", "masking_key_id",
}
MASKED_FOLDER = "_masked"  # inside a major's table: hidden from Delta, granted on its own


@dataclass(frozen=True)
class _Prepared:
    """One major's table, converted and written but not yet committed."""

    major: int
    version: str
    location: Location
    base: DeltaTable | None
    previous: Snapshot | None
    table: pa.Table


class PortStore:
    """Output ports, and the internal assets of domains, as Delta tables.

    Layout: ``<home>/<env>/<domain>/<port>/v<major>`` is the Delta table of one major;
    ``<home>/<env>/<domain>/_internal/<name>`` that of an internal asset. ``home`` is a
    local folder or an object-store URI (``s3://bucket/prefix``).

    Every port read passes the access check of ``mesh_core.access`` against the policy its
    snapshot recorded, as ``reader`` (a domain; ``None`` is anonymous and reads public ports
    only), serves the snapshot's masked copy when ``reader`` is not cleared for its PII columns
    (written at publish under ``<table>/_masked/``; masks at read only a snapshot without one),
    and appends to the audit trail (``mesh_core.audit_trail``), as does every publish.

    Example:
        >>> store = PortStore.from_env()  # doctest: +SKIP
        >>> snapshot = store.publish("users.profiles", frame, version="1.0.0")  # doctest: +SKIP
        >>> frame, snapshot = PortStore.from_env(reader="podcasts").read("users.profiles", major=1)  # doctest: +SKIP
    """

    def __init__(
        self,
        home: str | Path,
        env: str = "dev",
        *,
        workdir: str | Path | None = None,
        storage_options: dict[str, str] | None = None,
        retain: int = DEFAULT_RETAIN,
        verify: bool = True,
        reader: str | None = None,
        run_id: str | None = None,
        pii_key: str | None = None,
    ) -> None:
        if retain < 1:
            raise StoreError(f"retain must be at least 1, got {retain}")
        text = str(home)
        if "://" in text:
            self.home = Path(workdir or ".mesh").absolute()
            uri = text.rstrip("/")
        else:
            self.home = Path(home).absolute()
            uri = str(self.home)
        self.env = env
        self.retain = retain
        self.verify = verify
        self.reader = _checked_reader(reader)
        self.run_id = run_id
        self.pii_key = pii_key
        self.location = Location(f"{uri}/{env}", dict(storage_options or {}))
        self.audit_location = self.location  # where reads through this store are recorded

    @classmethod
    def from_env(cls, reader: str | None = None) -> PortStore:
        """The store named by ``MESH_HOME`` and ``MESH_ENV`` (and ``MESH_VERIFY``, ``MESH_PII_KEY``, ``AWS_*``).

        Args:
            reader: The domain that reads; ``None`` is anonymous (public ports only).
        """
        settings = MeshSettings.from_env()
        return cls(
            settings.store_uri or settings.home, settings.env, workdir=settings.home,
            storage_options=settings.storage_options, verify=settings.verify, reader=reader,
            pii_key=settings.pii_key,
        )

    def as_reader(self, reader: str | None, run_id: str | None = None) -> PortStore:
        """This store, read as domain ``reader`` (``None``: anonymous) in run ``run_id``."""
        other = copy.copy(self)
        other.reader, other.run_id = _checked_reader(reader), run_id
        other.__dict__.pop("parent", None)  # the parent store reads as the same reader
        return other

    @property
    def root(self) -> Path:
        """The environment's local folder for working files (dbt databases)."""
        return self.home / self.env

    @cached_property
    def parent(self) -> PortStore | None:
        """The store of this environment's parent when it is a kitchen, else None.

        A kitchen serves each table it has not rebuilt from its parent's (through the
        chain, for a kitchen of a kitchen), read-only: every write goes to its own tables.
        """
        parent = parent_of(self.location)
        if parent is None:
            return None
        home = self.location.uri.rsplit("/", 1)[0]
        store = PortStore(home, parent, workdir=self.home, storage_options=self.location.storage_options,
                          retain=self.retain, verify=self.verify, reader=self.reader, run_id=self.run_id,
                          pii_key=self.pii_key)
        store.audit_location = self.audit_location  # a kitchen's reads are its own record: the parent is never written
        return store

    def table_location(self, port_id: str, major: int) -> Location:
        """Where the Delta table of one major of a port lives."""
        domain, port = parse_port_id(port_id)
        return self.location.child(domain, port, f"v{major}")

    def publish(
        self,
        port_id: str,
        frame: pd.DataFrame,
        *,
        version: str,
        run_id: str | None = None,
        code_version: str | None = None,
        checks: dict[str, bool] | None = None,
        min_rows: int = 1,
        policy: ReadPolicy | None = None,
    ) -> Snapshot:
        """Commit ``frame`` as the new snapshot of its major; see ``publish_majors``."""
        return self.publish_majors(
            port_id, [(frame, version)], run_id=run_id, code_version=code_version, checks=checks, min_rows=min_rows,
            policies=[policy],
        )[0]

    def publish_majors(
        self,
        port_id: str,
        frames: Sequence[tuple[pd.DataFrame, str]],
        *,
        run_id: str | None = None,
        code_version: str | None = None,
        checks: dict[str, bool] | None = None,
        min_rows: int = 1,
        policies: Sequence[ReadPolicy | None] | None = None,
    ) -> list[Snapshot]:
        """Publish one frame per major, all or nothing; each is one Delta commit.

        ``policies`` (one per frame) say who may read each major and its PII columns; a
        snapshot published without one is public, with no PII. Each publish is audited.
        When a policy lets a reader read PII masked (``ReadPolicy.masks``), the major's masked
        copy is written too, masked under this environment's key, and committed in the same
        Delta commit as the clear data: a snapshot is whole or absent with its masked copy.

        Every frame is converted and written before the first commit. If a commit fails,
        the majors already committed are restored to their previous snapshot. A writer
        that committed while this one was writing wins: this publish then fails with a
        ``StoreError`` and its files are removed. The caller validates first (see
        ``mesh_core.publish``). A crash at any point leaves every previous snapshot current.

        Raises:
            StoreError: a frame has fewer than ``min_rows`` rows, the store is in the old
                layout, or another writer won.
        """
        prepared = [self._prepare(port_id, frame, version, min_rows) for frame, version in frames]
        producer = parse_port_id(port_id)[0]
        chosen = [policy or ReadPolicy(producer) for policy in (policies or [None] * len(prepared))]
        written: list[tuple[_Prepared, ReadPolicy, list[DataFile], dict[str, Any]]] = []
        committed: list[tuple[_Prepared, Snapshot]] = []
        try:
            for item, policy in zip(prepared, chosen):
                written.append((item, policy, [self._write(port_id, item)], {}))
                written[-1][3].update(self._write_masked(port_id, item, policy))  # both go if a write fails
            for item, policy, files, masked in written:
                recorded = {"run_id": run_id, "code_version": code_version, "checks": dict(checks or {}),
                            "policy": policy.to_record(), **masked}
                committed.append((item, self._commit(port_id, item, files, recorded)))
        except BaseException as error:
            for item, _, files, masked in written[len(committed):]:
                delta.remove_files(item.location, [*files, *masked.get("masked_files", ())])
            self._undo(port_id, committed, error)
            raise
        for _, snapshot in committed:
            try:
                self._audit(snapshot, "publish", Decision("allowed", "write-audit-publish"),
                            reader=parse_port_id(port_id)[0], run_id=run_id)
            except MeshError as error:  # committed is committed: its Delta commit records the publish too
                logger.warning("%s v%s is published (%s), but its publish record is missing from the audit trail: %s",
                               port_id, snapshot.major, snapshot.snapshot_id, error)
        return [snapshot for _, snapshot in committed]

    def current(self, port_id: str, major: int) -> Snapshot:
        """The snapshot consumers of ``major`` currently read (in a kitchen that has not rebuilt it, the parent's).

        Raises:
            StoreError: if nothing was published for that major, or the table was
                changed outside the mesh.
        """
        location = self.table_location(port_id, major)
        table = self._load(port_id, location)
        if table is None and self.parent is not None:
            return self.parent.current(port_id, major)  # resolved once: the parent's version is pinned here
        if table is None:
            published = self.majors(port_id)
            hint = f"published majors are {published}" if published else "materialize the producer first"
            raise StoreError(
                f"no snapshot of v{major} is published in env '{self.env}'; {hint}",
                domain=parse_port_id(port_id)[0], port=port_id, file=location.uri,
            )
        return self._snapshot_of(port_id, location, table)

    def read(self, port_id: str, major: int, *, snapshot_id: str | None = None) -> tuple[pd.DataFrame, Snapshot]:
        """A snapshot of ``major`` as a DataFrame, with its description: the current one, or ``snapshot_id``.

        Each file is checked against the sha256 its commit recorded, unless the store
        was made with ``verify=False`` (``MESH_VERIFY=off``). The read is checked and
        audited as ``frame`` says; the returned snapshot names the columns masked.

        Raises:
            StoreError: nothing published, an unknown or removed snapshot, or a file
                whose content changed (named in the message).
            MeshError: the store's reader may not read the port.
        """
        current = self.current(port_id, major)
        snapshot = current if snapshot_id is None else self.snapshot(port_id, major, snapshot_id)
        decision = self.admit(snapshot, current=current)
        frame = self.admitted_frame(snapshot, decision.masked)
        return frame, replace(snapshot, verified=self.verify, masked=decision.masked)

    def frame(self, snapshot: Snapshot) -> pd.DataFrame:
        """The data of ``snapshot`` as the store's reader may see it, its files checked unless verification is off.

        The read passes ``admit``: refused, or with the PII columns the reader is not
        cleared for masked (``mesh_core.masking``), and recorded in the audit trail.

        Raises:
            StoreError: a file changed (named in the message) or was removed.
            MeshError: the store's reader may not read the port.
        """
        return self.admitted_frame(snapshot, self.admit(snapshot).masked)

    def admit(self, snapshot: Snapshot, *, current: Snapshot | None = None) -> Decision:
        """Check that the store's reader may read ``snapshot`` and record the read in the audit trail.

        Callers that read a snapshot's files themselves (SQL views, dbt sources) call this
        first, then read ``readable(snapshot, Decision.masked)``. An uncleared reader reads the
        snapshot's masked copy, and needs no key; only a snapshot without one is masked at read.
        When ``snapshot`` is older than ``current`` (time travel), the stricter of their two
        policies decides: access revoked, or PII clearance withdrawn, since covers history too.

        Raises:
            MeshError: the read is refused (recorded too), naming reader, port and access; or
                masking at read is needed and ``MESH_PII_KEY`` is unset outside the local dev environment.
        """
        decision = self._decision(snapshot, current)
        if decision.decision == "refused":
            self._audit(snapshot, "read", decision)
            raise MeshError(decision.reason or "read refused", domain=self.reader, port=snapshot.port_id,
                            file=snapshot.path)
        if decision.masked and not self._reads_masked_copy(snapshot):
            try:
                self.masking_key(snapshot.port_id)
            except MeshError as error:
                raise MeshError(
                    f"snapshot {snapshot.snapshot_id} of {snapshot.port_id} v{snapshot.major} would be masked at "
                    "read" + (", as this store's MESH_PII_KEY is not the key of its masked copy" if snapshot.masked_files
                              else " (it has no masked copy: published before masked copies, or without MESH_PII_KEY)")
                    + f": {error}. Or have its producer republish it, or run `mesh store migrate`, with "
                    "MESH_PII_KEY set", domain=self.reader, port=snapshot.port_id, file=snapshot.path,
                ) from error
        self._audit(snapshot, "read", decision)
        return decision

    def _decision(self, snapshot: Snapshot, current: Snapshot | None) -> Decision:
        """The read decision for ``snapshot``, under its own policy and, when it is older, ``current``'s too."""
        decision = decide(self.reader, snapshot.port_id, _policy_of(snapshot))
        if current is None or current.delta_version == snapshot.delta_version or decision.decision == "refused":
            return decision
        today = decide(self.reader, snapshot.port_id, _policy_of(current))
        if today.decision == "refused":
            return replace(today, reason=f"{today.reason} (the port's current policy governs its older snapshot "
                                         f"{snapshot.snapshot_id} too)")
        withdrawn = tuple(column for column in today.masked if column not in decision.masked)
        return replace(today, masked=decision.masked + withdrawn) if withdrawn else decision

    def readable(self, snapshot: Snapshot, masked: Sequence[str]) -> tuple[Snapshot, tuple[str, ...]]:
        """What a reader admitted with ``masked`` columns reads: the files, and the columns still to mask at read.

        The masked copy when ``masked`` and the snapshot has one that masks them all (nothing left to
        mask), else the clear files.
        """
        policy = _policy_of(snapshot)
        if masked and self._reads_masked_copy(snapshot) and policy is not None and set(masked) <= set(policy.pii):
            return snapshot.masked_copy(), ()
        return snapshot, tuple(masked)

    def _reads_masked_copy(self, snapshot: Snapshot) -> bool:
        """Whether an uncleared read of ``snapshot`` reads its masked copy.

        It does when the snapshot has one, unless this store holds a key (``MESH_PII_KEY``) other
        than the one the copy was masked with: it then masks at read with its own key, so every
        value it reads is masked under one key.
        """
        if not snapshot.masked_files:
            return False
        if self.pii_key and key_fingerprint(self.pii_key.encode()) != snapshot.masking_key_id:
            if (snapshot.port_id, snapshot.snapshot_id) not in _warned_keys:
                _warned_keys.add((snapshot.port_id, snapshot.snapshot_id))
                logger.warning("%s: masking at read: MESH_PII_KEY here is not the key of snapshot %s's masked copy",
                               snapshot.port_id, snapshot.snapshot_id)
            return False
        return True

    def masking_key(self, port_id: str) -> bytes:
        """The key PII of ``port_id`` is masked with for this store's reader (see ``masking.resolve_key``).

        A kitchen masks as the environment at the root of its chain does, so its values match its parent's.
        """
        root = self
        while root.parent is not None:
            root = root.parent
        return resolve_key(self.pii_key, env=root.env, local=self.location.is_local, reader=self.reader,
                           port_id=port_id)

    def admitted_frame(self, snapshot: Snapshot, masked: Sequence[str] = ()) -> pd.DataFrame:
        """The data of ``snapshot``, already admitted (``admit``), with the columns ``masked`` masked.

        Reads the masked copy when there is one (verified like the clear files), else masks at read.
        """
        snapshot, masked = self.readable(snapshot, masked)
        table = self._read_files(snapshot)
        if masked:
            table = mask_table(table, masked, self.masking_key(snapshot.port_id))
        return table.to_pandas()

    def _audit(self, snapshot: Snapshot, action: str, decision: Decision, *, reader: str | None = None,
               run_id: str | None = None) -> None:
        detail = decision.reason or (", ".join(decision.masked) if decision.masked else None)
        append_to(self.audit_location, AuditRecord(
            time=datetime.now(timezone.utc), reader=reader or self.reader, run_id=run_id or self.run_id,
            port=snapshot.port_id, version=f"v{snapshot.major}", snapshot=snapshot.delta_version, action=action,
            decision=decision.decision, policy=decision.policy, detail=detail,
        ))

    def verified(self, snapshot: Snapshot) -> Snapshot:
        """``snapshot`` once its files are checked against their recorded hashes (unless verification is off).

        Raises:
            StoreError: a file's content changed, or it is missing.
        """
        if self.verify:
            self._guard(snapshot, delta.hash_files, Location(snapshot.path, self.location.storage_options))
        return replace(snapshot, verified=self.verify)

    def snapshot(self, port_id: str, major: int, snapshot_id: str) -> Snapshot:
        """The retained snapshot ``snapshot_id`` of ``major`` (time travel).

        Raises:
            StoreError: no such snapshot in this major.
        """
        location = self.table_location(port_id, major)
        where = {"domain": parse_port_id(port_id)[0], "port": port_id, "file": location.uri}
        try:
            version = int(snapshot_id.split("-", 1)[0])
            table = delta.load(location, version)
            recorded = delta.mesh_metadata(delta.commit_info(location, version)) if table is not None else None
        except (ValueError, DeltaError, OSError):
            table, recorded = None, None
        if table is None and self.parent is not None and delta.load(location) is None:
            return self.parent.snapshot(port_id, major, snapshot_id)
        if table is None or recorded is None or recorded.get("snapshot_id") != snapshot_id:
            raise StoreError(
                f"no snapshot {snapshot_id} in v{major}; retained: {self.snapshots(port_id, major)}", **where
            )
        return self._snapshot_of(port_id, location, table)

    def majors(self, port_id: str) -> list[int]:
        """The major versions of a port that have a published snapshot (in a kitchen, with its parent's), ascending."""
        domain, port = parse_port_id(port_id)
        folder = self.location.child(domain, port)
        majors = []
        for name in folders(folder):
            if name[:1] == "v" and name[1:].isdigit():
                self._refuse_old_layout(port_id, folder.child(name))
                table = folder.child(name)
                if DeltaTable.is_deltatable(table.uri, table.options()):
                    majors.append(int(name[1:]))
        return sorted(set(majors) | set(self.parent.majors(port_id) if self.parent is not None else []))

    def snapshots(self, port_id: str, major: int) -> list[str]:
        """Ids of the snapshots of ``major`` whose files are still retained, oldest first."""
        location = self.table_location(port_id, major)
        table = self._load(port_id, location)
        if table is None:
            return []
        filesystem = location.filesystem()
        found = []
        for version in range(table.version() + 1):
            recorded = delta.mesh_metadata(delta.commit_info(location, version))
            if recorded is None:
                continue
            infos = filesystem.get_file_info([data_file["path"] for data_file in recorded["files"]])
            if all(info.type != pafs.FileType.NotFound for info in infos):
                found.append(recorded["snapshot_id"])
        return found

    def write_internal(self, domain: str, name: str, frame: pd.DataFrame) -> str:
        """Store an internal (unpublished) asset of ``domain``, replacing it in one commit; returns its location."""
        location = self.internal_location(domain, name)
        item = self._prepared(f"{domain}.{name}", location, 0, "0", pa.Table.from_pandas(frame, preserve_index=False))
        data_file = self._write(f"{domain}.{name}", item)
        try:
            self._commit(f"{domain}.{name}", item, [data_file], {"internal": True})
        except BaseException:
            delta.remove_files(location, [data_file])
            raise
        return location.uri

    def read_internal(self, domain: str, name: str) -> pd.DataFrame:
        """Load an internal asset of ``domain``."""
        return self._read_files(self.internal_snapshot(domain, name)).to_pandas()

    def internal_snapshot(self, domain: str, name: str) -> Snapshot:
        """The current content of an internal asset of ``domain``.

        Raises:
            MeshError: the store reads as another domain: internal assets are their domain's alone.
            StoreError: it has not been materialized in this environment.
        """
        if self.reader is not None and self.reader != domain:
            raise MeshError(
                f"domain {self.reader} may not read internal asset {domain}/{name}: internal assets are private to "
                f"their domain; {domain} can publish it as an output port", domain=self.reader, port=f"{domain}.{name}",
            )
        location = self.internal_location(domain, name)
        table = delta.load(location)
        if table is None and self.parent is not None:
            return self.parent.internal_snapshot(domain, name)
        if table is None:
            raise StoreError(
                f"internal asset '{name}' has not been materialized in env '{self.env}'", domain=domain,
                file=location.uri,
            )
        return self._snapshot_of(f"{domain}.{name}", location, table)

    def internal_location(self, domain: str, name: str) -> Location:
        """Where the table of an internal asset of ``domain`` lives."""
        if not (IDENTIFIER.match(domain) and IDENTIFIER.match(name)):
            raise StoreError(f"invalid internal asset name {domain}/{name}", domain=domain)
        return self.location.child(domain, "_internal", name)

    def migrate(self) -> list[Snapshot]:
        """Turn every port major in the old layout (``current.json`` and ``snapshots/``) into a Delta table.

        The table's first commit holds the snapshot ``current.json`` named; then the old
        files go. Running it again after a crash finishes the job.

        Raises:
            StoreError: a pointer is damaged, or names a file that is gone.
        """
        migrated = []
        for domain in folders(self.location):
            for port in folders(self.location.child(domain)):
                for major in folders(self.location.child(domain, port)):
                    folder = Path(self.location.child(domain, port, major).uri)
                    if major[1:].isdigit() and any((folder / name).exists() for name in _OLD_LAYOUT):
                        snapshot = self._migrate(f"{domain}.{port}", int(major[1:]), folder)
                        migrated += [snapshot] if snapshot else []
        return migrated

    def stamp(self, port_id: str, major: int, policy: ReadPolicy) -> Snapshot | None:
        """Give the current snapshot of ``major`` the read policy and masked copy it lacks; None if it lacks neither.

        A snapshot published before read policies were recorded gets ``policy`` (the port's
        current one); one whose policy masks but that has no masked copy (published without
        ``MESH_PII_KEY``) gets its copy. Either is one new Delta commit that changes no data:
        the snapshot keeps its files, bytes and data version (its content hash); only its
        Delta version, and so its id, is new. The clear files are verified first.

        Raises:
            StoreError: a file changed, or another writer committed meanwhile (run it again).
        """
        location = self.table_location(port_id, major)
        table = self._load(port_id, location)
        if table is None:
            return None
        snapshot = self._snapshot_of(port_id, location, table)
        if snapshot.policy is not None:
            policy = ReadPolicy.from_record(snapshot.policy)
            if not policy.masks or snapshot.masked_files:
                return None
        item = _Prepared(major, snapshot.version, location, table, snapshot, self._read_files(snapshot))
        masked = self._write_masked(port_id, item, policy)
        if snapshot.policy is not None and not masked:
            return None  # still no key to mask with: nothing to record
        version = table.version() + 1
        stamped = replace(
            snapshot, delta_version=version, snapshot_id=f"{version}-{snapshot.content_hash[:16]}",
            policy=policy.to_record(), masked_files=tuple(masked.get("masked_files", ())),
            masking_key_id=masked.get("masking_key_id"), verified=False,
        )
        try:
            delta.annotate(location, table, {**stamped.commit_metadata(), "stamps": snapshot.snapshot_id})
        except (delta.CommitLost, DeltaError, OSError) as error:
            delta.remove_files(location, list(stamped.masked_files))
            raise StoreError(f"cannot stamp snapshot {snapshot.snapshot_id}: {error}; run it again",
                             domain=parse_port_id(port_id)[0], port=port_id, file=location.uri) from error
        self._audit(stamped, "publish", Decision("allowed", "migrate:read-policy"), reader=parse_port_id(port_id)[0])
        return stamped

    def _migrate(self, port_id: str, major: int, folder: Path) -> Snapshot | None:
        location = self.table_location(port_id, major)
        pointer = folder / "current.json"
        where = {"domain": parse_port_id(port_id)[0], "port": port_id, "file": pointer}
        snapshot = None
        if delta.load(location) is None:
            try:
                old = json.loads(pointer.read_text())
                data_file, schema = delta.copy_parquet(location, Path(old["path"]))
            except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as error:
                raise StoreError(f"cannot migrate: the old pointer or its snapshot is unreadable: {error!r}",
                                 **where) from error
            item = _Prepared(major, str(old.get("version") or f"{major}.0.0"), location, None, None,
                             schema.empty_table())
            snapshot = self._commit(port_id, item, [data_file], {"migrated_from": old.get("snapshot_id")})
        pointer.unlink(missing_ok=True)
        shutil.rmtree(folder / "snapshots", ignore_errors=True)
        return snapshot

    def _prepare(self, port_id: str, frame: pd.DataFrame, version: str, min_rows: int) -> _Prepared:
        major = semver_major(version, port=port_id)
        location = self.table_location(port_id, major)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if table.num_rows < min_rows:
            raise StoreError(
                f"refusing to publish {table.num_rows} row(s) to v{major}: the port requires at least {min_rows} "
                "(set min_rows=0 on the output port to allow empty publishes)",
                domain=parse_port_id(port_id)[0], port=port_id, file=location.uri,
            )
        return self._prepared(port_id, location, major, version, table)

    def _prepared(self, port_id: str, location: Location, major: int, version: str, table: pa.Table) -> _Prepared:
        base = self._load(port_id, location)
        try:
            previous = self._snapshot_of(port_id, location, base) if base is not None else None
        except StoreError:  # a table changed outside the mesh: this publish repairs it
            previous = None
        return _Prepared(major, version, location, base, previous, table)

    def _write(self, port_id: str, item: _Prepared) -> DataFile:
        try:
            return delta.write_file(item.location, item.table)
        except (OSError, pa.ArrowException) as error:
            raise StoreError(
                f"cannot write v{item.major}: {error}", domain=parse_port_id(port_id)[0], port=port_id,
                file=item.location.uri,
            ) from error

    def _write_masked(self, port_id: str, item: _Prepared, policy: ReadPolicy) -> dict[str, Any]:
        """Write ``item``'s masked copy when ``policy`` lets someone read its PII masked; what its commit records.

        The copy is masked under this environment's key (a kitchen's chain root's). Without a key
        (``MESH_PII_KEY`` unset outside local dev) no copy is written: uncleared readers then mask at
        read with their key, or are refused with what to run.
        """
        if not policy.masks:
            return {}
        try:
            key = self.masking_key(port_id)
        except MeshError as error:
            logger.warning("%s v%d: no masked copy published: %s", port_id, item.major, error)
            return {}
        table = mask_table(item.table, policy.pii, key)
        # Encoded as the clear file is: a dictionary of masked values read 1.8x slower than plain pages of them.
        try:
            data_file = delta.write_file(item.location, table, MASKED_FOLDER, "masked")
        except (OSError, pa.ArrowException) as error:
            raise StoreError(
                f"cannot write the masked copy of v{item.major}: {error}", domain=parse_port_id(port_id)[0],
                port=port_id, file=item.location.child(MASKED_FOLDER).uri,
            ) from error
        return {"masked_files": [data_file], "masking_key_id": key_fingerprint(key)}

    def _commit(self, port_id: str, item: _Prepared, files: list[DataFile], recorded: dict[str, Any]) -> Snapshot:
        domain, _ = parse_port_id(port_id)
        where = {"domain": domain, "port": port_id, "file": item.location.uri}
        base = item.base
        for attempt in range(_COMMIT_ATTEMPTS):
            delta_version = 0 if base is None else base.version() + 1
            digest = delta.content_hash(files)
            snapshot = Snapshot(
                port_id=port_id, major=item.major, version=item.version,
                snapshot_id=f"{delta_version}-{digest[:16]}", content_hash=digest, rows=sum(f.rows for f in files),
                published_at=datetime.now(timezone.utc).isoformat(), path=item.location.uri,
                delta_version=delta_version, files=tuple(files), retried=attempt,
                masked_files=tuple(recorded.get("masked_files", ())),
                **{name: value for name, value in recorded.items() if name in _RECORDED_FIELDS},
            )
            extra = {k: v for k, v in recorded.items() if k not in _RECORDED_FIELDS and k != "masked_files"}
            metadata = {**snapshot.commit_metadata(), **extra}
            try:
                delta.commit(item.location, files, item.table.schema, metadata, base)
            except delta.CommitRetry:
                logger.warning("%s v%d: a vacuum committed first; retrying the publish's commit", port_id, item.major)
                base = delta.load(item.location)
                continue
            except delta.CommitLost as lost:
                raise StoreError(
                    f"not published: another publish of v{item.major} committed Delta {lost} while this one was "
                    "writing; this publish's files were removed, run it again to publish its data",
                    **where,
                ) from lost
            except (DeltaError, OSError) as error:
                raise StoreError(f"cannot commit v{item.major}: {error}", **where) from error
            return snapshot
        raise StoreError(f"cannot commit v{item.major}: the table kept changing ({_COMMIT_ATTEMPTS} attempts)", **where)

    def _undo(self, port_id: str, committed: list[tuple[_Prepared, Snapshot]], cause: BaseException) -> None:
        """Return every committed major to its previous snapshot after a later one failed."""
        left = []
        for item, snapshot in committed:
            try:
                if item.base is None:
                    _drop_table(item.location)
                elif item.previous is None:
                    delta.restore(item.location, item.base.version(), None)
                else:
                    delta.restore(item.location, item.previous.delta_version, _restoring(item.previous, snapshot))
            except (DeltaError, OSError, delta.CommitLost) as error:
                left.append(f"v{item.major} ({snapshot.snapshot_id}: {error})")
        if left:
            raise StoreError(
                f"publish failed ({cause}) and could not restore {', '.join(left)}: those majors serve the new data",
                domain=parse_port_id(port_id)[0], port=port_id,
            ) from cause

    def _load(self, port_id: str, location: Location) -> DeltaTable | None:
        self._refuse_old_layout(port_id, location)
        try:
            return delta.load(location)
        except (DeltaError, OSError) as error:
            raise StoreError(
                f"cannot open the table: {error}", domain=parse_port_id(port_id)[0], port=port_id, file=location.uri
            ) from error

    def _snapshot_of(self, port_id: str, location: Location, table: DeltaTable) -> Snapshot:
        """The snapshot ``table``'s loaded version serves: its newest publish, checked against its files."""
        where = {"domain": parse_port_id(port_id)[0], "port": port_id, "file": location.uri}
        try:
            for version in range(table.version(), -1, -1):
                info = delta.commit_info(location, version)
                recorded = delta.mesh_metadata(info)
                if recorded is not None:
                    break
                if delta.changes_data(info):
                    raise StoreError(
                        f"Delta version {version} ({info.get('operation', '?')}) was not committed by the mesh; "
                        "publish the port again to serve a verified snapshot",
                        **where,
                    )
            else:
                raise StoreError("the table holds no mesh publish", **where)
            snapshot = Snapshot.from_commit(recorded, location.uri)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise StoreError(f"damaged commit metadata in Delta version {table.version()}: {error!r}", **where) from error
        found = set(delta.active_files(table))
        recorded_files = {data_file.path for data_file in snapshot.files}
        if found != recorded_files:
            raise StoreError(
                f"Delta version {table.version()} serves files {sorted(found - recorded_files)} that snapshot "
                f"{snapshot.snapshot_id} did not publish (and lacks {sorted(recorded_files - found)})",
                **where,
            )
        return snapshot

    def _read_files(self, snapshot: Snapshot) -> pa.Table:
        location = Location(snapshot.path, self.location.storage_options)
        return self._guard(
            snapshot, lambda where, files: delta.read_files(where, files, verify=self.verify), location
        )

    def _guard(self, snapshot: Snapshot, action: Callable[[Location, list[DataFile]], Any], location: Location) -> Any:
        where = {"domain": snapshot.port_id.split(".")[0], "port": snapshot.port_id}
        try:
            return action(location, list(snapshot.files))
        except delta.TamperedFile as tampered:
            raise StoreError(
                f"file {tampered.data_file.path} of snapshot {snapshot.snapshot_id} changed since it was published "
                f"(sha256 {tampered.found[:16]}, recorded {tampered.data_file.sha256[:16]}); refusing to serve it",
                **where, file=f"{snapshot.path}/{tampered.data_file.path}",
            ) from tampered
        except (OSError, pa.ArrowException) as error:
            raise StoreError(
                f"cannot read snapshot {snapshot.snapshot_id}: {error}", **where, file=snapshot.path
            ) from error

    def _refuse_old_layout(self, port_id: str, location: Location) -> None:
        infos = location.filesystem().get_file_info(list(_OLD_LAYOUT))
        if any(info.type != pafs.FileType.NotFound for info in infos):
            raise StoreError(
                "this port major is in the old store layout (current.json and snapshots/); "
                "run `mesh store migrate` to turn it into a Delta table",
                domain=parse_port_id(port_id)[0], port=port_id, file=location.uri,
            )


def _restoring(previous: Snapshot, failed: Snapshot) -> Callable[[int], dict[str, Any]]:
    def metadata(version: int) -> dict[str, Any]:
        restored = replace(previous, delta_version=version, snapshot_id=f"{version}-{previous.content_hash[:16]}")
        return {**restored.commit_metadata(), "restores": previous.snapshot_id, "undoes": failed.snapshot_id}

    return metadata


def _drop_table(location: Location) -> None:
    """Remove a table this publish created: its log first, so readers never see a partial table."""
    filesystem = location.filesystem()
    filesystem.delete_dir("_delta_log")
    for info in filesystem.get_file_info(pafs.FileSelector("", recursive=True, allow_not_found=True)):
        if info.type == pafs.FileType.File:
            filesystem.delete_file(info.path)


def _checked_reader(reader: str | None) -> str | None:
    """``reader`` when it is a domain name (or ``None``, anonymous).

    Raises:
        MeshError: it is not a domain name (``''``, spaces, capitals), which reads as no domain.
    """
    if reader is not None and not IDENTIFIER.match(reader):
        raise MeshError(f"reader {reader!r} is not a domain name (lowercase letters, digits and _, "
                        "starting with a letter); leave it unset to read anonymously")
    return reader


def _policy_of(snapshot: Snapshot) -> ReadPolicy | None:
    """The read policy ``snapshot``'s commit records; ``None`` for one published before policies."""
    return ReadPolicy.from_record(snapshot.policy) if snapshot.policy else None


def folders(location: Location) -> list[str]:
    """The names of the folders directly under ``location``."""
    selector = pafs.FileSelector("", allow_not_found=True)
    try:
        infos = location.filesystem().get_file_info(selector)
    except (OSError, DeltaError):
        return []
    return [info.base_name for info in infos if info.type == pafs.FileType.Directory]
