"""``mesh store migrate``'s second step: give old snapshots the read policy their port's manifest implies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mesh_core.access import ReadPolicy
from mesh_core.mesh.storage_grants import consumer_domains
from mesh_core.store import PortStore, Snapshot
from mesh_core.sql_catalog import published_ports


def stamp_store(store: PortStore, workspace: Path) -> tuple[list[Snapshot], list[str]]:
    """Stamp every current snapshot of the store's own tables that lacks a read policy or its masked copy.

    The workspace's manifests are loaded only when some snapshot lacks a policy. Returns the
    stamped snapshots, and what was left with the reason (no workspace, a port it does not declare).

    Raises:
        MeshError: a snapshot needs its port's policy and the workspace cannot be loaded.
    """
    due = [(port_id, major, store.current(port_id, major)) for port_id, majors in sorted(_own_ports(store).items())
           for major in majors]
    due = [(port_id, major, snapshot) for port_id, major, snapshot in due if _needs_stamp(snapshot)]
    if not due:
        return [], []
    policies: dict[str, ReadPolicy] = {}
    missing = f"no workspace at {workspace} to read its port's policy from (pass -w/--workspace)"
    if any(snapshot.policy is None for _, _, snapshot in due) and workspace.exists():
        policies = manifest_policies(workspace)
        missing = "the workspace declares no such port; publish it again to record a policy"
    stamped, left = [], []
    for port_id, major, snapshot in due:
        policy = ReadPolicy.from_record(snapshot.policy) if snapshot.policy else policies.get(port_id)
        if policy is None:
            left.append(f"{port_id} v{major}: {missing}")
            continue
        done = store.stamp(port_id, major, policy)
        if done is not None:
            stamped.append(done)
        elif snapshot.policy is not None:
            left.append(f"{port_id} v{major}: no masked copy; set MESH_PII_KEY to the environment's key and run again")
    return stamped, left


def manifest_policies(workspace: Path) -> dict[str, ReadPolicy]:
    """Each port's read policy as the workspace's manifests declare it.

    Raises:
        MeshError: the workspace cannot be loaded.
    """
    from mesh_core.mesh.cli import load_mesh

    return {port_id: policy_of(port) for port_id, port in load_mesh(workspace).graph.ports.items()}


def policy_of(port: dict[str, Any]) -> ReadPolicy:
    """The read policy a manifest's port implies, as its publish records it (``Contract.read_policy``)."""
    columns = (port.get("contract") or {}).get("columns") or {}
    return ReadPolicy(
        producer=port["domain"], access=port["access"], consumers=tuple(sorted(consumer_domains(port["consumers"]))),
        pii_cleared=tuple(port.get("pii_cleared") or ()), pii=tuple(name for name, c in columns.items() if c.get("pii")),
    )


def _needs_stamp(snapshot: Snapshot) -> bool:
    if snapshot.policy is None:
        return True
    return ReadPolicy.from_record(snapshot.policy).masks and not snapshot.masked_files


def _own_ports(store: PortStore) -> dict[str, list[int]]:
    """The ports whose tables this environment holds itself (a kitchen's parent's are the parent's to migrate)."""
    own = {}
    for port_id, majors in published_ports(store).items():
        held = [major for major in majors if store.current(port_id, major).path.startswith(store.location.uri + "/")]
        if held:
            own[port_id] = held
    return own
