"""``mesh impact --change``: would a changed contract break each downstream consumer?"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mesh_core.compat import diff_schemas, unmet_expectations
from mesh_core.errors import MeshError
from mesh_core.mesh.baseline import ports_at_ref
from mesh_core.mesh.graph import MeshGraph
from mesh_core.mesh.validate import served_majors
from mesh_core.semver import semver_major


def load_changed_contract(change: str, port_id: str, workspace: Path) -> dict[str, Any]:
    """The changed port: from a registry entry or schema document file, or from a git ref."""
    path = Path(change)
    if path.is_file():
        try:
            document = json.loads(path.read_text())
        except ValueError as error:
            raise MeshError(f"--change file is not JSON: {error}", port=port_id, file=path) from None
        if "contract" in document:
            return {"id": port_id, "previous_majors": [], **document}
        if "columns" in document:
            return {"id": port_id, "version": None, "contract": document, "previous_majors": []}
        raise MeshError("--change file is neither a registry entry nor a schema document", port=port_id, file=path)
    if path.exists():
        raise MeshError("--change is a folder, not a contract document", port=port_id, file=path)
    try:
        ports = ports_at_ref(workspace, change)
    except MeshError as error:
        raise MeshError(f"--change {change!r} is neither a contract document (no such file) nor a git ref: {error}",
                        port=port_id) from None
    if port_id not in ports:
        raise MeshError(f"git ref {change} has no port {port_id}", port=port_id)
    return ports[port_id]


def classify_change(graph: MeshGraph, port_id: str, changed: dict[str, Any]) -> dict[str, str]:
    """A verdict for every port downstream of ``port_id``: ``breaks: ...``, ``not broken`` or ``affected via ...``."""
    current = graph.ports[port_id]
    new_version = changed.get("version") or current["version"]
    new_major = semver_major(new_version, port=port_id)
    served = served_majors({**changed, "version": new_version})
    breaking = [str(c) for c in diff_schemas(current["contract"], changed["contract"]) if c.breaking]
    verdicts: dict[str, str] = {}
    for read in graph.reads:
        if read.port_id != port_id or read.consumer not in graph.ports:
            continue
        pinned = served.get(read.major)
        if pinned is None:
            verdict = f"breaks: pins v{read.major}, the change serves {sorted(served)}"
        elif read.expectations and (unmet := unmet_expectations(read.expectations, pinned["contract"])):
            verdict = f"breaks: {unmet[0]}"
        elif read.major == new_major and breaking:
            verdict = f"breaks: {breaking[0]}"
        else:
            verdict = "not broken"
        if verdicts.get(read.consumer, "").startswith("breaks"):
            continue
        verdicts[read.consumer] = verdict
    for target, path in graph.impact(port_id).items():
        if target not in verdicts:
            broken = next((hop for hop in path[1:-1] if verdicts.get(hop, "").startswith("breaks")), None)
            verdicts[target] = f"affected via {broken}" if broken else "not affected"
    return verdicts
