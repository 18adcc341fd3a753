"""Who may consume a port: the one access rule, free of heavy imports so the ``mesh`` command can use it."""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

Access = Literal["public", "restricted", "private"]
ACCESS_LEVELS: tuple[str, ...] = ("public", "restricted", "private")


def may_consume(consumer: str, *, producer: str | None, access: str, consumers: Collection[str]) -> bool:
    """Whether domain ``consumer`` may read a port of domain ``producer`` under ``access``.

    A domain always reads its own ports; ``public`` ports are open to every domain,
    ``restricted`` ones to the domains in ``consumers``, ``private`` ones to none.

    Example:
        >>> may_consume("podcasts", producer="users", access="restricted", consumers=["podcasts"])
        True
    """
    if consumer == producer or access == "public":
        return True
    return access == "restricted" and consumer in consumers
