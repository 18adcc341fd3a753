"""Write–audit–publish: validate an output port's frame before the store makes it visible.

Every served major is audited (the current contract, and each previous major through
its adapter) together with every registered consumer's expectations. Only if all of
them pass is anything published, so a publish is all or nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dagster as dg
import pandas as pd

from mesh_core.auditing import AuditReport, audit
from mesh_core.contracts import Contract
from mesh_core.errors import ContractViolation, MeshError, StoreError
from mesh_core.expectations import Expectation
from mesh_core.io import verification
from mesh_core.metadata import materialization_metadata

if TYPE_CHECKING:  # a run that publishes loads the store (pyarrow, deltalake); definitions do not
    from mesh_core.store import PortStore

CONTRACT_CHECK = "contract"
EXPECTATIONS_CHECK = "consumer_expectations"


@dataclass(frozen=True)
class ServedMajor:
    """One major version a port publishes: its contract, check name and adapter."""

    contract: Contract
    check_name: str
    adapt: Callable[[pd.DataFrame], pd.DataFrame] | None = None


def write_audit_publish(
    store: PortStore,
    port_id: str,
    served: list[ServedMajor],
    frame: Any,
    inputs_read: dict[str, dict[str, Any]],
    expectations: list[Expectation],
    *,
    file: str | None = None,
    asset_key: dg.AssetKey | None = None,
    blocked_by: str | None = None,
    extra_metadata: dict[str, Any] | None = None,
    min_rows: int = 1,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """Audit ``frame`` for every served major and expectation; publish only if all pass.

    On a violation it yields every check result with its evidence, then raises
    ``dagster.Failure``: the run fails and consumers keep the previous snapshots.
    ``asset_key`` names the port's asset when it is one of several in a multi-asset.
    ``blocked_by`` is a reason found elsewhere (failed dbt tests) not to publish: the
    audits still run and record their evidence, then the publish fails.
    ``extra_metadata`` joins the materialization's metadata (how it was built).
    ``min_rows`` refuses a publish with fewer rows in any major. Every major is committed,
    or none is: a store failure (a concurrent publish won, too few rows) fails the run.
    """
    where = {"domain": port_id.split(".")[0], "port": port_id, "file": file}
    _check_frame(frame, "the port function", where)
    frames = {major.contract.major: _adapt(major, frame, where) for major in served}
    # Each frame is the port's own result (or an adapter's copy): audit it in place, without
    # pandera's copy of every row, so publishing holds no second copy of the data.
    reports = {
        major.check_name: major.contract.validate(frames[major.contract.major], inplace=True) for major in served
    }
    relied_on = [e for e in expectations if e.major in frames and e.schema is not None]
    pii = {major.contract.major: major.contract.pii_columns for major in served}
    consumer_reports = {e.consumer: audit(e.schema, frames[e.major], inplace=True, pii=pii[e.major]) for e in relied_on}
    unreadable = {e.consumer: e.unreadable for e in expectations if e.unreadable}  # fails closed
    broken = [name for name, report in reports.items() if not report.passed]
    broken_consumers = sorted(name for name, report in consumer_reports.items() if not report.passed)

    if broken or broken_consumers or unreadable or blocked_by:
        yield from _check_results(reports, consumer_reports, asset_key=asset_key, unreadable=unreadable)
        versions = {major.check_name: major.contract.version for major in served}
        problems = [f"contract v{versions[name]} violated: {reports[name].summary()}" for name in broken]
        if any(reports[name].undeclared_columns for name in broken):
            problems.append(
                "declare every published column in the contract, or let it publish (strict=False) or drop "
                "(strict='filter') the columns it does not declare"
            )
        problems += [
            f"expectations of consumer {c} violated: {consumer_reports[c].summary()}" for c in broken_consumers
        ]
        problems += [f"expectations of consumer {c} unknown: {reason}" for c, reason in sorted(unreadable.items())]
        problems += [blocked_by] if blocked_by else []
        violation = ContractViolation("nothing published; " + "; ".join(problems), **where)
        raise dg.Failure(description=str(violation), allow_retries=False)

    checks = {name: report.passed for name, report in reports.items()}
    checks[EXPECTATIONS_CHECK] = True
    run_id, code_version = _run_facts(asset_key)
    import pyarrow as pa  # loaded with the store already; imported here so definitions do not load it

    try:
        published = store.publish_majors(
            port_id,
            [(reports[major.check_name].frame, major.contract.version) for major in served],
            run_id=run_id, code_version=code_version, checks=checks, min_rows=min_rows,
            policies=[major.contract.read_policy() for major in served],
        )
    except pa.ArrowException as error:
        mixed = _mixed_type_columns(frame)
        hint = f"; columns holding values of several types: {mixed}" if mixed else ""
        raise MeshError(f"cannot store the frame: {error}{hint}", **where) from error
    except StoreError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from error
    snapshots = {major.check_name: snapshot for major, snapshot in zip(served, published)}
    current = snapshots[served[0].check_name]
    metadata = {**materialization_metadata(current, inputs_read), **(extra_metadata or {})}
    metadata["mesh/verification"] = verification(store)
    retried = sum(snapshot.retried for snapshot in published)
    if retried:
        metadata["mesh/commit_retries"] = retried
    metadata["mesh/served_snapshots"] = dg.MetadataValue.json(
        {f"v{s.major}": s.snapshot_id for s in snapshots.values()}
    )
    yield dg.MaterializeResult(
        asset_key=asset_key, metadata=metadata, data_version=dg.DataVersion(current.content_hash)
    )
    yield from _check_results(reports, consumer_reports, snapshots, asset_key=asset_key)


def _run_facts(asset_key: dg.AssetKey | None) -> tuple[str | None, str | None]:
    """The run id and the port's code version, from the running asset's context (None outside a run)."""
    try:
        context = dg.AssetExecutionContext.get()
    except dg.DagsterInvariantViolationError:
        return None, None
    key = asset_key or context.asset_key
    return context.run.run_id, context.assets_def.code_versions_by_key.get(key)


def _adapt(major: ServedMajor, frame: pd.DataFrame, where: dict[str, Any]) -> pd.DataFrame:
    if major.adapt is None:
        return frame
    try:
        adapted = major.adapt(frame.copy())
    except Exception as error:  # noqa: BLE001 - the user's adapter; report it with the port named
        raise MeshError(f"adapter to v{major.contract.major} failed: {error!r}", **where) from error
    _check_frame(adapted, f"the adapter to v{major.contract.major}", where)
    return adapted


def _check_frame(frame: Any, source: str, where: dict[str, Any]) -> None:
    """Refuse what no contract can judge: not a DataFrame, or a column name used twice."""
    if not isinstance(frame, pd.DataFrame):
        raise MeshError(f"{source} returned {type(frame).__name__}; an output port returns a pandas DataFrame", **where)
    duplicated = sorted({str(name) for name in frame.columns[frame.columns.duplicated()]})
    if duplicated:
        raise MeshError(f"{source} returned a frame with duplicate columns {duplicated}", **where)


def _mixed_type_columns(frame: pd.DataFrame) -> list[str]:
    """Object columns whose non-null values are not all of one Python type."""
    return [
        str(name)
        for name, column in frame.items()
        if column.dtype == object and column.dropna().map(type).nunique() > 1
    ]


def _check_results(
    reports: dict[str, AuditReport],
    consumer_reports: dict[str, AuditReport],
    snapshots: dict[str, Any] | None = None,
    *,
    asset_key: dg.AssetKey | None = None,
    unreadable: dict[str, str] | None = None,
) -> Iterator[dg.AssetCheckResult]:
    for name, report in reports.items():
        metadata = report.check_metadata()
        if snapshots:
            metadata["snapshot_id"] = snapshots[name].snapshot_id
        yield dg.AssetCheckResult(asset_key=asset_key, check_name=name, passed=report.passed, metadata=metadata)
    failing = {consumer: report for consumer, report in consumer_reports.items() if not report.passed}
    metadata: dict[str, Any] = {"consumers_checked": sorted(consumer_reports)}
    if failing or unreadable:
        metadata["failing_consumers"] = sorted({*failing, *(unreadable or {})})
    if failing:
        metadata["failures_by_consumer"] = {c: r.failures_by_check for c, r in failing.items()}
        metadata["failed_rows_sample"] = {c: r.failed_rows for c, r in failing.items()}
    if unreadable:
        metadata["unreadable_consumers"] = dict(sorted(unreadable.items()))
    yield dg.AssetCheckResult(
        asset_key=asset_key, check_name=EXPECTATIONS_CHECK, passed=not (failing or unreadable), metadata=metadata
    )
