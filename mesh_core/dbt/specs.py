"""A dbt project's manifest as Dagster specs: every model and dbt test, and the models that are ports."""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtProject, dbt_assets

from mesh_core.dbt.contracts import check_dbt_contract
from mesh_core.domain import Domain
from mesh_core.errors import DefinitionError
from mesh_core.port_asset import (
    OutputPortSpec,
    freshness_policy,
    port_automation,
    port_code_version,
    port_definition_metadata_for,
)
from mesh_core.ports import InputPort

if TYPE_CHECKING:
    from mesh_core.dbt.ports import DbtPort


def dbt_specs(
    manifest: Mapping[str, Any], translator: DagsterDbtTranslator, project: DbtProject
) -> tuple[list[dg.AssetSpec], list[dg.AssetCheckSpec]]:
    """Every model's asset spec and every dbt test's check spec, exactly as dagster-dbt's ``dbt_assets`` makes them."""

    @dbt_assets(manifest=manifest, project=project, dagster_dbt_translator=translator)
    def described():  # an annotation would be read as its outputs' types
        """Never run: read for its specs only. ``dbt_ports`` builds the asset that runs dbt."""

    keys = sorted(described.keys, key=lambda key: key.path)
    return [described.get_asset_spec(key) for key in keys], list(described.check_specs)


class Translator(DagsterDbtTranslator):
    """Models get the domain's keys, group and owner; mesh sources get their ports' keys."""

    def __init__(self, domain: Domain, source_keys: dict[str, dg.AssetKey]) -> None:
        super().__init__()
        self.domain = domain
        self.source_keys = source_keys

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if unique_id in self.source_keys:
            return spec.replace_attributes(key=self.source_keys[unique_id])
        if unique_id.startswith("model."):
            name = manifest["nodes"][unique_id]["name"]
            return spec.replace_attributes(
                key=dg.AssetKey([self.domain.name, name]), group_name=self.domain.name, owners=[self.domain.owner]
            )
        return spec


def with_mesh_attributes(spec: dg.AssetSpec, port: OutputPortSpec | None) -> dg.AssetSpec:
    """A model's spec with the mesh's automation; a port model's also with its contract, SLA and metadata."""
    automation = port_automation(bool(spec.deps))
    if port is None:
        return spec.replace_attributes(automation_condition=automation).merge_attributes(
            tags={"mesh/kind": "internal"}
        )
    return spec.replace_attributes(
        automation_condition=automation,
        code_version=port_code_version(spec.code_version or "", port.contract),
        description=port.description or spec.description,
        freshness_policy=freshness_policy(port.contract),
    ).merge_attributes(
        metadata=port_definition_metadata_for(port), tags={**port.tags, "mesh/kind": "output_port"}
    )


def port_spec(
    domain: Domain, project: DbtProject, name: str, port: DbtPort, node: dict[str, Any],
    manifest: dict[str, Any], sources: Mapping[str, Any], source_nodes: dict[str, str], declared_in: str,
) -> OutputPortSpec:
    """The output port a model is published as, declared as ``Domain.output_port`` declares its ports."""
    read = upstream_sources(node["unique_id"], manifest)
    spec = domain.port_spec(
        name,
        contract=port.contract,
        version=port.version,
        description=port.description or node.get("description") or "",
        access=port.access,
        consumers=port.consumers,
        freshness=port.freshness,
        inputs={
            table: source for table, source in sources.items()
            if source_nodes.get(table) in read and isinstance(source, InputPort)
        },
        previous=port.previous,
        tags=port.tags,
        glossary=port.glossary,
        strict=port.strict,
        min_rows=port.min_rows,
        waivers=port.waivers,
        file=declared_in,
    )
    schema_file = Path(project.project_dir) / node["original_file_path"]
    if node.get("patch_path"):
        schema_file = Path(project.project_dir) / node["patch_path"].split("://", 1)[-1]
    check_dbt_contract(spec.port_id, domain.name, node, spec.contract, f"{schema_file} and {_contract_file(port.contract)}")
    return spec


def upstream_sources(unique_id: str, manifest: dict[str, Any]) -> set[str]:
    """The unique ids of the sources a node reads, through any number of models."""
    found, pending = set(), [unique_id]
    while pending:
        node = manifest["nodes"].get(pending.pop()) or {}
        for parent in node.get("depends_on", {}).get("nodes", []):
            if parent.startswith("source."):
                found.add(parent)
            elif parent not in found:
                found.add(parent)
                pending.append(parent)
    return {item for item in found if item.startswith("source.")}


def load_manifest(project: DbtProject, domain: Domain) -> dict[str, Any]:
    """The project's prepared ``manifest.json``; a ``DefinitionError`` saying how to prepare it when missing."""
    if not project.manifest_path.exists():
        raise DefinitionError(
            f"dbt manifest not found at {project.manifest_path}; prepare it with "
            f"`dagster-dbt project prepare-and-package --file <definitions.py>` or `dbt parse`",
            domain=domain.name, file=project.manifest_path,
        )
    return json.loads(project.manifest_path.read_text())


def database_name(models: dict[str, dict[str, Any]], project: DbtProject, domain: Domain) -> str:
    """The one database the manifest's models live in; the run-time DuckDB file takes its name."""
    databases = {node["database"] for node in models.values()}
    if len(databases) != 1:
        raise DefinitionError(
            f"dbt models in {project.project_dir} span databases {sorted(databases)}; "
            f"a mesh dbt domain builds into one DuckDB database",
            domain=domain.name, file=project.manifest_path,
        )
    return databases.pop()


def nodes_by_name(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The manifest's models by name."""
    return {node["name"]: node for node in manifest["nodes"].values() if node["resource_type"] == "model"}


def relation(node: dict[str, Any]) -> str:
    """A model's quoted ``schema.table`` in the built database."""
    return f'"{node["schema"]}"."{node.get("alias") or node["name"]}"'


def _contract_file(contract: Any) -> str:
    try:
        return inspect.getsourcefile(contract) or "?"
    except TypeError:
        return "?"
