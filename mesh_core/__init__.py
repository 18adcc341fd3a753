"""mesh_core: a data mesh on Dagster.

The location wing, imported by domains inside their code locations: ``Domain``,
ports, contracts, the port store and its IO manager, and errors.
"""

from mesh_core.audit import AuditReport, audit
from mesh_core.contracts import Contract
from mesh_core.domain import Domain
from mesh_core.errors import ContractViolation, DefinitionError, MeshError, StoreError, WorkspaceError
from mesh_core.io import MeshStore, PortIOManager
from mesh_core.port_asset import OutputPortSpec
from mesh_core.ports import InputPort, PreviousMajor, parse_port_id, port_asset_key
from mesh_core.settings import MeshSettings
from mesh_core.store import PortStore, Snapshot

__all__ = [
    "AuditReport",
    "Contract",
    "ContractViolation",
    "DefinitionError",
    "Domain",
    "InputPort",
    "MeshError",
    "MeshSettings",
    "MeshStore",
    "OutputPortSpec",
    "PortIOManager",
    "PortStore",
    "PreviousMajor",
    "Snapshot",
    "StoreError",
    "WorkspaceError",
    "audit",
    "parse_port_id",
    "port_asset_key",
]
