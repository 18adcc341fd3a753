"""``dbt_ports``: a dbt project's models added to a domain, the models named as ports published as ports."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import dagster as dg
from dagster_dbt import DbtProject

from mesh_core import warm_ups
from mesh_core.access import Clearance
from mesh_core.contracts import Access, Strictness
from mesh_core.dbt.project import database_file as dbt_database_file
from mesh_core.dbt.project import dbt_cli, write_profile
from mesh_core.dbt.publish import build_and_publish
from mesh_core.dbt.sources import pin_sources, source_keys
from mesh_core.dbt.specs import (
    Translator,
    database_name,
    dbt_specs,
    load_manifest,
    nodes_by_name,
    port_spec,
    relation,
    upstream_sources,
    with_mesh_attributes,
)
from mesh_core.dbt.warm import WarmDbt
from mesh_core.domain import Domain, check_mapping
from mesh_core.errors import DefinitionError
from mesh_core.io import STORE_KEY
from mesh_core.port_asset import OutputPortSpec, port_check_specs
from mesh_core.ports import InputPort, PreviousMajor


@dataclass(frozen=True)
class DbtPort:
    """How a dbt model is published as an output port (the model's name is the port's name).

    The options are ``Domain.output_port``'s; a dbt port's inputs are the sources its model reads.

    Args:
        contract: A pandera ``DataFrameModel`` class or ``DataFrameSchema``; the model's
            enforced dbt contract must agree with it.
        version: Semantic version of the contract.
        description: What the product is; defaults to the model's dbt description.
        access: ``public``, ``restricted`` or ``private``.
        consumers: Domains allowed to read a ``restricted`` port: a list, or a mapping to each
            one's ``Clearance`` (``{"podcasts": Clearance(pii=True)}``); a listed domain reads PII masked.
        freshness: Optional SLA.
        previous: Older majors still served to pinned consumers, each until its deprecation date.
        tags: Dagster tags for discovery (``{"tier": "gold"}``).
        glossary: Business terms this product uses, with their definitions.
        strict: Columns the contract does not declare: refused (``True``), dropped
            (``"filter"``) or published (``False``), as for ``Domain.output_port``.
        min_rows: The fewest rows a publish may have (default 1; 0 allows empty publishes).
        waivers: Global policies this port is exempt from, each with a written justification.

    Example:
        >>> DbtPort(Payouts, "2.0.0", previous=[PreviousMajor("1.0.0", PayoutsV1, adapt=to_v1,  # doctest: +SKIP
        ...         deprecation_date=date(2027, 1, 31))])
    """

    contract: Any
    version: str
    description: str | None = None
    access: Access = "public"
    consumers: Sequence[str] | Mapping[str, Clearance] = ()
    freshness: timedelta | None = None
    previous: Sequence[PreviousMajor] = ()
    tags: Mapping[str, str] | None = None
    glossary: Mapping[str, str] | None = None
    strict: Strictness | None = None
    min_rows: int = 1
    waivers: Mapping[str, str] | None = None


def dbt_ports(
    domain: Domain,
    project: DbtProject,
    *,
    ports: Mapping[str, DbtPort],
    sources: Mapping[str, InputPort | dg.AssetsDefinition],
    source_name: str = "mesh",
) -> dg.AssetsDefinition:
    """Add a dbt project's models to ``domain``; the models named in ``ports`` become output ports.

    Args:
        domain: The domain the models belong to.
        project: The dbt project; its manifest must be prepared (``dbt parse``).
        ports: Model name to how it is published.
        sources: Table of the dbt source ``source_name`` to the input port, or local
            asset, it reads.
        source_name: The dbt source whose tables mesh_core provides.

    Example:
        >>> dbt_ports(artists, DbtProject("artists_dbt"),  # doctest: +SKIP
        ...           ports={"payouts": DbtPort(Payouts, "1.0.0")},
        ...           sources={"podcasts__plays": InputPort("podcasts.plays", version="1")})
    """
    declared_in = inspect.currentframe().f_back.f_code.co_filename  # where ports and sources are declared
    for argument, value in (("ports", ports), ("sources", sources)):
        check_mapping(argument, value, {"domain": domain.name, "port": None, "file": declared_in})
    manifest = load_manifest(project, domain)
    nodes = nodes_by_name(manifest)
    source_nodes = {
        node["name"]: unique_id
        for unique_id, node in manifest["sources"].items()
        if node["source_name"] == source_name
    }
    keys = source_keys(domain, sources, source_nodes, declared_in)
    translator = Translator(domain, {source_nodes[name]: key for name, key in keys.items()})
    specs, dbt_checks = dbt_specs(manifest, translator, project)
    port_specs: dict[dg.AssetKey, OutputPortSpec] = {}
    for name, port in ports.items():
        node = nodes.get(name)
        if node is None:
            raise DefinitionError(f"dbt model '{name}' not found in {project.project_dir}", domain=domain.name,
                                  port=f"{domain.name}.{name}", file=declared_in)
        spec = port_spec(domain, project, name, port, node, manifest, sources, source_nodes, declared_in)
        port_specs[dg.AssetKey([domain.name, name])] = spec
    specs = [with_mesh_attributes(spec, port_specs.get(spec.key)) for spec in specs]
    mesh_checks = [check for key, port in port_specs.items() for check in port_check_specs(port, key)]
    relations = {dg.AssetKey([domain.name, node["name"]]): relation(node) for node in nodes.values()}
    database = database_name(nodes, project, domain)
    tables_by_id = {unique_id: table for table, unique_id in source_nodes.items() if table in sources}
    tables_read = {
        dg.AssetKey([domain.name, node["name"]]): {
            tables_by_id[unique_id] for unique_id in upstream_sources(node["unique_id"], manifest)
            if unique_id in tables_by_id
        }
        for node in nodes.values()
    }

    @dg.multi_asset(
        name=f"{domain.name}_dbt_models",
        specs=specs,
        check_specs=[*dbt_checks, *mesh_checks],
        can_subset=True,
        required_resource_keys={STORE_KEY},
        allow_arbitrary_check_specs=True,
    )
    def dbt_models(context):  # Dagster rejects a string-annotated context
        store = getattr(context.resources, STORE_KEY).store(domain.name, context.run.run_id)
        database_file = dbt_database_file(store, domain.name, database)
        # Pin only what the selected models read: other inputs may not be published yet.
        needed = set().union(*(tables_read.get(key, set()) for key in context.selected_asset_keys))
        inputs_read = pin_sources(store, database_file, {table: sources[table] for table in sorted(needed)}, domain.name)
        dbt = dbt_cli(project, write_profile(store, database_file, project))
        yield from build_and_publish(context, dbt, store, database_file, port_specs, relations, inputs_read)

    warm_ups.register(WarmDbt(project, domain.name, database))
    domain.add_assets(
        dbt_models,
        names=[spec.key.path[-1] for spec in specs if spec.key.path[0] == domain.name],
        ports=list(port_specs.values()),
        foreign_keys=[spec.asset_key for spec in sources.values() if isinstance(spec, InputPort)],
    )
    return dbt_models
