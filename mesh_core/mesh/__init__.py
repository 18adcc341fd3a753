"""The mesh wing: what looks across every code location (manifests, graph, orchestration, CLI).

Code locations never import this package; it imports the location wing.
"""
