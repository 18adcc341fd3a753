"""The DuckDB catalog: one view ``"<domain>"."<port>"`` per published port."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import duckdb
from filelock import FileLock, Timeout

logger = logging.getLogger(__name__)

_LOCK_TIMEOUT_S = 30.0


def view_name(domain: str, port: str, major: int | None = None) -> str:
    """The quoted SQL name of a port's view; ``major`` selects a ``_v<major>`` view."""
    name = port if major is None else f"{port}_v{major}"
    return f'"{domain}"."{name}"'


def refresh_views(db_path: Path, domain: str, port: str, major: int, parquet: Path, *, latest: bool) -> bool:
    """Point the port's views at ``parquet``. Returns False if the catalog stayed busy.

    The view ``"<domain>"."<port>_v<major>"`` always follows that major's snapshot;
    ``"<domain>"."<port>"`` follows the newest major (``latest=True``).
    Publishing never fails because of the catalog: the snapshot pointer is the truth,
    and a busy catalog (another process holds DuckDB's write lock) is logged.
    """
    source = str(parquet).replace("'", "''")
    statements = [f'CREATE SCHEMA IF NOT EXISTS "{domain}"']
    names = [view_name(domain, port, major)] + ([view_name(domain, port)] if latest else [])
    statements += [f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet('{source}')" for name in names]
    deadline = time.monotonic() + _LOCK_TIMEOUT_S
    try:
        with FileLock(str(db_path) + ".lock", timeout=_LOCK_TIMEOUT_S):
            while True:
                try:
                    with duckdb.connect(str(db_path)) as connection:
                        for statement in statements:
                            connection.execute(statement)
                    return True
                except duckdb.IOException:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
    except (Timeout, duckdb.IOException) as error:
        logger.warning("DuckDB catalog %s is busy; view %s not refreshed: %s", db_path, names[0], error)
        return False
