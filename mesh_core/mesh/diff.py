"""``mesh diff`` and ``mesh publish``: contract evolution against the registry or a git ref."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mesh_core.compat import Change, breaking_without_major_bump, diff_schemas
from mesh_core.mesh.baseline import registry_entry


@dataclass
class PortDiff:
    """How one port's contract changed from its base."""

    port_id: str
    base_version: str | None
    version: str | None
    changes: list[Change] = field(default_factory=list)
    status: str = "changed"  # changed | unchanged | added | removed

    @property
    def gate_fails(self) -> bool:
        """A breaking change without a major bump, or a removed port."""
        if self.status == "removed":
            return True
        if self.status != "changed":
            return False
        return breaking_without_major_bump(self.base_version, self.version, self.changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "port": self.port_id,
            "status": self.status,
            "base_version": self.base_version,
            "version": self.version,
            "gate": "fail" if self.gate_fails else "pass",
            "changes": [
                {"column": c.column, "kind": c.kind, "breaking": c.breaking, "detail": c.detail} for c in self.changes
            ],
        }


def diff_ports(base: dict[str, dict[str, Any]], current: dict[str, dict[str, Any]]) -> list[PortDiff]:
    """Compare every port's contract with its base."""
    diffs = []
    for port_id in sorted(base.keys() | current.keys()):
        old, new = base.get(port_id), current.get(port_id)
        if old is None:
            diffs.append(PortDiff(port_id, None, new["version"], status="added"))
        elif new is None:
            diffs.append(PortDiff(port_id, old["version"], None, status="removed"))
        else:
            changes = diff_schemas(old["contract"], new["contract"])
            status = "changed" if changes or old["version"] != new["version"] else "unchanged"
            diffs.append(PortDiff(port_id, old["version"], new["version"], changes, status))
    return diffs


def publish_registry(ports: dict[str, dict[str, Any]], registry: Path) -> tuple[list[Path], list[str]]:
    """Write each port's current contract version; refuse to rewrite a published version.

    Returns the files written and the conflicts (a version already published with a
    different contract, which needs a version bump).
    """
    written, conflicts = [], []
    for port_id, port in sorted(ports.items()):
        domain, name = port_id.split(".")
        path = registry / domain / name / f"{port['version']}.json"
        entry = registry_entry(port)
        if path.exists():
            if json.loads(path.read_text()) != json.loads(json.dumps(entry)):
                conflicts.append(f"{port_id} {port['version']} is already published with a different contract ({path})")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(entry, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written, conflicts
