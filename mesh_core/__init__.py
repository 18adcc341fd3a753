"""mesh_core: a data mesh on Dagster.

The location wing, imported by domains inside their code locations: ``Domain``,
ports, contracts, the port store and its IO manager, and errors.

Names are imported on first use (PEP 562), so the ``mesh`` command, which needs
none of Dagster or pandera to read cached manifests, starts without importing them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_SOURCES = {
    "Clearance": "mesh_core.access",
    "ReadPolicy": "mesh_core.access",
    "read_audit": "mesh_core.audit_trail",
    "AuditReport": "mesh_core.auditing",
    "audit": "mesh_core.auditing",
    "Contract": "mesh_core.contracts",
    "Domain": "mesh_core.domain",
    "ContractViolation": "mesh_core.errors",
    "DefinitionError": "mesh_core.errors",
    "MeshError": "mesh_core.errors",
    "StoreError": "mesh_core.errors",
    "WorkspaceError": "mesh_core.errors",
    "MeshStore": "mesh_core.io",
    "PortIOManager": "mesh_core.io",
    "OutputPortSpec": "mesh_core.port_asset",
    "InputPort": "mesh_core.ports",
    "PreviousMajor": "mesh_core.ports",
    "parse_port_id": "mesh_core.ports",
    "port_asset_key": "mesh_core.ports",
    "Policy": "mesh_core.policies",
    "policy": "mesh_core.policies",
    "MeshSettings": "mesh_core.settings",
    "PortStore": "mesh_core.store",
    "Snapshot": "mesh_core.store",
}

__all__ = sorted(_SOURCES)

if TYPE_CHECKING:
    from mesh_core.access import Clearance, ReadPolicy
    from mesh_core.audit_trail import read_audit
    from mesh_core.auditing import AuditReport, audit
    from mesh_core.contracts import Contract
    from mesh_core.domain import Domain
    from mesh_core.errors import ContractViolation, DefinitionError, MeshError, StoreError, WorkspaceError
    from mesh_core.io import MeshStore, PortIOManager
    from mesh_core.policies import Policy, policy
    from mesh_core.port_asset import OutputPortSpec
    from mesh_core.ports import InputPort, PreviousMajor, parse_port_id, port_asset_key
    from mesh_core.settings import MeshSettings
    from mesh_core.store import PortStore, Snapshot


def __getattr__(name: str) -> Any:
    if name not in _SOURCES:
        raise AttributeError(f"module 'mesh_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(_SOURCES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
