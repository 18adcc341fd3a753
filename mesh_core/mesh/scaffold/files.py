"""The files of a new domain, rendered from the templates shipped beside this module."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from mesh_core.semver import semver_major

_TEMPLATES = Path(__file__).parent / "templates"
_COMMON = {
    "pyproject.toml": "pyproject.toml.j2",
    "{package}/__init__.py": "init.py.j2",
    "{package}/domain.py": "domain.py.j2",
    "{package}/contracts.py": "contracts.py.j2",
    "{package}/ports.py": "ports.py.j2",
    "{package}/definitions.py": "definitions.py.j2",
    "tests/conftest.py": "conftest.py.j2",
    "tests/test_definitions.py": "test_definitions.py.j2",
    "tests/test_{port}.py": "test_port.py.j2",
}
_STANDALONE = {
    "workspace.yaml": "workspace.yaml.j2",
    "README.md": "README.md.j2",
    ".ci/run": "ci_run.j2",
    ".gitignore": "gitignore.j2",
}
EXECUTABLE = {".ci/run"}


@dataclass(frozen=True)
class DomainPlan:
    """What a new domain is called, what it consumes, and what it publishes.

    Attributes:
        name: The domain, e.g. ``payments``.
        consumes: The port the example input port reads: its manifest entry (``id``,
            ``version``, ``contract``).
        mesh_core_requirement: How the domain's ``pyproject.toml`` names mesh-core.
    """

    name: str
    consumes: dict[str, Any]
    mesh_core_requirement: str = "mesh-core"

    @property
    def package(self) -> str:
        """The domain's Python package, ``<name>_domain``."""
        return f"{self.name}_domain"

    @property
    def port(self) -> str:
        """The example output port: a profile of the consumed port."""
        return f"{self.consumes['id'].split('.')[1]}_profile"

    @property
    def port_id(self) -> str:
        """``<name>.<port>``."""
        return f"{self.name}.{self.port}"

    def context(self) -> dict[str, Any]:
        """The values the templates use."""
        producer, input_name = self.consumes["id"].split(".")
        return {
            "name": self.name,
            "package": self.package,
            "distribution": f"{self.name.replace('_', '-')}-domain",
            "mesh_core_requirement": self.mesh_core_requirement,
            "dagster_version": version("dagster"),  # dagster-dg-cli is released in step with it
            "port": self.port,
            "port_id": self.port_id,
            "contract": "".join(part.title() for part in self.port.split("_")),
            "consumes": self.consumes["id"],
            "producer": producer,
            "input_name": input_name,
            "major": semver_major(self.consumes["version"]),
            "producer_version": self.consumes["version"],
            "sample": sample_columns(self.consumes.get("contract") or {}),
        }


def render(plan: DomainPlan, *, standalone: bool) -> dict[str, str]:
    """Every file of the new domain: its path relative to the domain's folder, and its text."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    context = plan.context()
    layout = {**_COMMON, **(_STANDALONE if standalone else {})}
    return {
        path.format(package=plan.package, port=plan.port): environment.get_template(template).render(context)
        for path, template in layout.items()
    }


def sample_columns(contract: dict[str, Any]) -> list[tuple[str, str]]:
    """Three sample values per column of a contract document, as Python source: ``[('"id"', "[1, 2, 3]")]``."""
    columns = contract.get("columns") or {}
    return [(json.dumps(column), _sample_values(str(spec.get("dtype", "")))) for column, spec in columns.items()] or [
        ('"value"', "[1, 2, 3]")
    ]


def _sample_values(dtype: str) -> str:
    lowered = dtype.lower()
    if lowered.startswith(("int", "uint")):
        return "[1, 2, 3]"
    if lowered.startswith("float"):
        return "[1.5, 2.5, 3.5]"
    if lowered.startswith("bool"):
        return "[True, False, True]"
    if lowered.startswith("datetime64"):
        utc = ", utc=True" if "," in lowered else ""
        return f'pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"]{utc})'
    return '["a", "b", "c"]'
