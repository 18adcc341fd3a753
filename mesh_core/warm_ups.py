"""Work a location process starts early, while it loads and waits for its ``mesh run`` stage.

``mesh_core.runner`` calls ``expect`` before it loads a location whose stage it will
wait for; a location's code then registers warm-ups as its definitions load
(``mesh_core.dbt`` starts dbt early, see ``mesh_core.dbt_warm``). ``begin`` runs at once;
``start`` once the definitions are loaded. In any other process (``dagster dev``, tests,
``mesh`` commands) registering does nothing. A warm-up only saves time: one that fails is
logged, and the stage does the work as it would have without it.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class WarmUp(Protocol):
    """Work a stage will need, done ahead of it."""

    def begin(self) -> None:
        """Start what needs nothing from the definitions (called as the location loads)."""

    def start(self, definitions: Any) -> None:
        """Start the rest, once the location's ``dagster.Definitions`` are loaded."""


_expected = False
_registered: list[WarmUp] = []


def expect() -> None:
    """This process will wait for its stage: warm-ups registered from now on begin at once."""
    global _expected
    _expected = True


def register(warm_up: WarmUp) -> None:
    """Begin ``warm_up`` now and start it once the definitions load, in a process that ``expect``-ed them."""
    if _expected and _safely(warm_up.begin):
        _registered.append(warm_up)


def start_all(definitions: Any) -> None:
    """Start every warm-up that began."""
    for warm_up in _registered:
        _safely(warm_up.start, definitions)


def _safely(step: Any, *args: Any) -> bool:
    try:
        step(*args)
    except Exception:  # noqa: BLE001 - a warm-up only saves time; the stage does the work either way
        logger.warning("mesh_core: a warm-up of this location failed; its stage runs without it", exc_info=True)
        return False
    return True
