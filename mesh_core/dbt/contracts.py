"""A port model's dbt contract must agree with its pandera contract."""

from __future__ import annotations

from typing import Any

from mesh_core.contracts import Contract
from mesh_core.errors import DefinitionError

# pandera dtype -> the DuckDB data types a dbt contract may declare for it.
_DBT_TYPES = {
    "int64": {"bigint", "int8", "long", "int64"},
    "int32": {"integer", "int", "int4", "signed", "int32"},
    "float64": {"double", "float8", "double precision", "float64"},
    "float32": {"float", "float4", "real"},
    "bool": {"boolean", "bool", "logical"},
    "str": {"varchar", "text", "string", "char", "bpchar"},
    "string[pyarrow]": {"varchar", "text", "string", "char", "bpchar"},
    "datetime64[us, UTC]": {"timestamp with time zone", "timestamptz"},
    "datetime64[ns, UTC]": {"timestamp with time zone", "timestamptz"},
    "datetime64[us]": {"timestamp", "datetime"},
    "datetime64[ns]": {"timestamp", "datetime"},
}


def check_dbt_contract(port_id: str, domain: str, node: dict[str, Any], contract: Contract, files: str) -> None:
    """Raise a ``DefinitionError`` naming ``files`` unless the model enforces a contract equal to ``contract``."""
    where = {"domain": domain, "port": port_id, "file": files}
    if not node.get("config", {}).get("contract", {}).get("enforced"):
        raise DefinitionError("the dbt model must enforce its contract (config: contract: enforced: true)", **where)
    dbt_columns = {name: (column.get("data_type") or "").lower() for name, column in node["columns"].items()}
    pandera_columns = {str(name): str(column.dtype) for name, column in contract.schema.columns.items()}
    problems = []
    for name in sorted(pandera_columns.keys() - dbt_columns.keys()):
        problems.append(f"column {name} is in the pandera contract but not the dbt contract")
    for name in sorted(dbt_columns.keys() - pandera_columns.keys()):
        problems.append(f"column {name} is in the dbt contract but not the pandera contract")
    for name in sorted(dbt_columns.keys() & pandera_columns.keys()):
        allowed = _DBT_TYPES.get(pandera_columns[name])
        if allowed is None or dbt_columns[name] not in allowed:
            problems.append(
                f"column {name}: dbt data_type '{dbt_columns[name]}' does not match pandera dtype {pandera_columns[name]}"
            )
    if problems:
        raise DefinitionError("dbt and pandera contracts disagree: " + "; ".join(problems), **where)
