"""Reproducible benchmarks of mesh_core; run ``python -m benchmarks [--quick]``."""
