"""Contract diff: classify each change between two schema documents as breaking or not.

Breaking: a column removed (or renamed), its dtype changed, a non-null column made
nullable, a check tightened or added, uniqueness changed, a PII tag removed.
Non-breaking: a column added, a check loosened or removed, a column made non-null,
a PII tag added, description changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mesh_core.semver import semver_major

_LOWER_BOUNDS = {"greater_than_or_equal_to", "greater_than"}
_UPPER_BOUNDS = {"less_than_or_equal_to", "less_than"}
_RANGES = {"in_range", "str_length"}


@dataclass(frozen=True)
class Change:
    """One difference between two contract versions."""

    column: str | None
    kind: str
    breaking: bool
    detail: str

    def __str__(self) -> str:
        where = f"column {self.column}: " if self.column else ""
        label = "BREAKING" if self.breaking else "non-breaking"
        return f"{label}: {where}{self.kind} ({self.detail})"


def diff_schemas(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Every change from schema document ``old`` to ``new`` (see ``schema_document``).

    Example:
        >>> a = {"columns": {"id": {"dtype": "int64"}}}
        >>> [c.kind for c in diff_schemas(a, {"columns": {}})]
        ['column removed']
    """
    changes: list[Change] = []
    old_columns, new_columns = old.get("columns", {}), new.get("columns", {})
    for name in old_columns.keys() - new_columns.keys():
        changes.append(Change(name, "column removed", True, "consumers reading it break"))
    for name in new_columns.keys() - old_columns.keys():
        nullable = new_columns[name].get("nullable", False)
        changes.append(Change(name, "column added", False, "nullable" if nullable else "non-null"))
    for name in sorted(old_columns.keys() & new_columns.keys()):
        changes.extend(_column_changes(name, old_columns[name], new_columns[name]))
    if _unique_key(old.get("unique")) != _unique_key(new.get("unique")):
        changes.append(Change(None, "uniqueness changed", True, f"{old.get('unique')} -> {new.get('unique')}"))
    changes.extend(_check_changes(None, old.get("checks", {}), new.get("checks", {})))
    return sorted(changes, key=lambda change: (change.column or "", change.kind))


def breaking_without_major_bump(old_version: str, new_version: str, changes: list[Change]) -> bool:
    """True when ``changes`` hold a breaking change but the major version did not increase."""
    return any(change.breaking for change in changes) and semver_major(new_version) <= semver_major(old_version)


def _column_changes(name: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes = []
    if old.get("dtype") != new.get("dtype"):
        changes.append(Change(name, "dtype changed", True, f"{old.get('dtype')} -> {new.get('dtype')}"))
    if not old.get("nullable", False) and new.get("nullable", False):
        changes.append(Change(name, "made nullable", True, "consumers relying on non-null values break"))
    if old.get("nullable", False) and not new.get("nullable", False):
        changes.append(Change(name, "made non-null", False, "a stronger guarantee"))
    if bool(old.get("unique", False)) != bool(new.get("unique", False)):
        changes.append(Change(name, "uniqueness changed", True, f"unique {old.get('unique')} -> {new.get('unique')}"))
    if old.get("pii", False) and not new.get("pii", False):
        changes.append(Change(name, "PII tag removed", True, "PII handling obligations would be lost"))
    if not old.get("pii", False) and new.get("pii", False):
        changes.append(Change(name, "PII tag added", False, "now handled as PII"))
    if old.get("description", "") != new.get("description", ""):
        changes.append(Change(name, "description changed", False, "documentation only"))
    changes.extend(_check_changes(name, old.get("checks", {}), new.get("checks", {})))
    return changes


def _check_changes(column: str | None, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes = []
    for check in sorted(old.keys() - new.keys()):
        changes.append(Change(column, "check loosened", False, f"{check} removed"))
    for check in sorted(new.keys() - old.keys()):
        changes.append(Change(column, "check tightened", True, f"{check} added: {new[check]}"))
    for check in sorted(old.keys() & new.keys()):
        if old[check] == new[check]:
            continue
        direction = _direction(check, old[check], new[check])
        detail = f"{check}: {old[check]} -> {new[check]}"
        if direction == "loosened":
            changes.append(Change(column, "check loosened", False, detail))
        elif direction == "tightened":
            changes.append(Change(column, "check tightened", True, detail))
        else:
            changes.append(Change(column, "check changed", True, detail))
    return changes


def _direction(check: str, old: dict[str, Any], new: dict[str, Any]) -> str:
    """'tightened', 'loosened' or 'changed' (neither, or not comparable)."""
    try:
        if check in _LOWER_BOUNDS:
            return _compare(new["min_value"], old["min_value"])
        if check in _UPPER_BOUNDS:
            return _compare(old["max_value"], new["max_value"])
        if check in _RANGES:
            lower = _compare(_bound(new, "min_value", float("-inf")), _bound(old, "min_value", float("-inf")))
            upper = _compare(_bound(old, "max_value", float("inf")), _bound(new, "max_value", float("inf")))
            moved = {lower, upper} - {"same"}
            return moved.pop() if len(moved) == 1 else "changed"
        if check == "isin":
            return _compare_sets(set(old["allowed_values"]), set(new["allowed_values"]))
        if check == "notin":
            return _compare_sets(set(new["forbidden_values"]), set(old["forbidden_values"]))
    except (KeyError, TypeError):
        return "changed"
    return "changed"


def _bound(stats: dict[str, Any], key: str, default: float) -> Any:
    value = stats.get(key)
    return default if value is None else value


def _compare(new_limit: Any, old_limit: Any) -> str:
    """For a limit where larger means stricter."""
    if new_limit == old_limit:
        return "same"
    return "tightened" if new_limit > old_limit else "loosened"


def _compare_sets(old_allowed: set, new_allowed: set) -> str:
    if new_allowed < old_allowed:
        return "tightened"
    if new_allowed > old_allowed:
        return "loosened"
    return "changed"


def _unique_key(unique: Any) -> tuple[str, ...]:
    if not unique:
        return ()
    return tuple(sorted([unique] if isinstance(unique, str) else unique))


def unmet_expectations(expectations: dict[str, Any], contract: dict[str, Any]) -> list[str]:
    """What a consumer relies on (``expectations``) that the producer's ``contract`` does not guarantee.

    Both are schema documents. A contract guarantees a check when it has the same
    check, equally strict or stricter.
    """
    unmet = []
    columns = contract.get("columns", {})
    for name, expected in sorted(expectations.get("columns", {}).items()):
        actual = columns.get(name)
        if actual is None:
            unmet.append(f"relies on column {name}, which the contract does not have")
            continue
        if expected.get("dtype") not in (None, "None") and expected["dtype"] != actual.get("dtype"):
            unmet.append(f"relies on {name} being {expected['dtype']}; the contract says {actual.get('dtype')}")
        if not expected.get("nullable", False) and actual.get("nullable", False):
            unmet.append(f"relies on {name} being non-null; the contract allows nulls")
        if expected.get("unique", False) and not actual.get("unique", False):
            unmet.append(f"relies on {name} being unique; the contract does not promise it")
        for check, stats in sorted(expected.get("checks", {}).items()):
            promised = actual.get("checks", {}).get(check)
            if promised is None or (promised != stats and _direction(check, stats, promised) != "tightened"):
                unmet.append(f"relies on {name} {check} {stats}; the contract promises {promised or 'no such check'}")
    return unmet
