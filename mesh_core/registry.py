"""The mesh registry: every domain's manifest, kept in the store under ``<MESH_HOME>/<env>/_registry/``.

Each domain owns one entry, ``<domain>.json``: two JSON lines, a header (the manifest
format, the domain, its owner, location, code version, when it registered, and the
sha256 of the second line) and the manifest itself. A domain writes its entry on
every publish of one of its ports and on ``mesh register``, in one atomic step (a
local temporary file renamed over it under the entry's lock, or one object PUT on S3,
conditional on the entry it read). An entry claimed by another owner is never overwritten. Teams in other repositories see the mesh, and
producers see their consumers' expectations, through these entries alone.

The local store needs the standard library and filelock here; an object store is read
through the same pyarrow filesystem as the port store and written through obstore
(pyarrow has no conditional PUT), both imported when first used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mesh_core.errors import MeshError
from mesh_core.files import write_atomically
from mesh_core.manifest_format import MANIFEST_VERSION

REGISTRY_DIR = "_registry"
_SUFFIX = ".json"
_ATTEMPTS = 8  # conditional writes of one entry before giving up: each conflict means another writer succeeded
_DOMAIN_NAME = re.compile(r"^[a-z][a-z0-9_]*$")  # as mesh_core.ports.IDENTIFIER, without importing Dagster


class RegistryError(MeshError):
    """A registry entry cannot be read or written: damaged, from a newer format, or claimed by another owner."""


@dataclass(frozen=True)
class RegistryEntry:
    """One domain's registered manifest.

    Attributes:
        domain: The domain's name, also the entry's file name.
        owner: The domain's owner (``team:users``); only the same owner may replace the entry.
        location: The code location name it registered from (what a ``grpc_server`` entry names).
        code_version: A hash of the domain's ports' code versions and internal assets.
        registered_at: When it was written (ISO-8601 UTC).
        pinned_by: Per port of this domain, the consumers whose expectations its last publish enforced.
        manifest: The manifest itself, as ``mesh_core.manifest.build_manifest`` writes it.
        file: Where the entry lives.
    """

    domain: str
    owner: str | None
    location: str
    code_version: str
    registered_at: str
    pinned_by: dict[str, list[str]]
    manifest: dict[str, Any]
    file: str


class Registry:
    """The registry of one environment of a store: a local folder or an object-store prefix.

    Example:
        >>> registry = Registry.of_store("/srv/mesh", "dev")  # doctest: +SKIP
        >>> registry.register(manifest, location="users")  # doctest: +SKIP
        >>> registry.entries()["users"].manifest["ports"]  # doctest: +SKIP
    """

    def __init__(self, uri: str, storage_options: Mapping[str, str] | None = None) -> None:
        self.uri = uri.rstrip("/")
        self._options = dict(storage_options or {})

    @classmethod
    def of_store(cls, store_uri: str | Path, env: str, storage_options: Mapping[str, str] | None = None) -> Registry:
        """The registry of environment ``env`` in the store at ``store_uri``."""
        return cls(f"{str(store_uri).rstrip('/')}/{env}/{REGISTRY_DIR}", storage_options)

    @property
    def is_local(self) -> bool:
        """Whether the registry is a local folder."""
        return "://" not in self.uri

    def file(self, domain: str) -> str:
        """Where ``domain``'s entry lives."""
        return f"{self.uri}/{domain}{_SUFFIX}"

    def register(
        self,
        manifest: dict[str, Any],
        *,
        location: str | None = None,
        pinned_by: dict[str, list[str]] | None = None,
        pins: tuple[str, list[str]] | None = None,
    ) -> RegistryEntry:
        """Write ``manifest`` as its domain's entry, atomically; keeps the entry's location and pins unless given.

        ``pins`` (a port and who pins it) is merged into the pins of the entry read just
        before writing, so two ports of one domain published at once keep each other's.
        Locally the read and the write hold the entry's lock; on an object store the write
        is a conditional PUT on the entry read (its ETag), made again on a conflict.

        Raises:
            RegistryError: the manifest names no domain, the entry belongs to another owner,
                or the existing entry is damaged or from a newer format (nothing is written).
        """
        domain, owner = _domain_of(manifest)
        for _ in range(_ATTEMPTS):
            with self._lock(domain):
                data, version = self._read_versioned(domain)
                previous = None if data is None else parse_entry(data, domain, self.file(domain))
                check_owner(previous, owner)
                kept = pinned_by if pinned_by is not None else (previous.pinned_by if previous else {})
                if pins is not None:
                    kept = {**kept, pins[0]: pins[1]}
                header = {
                    "manifest_version": MANIFEST_VERSION,
                    "domain": domain,
                    "owner": owner,
                    "location": location or (previous.location if previous else None) or manifest.get("location") or domain,
                    "code_version": domain_code_version(manifest),
                    "registered_at": datetime.now(timezone.utc).isoformat(),
                    "pinned_by": kept,
                }
                body = json.dumps(manifest, sort_keys=True).encode()
                header["sha256"] = hashlib.sha256(body).hexdigest()
                if self._write(domain, json.dumps(header, sort_keys=True).encode() + b"\n" + body + b"\n", version):
                    return _entry(header, manifest, self.file(domain))
        raise RegistryError(f"the registry entry changed under each of {_ATTEMPTS} tries to write it; try again",
                            domain=domain, file=self.file(domain))

    def remove(self, domain: str, owner: str | None) -> RegistryEntry:
        """Remove ``domain``'s entry, which ``owner`` must hold; returns the entry removed.

        Raises:
            RegistryError: the domain has no entry, another owner holds it, or it cannot be read or removed.
        """
        with self._lock(domain):
            entry = self.read(domain)
            if entry is None:
                raise RegistryError(f"domain {domain} has no registry entry to remove", domain=domain,
                                    file=self.file(domain))
            if entry.owner != owner:
                raise RegistryError(
                    f"domain {domain} is registered by owner {entry.owner} (location {entry.location}); "
                    f"only its owner can remove it, not {owner}", domain=domain, file=entry.file,
                )
            try:
                if self.is_local:
                    Path(self.file(domain)).unlink()
                else:
                    self._filesystem().delete_file(f"{domain}{_SUFFIX}")
            except OSError as error:
                raise RegistryError(f"cannot remove the registry entry: {_first_line(error)}", domain=domain,
                                    file=entry.file) from None
        return entry

    def read(self, domain: str) -> RegistryEntry | None:
        """``domain``'s entry, or None if it has none.

        Raises:
            RegistryError: the entry is damaged or from a newer manifest format.
        """
        data = self._read(domain)
        return None if data is None else parse_entry(data, domain, self.file(domain))

    def domains(self) -> list[str]:
        """The names of the domains with an entry, sorted.

        Raises:
            RegistryError: the registry cannot be listed (denied, unreachable).
        """
        try:
            if self.is_local:
                folder = Path(self.uri)
                names = [path.name for path in folder.iterdir()] if folder.is_dir() else []
            else:
                import pyarrow.fs as pafs

                infos = self._filesystem().get_file_info(pafs.FileSelector("", allow_not_found=True))
                names = [info.base_name for info in infos if info.type == pafs.FileType.File]
        except OSError as error:
            raise RegistryError(f"cannot list the registry {self.uri}: {_first_line(error)}", file=self.uri) from None
        return sorted(name[: -len(_SUFFIX)] for name in names if name.endswith(_SUFFIX) and not name.startswith("."))

    def scan(self) -> tuple[dict[str, RegistryEntry], dict[str, RegistryError]]:
        """Every entry that reads, and the error of every one that does not, by domain."""
        entries, broken = {}, {}
        for domain in self.domains():
            try:
                entry = self.read(domain)
            except RegistryError as error:
                broken[domain] = error
                continue
            if entry is not None:
                entries[domain] = entry
        return entries, broken

    def entries(self) -> dict[str, RegistryEntry]:
        """Every entry, by domain.

        Raises:
            RegistryError: naming the first damaged or newer-format entry; nothing is returned.
        """
        entries, broken = self.scan()
        if broken:
            raise next(iter(broken.values()))
        return entries

    def _read(self, domain: str) -> bytes | None:
        if self.is_local:
            try:
                return Path(self.file(domain)).read_bytes()
            except FileNotFoundError:
                return None
            except OSError as error:
                raise RegistryError(f"cannot read the registry entry: {error.strerror}", domain=domain,
                                    file=self.file(domain)) from None
        try:
            with self._filesystem().open_input_stream(f"{domain}{_SUFFIX}") as stream:
                return stream.read()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise RegistryError(f"cannot read the registry entry: {_first_line(error)}", domain=domain,
                                file=self.file(domain)) from None

    def _read_versioned(self, domain: str) -> tuple[bytes | None, str | None]:
        """``domain``'s entry and, on an object store, its ETag, to write it back only if unchanged."""
        if self.is_local:
            return self._read(domain), None
        import obstore

        try:
            got = obstore.get(self._object_store(), f"{domain}{_SUFFIX}")
            return bytes(got.bytes()), got.meta["e_tag"]
        except FileNotFoundError:
            return None, None
        except (OSError, obstore.exceptions.BaseError) as error:
            raise RegistryError(f"cannot read the registry entry: {_first_line(error)}", domain=domain,
                                file=self.file(domain)) from None

    def _write(self, domain: str, data: bytes, version: str | None = None) -> bool:
        """Write the entry; on an object store only if it is still at ``version`` (absent when None).

        Returns False when another writer changed it first.
        """
        if self.is_local:
            folder = Path(self.uri)
            try:
                folder.mkdir(parents=True, exist_ok=True)
                write_atomically(folder / f"{domain}{_SUFFIX}", data)
            except OSError as error:
                raise RegistryError(f"cannot write the registry entry: {_first_line(error)}", domain=domain,
                                    file=self.file(domain)) from None
            return True
        import obstore

        mode: Any = {"e_tag": version} if version is not None else "create"
        try:  # one PUT: all or nothing, and only over the entry this write read
            obstore.put(self._object_store(), f"{domain}{_SUFFIX}", data, mode=mode)
        except (obstore.exceptions.PreconditionError, obstore.exceptions.AlreadyExistsError):
            return False
        except (OSError, obstore.exceptions.BaseError) as error:
            raise RegistryError(f"cannot write the registry entry: {_first_line(error)}", domain=domain,
                                file=self.file(domain)) from None
        return True

    def _object_store(self) -> Any:
        """The registry's prefix as an obstore store, for conditional writes."""
        from obstore.store import from_url

        options = {name.lower(): value for name, value in self._options.items()
                   if name not in ("AWS_ALLOW_HTTP", "AWS_S3_LOCKING_PROVIDER", "AWS_PROFILE")}
        allow_http = self._options.get("AWS_ALLOW_HTTP", "").lower() in ("1", "true", "yes", "on")
        return from_url(re.sub(r"^s3a://", "s3://", self.uri), config=options or None,
                        client_options={"allow_http": True} if allow_http else None)

    def _lock(self, domain: str) -> Any:
        """The lock of ``domain``'s entry, a hidden file beside it (locally); nothing on an object store."""
        if not self.is_local:
            return contextlib.nullcontext()
        from filelock import FileLock

        folder = Path(self.uri)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RegistryError(f"cannot create the registry: {_first_line(error)}", domain=domain,
                                file=self.uri) from None
        return FileLock(folder / f".{domain}.lock", timeout=60)

    def _filesystem(self) -> Any:
        from mesh_core.delta import Location

        return Location(self.uri, self._options).filesystem()


