"""Which code a location process loads: one workspace entry kind, loaded by Dagster's own loader.

The location tools (``python -m mesh_core.manifest``, ``mesh_core.runner``) take one of
``--module``, ``--package``, ``--python-file`` or ``--autoload-defs-module`` (and
``--attribute``), as ``workspace.yaml``'s ``python_module``, ``python_package``,
``python_file`` and ``autoload_defs_module`` entries say, and load it exactly as a
Dagster code server does (``dagster._grpc.utils.get_loadable_targets``). The ``mesh`` command
reads ``TARGET_OPTIONS`` from here without importing Dagster.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    import dagster as dg

# workspace.yaml entry kind -> the location tools' option naming its code.
TARGET_OPTIONS = {
    "python_module": "--module",
    "python_package": "--package",
    "python_file": "--python-file",
    "autoload_defs_module": "--autoload-defs-module",
}
# workspace.yaml entry kind -> the argument of Dagster's loader that takes its code.
_LOADER_ARGUMENTS = {
    "python_module": "module_name",
    "python_package": "package_name",
    "python_file": "python_file",
    "autoload_defs_module": "autoload_defs_module_name",
}


@dataclass(frozen=True)
class CodeTarget:
    """A location's code: its entry kind, the module, package or file, and an optional attribute."""

    kind: str
    target: str
    attribute: str | None = None

    def describe(self) -> str:
        """How the target reads in messages, e.g. ``python_file /repo/defs.py:defs``."""
        return f"{self.kind} {self.target}" + (f":{self.attribute}" if self.attribute else "")


def target_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the target options to a click command, which then receives one ``target: CodeTarget``."""

    def combine(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        given = {kind: ctx.params.pop(kind, None) for kind in TARGET_OPTIONS}
        chosen = [(kind, name) for kind, name in given.items() if name]
        if len(chosen) != 1:
            raise click.UsageError(f"give exactly one of {', '.join(TARGET_OPTIONS.values())}", ctx)
        kind, name = chosen[0]
        if kind == "autoload_defs_module" and value:
            raise click.UsageError("--attribute does not apply to --autoload-defs-module", ctx)
        return CodeTarget(kind, name, value)

    # The kind options are eager, so they are parsed before --attribute, whose callback folds
    # them (taken out of ctx.params) into the one ``target`` argument.
    for kind, flag in reversed(TARGET_OPTIONS.items()):
        command = click.option(flag, kind, is_eager=True, help=f"A {kind} entry's code.")(command)
    return click.option(
        "--attribute", "target", callback=combine, help="The Definitions object in the module or file, if it holds several."
    )(command)


def load_target_definitions(target: CodeTarget, working_directory: str) -> dg.Definitions:
    """The ``Definitions`` that ``target`` names, loaded as Dagster's code server loads it.

    Raises:
        TypeError: when the target holds something other than a ``Definitions`` object.
    """
    import dagster as dg
    from dagster._grpc.utils import get_loadable_targets
    from dagster.components.definitions import LazyDefinitions

    arguments: dict[str, str | None] = {name: None for name in _LOADER_ARGUMENTS.values()}
    arguments[_LOADER_ARGUMENTS[target.kind]] = target.target
    (loaded,) = get_loadable_targets(
        **arguments, working_directory=working_directory, attribute=target.attribute, resolve_lazy_defs=False
    )
    definitions = loaded.target_definition
    if isinstance(definitions, LazyDefinitions):
        definitions = definitions()
    if not isinstance(definitions, dg.Definitions):
        raise TypeError(
            f"{target.describe()} holds {type(definitions).__name__} {loaded.attribute!r}, not a Definitions object"
        )
    return definitions
