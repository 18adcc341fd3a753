"""Write–audit–publish: validate an output port's frame before the store makes it visible."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dagster as dg
import pandas as pd

from mesh_core.contracts import Contract
from mesh_core.errors import ContractViolation, MeshError
from mesh_core.metadata import materialization_metadata
from mesh_core.store import PortStore

CONTRACT_CHECK = "contract"


def write_audit_publish(
    store: PortStore,
    port_id: str,
    contract: Contract,
    frame: Any,
    inputs_read: dict[str, dict[str, Any]],
    *,
    file: str | None = None,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """Audit ``frame`` against ``contract``; publish it only if every check passes.

    Yields the materialization and the passed ``contract`` check. On a violation it
    yields the failed check with its evidence, then raises ``dagster.Failure``: the
    run fails and consumers keep the previous snapshot.
    """
    domain = port_id.split(".")[0]
    if not isinstance(frame, pd.DataFrame):
        raise MeshError(
            f"the port function returned {type(frame).__name__}; an output port returns a pandas DataFrame",
            domain=domain,
            port=port_id,
            file=file,
        )
    report = contract.validate(frame)
    evidence = report.check_metadata()
    if not report.passed:
        yield dg.AssetCheckResult(check_name=CONTRACT_CHECK, passed=False, metadata=evidence)
        violation = ContractViolation(
            f"contract v{contract.version} violated, nothing published: {report.summary()}",
            domain=domain,
            port=port_id,
            file=file,
        )
        raise dg.Failure(description=str(violation), metadata=evidence, allow_retries=False)
    snapshot = store.publish(port_id, report.frame, version=contract.version)
    yield dg.MaterializeResult(
        metadata=materialization_metadata(snapshot, inputs_read),
        data_version=dg.DataVersion(snapshot.content_hash),
    )
    yield dg.AssetCheckResult(
        check_name=CONTRACT_CHECK,
        passed=True,
        metadata={**evidence, "snapshot_id": snapshot.snapshot_id},
    )
