"""Build the Dagster asset of an output port: checks, metadata, automation and the publish body."""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import pandas as pd

from mesh_core.contracts import Contract
from mesh_core.expectations import expectations_at_publish
from mesh_core.io import SNAPSHOT_ATTR, STORE_KEY
from mesh_core.metadata import (
    code_version,
    connection_snippet,
    function_source,
    how_metadata,
    links_metadata,
    port_definition_metadata,
    port_links,
)
from mesh_core.ports import InputPort, PreviousMajor
from mesh_core.publish import CONTRACT_CHECK, EXPECTATIONS_CHECK, ServedMajor, write_audit_publish
from mesh_core.settings import MeshSettings


@dataclass(frozen=True)
class OutputPortSpec:
    """A declared output port: its id, contract, older majors served, inputs, source file, fewest rows and waivers."""

    port_id: str
    contract: Contract
    description: str
    inputs: Mapping[str, Any]
    file: str | None
    previous: tuple[tuple[Contract, PreviousMajor], ...] = field(default_factory=tuple)
    glossary: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    min_rows: int = 1
    waivers: Mapping[str, str] = field(default_factory=dict)

    @property
    def served(self) -> list[ServedMajor]:
        """The current major first, then each previous major with its adapter."""
        return [ServedMajor(self.contract, CONTRACT_CHECK)] + [
            ServedMajor(contract, f"{CONTRACT_CHECK}_v{contract.major}", previous.adapt)
            for contract, previous in self.previous
        ]


def build_port_asset(
    spec: OutputPortSpec,
    fn: Callable[..., pd.DataFrame],
    *,
    key: dg.AssetKey,
    group: str,
    owner: str,
    ins: Mapping[str, dg.AssetIn],
    automation: dg.AutomationCondition | None,
) -> dg.AssetsDefinition:
    """The asset that runs ``fn`` and publishes its frame through write–audit–publish."""
    wants_context = "context" in inspect.signature(fn).parameters
    served = spec.served

    def compute(context, **frames: Any):  # Dagster rejects a string-annotated context
        inputs_read = {
            frame.attrs[SNAPSHOT_ATTR]["port_id"]: dict(frame.attrs[SNAPSHOT_ATTR])
            for frame in frames.values()
            if isinstance(frame, pd.DataFrame) and SNAPSHOT_ATTR in frame.attrs
        }
        result = fn(context=context, **frames) if wants_context else fn(**frames)
        store = getattr(context.resources, STORE_KEY).store()
        consumers = expectations_at_publish(store, spec.port_id)
        yield from write_audit_publish(
            store, spec.port_id, served, result, inputs_read, consumers.expectations, file=spec.file,
            extra_metadata=how_metadata(context.run.run_id, spec.file), min_rows=spec.min_rows,
        )
        consumers.register()

    return dg.asset(
        key=key,
        ins=dict(ins),
        description=spec.description,
        group_name=group,
        owners=[owner],
        metadata=port_definition_metadata_for(spec),
        tags={**spec.tags, "mesh/kind": "output_port"},
        kinds={"pandas", "parquet"},
        check_specs=port_check_specs(spec, key),
        code_version=port_code_version(function_source(fn), spec.contract),
        freshness_policy=freshness_policy(spec.contract),
        automation_condition=automation,
        required_resource_keys={STORE_KEY},
    )(compute)


@functools.cache
def port_automation(has_inputs: bool) -> dg.AutomationCondition | None:
    """Eager on inputs, gated on their blocking checks; roots are launched by people or schedules.

    Conditions are immutable, so every port shares one.
    """
    if not has_inputs:
        return None
    return dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()


def port_check_specs(spec: OutputPortSpec, key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    """The blocking checks of a port: one contract check per served major, and consumer expectations."""
    checks = [
        dg.AssetCheckSpec(
            major.check_name,
            asset=key,
            blocking=True,
            description=f"Result satisfies contract v{major.contract.version} before publish",
        )
        for major in spec.served
    ]
    checks.append(
        dg.AssetCheckSpec(
            EXPECTATIONS_CHECK,
            asset=key,
            blocking=True,
            description="Result satisfies every registered consumer's expectations before publish",
        )
    )
    return checks


def port_code_version(code: str, contract: Contract) -> str:
    """A port's code version: its code (source, or a dbt model's checksum) and its contract."""
    return code_version(code, json.dumps(contract.document, sort_keys=True), contract.version)


def freshness_policy(contract: Contract) -> dg.FreshnessPolicy | None:
    """The contract's freshness SLA as a Dagster freshness policy."""
    return dg.FreshnessPolicy.time_window(fail_window=contract.freshness) if contract.freshness else None


def input_ports_metadata(inputs: Mapping[str, Any]) -> dg.JsonMetadataValue:
    """The input ports an asset reads, with pins and expectations, for its manifest."""
    return dg.MetadataValue.json(
        [
            {
                "param": param,
                "port_id": spec.port_id,
                "major": spec.major,
                "expectations": spec.expectations_document,
            }
            for param, spec in inputs.items()
            if isinstance(spec, InputPort)
        ]
    )


def port_definition_metadata_for(spec: OutputPortSpec) -> dict[str, Any]:
    """Everything a port's definition carries: what it is, its contract, pins and SLA."""
    metadata = port_definition_metadata(spec.port_id, spec.contract)
    metadata["mesh/contract"] = dg.MetadataValue.json(spec.contract.document)
    if spec.previous:
        metadata["mesh/previous_majors"] = dg.MetadataValue.json(
            [
                {
                    "major": contract.major,
                    "version": contract.version,
                    "deprecation_date": previous.deprecation_date.isoformat(),
                    "contract": contract.document,
                }
                for contract, previous in spec.previous
            ]
        )
    if any(isinstance(port, InputPort) for port in spec.inputs.values()):
        metadata["mesh/input_ports"] = input_ports_metadata(spec.inputs)
    settings = MeshSettings.from_env()
    metadata["dagster/uri"] = f"mesh://{spec.port_id}/v{spec.contract.major}"
    metadata["mesh/connect"] = connection_snippet(spec.port_id, spec.contract.major, settings.env)
    metadata.update(links_metadata(port_links(settings, spec.port_id, spec.contract.version, spec.file)))
    if spec.glossary:
        metadata["mesh/glossary"] = dg.MetadataValue.json(dict(spec.glossary))
    if spec.contract.freshness is not None:
        metadata["mesh/freshness_seconds"] = spec.contract.freshness.total_seconds()
    if spec.file:
        metadata["mesh/file"] = spec.file
    if spec.waivers:
        metadata["mesh/waivers"] = dg.MetadataValue.json(dict(spec.waivers))
    return metadata

