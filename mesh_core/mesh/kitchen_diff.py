"""``mesh kitchen diff``: every port rebuilt in a kitchen against its parent's snapshot.

For each: the contract diff (``mesh diff``'s classifier, against the registry or a git
ref), row counts, keys added and removed by the contract's unique columns, changed
values with a sample, and the ports downstream (``mesh impact``'s verdicts).

Both snapshots are read as the kitchen store's reader (anonymous unless ``--reader`` names
a domain), through its access check, masking and audit, like any other read: a port the
reader may not read gets row counts and no key or value comparison. Counts are exact
either way (masking is deterministic, and both sides are masked with the same key), and
the samples never show a PII column's value, masked or clear: it reads ``<pii>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mesh_core import delta
from mesh_core.errors import MeshError
from mesh_core.mesh.diff import PortDiff, diff_ports
from mesh_core.mesh.graph import MeshGraph
from mesh_core.mesh.impact import classify_change
from mesh_core.store import PortStore, Snapshot, folders

SAMPLE = 5
HIDDEN = "<pii>"  # what a sample shows for a value of a PII column


@dataclass
class PortComparison:
    """One port major rebuilt in a kitchen, compared with what its parent serves."""

    port_id: str
    major: int
    kitchen: Snapshot
    parent: Snapshot | None
    contract: PortDiff | None
    keys: list[str] = field(default_factory=list)
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed_rows: int = 0
    changed_columns: dict[str, int] = field(default_factory=dict)
    changed_sample: list[dict[str, Any]] = field(default_factory=list)
    downstream: dict[str, str] = field(default_factory=dict)
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form; key and value samples hold at most ``SAMPLE`` rows each."""
        return {
            "port": self.port_id,
            "major": self.major,
            "kitchen_snapshot": self.kitchen.snapshot_id,
            "parent_snapshot": self.parent.snapshot_id if self.parent else None,
            "rows": {"parent": self.parent.rows if self.parent else None, "kitchen": self.kitchen.rows},
            "contract": self.contract.to_dict() if self.contract else None,
            "keys": {
                "columns": self.keys, "added": len(self.added), "removed": len(self.removed),
                "added_sample": self.added[:SAMPLE], "removed_sample": self.removed[:SAMPLE],
            },
            "changed": {"rows": self.changed_rows, "columns": self.changed_columns, "sample": self.changed_sample},
            "downstream": self.downstream,
            "note": self.note,
        }


def rebuilt_majors(store: PortStore) -> list[tuple[str, int]]:
    """Every (port id, major) with a table of the kitchen's own, i.e. rebuilt in it."""
    found = []
    for domain in folders(store.location):
        if domain.startswith(("_", ".")):
            continue
        for port in folders(store.location.child(domain)):
            if port.startswith(("_", ".")):
                continue
            for name in folders(store.location.child(domain, port)):
                if name[:1] == "v" and name[1:].isdigit():
                    if delta.load(store.location.child(domain, port, name)) is not None:
                        found.append((f"{domain}.{port}", int(name[1:])))
    return sorted(found)


def diff_kitchen(store: PortStore, graph: MeshGraph, base: dict[str, dict[str, Any]]) -> list[PortComparison]:
    """Compare every port rebuilt in the kitchen ``store`` with its parent.

    ``graph`` is the mesh as the working tree declares it (what the kitchen ran);
    ``base`` the contracts to diff against (the registry or a git ref).

    Raises:
        MeshError: ``store``'s environment is not a kitchen.
    """
    if store.parent is None:
        raise MeshError(f"env '{store.env}' is not a kitchen", file=store.location.uri)
    return [_compare(store, graph, base, port_id, major) for port_id, major in rebuilt_majors(store)]


def _compare(store: PortStore, graph: MeshGraph, base: dict, port_id: str, major: int) -> PortComparison:
    kitchen = store.current(port_id, major)
    port = graph.ports.get(port_id)
    contract = diff_ports({port_id: base[port_id]} if port_id in base else {}, {port_id: port})[0] if port else None
    try:
        parent = store.parent.current(port_id, major)
    except MeshError:
        parent = None
    comparison = PortComparison(port_id, major, kitchen, parent, contract)
    if port is not None:
        comparison.downstream = classify_change(graph, port_id, port)
    if parent is None:
        comparison.note = f"v{major} is new in the kitchen: the parent serves none"
        return comparison
    comparison.keys = unique_columns(port["contract"]) if port else []
    if not comparison.keys:
        comparison.note = "the contract declares no unique columns: keys and values are not compared"
        return comparison
    try:
        old, new = store.frame(parent), store.frame(kitchen)
    except MeshError as error:  # refused, and recorded so: this reader compares counts only
        who = f"domain {store.reader}" if store.reader else "an anonymous reader"
        comparison.note = (f"keys and values are not compared: {who} may not read it ({error}); "
                           "pass --reader with a domain that may")
        return comparison
    _compare_rows(comparison, old, new, _pii_columns(port, kitchen, parent))
    return comparison


