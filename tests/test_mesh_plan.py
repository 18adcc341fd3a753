"""Properties of the run plan on random port graphs: ordered, complete, no longer, fewer location starts."""

from __future__ import annotations

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from mesh_core.mesh.graph import MeshGraph, Read


@st.composite
def port_graphs(draw: st.DrawFn) -> MeshGraph:
    """Ports numbered in topological order, each in one of a few locations, reading earlier ports."""
    count = draw(st.integers(1, 30))
    locations = [draw(st.sampled_from("abcd")) for _ in range(count)]
    ports = {f"{locations[i]}.p{i}": {"location": locations[i]} for i in range(count)}
    names = list(ports)
    reads = [
        Read(consumer=names[i], consumer_domain=locations[i], location=locations[i], port_id=names[j], major=1,
             expectations=None, direct=True, file=None)
        for i in range(1, count)
        for j in draw(st.sets(st.integers(0, i - 1), max_size=3))
    ]
    return MeshGraph(ports, reads, {})


def location_starts(graph: MeshGraph, stages: list[list[str]]) -> int:
    return sum(len({graph.ports[port]["location"] for port in stage}) for stage in stages)


@settings(max_examples=300, deadline=None)
@given(port_graphs())
def test_the_plan_respects_every_read_and_starts_locations_no_more_often(graph: MeshGraph):
    plan = graph.plan()
    stage_of = {port: number for number, stage in enumerate(plan) for port in stage}
    assert sorted(stage_of) == sorted(graph.ports) and sum(map(len, plan)) == len(graph.ports)
    assert all(stage_of[producer] < stage_of[consumer] for producer, consumer in graph.graph.edges)
    generations = [sorted(generation) for generation in nx.topological_generations(graph.graph)]
    assert len(plan) <= len(generations)
    assert location_starts(graph, plan) <= location_starts(graph, generations)


def test_a_port_with_slack_joins_its_locations_later_run():
    ports = {"a.root": {"location": "a"}, "b.mid": {"location": "b"}, "a.leaf": {"location": "a"},
             "a.side": {"location": "a"}}
    read = lambda consumer, port: Read(consumer, consumer.split(".")[0], consumer.split(".")[0], port, 1, None, True, None)  # noqa: E731
    graph = MeshGraph(ports, [read("b.mid", "a.root"), read("a.leaf", "b.mid")], {})
    assert graph.plan() == [["a.root"], ["b.mid"], ["a.leaf", "a.side"]]