def parse_entry(data: bytes, domain: str, file: str) -> RegistryEntry:
    """The entry held in ``data``, checked against its header.

    Raises:
        RegistryError: damaged (not two JSON lines, checksum or domain mismatch) or from a newer format.
    """
    damaged = f"damaged registry entry ({{}}); run `mesh register` in domain {domain}'s repository to write it again"
    try:
        header_line, _, body = data.partition(b"\n")
        header = json.loads(header_line)
        if not isinstance(header, dict):
            raise ValueError("no header")
        version = header.get("manifest_version")
        if isinstance(version, int) and version > MANIFEST_VERSION:
            raise RegistryError(
                f"registry entry written by manifest format {version}, newer than this mesh-core reads "
                f"({MANIFEST_VERSION}); upgrade mesh-core", domain=domain, file=file,
            )
        if version != MANIFEST_VERSION:
            raise ValueError(f"manifest format {version!r}")
        body = body.rstrip(b"\n")
        if header.get("sha256") != hashlib.sha256(body).hexdigest():
            raise ValueError("its manifest does not match its checksum")
        if header.get("domain") != domain:
            raise ValueError(f"it names domain {header.get('domain')!r}")
        _check_header(header)
        manifest = json.loads(body)
        if not isinstance(manifest, dict) or not isinstance(manifest.get("ports"), list):
            raise ValueError("not a manifest")
        return _entry(header, manifest, file)
    except RegistryError:
        raise
    except (ValueError, TypeError, RecursionError) as error:
        raise RegistryError(damaged.format(_first_line(error)[:120]), domain=domain, file=file) from None


