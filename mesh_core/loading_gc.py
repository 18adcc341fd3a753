"""The garbage collector in a location process (``mesh_core.runner``, ``mesh_core.manifest``).

Such a process imports Dagster and its location's code, then loads the location's
definitions: some 300,000 objects that live as long as the process. Python's cyclic
collector would rescan them while they load, at every full collection after, and once
more as the interpreter exits (a second on the example mesh, measured with py-spy, paid
by every ``mesh run`` stage on its way to the next). So the process loads with the
collector off, then freezes what it loaded (``gc.freeze``) and turns the collector back
on: the objects made afterwards are collected as usual.

A code server (``dagster dev``, ``dagster api grpc``) loads a location without either:
there ``Domain`` freezes what was imported when the domain is declared, and what its
definitions built when they are made (``freeze_once``), so the collections that run
while the ports are declared and the repository snapshot is built scan only what is new.
"""

from __future__ import annotations

import gc

_paused = False
_frozen: set[str] = set()


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


def freeze_once(stage: str) -> None:
    """Move everything the process holds now out of the collector's sight, the first time ``stage`` is reached.

    Once per stage and process: what is frozen is never collected, so a process that
    declares many domains (a test session) freezes its garbage of the moment only once.
    """
    if stage not in _frozen:
        _frozen.add(stage)
        gc.freeze()
