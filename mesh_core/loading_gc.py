"""The garbage collector in a location process (``mesh_core.runner``, ``mesh_core.manifest``).

Such a process imports Dagster and its location's code, then loads the location's
definitions: some 300,000 objects that live as long as the process. Python's cyclic
collector would rescan them while they load, at every full collection after, and once
more as the interpreter exits (a second on the example mesh, measured with py-spy, paid
by every ``mesh run`` stage on its way to the next). So the process loads with the
collector off, then freezes what it loaded (``gc.freeze``) and turns the collector back
on: the objects made afterwards are collected as usual.
"""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    """Turn the collector off while the process imports and loads; call before the heavy imports."""
    global _paused
    _paused = gc.isenabled()
    gc.disable()


def freeze_loaded() -> None:
    """Move everything loaded so far out of the collector's sight, and turn it back on if ``pause`` turned it off."""
    global _paused
    if _paused:
        gc.freeze()
        gc.enable()
        _paused = False
