"""The `mesh` command starts without importing Dagster, pandera or pandas; a location loads without the store."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import mesh_core


def test_the_mesh_command_imports_no_heavy_library():
    probe = (
        "import sys, mesh_core.mesh.cli;"
        "print(sorted(m for m in ('dagster', 'pandera', 'pandas', 'pyarrow', 'duckdb') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("location", ["users_domain.definitions", "artists_domain.definitions"])
def test_a_location_builds_its_definitions_without_the_store_libraries(location, tmp_path):
    # pandas itself imports pyarrow's core and compute; the store's Delta tables, parquet files,
    # filesystems and SQL (DuckDB, also dbt's) are only needed by a run that reads or publishes.
    probe = (
        f"import sys, dagster as dg, {location} as location;"
        "dg.Definitions.validate_loadable(location.defs);"
        "print(sorted(m for m in ('deltalake', 'duckdb', 'pyarrow.parquet', 'pyarrow.fs', 'mesh_core.store')"
        " if m in sys.modules))"
    )
    environment = {**os.environ, "MESH_HOME": str(tmp_path / "mesh"), "DAGSTER_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True, cwd=tmp_path,
        env=environment,
    )
    assert done.stdout.strip() == "[]"


def test_the_public_names_resolve_on_first_use():
    assert set(mesh_core.__all__) <= set(dir(mesh_core))
    for name in mesh_core.__all__:
        assert getattr(mesh_core, name).__name__ == name
