"""The error behind a failed Dagster step, told the way a ``MeshError`` is: what, and where.

Dagster wraps what user code raises (``DagsterExecutionStepExecutionError``,
``DagsterExecutionLoadInputError``, ...) and keeps the original as the wrapper's cause.
``mesh run`` reports the original: a ``MeshError`` as it is, since it names its domain,
port and file; any other exception with its type, the port it failed, the port's file
and the line that raised it.
"""

from __future__ import annotations

import re
import sysconfig
from pathlib import Path
from typing import Any

from mesh_core.errors import MeshError

_MESH_ERRORS = "mesh_core.errors."
_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+)')
_LIBRARY_ROOTS = tuple(
    {sysconfig.get_paths()[name] for name in ("stdlib", "platstdlib", "purelib", "platlib")}
    | {str(Path(__file__).parent)}
)


def describe_step_failure(
    error: Any, failure_description: str | None, *, domain: str, port_id: str | None = None, file: str | None = None
) -> str:
    """One message for a failed step of ``domain``, computing ``port_id`` (None for a local asset).

    Args:
        error: The step failure's ``SerializableErrorInfo`` (or None).
        failure_description: The description of a ``dagster.Failure`` the step raised, if any.
        domain: The domain whose step failed, e.g. ``"users"``.
        port_id: The port the step computes, e.g. ``"users.profiles"``.
        file: The file that defines the port.

    Example:
        >>> describe_step_failure(None, "dbt build failed", domain="artists", port_id="artists.roster", file="ports.py")
        'domain artists, port artists.roster (ports.py): dbt build failed'
    """
    where = {"domain": domain, "port": port_id, "file": file}
    if error is None:
        return str(MeshError(failure_description or "the step failed", **where))
    error = underlying_error(error)
    kind, _, text = (error.message or "").strip().partition(": ")
    if kind.startswith(_MESH_ERRORS):
        return text  # a MeshError names its own place
    if error.cls_name == "Failure":
        text = failure_description or text
        named = f"port {port_id}" if port_id else f"domain {domain}"
        return text if named in text else str(MeshError(text, **where))
    raised_at = _raised_at(error.stack or [])
    return str(MeshError(f"{error.cls_name}: {text or kind}{raised_at}", **where))


def underlying_error(error: Any) -> Any:
    """The exception a chain of Dagster's own wrappers was raised from."""
    while error.cause is not None and error.cls_name.startswith("Dagster"):
        error = error.cause
    return error


def _raised_at(stack: list[str]) -> str:
    """`` (raised at file:line)`` for the innermost frame of user code, if the stack has one."""
    for entry in reversed(stack):
        frame = _FRAME.search(entry)
        if frame and Path(frame["file"]).is_absolute() and not frame["file"].startswith(_LIBRARY_ROOTS):
            return f" (raised at {frame['file']}:{frame['line']})"
    return ""
