"""Open the Dagster instance at ``DAGSTER_HOME`` (for the ``mesh`` commands and the runner) without leaking its secrets.

An instance whose storage cannot be reached (a wrong ``DAGSTER_PG_PASSWORD``, a stopped
PostgreSQL) is a ``MeshError`` naming the instance's file and the driver's reason. Neither the
message nor anything printed on the way (dagster-postgres logs each connection retry) carries
the password or a connection URL's credentials.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from mesh_core.errors import MeshError

if TYPE_CHECKING:
    import dagster as dg

# Environment variables whose values are secrets of the instance's storage.
SECRET_VARIABLES = ("DAGSTER_PG_PASSWORD",)
_URL_CREDENTIALS = re.compile(r"(\w[\w+.-]*://)[^/@\s]+@")


def redact(text: str) -> str:
    """``text`` without the values of the secret variables or any URL's ``user:password@``.

    Example:
        >>> redact("postgresql://mesh:s3cret@db:5432/mesh")
        'postgresql://***@db:5432/mesh'
    """
    for name in SECRET_VARIABLES:
        secret = os.environ.get(name)
        if secret:
            text = text.replace(secret, "***")
    return _URL_CREDENTIALS.sub(r"\1***@", text)


class _NoRetryNoise(logging.Filter):
    """Drops dagster-postgres's connection-retry warnings: each repeats the driver's error at length."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Retrying failed database", "Retrying failed"))


@contextmanager
def open_instance() -> Iterator[dg.DagsterInstance]:
    """The instance at ``DAGSTER_HOME``, as ``dagster.DagsterInstance.get()`` opens it.

    Raises:
        MeshError: when its storage cannot be reached; the reason is redacted.
    """
    import dagster as dg

    root = logging.getLogger()
    quiet = _NoRetryNoise()
    root.addFilter(quiet)
    try:
        try:
            instance = dg.DagsterInstance.get()
        except MeshError:
            raise
        except Exception as error:  # noqa: BLE001 - any storage failure becomes one clear, redacted line
            raise MeshError(
                f"cannot open the Dagster instance: {redact(_reason(error))}",
                file=Path(os.environ.get("DAGSTER_HOME", "."), "dagster.yaml"),
            ) from None
    finally:
        root.removeFilter(quiet)
    with instance:
        yield instance


def _reason(error: BaseException) -> str:
    """The innermost cause's first line: the driver's own words, not its wrappers'."""
    while error.__cause__ is not None:
        error = error.__cause__
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"
