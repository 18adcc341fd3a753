"""``MeshGraph``: every port of every location, with an edge from each port to each port reading it."""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import networkx as nx


@dataclass(frozen=True)
class Read:
    """One asset reading one input port."""

    consumer: str  # the reading port id, or "<domain>/<internal asset>"
    consumer_domain: str
    location: str
    port_id: str
    major: int
    expectations: dict[str, Any] | None
    direct: bool
    file: str | None


class MeshGraph:
    """The cross-location port graph, built from manifests.

    Example:
        >>> graph = MeshGraph.from_manifests(manifests)  # doctest: +SKIP
        >>> graph.plan()  # doctest: +SKIP
        [['users.profiles'], ['podcasts.plays'], ['artists.payouts']]
    """

    def __init__(self, ports: dict[str, dict[str, Any]], reads: list[Read], asset_locations: dict[tuple, list[str]]):
        self.ports = ports
        self.reads = reads
        self.asset_locations = asset_locations
        self.graph = nx.DiGraph()
        self.graph.add_nodes_from(ports)
        self.graph.add_edges_from(
            (read.port_id, read.consumer) for read in reads if read.port_id in ports and read.consumer in ports
        )

    @classmethod
    def from_manifests(cls, manifests: list[dict[str, Any]]) -> MeshGraph:
        """Combine the manifests of every location."""
        ports: dict[str, dict[str, Any]] = {}
        reads: list[Read] = []
        asset_locations: dict[tuple, list[str]] = {}
        for manifest in manifests:
            location = manifest["location"]
            for key in manifest.get("asset_keys", []):
                asset_locations.setdefault(tuple(key), []).append(location)
            for port in manifest.get("ports", []):
                ports.setdefault(port["id"], {**port, "location": location})
                reads += _reads(port["id"], port, location)
            for asset in manifest.get("internal_assets", []):
                name = "/".join(asset["asset_key"])
                reads += [read for read in _reads(name, asset, location) if read.direct]
        return cls(ports, reads, asset_locations)

    def plan(self, selection: set[str] | None = None) -> list[list[str]]:
        """Stages of ports; each stage runs after every stage it depends on.

        Ports start in the earliest stage their inputs allow. A port with slack (no
        consumer needs it sooner) then moves to the latest later stage in which its
        own location runs anyway, so locations start fewer times; the number of stages
        never grows.

        Raises:
            networkx.NetworkXUnfeasible: if the ports form a cycle.
        """
        graph = self.graph if selection is None else self.graph.subgraph(selection)
        generations = list(nx.topological_generations(graph))
        order = [port for generation in generations for port in generation]
        stage = {port: number for number, generation in enumerate(generations) for port in generation}
        location = {port: self.ports[port]["location"] for port in order}
        ports_at: dict[str, dict[int, int]] = defaultdict(dict)  # location -> stage -> ports there
        for port in order:
            at = ports_at[location[port]]
            at[stage[port]] = at.get(stage[port], 0) + 1
        busy = {name: list(at) for name, at in ports_at.items()}  # each location's stages, ascending
        consumers = graph.succ
        for port in reversed(order):
            current = stage[port]
            latest = min((stage[consumer] for consumer in consumers[port]), default=len(generations)) - 1
            stages, at = busy[location[port]], ports_at[location[port]]
            target = stages[bisect.bisect_right(stages, latest) - 1]  # the latest not after ``latest``
            if target > current:
                at[current] -= 1
                if not at[current]:
                    del at[current]
                    stages.pop(bisect.bisect_left(stages, current))
                at[target] += 1
                stage[port] = target
        planned: list[list[str]] = [[] for _ in generations]
        for port, number in stage.items():
            planned[number].append(port)
        return [sorted(ports) for ports in planned if ports]

    def downstream(self, port_ids: set[str]) -> set[str]:
        """``port_ids`` and every port downstream of them."""
        found = set(port_ids)
        for port_id in port_ids:
            found |= nx.descendants(self.graph, port_id)
        return found

    def impact(self, port_id: str) -> dict[str, list[str]]:
        """Every port downstream of ``port_id``, with the shortest path from it."""
        paths = nx.single_source_shortest_path(self.graph, port_id)
        return {target: path for target, path in sorted(paths.items()) if target != port_id}

    def domain_cycles(self, limit: int = 10) -> list[list[str]]:
        """Cycles between domains, each once, starting at its first domain by name: ``['podcasts', 'users']``."""
        domains = nx.DiGraph()
        for read in self.reads:
            producer = read.port_id.split(".")[0]
            if read.port_id in self.ports and producer != read.consumer_domain:
                domains.add_edge(producer, read.consumer_domain)
        cycles = []
        for cycle in nx.simple_cycles(domains):
            start = cycle.index(min(cycle))
            cycles.append(cycle[start:] + cycle[:start])
            if len(cycles) >= limit:
                break
        return sorted(cycles)

    def to_dict(self) -> dict[str, Any]:
        """Nodes and edges as JSON-safe data."""
        return {
            "ports": [
                {"id": port_id, "domain": port["domain"], "location": port["location"], "version": port["version"]}
                for port_id, port in sorted(self.ports.items())
            ],
            "edges": [{"from": source, "to": target} for source, target in sorted(self.graph.edges)],
        }


def _reads(consumer: str, asset: dict[str, Any], location: str) -> list[Read]:
    return [
        Read(
            consumer=consumer,
            consumer_domain=asset["domain"],
            location=location,
            port_id=read["port_id"],
            major=int(read["major"]),
            expectations=read.get("expectations"),
            direct=bool(read.get("direct", True)),
            file=asset.get("file"),
        )
        for read in asset.get("inputs", [])
    ]