def _pii_columns(port: dict[str, Any] | None, *snapshots: Snapshot) -> set[str]:
    """The PII columns of the port: its contract's, and those the snapshots' read policies recorded."""
    columns = {name for name, column in (port or {}).get("contract", {}).get("columns", {}).items() if column.get("pii")}
    for snapshot in snapshots:
        columns |= set((snapshot.policy or {}).get("pii") or ())
    return columns


def unique_columns(contract: dict[str, Any]) -> list[str]:
    """The columns that identify a row: the contract's unique combination, else its one unique column."""
    combined = contract.get("unique")
    if combined:
        return list(combined) if isinstance(combined, list) else [combined]
    single = [name for name, column in contract.get("columns", {}).items() if column.get("unique")]
    return single[:1]


def _compare_rows(comparison: PortComparison, old: pd.DataFrame, new: pd.DataFrame, pii: set[str]) -> None:
    keys = comparison.keys
    missing = [key for key in keys if key not in old.columns or key not in new.columns]
    if missing:
        comparison.note = f"key column(s) {missing} missing from a side: keys and values are not compared"
        return
    found = old[keys].merge(new[keys], on=keys, how="outer", indicator=True)
    comparison.removed = _records(found.loc[found["_merge"] == "left_only", keys], pii)
    comparison.added = _records(found.loc[found["_merge"] == "right_only", keys], pii)
    both = old.merge(new, on=keys, how="inner", suffixes=("@parent", "@kitchen"))
    shared = [column for column in old.columns if column in new.columns and column not in keys]
    changed_any = pd.Series(False, index=both.index)
    for column in shared:
        before, after = both[f"{column}@parent"], both[f"{column}@kitchen"]
        differs = ~((before == after) | (before.isna() & after.isna()))
        if differs.any():
            comparison.changed_columns[column] = int(differs.sum())
            changed_any |= differs
            for index in differs[differs].index[: SAMPLE - len(comparison.changed_sample)]:
                comparison.changed_sample.append({
                    "key": {key: _shown(both.at[index, key], key in pii) for key in keys}, "column": column,
                    "parent": _shown(before[index], column in pii), "kitchen": _shown(after[index], column in pii),
                })
    comparison.changed_rows = int(changed_any.sum())


def _records(frame: pd.DataFrame, pii: set[str]) -> list[dict[str, Any]]:
    return [{column: _shown(value, column in pii) for column, value in row.items()}
            for row in frame.to_dict("records")]


def _shown(value: Any, pii: bool) -> Any:
    """A sample's value: ``HIDDEN`` for a PII column's (even a null: its presence is data too), else JSON-safe."""
    return HIDDEN if pii else _plain(value)


def _plain(value: Any) -> Any:
    """A JSON-safe scalar."""
    if value is None or (not isinstance(value, (list, dict)) and pd.isna(value)):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value.item() if hasattr(value, "item") else value


def render_text(kitchen: str, parent: str, comparisons: list[PortComparison]) -> str:
    """The comparison as a terminal reads it."""
    if not comparisons:
        return f"kitchen {kitchen} has rebuilt no port: everything is read from {parent}"
    lines = [f"kitchen {kitchen} against {parent}: {len(comparisons)} port(s) rebuilt"]
    for c in comparisons:
        data = c.to_dict()
        rows = data["rows"]
        delta_rows = f" ({rows['kitchen'] - rows['parent']:+d})" if rows["parent"] is not None else ""
        lines.append("")
        lines.append(f"{c.port_id} v{c.major}: {data['parent_snapshot'] or '-'} -> {data['kitchen_snapshot']}")
        lines.append(f"  rows: {rows['parent'] if rows['parent'] is not None else '-'} -> {rows['kitchen']}{delta_rows}")
        if c.contract is not None:
            changes = "; ".join(
                f"{change.column}: {change.kind}{' (BREAKING)' if change.breaking else ''}" for change in c.contract.changes
            )
            gate = "breaking" if c.contract.gate_fails else "not breaking"
            lines.append(f"  contract: {c.contract.status}, {gate}{': ' + changes if changes else ''}")
        if c.keys and c.note is None:
            lines.append(f"  keys ({', '.join(c.keys)}): {len(c.added)} added, {len(c.removed)} removed")
            for label, sample in (("added", c.added), ("removed", c.removed)):
                for key in sample[:SAMPLE]:
                    lines.append(f"    {label} {_key_text(key)}")
            columns = ", ".join(f"{name} ({count})" for name, count in sorted(c.changed_columns.items()))
            lines.append(f"  changed: {c.changed_rows} row(s){': ' + columns if columns else ''}")
            for change in c.changed_sample:
                lines.append(
                    f"    {_key_text(change['key'])} {change['column']}: {change['parent']!r} -> {change['kitchen']!r}"
                )
        if c.note:
            lines.append(f"  {c.note}")
        if c.downstream:
            lines.append("  downstream: " + "; ".join(f"{port} {verdict}" for port, verdict in c.downstream.items()))
    return "\n".join(lines)


def _key_text(key: dict[str, Any]) -> str:
    return ", ".join(f"{name}={value}" for name, value in key.items())
