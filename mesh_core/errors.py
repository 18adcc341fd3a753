"""Errors raised by mesh_core. Every message names the domain, port and file at fault."""

from __future__ import annotations

from pathlib import Path


class MeshError(Exception):
    """Base class of every error mesh_core raises for a user's mistake or bad data.

    Args:
        message: What went wrong and, where possible, how to fix it.
        domain: The domain at fault, e.g. ``"users"``.
        port: The port id at fault, e.g. ``"users.profiles"``.
        file: The source or data file at fault.

    Example:
        >>> str(MeshError("bad id", domain="users", port="users.x", file="ports.py"))
        'domain users, port users.x (ports.py): bad id'
    """

    def __init__(
        self,
        message: str,
        *,
        domain: str | None = None,
        port: str | None = None,
        file: str | Path | None = None,
    ) -> None:
        self.message = message
        self.domain = domain
        self.port = port
        self.file = str(file) if file is not None else None
        super().__init__(self._render())

    def _render(self) -> str:
        where = ", ".join(
            part
            for part in (
                f"domain {self.domain}" if self.domain else "",
                f"port {self.port}" if self.port else "",
            )
            if part
        )
        if self.file:
            where = f"{where} ({self.file})" if where else self.file  # "file: message", as compilers say it
        return f"{where}: {self.message}" if where else self.message


class DefinitionError(MeshError):
    """A domain, port or contract is declared wrongly; raised when definitions load."""


class ContractViolation(MeshError):
    """A frame does not satisfy its port's contract, so it was not published."""


class StoreError(MeshError):
    """The port store cannot serve or accept a snapshot."""


class WorkspaceError(MeshError):
    """``workspace.yaml`` is malformed, or a location in it cannot be loaded."""
