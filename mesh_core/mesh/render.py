"""Render mesh results as text, JSON or Mermaid."""

from __future__ import annotations

import json
from typing import Any

from mesh_core.mesh.graph import MeshGraph


def as_json(data: Any) -> str:
    """Stable, indented JSON."""
    return json.dumps(data, indent=2, sort_keys=True, default=str)


def graph_text(graph: MeshGraph) -> str:
    """One line per port: where it lives and who reads it."""
    lines = []
    for port_id in sorted(graph.ports):
        port = graph.ports[port_id]
        readers = sorted(graph.graph.successors(port_id))
        arrow = f" -> {', '.join(readers)}" if readers else ""
        lines.append(f"{port_id} [{port['location']} v{port['version']} {port['access']}]{arrow}")
    return "\n".join(lines)


def graph_mermaid(graph: MeshGraph) -> str:
    """A Mermaid flowchart with one subgraph per domain."""
    lines = ["flowchart LR"]
    by_domain: dict[str, list[str]] = {}
    for port_id, port in sorted(graph.ports.items()):
        by_domain.setdefault(port["domain"], []).append(port_id)
    for domain, port_ids in by_domain.items():
        lines.append(f"  subgraph {domain}")
        lines += [f'    {_node(port_id)}["{port_id}"]' for port_id in port_ids]
        lines.append("  end")
    lines += [f"  {_node(source)} --> {_node(target)}" for source, target in sorted(graph.graph.edges)]
    return "\n".join(lines)


def _node(port_id: str) -> str:
    return port_id.replace(".", "__")
