"""``mesh validate``: every problem in the mesh, each naming its domain, port and file."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from mesh_core.access import may_consume
from mesh_core.compat import unmet_expectations
from mesh_core.mesh.graph import MeshGraph, Read
from mesh_core.mesh.policy_check import LoadedPolicy, check_policies
from mesh_core.semver import semver_major


@dataclass(frozen=True)
class Problem:
    """One finding; ``severity`` is ``error`` or ``warning``."""

    severity: str
    domain: str
    port: str | None
    message: str
    file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return asdict(self)


def validate(graph: MeshGraph, today: date, policies: Sequence[LoadedPolicy] = ()) -> list[Problem]:
    """Check the whole mesh and run ``policies`` over every port; ``today`` judges deprecated majors."""
    problems = _duplicate_keys(graph) + _cycles(graph)
    served: dict[str, dict[int, dict[str, Any]]] = {}  # each producer's majors, parsed once however many read it
    for read in graph.reads:
        problems += _read_problems(graph, read, today, served)
    problems += [Problem(**asdict(finding)) for finding in check_policies(graph, list(policies))]
    return sorted(problems, key=lambda p: (p.severity != "error", p.domain, p.port or "", p.message))


def served_majors(port: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Every major a port serves: the current one and each previous major, with its contract."""
    current = semver_major(port["version"], domain=port.get("domain"), port=port.get("id"))
    served = {current: {"contract": port["contract"], "deprecation_date": None}}
    for previous in port.get("previous_majors", []):
        served[int(previous["major"])] = previous
    return served


def _read_problems(graph: MeshGraph, read: Read, today: date, served_by: dict[str, dict]) -> list[Problem]:
    where = {"domain": read.consumer_domain, "port": read.consumer, "file": read.file}
    producer = graph.ports.get(read.port_id)
    if producer is None:
        close = difflib.get_close_matches(read.port_id, list(graph.ports), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        return [Problem("error", message=f"input {read.port_id} names no existing port{hint}", **where)]
    problems = []
    access = producer["access"]
    if not may_consume(read.consumer_domain, producer=producer["domain"], access=access, consumers=producer["consumers"]):
        allowed = f" (allowed: {', '.join(producer['consumers'])})" if access == "restricted" else ""
        problems.append(Problem("error", message=f"reads {read.port_id}, whose access is {access}{allowed}", **where))
    if read.port_id not in served_by:
        served_by[read.port_id] = served_majors(producer)
    served = served_by[read.port_id].get(read.major)
    if served is None:
        majors = sorted(served_by[read.port_id])
        problems.append(
            Problem("error", message=f"pins v{read.major} of {read.port_id}; the producer serves {majors}", **where)
        )
        return problems
    if served["deprecation_date"]:
        ends = date.fromisoformat(served["deprecation_date"])
        if today > ends:
            problems.append(Problem("error", message=f"pins v{read.major} of {read.port_id}, retired on {ends}", **where))
        else:
            problems.append(
                Problem("warning", message=f"pins v{read.major} of {read.port_id}, deprecated; served until {ends}", **where)
            )
    if read.expectations:
        for unmet in unmet_expectations(read.expectations, served["contract"]):
            problems.append(Problem("error", message=f"expectations on {read.port_id} v{read.major}: {unmet}", **where))
    return problems


def _duplicate_keys(graph: MeshGraph) -> list[Problem]:
    return [
        Problem(
            "error",
            domain=key[0],
            port=".".join(key) if len(key) == 2 else "/".join(key),
            message=f"asset key {'/'.join(key)} is defined in {len(places)} locations: {', '.join(sorted(places))}",
        )
        for key, places in sorted(item for item in graph.asset_locations.items() if len(item[1]) > 1)
    ]


def _cycles(graph: MeshGraph) -> list[Problem]:
    return [
        Problem("error", domain=cycle[0], port=None, message="cycle between domains: " + " -> ".join([*cycle, cycle[0]]))
        for cycle in graph.domain_cycles()
    ]