def check_owner(entry: RegistryEntry | None, owner: str | None, *, port: str | None = None) -> None:
    """Refuse a domain of ``owner`` claiming the name of ``entry``, registered by another owner.

    Raises:
        RegistryError: naming both owners, the domain and the entry's file.
    """
    if entry is not None and entry.owner != owner:
        raise RegistryError(
            f"domain {entry.domain} is already registered by owner {entry.owner} (location {entry.location}); "
            f"a domain of owner {owner} cannot claim the same name: rename one of them",
            domain=entry.domain, port=port, file=entry.file,
        )


def _check_header(header: dict[str, Any]) -> None:
    """Raise ValueError naming the first header field that is missing or of the wrong kind."""
    for name in ("location", "code_version", "registered_at"):
        if not isinstance(header.get(name), str):
            raise ValueError(f"its header has no {name}")
    if header.get("owner") is not None and not isinstance(header["owner"], str):
        raise ValueError("its header's owner is not a name")
    datetime.fromisoformat(header["registered_at"])  # ValueError: not a time
    pinned_by = header.get("pinned_by", {})
    if not isinstance(pinned_by, dict) or not all(
        isinstance(pins, list) and all(isinstance(pin, str) for pin in pins) for pins in pinned_by.values()
    ):
        raise ValueError("its header's pinned_by is not a list of domains per port")


