"""Product metadata on output ports, using Dagster's standard keys where one exists."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pandera.pandas as pa

from mesh_core.contracts import Contract
from mesh_core.sql_catalog import view_name
from mesh_core.store import Snapshot


def column_schema(schema: pa.DataFrameSchema) -> dg.TableSchema:
    """The contract's columns as a Dagster ``TableSchema``, with descriptions and PII tags."""
    columns = []
    for name, column in schema.columns.items():
        is_pii = (column.metadata or {}).get("pii") is True
        columns.append(
            dg.TableColumn(
                name=str(name),
                type=str(column.dtype),
                description=column.description,
                constraints=dg.TableColumnConstraints(
                    nullable=column.nullable,
                    unique=column.unique,
                    other=[str(check) for check in column.checks],
                ),
                tags={"pii": "true"} if is_pii else {},
            )
        )
    return dg.TableSchema(columns=columns)


def port_definition_metadata(port_id: str, contract: Contract) -> dict[str, Any]:
    """What a port is and where to find it: attached to the asset definition."""
    domain, port = port_id.split(".")
    return {
        "dagster/column_schema": column_schema(contract.schema),
        "dagster/table_name": view_name(domain, port).replace('"', ""),
        "mesh/port_id": port_id,
        "mesh/contract_version": contract.version,
        "mesh/access": contract.access,
        "mesh/consumers": list(contract.consumers),
        "mesh/pii_columns": list(contract.pii_columns),
    }


def materialization_metadata(snapshot: Snapshot, inputs_read: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Where the new snapshot is, and with what inputs it was built."""
    return {
        "dagster/uri": snapshot.path,
        "dagster/row_count": snapshot.rows,
        "mesh/snapshot_id": snapshot.snapshot_id,
        "mesh/content_hash": snapshot.content_hash,
        "mesh/contract_version": snapshot.version,
        "mesh/inputs": dg.MetadataValue.json(inputs_read),
    }
