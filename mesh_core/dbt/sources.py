"""The dbt source whose tables mesh_core provides: input ports and local assets, pinned per run."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from mesh_core.domain import Domain
from mesh_core.errors import DefinitionError, MeshError
from mesh_core.ports import InputPort
from mesh_core.store import PortStore

SOURCE_SCHEMA = "mesh_inputs"


def source_keys(
    domain: Domain, sources: Mapping[str, Any], source_nodes: dict[str, str], declared_in: str
) -> dict[str, dg.AssetKey]:
    """Each source table's asset key: its input port's, or its local asset's."""
    keys = {}
    for table, spec in sources.items():
        if isinstance(spec, InputPort):
            spec.check(domain=domain.name, port=None, file=declared_in)
        if table not in source_nodes:
            raise DefinitionError(f"dbt source table '{table}' is not declared in the project's sources",
                                  domain=domain.name)
        if isinstance(spec, InputPort):
            keys[table] = spec.asset_key
        elif isinstance(spec, dg.AssetsDefinition):
            keys[table] = spec.key
        else:
            raise DefinitionError(f"source '{table}' must map to an InputPort or a local asset", domain=domain.name)
    return keys


def pin_sources(
    store: PortStore, database: Path, sources: Mapping[str, Any], domain: str
) -> dict[str, dict[str, Any]]:
    """Point each source table at an exact snapshot; return what was pinned (the "with what")."""
    database.parent.mkdir(parents=True, exist_ok=True)
    inputs_read, statements = {}, [f'CREATE SCHEMA IF NOT EXISTS "{SOURCE_SCHEMA}"']
    for table, spec in sources.items():
        if isinstance(spec, InputPort):
            snapshot = store.current(spec.port_id, spec.major)
            path = snapshot.path
            inputs_read[spec.port_id] = {"port_id": spec.port_id, "version": snapshot.version,
                                         "snapshot_id": snapshot.snapshot_id, "data_version": snapshot.content_hash}
        else:
            path = str(store.internal_path(domain, spec.key.path[-1]))
            if not Path(path).exists():
                raise MeshError(f"local asset {spec.key.to_user_string()} has not been materialized", domain=domain,
                                file=path)
        source = path.replace("'", "''")
        statements.append(f"CREATE OR REPLACE VIEW \"{SOURCE_SCHEMA}\".\"{table}\" AS SELECT * FROM read_parquet('{source}')")
    with duckdb.connect(str(database)) as connection:
        for statement in statements:
            connection.execute(statement)
    return inputs_read
