"""dbt builds the models (the write); each port model is then audited and published on its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from mesh_core.dbt.columns import with_column_metadata
from mesh_core.dbt.project import DbtCli, target_folder
from mesh_core.errors import MeshError
from mesh_core.expectations import expectations_at_publish
from mesh_core.metadata import how_metadata
from mesh_core.port_asset import OutputPortSpec
from mesh_core.publish import write_audit_publish

if TYPE_CHECKING:  # a run loads the store and DuckDB; the location's definitions do not
    from mesh_core.store import PortStore


def build_and_publish(
    context: dg.AssetExecutionContext,
    dbt: DbtCli,
    store: PortStore,
    database: Path,
    port_specs: dict[dg.AssetKey, OutputPortSpec],
    relations: dict[dg.AssetKey, str],
    inputs_read: dict[str, dict[str, Any]],
) -> Iterator[Any]:
    """Run ``dbt build``, then write–audit–publish every port model it built.

    A port that fails its audit (or its dbt tests) is not published, and the ports after
    it still are. The step then fails with a ``dagster.Failure`` naming every port that
    was not published, and the dbt build's error if it failed.
    """
    invocation = dbt.cli(["build"], context=context, raise_on_error=False, target_path=target_folder(database))
    # All of dbt's events first: DuckDB opens the file for reading only once dbt has exited.
    finished = list(invocation.stream())
    built, failed_tests = {}, set()
    for event in with_column_metadata(finished, invocation, database):
        if isinstance(event, dg.Output):
            key = context.asset_key_for_output(event.output_name)
        else:
            key = getattr(event, "asset_key", None)
        if key in port_specs and isinstance(event, (dg.Output, dg.AssetMaterialization, dg.MaterializeResult)):
            built[key] = event.metadata or {}  # held back: published below, after the audit
            continue
        if isinstance(event, dg.AssetCheckResult) and not event.passed and event.asset_key in port_specs:
            failed_tests.add(event.asset_key)
        yield event
    failed: dict[str, str] = {}
    for key, dbt_metadata in built.items():
        spec = port_specs[key]
        try:
            yield from _audit_and_publish(context, store, database, spec, key, relations[key], dbt_metadata,
                                          inputs_read, blocked=key in failed_tests)
        except dg.Failure as failure:
            failed[spec.port_id] = failure.description or "not published"
        except MeshError as error:
            failed[spec.port_id] = str(error)
        if spec.port_id in failed:
            context.log.error(failed[spec.port_id])
    problems = []
    if not invocation.is_successful():
        problems.append(f"dbt build failed: {invocation.get_error() or 'see the dbt logs'}")
    if failed:  # last: after dbt's own (multi-line) error, one line names every port not published
        problems.append(f"dbt ports not published: {', '.join(failed)}; " + "; ".join(failed.values()))
    if problems:
        raise dg.Failure(description="\n".join(problems), allow_retries=False)


def _audit_and_publish(
    context: dg.AssetExecutionContext,
    store: PortStore,
    database: Path,
    spec: OutputPortSpec,
    key: dg.AssetKey,
    relation: str,
    dbt_metadata: dict[str, Any],
    inputs_read: dict[str, dict[str, Any]],
    *,
    blocked: bool,
) -> Iterator[Any]:
    lineage = {name: value for name, value in dbt_metadata.items() if name == "dagster/column_lineage"}
    frame = _read_relation(database, relation)
    consumers = expectations_at_publish(store, spec.port_id)
    reads = {port.port_id for port in spec.inputs.values()}
    read_here = {port_id: read for port_id, read in inputs_read.items() if port_id in reads}
    yield from write_audit_publish(
        store, spec.port_id, spec.served, frame, read_here, consumers.expectations, file=spec.file, asset_key=key,
        blocked_by="its dbt tests failed" if blocked else None, min_rows=spec.min_rows,
        extra_metadata={**how_metadata(context.run.run_id, spec.file), **lineage},
    )
    consumers.register()


def _read_relation(database: Path, relation: str) -> Any:
    import duckdb

    with duckdb.connect(str(database), read_only=True) as connection:
        connection.execute("SET TimeZone = 'UTC'")
        return connection.sql(f"SELECT * FROM {relation}").to_arrow_table().to_pandas()
