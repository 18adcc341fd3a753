"""Where the mesh command reads the mesh from: the workspace's locations, the registry in the store, or both.

Locations in ``workspace.yaml`` load as they always have (their manifests cached).
A ``grpc_server`` location's manifest is its registry entry, found by location name.
With ``both`` (the default), domains found only in the registry, other teams'
repositories, complete the graph; a domain in the workspace is taken from there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mesh_core.mesh.manifests import load_manifests
from mesh_core.mesh.workspace import Location
from mesh_core.registry import Registry, RegistryEntry, RegistryError, check_owner
from mesh_core.settings import MeshSettings, check_env_name

SOURCES = ("workspace", "registry", "both")


@dataclass
class MeshSources:
    """The manifests of the mesh, and the registry entries they were checked against."""

    manifests: list[dict[str, Any]]
    entries: dict[str, RegistryEntry] = field(default_factory=dict)
    from_registry: list[str] = field(default_factory=list)


def registry_of(settings: MeshSettings, env: str | None = None) -> Registry:
    """The registry of ``env`` (default: the settings' environment) in the settings' store.

    Raises:
        MeshError: ``env`` is not a valid environment name (``../x`` would leave the store).
    """
    if env is not None:
        check_env_name(env, "--env")
    return Registry.of_store(settings.store_uri or settings.home, env or settings.env, settings.storage_options)


def read_mesh(
    locations: list[Location],
    settings: MeshSettings,
    source: str,
    *,
    refresh: bool = False,
    on_start: Callable[[list[str]], None] = lambda _: None,
    on_loaded: Callable[[str], None] = lambda _: None,
) -> MeshSources:
    """Every manifest ``source`` names: the workspace's, the registry's, or both.

    Raises:
        WorkspaceError: a location failed to load.
        RegistryError: a damaged or newer-format entry, a ``grpc_server`` location with
            no entry, or a workspace domain whose entry another owner registered.
    """
    registry = registry_of(settings)
    entries = registry.entries() if source != "workspace" or any(loc.grpc for loc in locations) else {}
    if source == "registry":
        return MeshSources([entry.manifest for entry in entries.values()], entries, sorted(entries))
    local = [location for location in locations if not location.grpc]
    loaded = dict(zip([loc.name for loc in local], load_manifests(
        local, settings.home, refresh=refresh, on_start=on_start, on_loaded=on_loaded
    )))
    by_location = {entry.location: entry for entry in entries.values()}
    for location in locations:
        if location.grpc:
            entry = by_location.get(location.name) or entries.get(location.name)
            if entry is None:
                raise RegistryError(
                    f"grpc_server location {location.name} ({location.grpc}) is not in the registry at "
                    f"{registry.uri}; run `mesh register` in that domain's repository (with the same MESH_HOME "
                    "and MESH_ENV)", file=registry.file(location.name),
                )
            loaded[location.name] = {**entry.manifest, "location": location.name}
    manifests = [loaded[location.name] for location in locations]
    present = {_domain(manifest): manifest for manifest in manifests}
    for name, manifest in present.items():
        owner = (manifest.get("domain") or {}).get("owner")
        if owner is not None:
            check_owner(entries.get(name), owner)
    extra = sorted(set(entries) - set(present)) if source == "both" else []
    return MeshSources(manifests + [entries[name].manifest for name in extra], entries, extra)


def register_locations(
    locations: list[Location], manifests: list[dict[str, Any]], settings: MeshSettings, env: str | None = None
) -> list[RegistryEntry]:
    """Register the manifest of every location that is not a ``grpc_server`` (those register in their own repository).

    Raises:
        RegistryError: two locations hold one domain, or an entry belongs to another owner;
            checked for every location before anything is written.
    """
    registry = registry_of(settings, env)
    local = [(loc, manifest) for loc, manifest in zip(locations, manifests) if not loc.grpc]
    names = [_domain(manifest) for _, manifest in local]
    for name in sorted({name for name in names if names.count(name) > 1}):
        holders = [loc.name for loc, manifest in local if _domain(manifest) == name]
        raise RegistryError(f"locations {holders} both declare domain {name}: two domains claim one name", domain=name)
    for _, manifest in local:
        check_owner(registry.read(_domain(manifest)), (manifest.get("domain") or {}).get("owner"))
    return [registry.register(manifest, location=loc.name) for loc, manifest in local]


def unregister_domain(
    domain: str, locations: list[Location], manifests: list[dict[str, Any]], settings: MeshSettings,
    env: str | None = None, owner: str | None = None,
) -> RegistryEntry:
    """Remove ``domain``'s registry entry, as its owner: ``owner``, else the one the workspace's location declares.

    Raises:
        RegistryError: no owner is known (the workspace does not hold the domain and none is given),
            the entry belongs to another owner, or it is missing.
    """
    registry = registry_of(settings, env)
    if owner is None:
        held = [manifest for location, manifest in zip(locations, manifests)
                if not location.grpc and _domain(manifest) == domain]
        if not held:
            raise RegistryError(
                f"domain {domain} is not a location of this workspace: run `mesh unregister` in its repository, "
                "or name its owner with --owner", domain=domain, file=registry.file(domain),
            )
        owner = (held[0].get("domain") or {}).get("owner")
    return registry.remove(domain, owner)


def stale_entries(sources: MeshSources) -> list[str]:
    """Domains of the workspace whose registry entry was written from other code than the workspace holds."""
    from mesh_core.registry import domain_code_version

    stale = []
    for manifest in sources.manifests:
        name = _domain(manifest)
        entry = sources.entries.get(name)
        if entry is not None and name not in sources.from_registry and entry.code_version != domain_code_version(manifest):
            stale.append(name)
    return stale


def _domain(manifest: dict[str, Any]) -> str:
    described = manifest.get("domain") or {}
    return described.get("name") or str(manifest.get("location"))
