"""Policies as code: rules every output port of the mesh must follow, checked by ``mesh validate``.

A policy is a small function over one port of a location's manifest (a dict: ``id``,
``domain``, ``owner``, ``description``, ``access``, ``freshness_seconds``, ``contract``...)
that returns its violations, one sentence each. It has a name, a severity (``error``
fails ``mesh validate``, ``warn`` prints) and a rationale. ``mesh_core`` ships the
defaults below; a workspace adds its own in ``mesh_policies.py`` beside
``workspace.yaml`` or through the ``mesh_core.policies`` entry point group. A port
waives one with a written justification: ``output_port(..., waivers={"sla-required": "why"})``.

Free of heavy imports: the ``mesh`` command loads policies at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mesh_core.errors import DefinitionError

Severity = Literal["error", "warn"]
SEVERITIES: tuple[str, ...] = ("error", "warn")
POLICY_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
NAME_CONVENTION = re.compile(r"^[a-z][a-z0-9_]*$")
Check = Callable[[dict[str, Any]], Iterable[str] | None]


@dataclass(frozen=True)
class Policy:
    """A named rule over one port's manifest entry.

    Args:
        name: Lowercase words joined by ``-``, e.g. ``"sla-required"``; what a waiver names.
        severity: ``error`` (``mesh validate`` fails) or ``warn`` (it prints).
        rationale: Why the rule exists, in one sentence.
        check: Takes the port's manifest entry and returns (or yields) its violations.

    Example:
        >>> no_tags = Policy("tags-required", "warn", "Tags make products findable.",
        ...                  lambda port: [] if port.get("tags") else ["has no tags"])
        >>> no_tags.violations({"id": "users.profiles", "tags": {}})
        ['has no tags']
    """

    name: str
    severity: Severity
    rationale: str
    check: Check

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not POLICY_NAME.match(self.name):
            raise DefinitionError(
                f"policy name {self.name!r} must be lowercase words joined by '-', e.g. 'sla-required'"
            )
        if self.severity not in SEVERITIES:
            raise DefinitionError(f"policy {self.name}: severity {self.severity!r} must be 'error' or 'warn'")
        if not isinstance(self.rationale, str) or not self.rationale.strip():
            raise DefinitionError(f"policy {self.name}: give a rationale (why the rule exists)")
        if not callable(self.check):
            raise DefinitionError(f"policy {self.name}: check must be a function of a port, got {self.check!r}")

    def violations(self, port: dict[str, Any]) -> list[str]:
        """The violations of this policy by ``port``: the check's result, as a list of sentences."""
        found = self.check(port)
        if found is None:
            return []
        if isinstance(found, str):
            return [found]
        return [str(violation) for violation in found]


def policy(name: str, *, severity: Severity, rationale: str) -> Callable[[Check], Policy]:
    """Turn a function of a port into a ``Policy``.

    Example:
        >>> @policy("tags-required", severity="warn", rationale="Tags make products findable.")
        ... def tags_required(port):
        ...     if not port.get("tags"):
        ...         yield "has no tags"
        >>> tags_required.violations({"tags": {"tier": "gold"}})
        []
    """

    def decorate(check: Check) -> Policy:
        return Policy(name, severity, rationale, check)

    return decorate


def check_waivers(waivers: Any, *, domain: str, port: str, file: str | None) -> dict[str, str]:
    """A port's ``waivers`` as a dict, each naming a policy and justifying the waiver in words.

    Whether each names a known policy is checked by ``mesh validate``, which knows the
    workspace's policies.

    Raises:
        DefinitionError: naming the domain, port and file, for a waiver that is not
            ``{"policy-name": "justification"}`` or whose justification is empty.
    """
    where = {"domain": domain, "port": port, "file": file}
    if waivers is None:
        return {}
    if not isinstance(waivers, Mapping):
        raise DefinitionError(
            f'waivers must be a mapping {{"policy-name": "why"}}, got {type(waivers).__name__}: {waivers!r}', **where
        )
    for name, justification in waivers.items():
        if not isinstance(name, str) or not POLICY_NAME.match(name):
            raise DefinitionError(f"waiver {name!r} must name a policy, e.g. 'sla-required'", **where)
        if not isinstance(justification, str) or not justification.strip():
            raise DefinitionError(f"waiver of {name} needs a written justification, got {justification!r}", **where)
    return dict(waivers)


@policy("owner-required", severity="error", rationale="Consumers need a team to ask and to hold to the contract.")
def owner_required(port: dict[str, Any]) -> Iterable[str]:
    """Every output port names its owner."""
    if not port.get("owner"):
        yield "has no owner"


@policy(
    "description-required", severity="error",
    rationale="A product nobody can understand from its catalog page will be misused or rebuilt.",
)
def description_required(port: dict[str, Any]) -> Iterable[str]:
    """Every output port says what it is."""
    if not (port.get("description") or "").strip():
        yield "has no description"


@policy(
    "sla-required", severity="warn",
    rationale="Consumers plan around how stale a product may get; a freshness SLA is that promise.",
)
def sla_required(port: dict[str, Any]) -> Iterable[str]:
    """Every output port declares a freshness SLA."""
    if not port.get("freshness_seconds"):
        yield "declares no freshness SLA"


@policy(
    "pii-not-public", severity="error",
    rationale="Personal data is shared only with named consumers, never with every domain.",
)
def pii_not_public(port: dict[str, Any]) -> Iterable[str]:
    """A port with PII columns is ``restricted`` or ``private``."""
    pii = [name for name, column in port["contract"]["columns"].items() if column.get("pii")]
    if pii and port.get("access") == "public":
        yield f"is public but has PII columns {pii}; make it restricted to named consumers"


@policy(
    "naming-conventions", severity="error",
    rationale="Port and column names are SQL identifiers in every engine when they are lowercase snake_case.",
)
def naming_conventions(port: dict[str, Any]) -> Iterable[str]:
    """The domain, port and every column are lowercase snake_case identifiers."""
    for part in str(port["id"]).split("."):
        if not NAME_CONVENTION.match(part):
            yield f"name {part!r} is not lowercase snake_case"
    for column in port["contract"]["columns"]:
        if not NAME_CONVENTION.match(column):
            yield f"column {column!r} is not lowercase snake_case"


@policy(
    "public-guarantee", severity="error",
    rationale="Every domain may build on a public port, so its contract must promise at least a key or a non-null column.",
)
def public_guarantee(port: dict[str, Any]) -> Iterable[str]:
    """A public port's contract has at least one uniqueness or non-null guarantee."""
    contract = port["contract"]
    columns = contract["columns"].values()
    guaranteed = contract.get("unique") or any(c.get("unique") or not c.get("nullable", True) for c in columns)
    if port.get("access") == "public" and not guaranteed:
        yield "is public but its contract guarantees no unique and no non-null column"


DEFAULT_POLICIES: tuple[Policy, ...] = (
    owner_required, description_required, sla_required, pii_not_public, naming_conventions, public_guarantee,
)
