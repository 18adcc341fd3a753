"""mesh_core declares every third-party package it imports, instead of relying on another package to bring it."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions

from conftest import REPO


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    """Distributions in the project's dependencies and in the ``dbt`` extra that mesh_core.dbt needs."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["dbt"]]
    return {_normalized(re.match(r"[A-Za-z0-9._-]+", requirement).group()) for requirement in requirements}


def _imported() -> dict[str, str]:
    """Top-level third-party modules that mesh_core imports, each with one file that imports it."""
    modules: dict[str, str] = {}
    for path in sorted((REPO / "mesh_core").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("mesh_core", "__future__"):
                    modules.setdefault(top, str(path.relative_to(REPO)))
    return modules


def test_every_imported_package_is_declared():
    distributions = packages_distributions()
    declared = _declared()
    undeclared = {
        module: where
        for module, where in _imported().items()
        if not {_normalized(name) for name in distributions.get(module, [])} & declared
    }
    assert not undeclared, f"imported by mesh_core but not declared in pyproject.toml: {undeclared}"
