"""dbt domains: dbt models as mesh ports, published through the same write–audit–publish path.

Requires the ``dbt`` extra (``dagster-dbt``, ``dbt-core<1.12``, ``dbt-duckdb``).

- The domain's input ports (and its own Python assets) reach dbt as the tables of one
  dbt source. Each run pins them to exact snapshots, verified against their hashes: a
  view per table, in the run's DuckDB database, over the snapshot's parquet files.
- Selected models become output ports with the usual keys, group, owners, contract
  checks and metadata. dbt builds them into its own database (the "write"); mesh_core
  audits each one against its pandera contract and consumer expectations, and only
  then publishes a snapshot.
- The dbt model contract (``contract: enforced: true`` with ``data_type``s) must agree
  with the pandera contract; a mismatch is a ``MeshError`` when definitions load.
- dbt tests become Dagster asset checks, as ``dagster-dbt`` makes them.
- The database lives under ``MESH_HOME/MESH_ENV/dbt/<domain>/``, so environments stay
  isolated. Its file is named as the database in the prepared manifest (the profile used
  for ``dbt parse``), so relation names agree at parse and run time and dbt's column
  lineage resolves.
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import yaml
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject
from dagster_dbt.asset_utils import build_dbt_specs

from mesh_core.contracts import Access, Contract
from mesh_core.domain import Domain
from mesh_core.errors import DefinitionError, MeshError
from mesh_core.expectations import registered_expectations
from mesh_core.io import STORE_KEY
from mesh_core.metadata import how_metadata
from mesh_core.port_asset import (
    OutputPortSpec,
    freshness_policy,
    port_automation,
    port_check_specs,
    port_code_version,
    port_definition_metadata_for,
)
from mesh_core.ports import InputPort
from mesh_core.publish import write_audit_publish
from mesh_core.store import PortStore

SOURCE_SCHEMA = "mesh_inputs"

# pandera dtype -> the DuckDB data types a dbt contract may declare for it.
_DBT_TYPES = {
    "int64": {"bigint", "int8", "long", "int64"},
    "int32": {"integer", "int", "int4", "signed", "int32"},
    "float64": {"double", "float8", "double precision", "float64"},
    "float32": {"float", "float4", "real"},
    "bool": {"boolean", "bool", "logical"},
    "str": {"varchar", "text", "string", "char", "bpchar"},
    "string[pyarrow]": {"varchar", "text", "string", "char", "bpchar"},
    "datetime64[us, UTC]": {"timestamp with time zone", "timestamptz"},
    "datetime64[ns, UTC]": {"timestamp with time zone", "timestamptz"},
    "datetime64[us]": {"timestamp", "datetime"},
    "datetime64[ns]": {"timestamp", "datetime"},
}


@dataclass(frozen=True)
class DbtPort:
    """How a dbt model is published as an output port (the model's name is the port's name)."""

    contract: Any
    version: str
    description: str | None = None
    access: Access = "public"
    consumers: tuple[str, ...] = ()
    freshness: timedelta | None = None


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
    manifest = _load_manifest(project, domain)
    nodes = _nodes_by_name(manifest)
    source_nodes = {
        node["name"]: unique_id
        for unique_id, node in manifest["sources"].items()
        if node["source_name"] == source_name
    }
    source_keys = _source_keys(domain, sources, source_nodes)
    translator = _Translator(domain, {source_nodes[name]: key for name, key in source_keys.items()})
    specs, dbt_checks = build_dbt_specs(
        translator=translator, manifest=manifest, select="fqn:*", exclude="", selector="", io_manager_key=None,
        project=project,
    )
    port_specs: dict[dg.AssetKey, OutputPortSpec] = {}
    for name, port in ports.items():
        node = nodes.get(name)
        if node is None:
            raise DefinitionError(f"dbt model '{name}' not found in {project.project_dir}", domain=domain.name,
                                  port=f"{domain.name}.{name}")
        spec = _port_spec(domain, project, name, port, node, manifest, sources, source_nodes, declared_in)
        port_specs[dg.AssetKey([domain.name, name])] = spec
    specs = [_with_mesh_attributes(spec, port_specs.get(spec.key), domain) for spec in specs]
    mesh_checks = [check for key, port in port_specs.items() for check in port_check_specs(port, key)]
    relations = {dg.AssetKey([domain.name, node["name"]]): _relation(node) for node in nodes.values()}
    database_name = _database_name(nodes, project, domain)
    tables_by_id = {unique_id: table for table, unique_id in source_nodes.items() if table in sources}
    tables_read = {
        dg.AssetKey([domain.name, node["name"]]): {
            tables_by_id[unique_id] for unique_id in _upstream_sources(node["unique_id"], manifest)
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
        store = getattr(context.resources, STORE_KEY).store()
        database = store.root / "dbt" / domain.name / f"{database_name}.duckdb"
        # Pin only what the selected models read: other inputs may not be published yet.
        needed = set().union(*(tables_read.get(key, set()) for key in context.selected_asset_keys))
        inputs_read = _pin_sources(store, database, {table: sources[table] for table in sorted(needed)}, domain.name)
        dbt = _dbt_cli(project, _write_profile(store, database, project))
        yield from _build_and_publish(context, dbt, store, database, port_specs, relations, inputs_read)

    domain.add_assets(
        dbt_models,
        names=[spec.key.path[-1] for spec in specs if spec.key.path[0] == domain.name],
        ports=list(port_specs.values()),
        foreign_keys=[spec.asset_key for spec in sources.values() if isinstance(spec, InputPort)],
    )
    return dbt_models


def prepare(project: DbtProject) -> None:
    """Prepare the dbt manifest when it is missing (and in ``dagster dev``, always).

    When missing, it is prepared with the dbt installed beside this interpreter, as the
    run does: a location's virtual environment need not be activated.
    """
    project.prepare_if_dev()
    if not project.manifest_path.exists():
        dbt = _dbt_cli(project)
        if any((Path(project.project_dir) / name).exists() for name in ("packages.yml", "dependencies.yml")):
            dbt.cli(["deps", "--quiet"], target_path=project.target_path).wait()
        dbt.cli(["parse", "--quiet"], target_path=project.target_path).wait()


def _dbt_cli(project: DbtProject, profiles_dir: Path | None = None) -> DbtCliResource:
    """dagster-dbt's resource on the dbt installed with this interpreter, else the one on PATH.

    dagster-dbt looks for ``dbt`` on PATH only, which misses it when the location's virtual
    environment is not activated (``.venv/bin/python``, a workspace ``executable_path``).
    """
    beside = Path(sys.executable).with_name("dbt")
    executable = str(beside) if beside.exists() else "dbt"
    return DbtCliResource(
        project_dir=project, dbt_executable=executable, profiles_dir=str(profiles_dir) if profiles_dir else None
    )


def _build_and_publish(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    store: PortStore,
    database: Path,
    port_specs: dict[dg.AssetKey, OutputPortSpec],
    relations: dict[dg.AssetKey, str],
    inputs_read: dict[str, dict[str, Any]],
) -> Iterator[Any]:
    # One target folder per environment keeps dbt's partial parse across runs: the run-time
    # profile differs from the one the project was prepared with, so the project's own is stale.
    invocation = dbt.cli(["build"], context=context, raise_on_error=False, target_path=database.parent / "target")
    built, failed_tests = {}, set()
    for event in invocation.stream().fetch_column_metadata():
        if isinstance(event, dg.Output):
            key = context.asset_key_for_output(event.output_name)
        else:
            key = getattr(event, "asset_key", None)
        if key in port_specs and isinstance(event, (dg.Output, dg.AssetMaterialization, dg.MaterializeResult)):
            built[key] = event.metadata or {}  # held back: published below, after the audit
            continue
        if isinstance(event, dg.AssetCheckResult) and not event.passed and event.asset_key in port_specs:
            failed_tests.add(event.asset_key)
        yield event
    if invocation.adapter is not None:
        # Column metadata was read in this process through dbt-duckdb, which keeps the file
        # open read-only in a process-wide environment; DuckDB would refuse our connections.
        invocation.adapter.cleanup_connections()
        invocation.adapter.connections.close_all_connections()
    for key, dbt_metadata in built.items():
        spec = port_specs[key]
        lineage = {name: value for name, value in dbt_metadata.items() if name == "dagster/column_lineage"}
        frame = _read_relation(database, relations[key])
        expectations = registered_expectations(store.home, spec.port_id)
        reads = {port.port_id for port in spec.inputs.values()}
        read_here = {port_id: read for port_id, read in inputs_read.items() if port_id in reads}
        yield from write_audit_publish(
            store, spec.port_id, spec.served, frame, read_here, expectations, file=spec.file, asset_key=key,
            blocked_by="its dbt tests failed" if key in failed_tests else None,
            extra_metadata={**how_metadata(context.run.run_id, spec.file), **lineage},
        )
    if not invocation.is_successful():
        raise dg.Failure(description=f"dbt build failed: {invocation.get_error() or 'see the dbt logs'}",
                         allow_retries=False)


def _read_relation(database: Path, relation: str) -> Any:
    with duckdb.connect(str(database), read_only=True) as connection:
        connection.execute("SET TimeZone = 'UTC'")
        return connection.sql(f"SELECT * FROM {relation}").to_arrow_table().to_pandas()


def _pin_sources(
    store: PortStore, database: Path, sources: Mapping[str, Any], domain: str
) -> dict[str, dict[str, Any]]:
    """Point each source table at an exact snapshot, verified; return what was pinned (the "with what").

    A local snapshot becomes a view over its version's parquet files; a snapshot on object
    storage, which DuckDB cannot reach offline, is copied into the run's database.
    """
    database.parent.mkdir(parents=True, exist_ok=True)
    inputs_read, relations = {}, {}
    for table, spec in sources.items():
        if isinstance(spec, InputPort):
            snapshot = store.verified(store.current(spec.port_id, spec.major))
            inputs_read[spec.port_id] = {"port_id": spec.port_id, "version": snapshot.version,
                                         "snapshot_id": snapshot.snapshot_id, "data_version": snapshot.content_hash,
                                         "verified": snapshot.verified}
        else:
            try:
                snapshot = store.internal_snapshot(domain, spec.key.path[-1])
            except MeshError as error:
                raise MeshError(f"local asset {spec.key.to_user_string()} has not been materialized", domain=domain,
                                file=error.file) from error
            snapshot = store.verified(snapshot)
        relations[table] = snapshot
    with duckdb.connect(str(database)) as connection:
        connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{SOURCE_SCHEMA}"')
        for table, snapshot in relations.items():
            name = f'"{SOURCE_SCHEMA}"."{table}"'
            if store.location.is_local:
                files = ", ".join("'" + uri.replace("'", "''") + "'" for uri in snapshot.file_uris)
                connection.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet([{files}])")
            else:
                frame = store.frame(snapshot)  # noqa: F841 - DuckDB reads the local variable by name
                connection.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM frame")
    return inputs_read


def _write_profile(store: PortStore, database: Path, project: DbtProject) -> Path:
    """A profile named as the project's, building into this environment's DuckDB file."""
    profile = yaml.safe_load((Path(project.project_dir) / "dbt_project.yml").read_text())["profile"]
    folder = store.root / "dbt" / "profiles" / profile
    folder.mkdir(parents=True, exist_ok=True)
    output = {"type": "duckdb", "path": str(database), "threads": 1, "settings": {"TimeZone": "UTC"}}
    (folder / "profiles.yml").write_text(yaml.safe_dump({profile: {"target": "mesh", "outputs": {"mesh": output}}}))
    return folder


class _Translator(DagsterDbtTranslator):
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


def _with_mesh_attributes(spec: dg.AssetSpec, port: OutputPortSpec | None, domain: Domain) -> dg.AssetSpec:
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
    ).merge_attributes(metadata=port_definition_metadata_for(port), tags={"mesh/kind": "output_port"})


def _port_spec(
    domain: Domain, project: DbtProject, name: str, port: DbtPort, node: dict[str, Any],
    manifest: dict[str, Any], sources: Mapping[str, Any], source_nodes: dict[str, str], declared_in: str,
) -> OutputPortSpec:
    port_id = f"{domain.name}.{name}"
    contract = Contract(port.contract, version=port.version, access=port.access, consumers=tuple(port.consumers),
                        freshness=port.freshness, domain=domain.name, port=port_id)
    contract_file = _contract_file(port.contract)
    schema_file = Path(project.project_dir) / node["original_file_path"]
    if node.get("patch_path"):
        schema_file = Path(project.project_dir) / node["patch_path"].split("://", 1)[-1]
    _check_dbt_contract(port_id, domain.name, node, contract, f"{schema_file} and {contract_file}")
    upstream_sources = _upstream_sources(node["unique_id"], manifest)
    reads = {
        table: spec for table, spec in sources.items()
        if source_nodes.get(table) in upstream_sources and isinstance(spec, InputPort)
    }
    return OutputPortSpec(
        port_id=port_id,
        contract=contract,
        description=port.description or node.get("description") or "",
        inputs=reads,
        file=declared_in,
    )


def _check_dbt_contract(port_id: str, domain: str, node: dict[str, Any], contract: Contract, files: str) -> None:
    where = {"domain": domain, "port": port_id, "file": files}
    if not node.get("config", {}).get("contract", {}).get("enforced"):
        raise DefinitionError("the dbt model must enforce its contract (config: contract: enforced: true)", **where)
    dbt_columns = {name: (column.get("data_type") or "").lower() for name, column in node["columns"].items()}
    pandera_columns = {str(name): str(column.dtype) for name, column in contract.schema.columns.items()}
    problems = []
    for name in sorted(pandera_columns.keys() - dbt_columns.keys()):
        problems.append(f"column {name} is in the pandera contract but not the dbt contract")
    for name in sorted(dbt_columns.keys() - pandera_columns.keys()):
        problems.append(f"column {name} is in the dbt contract but not the pandera contract")
    for name in sorted(dbt_columns.keys() & pandera_columns.keys()):
        allowed = _DBT_TYPES.get(pandera_columns[name])
        if allowed is None or dbt_columns[name] not in allowed:
            problems.append(
                f"column {name}: dbt data_type '{dbt_columns[name]}' does not match pandera dtype {pandera_columns[name]}"
            )
    if problems:
        raise DefinitionError("dbt and pandera contracts disagree: " + "; ".join(problems), **where)


def _upstream_sources(unique_id: str, manifest: dict[str, Any]) -> set[str]:
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


def _source_keys(domain: Domain, sources: Mapping[str, Any], source_nodes: dict[str, str]) -> dict[str, dg.AssetKey]:
    keys = {}
    for table, spec in sources.items():
        if table not in source_nodes:
            raise DefinitionError(f"dbt source table '{table}' is not declared in the project's sources",
                                  domain=domain.name)
        if isinstance(spec, InputPort):
            keys[table] = spec.asset_key
        elif isinstance(spec, dg.AssetsDefinition):
            keys[table] = spec.key
        else:
            raise DefinitionError(f"source '{table}' must map to an InputPort or a local asset", domain=domain.name)
    return keys


def _load_manifest(project: DbtProject, domain: Domain) -> dict[str, Any]:
    if not project.manifest_path.exists():
        raise DefinitionError(
            f"dbt manifest not found at {project.manifest_path}; prepare it with "
            f"`dagster-dbt project prepare-and-package --file <definitions.py>` or `dbt parse`",
            domain=domain.name, file=project.manifest_path,
        )
    return json.loads(project.manifest_path.read_text())


def _database_name(models: dict[str, dict[str, Any]], project: DbtProject, domain: Domain) -> str:
    """The one database the manifest's models live in; the run-time DuckDB file takes its name."""
    databases = {node["database"] for node in models.values()}
    if len(databases) != 1:
        raise DefinitionError(
            f"dbt models in {project.project_dir} span databases {sorted(databases)}; "
            f"a mesh dbt domain builds into one DuckDB database",
            domain=domain.name, file=project.manifest_path,
        )
    return databases.pop()


def _nodes_by_name(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {node["name"]: node for node in manifest["nodes"].values() if node["resource_type"] == "model"}


def _relation(node: dict[str, Any]) -> str:
    return f'"{node["schema"]}"."{node.get("alias") or node["name"]}"'


def _contract_file(contract: Any) -> str:
    try:
        return inspect.getsourcefile(contract) or "?"
    except TypeError:
        return "?"
