"""Consumer expectations, read from the store's registry by a producer at publish.

Before a port publishes, its producer reads, from every other domain's entry in the
registry (see ``mesh_core.registry``), the expectations declared on the port; once the
publish has committed, it registers its own manifest. It never imports the mesh wing or
any consumer's code, and it never reads a local cache: a consumer in another repository
is seen as soon as it registers.

It fails closed. A consumer whose entry cannot be read (damaged, from a newer format),
or which pinned the port at the domain's last publish but whose entry is now missing,
fails the ``consumer_expectations`` check, naming the consumer. Only
``MESH_EXPECTATIONS=lenient`` lets such a publish through, with a warning in the run's log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dagster as dg
import pandera.pandas as pa

from mesh_core.registry import REGISTRY_DIR, Registry, RegistryEntry, RegistryError, check_owner
from mesh_core.schema_doc import schema_from_document
from mesh_core.settings import MeshSettings

if TYPE_CHECKING:
    from mesh_core.store import PortStore

_DEFINITIONS: dict[str, list[dg.Definitions]] = {}
_KEPT = 8  # Definitions kept per domain name (a test process builds many)


@dataclass(frozen=True)
class Expectation:
    """What one consumer relies on in one major of a port; ``unreadable`` says why it could not be read."""

    consumer: str
    major: int
    schema: pa.DataFrameSchema | None
    unreadable: str | None = None


def remember_definitions(domain: str, defs: dg.Definitions) -> None:
    """Keep the Definitions a domain built, so its publishes can register its manifest."""
    kept = _DEFINITIONS.setdefault(domain, [])
    kept.append(defs)
    del kept[:-_KEPT]


def _publishing_definitions(port_id: str) -> dg.Definitions | None:
    """The newest Definitions built by ``Domain.definitions`` that hold the port running now, at its code version."""
    domain, name = port_id.split(".", 1)
    key = dg.AssetKey([domain, name])
    try:
        running = dg.AssetExecutionContext.get().assets_def.code_versions_by_key.get(key)
    except dg.DagsterInvariantViolationError:  # outside a run
        running = None
    for defs in reversed(_DEFINITIONS.get(domain, [])):
        graph = defs.resolve_asset_graph()
        if key in graph.materializable_asset_keys and (running is None or graph.get(key).code_version == running):
            return defs
    return None


def registry_of(store: PortStore) -> Registry:
    """The registry in ``store``'s environment."""
    return Registry(store.location.child(REGISTRY_DIR).uri, store.location.storage_options)


def _scan_chain(store: PortStore) -> tuple[dict[str, RegistryEntry], dict[str, RegistryError]]:
    """The registry entries ``store``'s environment sees: its own, then (in a kitchen) its parents' through the chain."""
    entries: dict[str, RegistryEntry] = {}
    broken: dict[str, RegistryError] = {}
    current: PortStore | None = store
    while current is not None:
        found, damaged = registry_of(current).scan()
        for domain, entry in found.items():
            if domain not in entries and domain not in broken:
                entries[domain] = entry
        for domain, error in damaged.items():
            if domain not in entries and domain not in broken:
                broken[domain] = error
        current = current.parent
    return entries, broken


@dataclass(frozen=True)
class PublishView:
    """What a producer learns from the registry before a publish, and how it registers once the publish is done."""

    expectations: list[Expectation]
    registry: Registry
    producer: str
    previous: RegistryEntry | None
    port_id: str
    pins: list[str]
    definitions: dg.Definitions | None

    def register(self) -> None:
        """Write the producer's entry, with who pins the port, after a publish committed.

        A registry that cannot take it leaves the entry older than the publish: the run
        says so in its log and ``mesh status`` reports the entry stale.
        """
        defs = self.definitions
        if defs is None:  # not built by Domain.definitions(): there is no manifest to register
            return
        from mesh_core.manifest import build_manifest

        location = self.previous.location if self.previous else self.producer
        try:  # the pins merge into the entry as it is now: another port of the domain may have published since
            self.registry.register(build_manifest(defs, location), location=location, pins=(self.port_id, self.pins))
        except RegistryError as error:
            dg.get_dagster_logger().warning(f"published, but not registered: {error}")


def expectations_at_publish(store: PortStore, port_id: str) -> PublishView:
    """Every consumer's expectations on ``port_id``, read from the registry, before the producer publishes.

    Raises:
        RegistryError: the producer's own entry is damaged, or claimed by another owner.
    """
    producer = port_id.split(".")[0]
    registry = registry_of(store)
    entries, broken = _scan_chain(store)
    if producer in broken:
        raise broken[producer]
    previous = entries.get(producer)
    defs = _publishing_definitions(port_id)
    owner = (_value(defs.metadata.get("mesh/domain")) or {}).get("owner") if defs is not None and defs.metadata else None
    if owner is not None:
        check_owner(previous, owner, port=port_id)
    found, pinning = _declared(entries, producer, port_id)
    failing = {domain: f"its registry entry {error.file} cannot be read: {error.message}" for domain, error in broken.items()}
    for consumer in (previous.pinned_by.get(port_id, []) if previous else []):
        if consumer not in entries and consumer not in broken:
            failing[consumer] = (
                f"its registry entry {registry.file(consumer)} is missing, but it pinned {port_id} at the last publish; "
                "run `mesh register` in its repository"
            )
    known = set(previous.pinned_by.get(port_id, [])) if previous else set()
    pins = sorted(pinning | (known & set(failing)))  # before lenient forgets them: a later strict publish fails closed
    if MeshSettings.from_env().expectations == "lenient":
        for consumer, reason in sorted(failing.items()):
            dg.get_dagster_logger().warning(
                f"MESH_EXPECTATIONS=lenient: publishing {port_id} without checking consumer {consumer}: {reason}"
            )
        failing = {}
    found += [Expectation(consumer, -1, None, reason) for consumer, reason in sorted(failing.items())]
    return PublishView(found, registry, producer, previous, port_id, pins, defs)


def _declared(entries: dict[str, RegistryEntry], producer: str, port_id: str) -> tuple[list[Expectation], set[str]]:
    """Expectations on ``port_id`` in other domains' entries, and every domain that pins it."""
    found, pinning = [], set()
    for domain, entry in sorted(entries.items()):
        if domain == producer:
            continue
        for asset in entry.manifest.get("ports", []) + entry.manifest.get("internal_assets", []):
            for read in asset.get("inputs", []):
                if read.get("port_id") != port_id or not read.get("direct", True):
                    continue
                pinning.add(domain)
                if read.get("expectations"):
                    found.append(_expectation(domain, read, entry.file))
    return found, pinning


def _expectation(consumer: str, read: dict[str, Any], file: str) -> Expectation:
    try:
        return Expectation(consumer, int(read["major"]), schema_from_document(read["expectations"]))
    except (ValueError, KeyError, TypeError) as error:  # fail closed: a publish never skips a consumer's expectations
        return Expectation(consumer, -1, None, f"its expectations in {file} cannot be rebuilt: {error}")


def _value(metadata_value: Any) -> Any:
    return getattr(metadata_value, "value", metadata_value)
