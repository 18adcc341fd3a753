"""The `mesh` command starts without importing Dagster, pandera or pandas."""

from __future__ import annotations

import subprocess
import sys

import mesh_core


def test_the_mesh_command_imports_no_heavy_library():
    probe = (
        "import sys, mesh_core.mesh.cli;"
        "print(sorted(m for m in ('dagster', 'pandera', 'pandas', 'pyarrow', 'duckdb') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"


def test_the_public_names_resolve_on_first_use():
    assert set(mesh_core.__all__) <= set(dir(mesh_core))
    for name in mesh_core.__all__:
        assert getattr(mesh_core, name).__name__ == name