def domain_code_version(manifest: dict[str, Any]) -> str:
    """A domain's code version: a hash of its ports' code versions and contracts, and its internal assets."""
    ports = sorted((port["id"], port.get("code_version"), port.get("version")) for port in manifest.get("ports", []))
    internal = sorted(asset.get("name", "") for asset in manifest.get("internal_assets", []))
    return hashlib.sha256(json.dumps([ports, internal]).encode()).hexdigest()[:16]


def _domain_of(manifest: dict[str, Any]) -> tuple[str, str | None]:
    described = manifest.get("domain") or {}
    domains = {port.get("domain") for port in manifest.get("ports", []) + manifest.get("internal_assets", [])}
    name = described.get("name") or (domains.pop() if len(domains) == 1 else None)
    if not isinstance(name, str) or not _DOMAIN_NAME.match(name):
        raise RegistryError(
            f"location {manifest.get('location')} declares no mesh Domain (found domains {sorted(map(str, domains))}); "
            "only a location built with mesh_core.Domain can register"
        )
    return name, described.get("owner")


def _entry(header: dict[str, Any], manifest: dict[str, Any], file: str) -> RegistryEntry:
    return RegistryEntry(
        domain=header["domain"], owner=header.get("owner"), location=str(header.get("location") or header["domain"]),
        code_version=str(header.get("code_version")), registered_at=str(header.get("registered_at")),
        pinned_by=dict(header.get("pinned_by") or {}), manifest=manifest, file=file,
    )


def _first_line(error: BaseException) -> str:
    """An error's first line: object-store errors can carry request details, never credentials, on later lines."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
