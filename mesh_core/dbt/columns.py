"""The column schema and column lineage of the models a dbt build made, read from its DuckDB file.

dagster-dbt's ``fetch_column_metadata`` reads each model's columns (and its parents') through
an in-process dbt adapter, whose making parses every dbt macro: 1.5-2.5 s of CPU in each run.
Here DuckDB describes the relations, as dbt-duckdb's own ``get_columns_in_relation`` does
(``DESCRIBE``, typed by dbt-duckdb's column class), and dagster-dbt's own functions turn the
columns into the metadata it would attach.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster_dbt.asset_utils import default_metadata_from_dbt_resource_props
from dagster_dbt.core.dbt_cli_event import EventHistoryMetadata, _build_column_lineage_metadata

if TYPE_CHECKING:
    import duckdb
    from dagster_dbt.core.dbt_cli_invocation import DbtCliInvocation

logger = logging.getLogger(__name__)

_WITH_COLUMNS = ("model", "seed", "snapshot")  # the nodes that are relations with columns


def with_column_metadata(events: Iterable[Any], invocation: DbtCliInvocation, database: Path) -> Iterator[Any]:
    """``events`` of a finished dbt command, each model's with its column schema and lineage attached.

    dbt must have exited: DuckDB lets no other process open a file that dbt holds for writing.
    A relation that cannot be described (or a file that cannot be opened) leaves its event
    without the metadata, and so does lineage that cannot be built (sqlglot does not parse
    every model), with a warning, as in dagster-dbt.
    """
    describe = _Describer(database)
    try:
        for event in events:
            props = _model_of(event, invocation.manifest)
            yield event if props is None else event.with_metadata(
                {**event.metadata, **_column_metadata(describe, props, invocation)}
            )
    finally:
        describe.close()


def _model_of(event: Any, manifest: Any) -> dict[str, Any] | None:
    """The manifest node of a model (seed, snapshot) that ``event`` materialized, else ``None``."""
    if not isinstance(event, (dg.Output, dg.AssetMaterialization)) or "unique_id" not in event.metadata:
        return None
    node = manifest["nodes"].get(event.metadata["unique_id"].value)
    return node if node is not None and node["resource_type"] in _WITH_COLUMNS else None


def _column_metadata(describe: _Describer, props: dict[str, Any], invocation: DbtCliInvocation) -> dict[str, Any]:
    """What dagster-dbt's ``_fetch_column_metadata`` attaches, and as it does, leaving out what cannot be built."""
    import duckdb

    where = props["original_file_path"]
    try:
        _, columns = describe(props)
    except duckdb.Error as error:
        logger.warning("The columns of the dbt resource `%s` could not be read from %s; its column metadata is"
                       " left out: %s", where, describe.database, error)
        return {}
    metadata = {}
    try:
        metadata.update(default_metadata_from_dbt_resource_props({"columns": columns}))
    except Exception as error:  # noqa: BLE001 - as dagster-dbt: the schema is left out, the build goes on
        logger.warning("The column schema of the dbt resource `%s` could not be built; it is left out: %r",
                       where, error)
    try:
        manifest = invocation.manifest
        parents = dict(
            describe(manifest["nodes"].get(parent) or manifest["sources"][parent])
            for parent in manifest["parent_map"].get(props["unique_id"], [])
        )
        metadata.update(_build_column_lineage_metadata(
            event_history_metadata=EventHistoryMetadata(columns=columns, parents=parents),
            dbt_resource_props=props,
            manifest=manifest,
            dagster_dbt_translator=invocation.dagster_dbt_translator,
            target_path=invocation.target_path,
            project=invocation.project,
        ))
    except Exception as error:  # noqa: BLE001 - as dagster-dbt (sqlglot fails on some SQL): lineage left out
        logger.warning("The column lineage of the dbt resource `%s` could not be built; it is left out: %r",
                       where, error)
    return metadata


class _Describer:
    """A relation's name and columns (``{name: {"data_type": ...}}``), each relation described once."""

    def __init__(self, database: Path) -> None:
        from dbt.adapters.duckdb.column import DuckDBColumn
        from dbt.adapters.duckdb.relation import DuckDBRelation

        self.database, self.column, self.relation = database, DuckDBColumn, DuckDBRelation
        self.connection: duckdb.DuckDBPyConnection | None = None  # opened at the first model
        self.described: dict[str, tuple[str, dict[str, dict[str, str]]]] = {}

    def __call__(self, props: dict[str, Any]) -> tuple[str, dict[str, dict[str, str]]]:
        import duckdb

        identifier = props["identifier"] if props["unique_id"].startswith("source") else props["alias"]
        name = str(self.relation.create(database=props["database"], schema=props["schema"], identifier=identifier))
        if name not in self.described:
            self.connection = self.connection or duckdb.connect(str(self.database), read_only=True)
            try:
                rows = self.connection.execute(f"DESCRIBE {name}").fetchall()
            except duckdb.CatalogException:
                rows = []  # no such relation (an ephemeral model): no columns, as dbt-duckdb answers
            self.described[name] = name, {
                row[0]: {"data_type": self.column(column=row[0], dtype=row[1]).data_type} for row in rows
            }
        return self.described[name]

    def close(self) -> None:
        """Close the file: the ports' audits open it next."""
        if self.connection is not None:
            self.connection.close()
