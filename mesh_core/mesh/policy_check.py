"""The workspace's policies, loaded and run over every port: ``mesh validate`` and ``mesh policies``.

Policies come from three places, and their names must not collide:
``mesh_core``'s defaults, ``mesh_policies.py`` beside ``workspace.yaml`` (every
module-level ``Policy`` but the defaults it imports), and the ``mesh_core.policies`` entry
point group (each entry point names a ``Policy`` or a list or tuple of them).
"""

from __future__ import annotations

import importlib.util
import traceback
from dataclasses import asdict, dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from mesh_core.errors import MeshError
from mesh_core.mesh.graph import MeshGraph
from mesh_core.policies import DEFAULT_POLICIES, Policy

POLICIES_FILE = "mesh_policies.py"
ENTRY_POINT_GROUP = "mesh_core.policies"
_SEVERITY_WORDS = {"error": "error", "warn": "warning"}


@dataclass(frozen=True)
class LoadedPolicy:
    """A policy and where it comes from: ``mesh_core``, a file, or an entry point."""

    policy: Policy
    source: str

    def to_dict(self) -> dict[str, str]:
        """JSON-safe form."""
        return {"name": self.policy.name, "severity": self.policy.severity,
                "rationale": self.policy.rationale, "source": self.source}


@dataclass(frozen=True)
class Waiver:
    """One port waiving one policy, with its justification; ``severity`` is None for an unknown policy."""

    port: str
    domain: str
    policy: str
    justification: str
    severity: str | None
    file: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return asdict(self)


@dataclass(frozen=True)
class Finding:
    """A policy violation, or a waiver that is itself wrong; ``severity`` is ``error`` or ``warning``."""

    severity: str
    domain: str
    port: str
    message: str
    file: str | None


def load_policies(workspace_root: Path) -> list[LoadedPolicy]:
    """The defaults, then ``mesh_policies.py`` in ``workspace_root`` if present, then entry points.

    Raises:
        MeshError: naming the file, for a ``mesh_policies.py`` that cannot be imported or
            defines no policy, a broken entry point, or two policies with one name.
    """
    loaded = [LoadedPolicy(p, "mesh_core") for p in DEFAULT_POLICIES]
    file = workspace_root / POLICIES_FILE
    if file.is_file():
        loaded += [LoadedPolicy(p, str(file)) for p in _from_file(file)]
    for point in entry_points(group=ENTRY_POINT_GROUP):
        loaded += [LoadedPolicy(p, f"entry point {point.value}") for p in _from_entry_point(point)]
    seen: dict[str, str] = {}
    for item in loaded:
        if item.policy.name in seen:
            raise MeshError(
                f"two policies are named {item.policy.name!r}: one from {seen[item.policy.name]}, "
                f"one from {item.source}; rename one", file=file if file.is_file() else None,
            )
        seen[item.policy.name] = item.source
    return loaded


def waivers(graph: MeshGraph, policies: list[LoadedPolicy]) -> list[Waiver]:
    """Every waiver declared on a port, with the waived policy's severity (None if no policy has that name)."""
    severity = {item.policy.name: item.policy.severity for item in policies}
    return [
        Waiver(port_id, port["domain"], name, str(justification), severity.get(name), port.get("file"))
        for port_id, port in sorted(graph.ports.items())
        for name, justification in sorted((port.get("waivers") or {}).items())
    ]


def check_policies(graph: MeshGraph, policies: list[LoadedPolicy]) -> list[Finding]:
    """Run every policy over every port it is not waived for; report bad waivers as errors.

    Raises:
        MeshError: naming the policy, its source and the port, when a policy's check crashes.
    """
    findings = [found for waiver in waivers(graph, policies) if (found := _waiver_finding(waiver, policies))]
    for port_id, port in sorted(graph.ports.items()):
        waived = port.get("waivers") or {}
        for item in policies:
            if item.policy.name in waived:
                continue
            try:
                violations = item.policy.violations(port)
            except Exception as error:  # noqa: BLE001 - a user's policy failing is reported, not raised raw
                last = traceback.extract_tb(error.__traceback__)[-1]
                raise MeshError(
                    f"policy {item.policy.name} ({item.source}) failed on this port: {type(error).__name__}: "
                    f"{error} (at {last.filename}:{last.lineno})", domain=port["domain"], port=port_id,
                ) from error
            findings += [
                Finding(_SEVERITY_WORDS[item.policy.severity], port["domain"], port_id,
                        f"policy {item.policy.name}: {violation}", port.get("file"))
                for violation in violations
            ]
    return findings


def _waiver_finding(waiver: Waiver, policies: list[LoadedPolicy]) -> Finding | None:
    where = {"domain": waiver.domain, "port": waiver.port, "file": waiver.file}
    if waiver.severity is None:
        names = ", ".join(sorted(item.policy.name for item in policies))
        return Finding("error", message=f"waives unknown policy {waiver.policy!r}; policies: {names}", **where)
    if not waiver.justification.strip():
        return Finding("error", message=f"waives policy {waiver.policy} without a justification", **where)
    return None


def _from_file(file: Path) -> list[Policy]:
    spec = importlib.util.spec_from_file_location("mesh_policies", file)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # noqa: BLE001 - any failure of the user's file is reported, naming it
        frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == str(file)]
        line = getattr(error, "lineno", None) if isinstance(error, SyntaxError) else (frames[-1].lineno if frames else None)
        at = f" (line {line})" if line else ""
        raise MeshError(f"cannot load policies{at}: {type(error).__name__}: {error}", file=file) from None
    defaults = {id(default) for default in DEFAULT_POLICIES}  # imported from mesh_core, say to compose: loaded already
    found = [value for value in vars(module).values() if isinstance(value, Policy) and id(value) not in defaults]
    if not found:
        raise MeshError(
            "defines no policy; declare each with @policy(name, severity=..., rationale=...) from mesh_core.policies",
            file=file,
        )
    return found


def _from_entry_point(point: Any) -> list[Policy]:
    try:
        value = point.load()
    except Exception as error:  # noqa: BLE001 - a broken plug-in is reported, naming it
        raise MeshError(f"cannot load policies from entry point {point.name} = {point.value}: "
                        f"{type(error).__name__}: {error}") from None
    found = [value] if isinstance(value, Policy) else list(value) if isinstance(value, (list, tuple)) else None
    if not found or not all(isinstance(item, Policy) for item in found):
        raise MeshError(f"entry point {point.name} = {point.value} in group {ENTRY_POINT_GROUP} "
                        f"must name a Policy or a list of them, got {value!r}")
    return found
