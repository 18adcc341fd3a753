"""The catalog's data: catalog.json, ODCS v3 contracts per port and ODPS products per domain."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import yaml

from mesh_core.mesh.graph import MeshGraph
from mesh_core.mesh.validate import served_majors
from mesh_core.metadata import contract_id, port_links
from mesh_core.semver import semver_major
from mesh_core.settings import MeshSettings

CATALOG_VERSION = 1
ODCS_API_VERSION = "v3.2.0"
ODPS_API_VERSION = "v1.0.0"
_LOGICAL_TYPES = {"int": "integer", "float": "number", "bool": "boolean", "str": "string", "string": "string",
                  "datetime": "timestamp", "date": "date"}


def catalog_document(
    graph: MeshGraph, manifests: list[dict[str, Any]], statuses: dict[str, dict[str, Any]] | None,
    usage: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """catalog.json: every domain and product, described by catalog.schema.json; ``usage`` as ``mesh usage`` gives it."""
    settings = MeshSettings.from_env()
    products = []
    for port_id, port in sorted(graph.ports.items()):
        products.append({
            "id": port_id,
            "domain": port["domain"],
            "version": port["version"],
            "major": semver_major(port["version"], port=port_id),
            "access": port["access"],
            "allowed_consumers": port["consumers"],
            "owner": port.get("owner"),
            "tags": port.get("tags", {}),
            "description": port.get("description") or "",
            "freshness_seconds": port.get("freshness_seconds"),
            "strict": port["contract"]["strict"],
            "previous_majors": [
                {"version": p["version"], "deprecation_date": p["deprecation_date"]} for p in port.get("previous_majors", [])
            ],
            "columns": [
                {"name": name, "dtype": c["dtype"], "nullable": c["nullable"], "unique": c["unique"], "pii": c["pii"],
                 "description": c["description"], "checks": c["checks"]}
                for name, c in port["contract"]["columns"].items()
            ],
            "inputs": sorted(graph.graph.predecessors(port_id)),
            "consumers": sorted(graph.graph.successors(port_id)),
            "links": port_links(settings, port_id, port["version"], port.get("file")),
            "waivers": [{"policy": name, "justification": why} for name, why in sorted(_waivers(port).items())],
            "status": (statuses or {}).get(port_id),
            "usage": (usage or {}).get(port_id),
        })
    domains = []
    for manifest in manifests:
        domain = manifest.get("domain") or {"name": manifest["location"], "owner": "", "description": ""}
        own = sorted(p["id"] for p in manifest["ports"])
        inputs = sorted({r.port_id for r in graph.reads if r.consumer_domain == domain["name"]
                         and r.port_id.split(".")[0] != domain["name"]})
        domains.append({"name": domain["name"], "owner": domain.get("owner", ""),
                        "description": domain.get("description", ""), "links": domain.get("links", {}),
                        "products": own, "inputs": inputs})
    return {
        "catalog_version": CATALOG_VERSION,
        "generated_at": datetime.now(timezone.utc).isoformat(),
        "domains": sorted(domains, key=lambda d: d["name"]),
        "products": products,
    }


def odps_path(domain: str) -> str:
    """Where, in the catalog, one domain's data product document is; linters look for ``*.odps.yaml``."""
    return f"odps/{domain}.odps.yaml"


def served_versions(port: dict[str, Any]) -> list[dict[str, Any]]:
    """Every version a port serves, newest major first: major, version, contract document and deprecation date."""
    return [
        {"major": major, "version": entry.get("version", port["version"]), "contract": entry["contract"],
         "deprecation_date": entry["deprecation_date"]}
        for major, entry in sorted(served_majors(port).items(), reverse=True)
    ]


def odcs_yaml(port_id: str, port: dict[str, Any], served: dict[str, Any]) -> str:
    """One served version of a port's contract as an Open Data Contract Standard document.

    It declares ``ODCS_API_VERSION``, the version of the ``open-data-contract-standard``
    model that writes it, whose schema allows every logical type used here.
    """
    from open_data_contract_standard.model import (
        CustomProperty, Description, OpenDataContractStandard, SchemaObject, SchemaProperty,
        ServiceLevelAgreementProperty,
    )

    domain, name = port_id.split(".")
    deprecation_date = served["deprecation_date"]
    contract = OpenDataContractStandard(
        apiVersion=ODCS_API_VERSION,
        kind="DataContract",
        id=contract_id(port_id, served["version"]),
        name=port_id,
        version=served["version"],
        status="deprecated" if deprecation_date else "active",
        domain=domain,
        description=Description(purpose=port.get("description") or None),
        schema=[  # the model's alias for its schema_ field
            SchemaObject(
                name=name,
                physicalName=f"{domain}.{name}",
                physicalType="table",
                properties=[
                    SchemaProperty(
                        name=column_name,
                        physicalType=column["dtype"],
                        logicalType=_logical_type(column["dtype"]),
                        required=not column["nullable"],
                        unique=column["unique"],
                        description=column["description"] or None,
                        classification="pii" if column["pii"] else None,
                    )
                    for column_name, column in served["contract"]["columns"].items()
                ],
            )
        ],
        slaProperties=(
            [ServiceLevelAgreementProperty(property="freshness", value=port["freshness_seconds"], unit="s")]
            if port.get("freshness_seconds") else None
        ),
        customProperties=[CustomProperty(**item) for item in _custom_properties(port, deprecation_date)] or None,
    )
    return contract.to_yaml()


def odps_yaml(domain: dict[str, Any], graph: MeshGraph) -> str:
    """One domain as an Open Data Product Standard document, with its input and output ports.

    An output port is listed once per version it serves; an input port names the
    contract of the major the domain pins, so every ``contractId`` is a file in ``odcs/``.
    """
    output_ports = [
        {"name": port_id, "version": served["version"], "description": graph.ports[port_id].get("description") or "",
         "contractId": contract_id(port_id, served["version"]), "type": "tables",
         **({"customProperties": found} if (found := _custom_properties(graph.ports[port_id], served["deprecation_date"]))
            else {})}
        for port_id in domain["products"]
        for served in served_versions(graph.ports[port_id])
    ]
    document: dict[str, Any] = {
        "apiVersion": ODPS_API_VERSION,
        "kind": "DataProduct",
        "id": domain["name"],
        "name": domain["name"],
        "domain": domain["name"],
        "status": "active",
        "description": {"purpose": domain["description"]},
        **({"team": _team(domain["owner"])} if domain["owner"] else {}),
        "inputPorts": [_input_port(graph, port_id, major) for port_id, major in _pins(graph, domain["name"])],
        "outputPorts": output_ports,
    }
    return yaml.safe_dump(document, sort_keys=False)


def _waivers(port: dict[str, Any]) -> dict[str, str]:
    """The policies a port waives, each with its justification (manifests from before waivers have none)."""
    return port.get("waivers") or {}


def _custom_properties(port: dict[str, Any], deprecation_date: str | None) -> list[dict[str, Any]]:
    """A served version's ODCS or ODPS custom properties: its deprecation date and the policies the port waives."""
    found = [{"property": "deprecationDate", "value": deprecation_date}] if deprecation_date else []
    waived = [{"policy": name, "justification": why} for name, why in sorted(_waivers(port).items())]
    return found + ([{"property": "policyWaivers", "value": waived}] if waived else [])


def _team(owner: str) -> dict[str, Any]:
    """ODPS's team object: a Dagster ``team:`` owner names the team, any other owner is its member."""
    if owner.startswith("team:"):
        return {"name": owner.removeprefix("team:")}
    return {"members": [{"username": owner, "role": "owner"}]}


def _pins(graph: MeshGraph, domain: str) -> list[tuple[str, int]]:
    """The (port id, major) pairs a domain reads from other domains."""
    return sorted({(read.port_id, read.major) for read in graph.reads
                   if read.consumer_domain == domain and read.port_id.split(".")[0] != domain})


def _input_port(graph: MeshGraph, port_id: str, major: int) -> dict[str, str]:
    served = [s for s in served_versions(graph.ports[port_id]) if s["major"] == major] if port_id in graph.ports else []
    if not served:  # `mesh validate` reports the pin; there is no contract to name
        return {"name": port_id, "version": str(major), "contractId": ""}
    return {"name": port_id, "version": served[0]["version"], "contractId": contract_id(port_id, served[0]["version"])}


def _logical_type(dtype: str) -> str:
    name = dtype.lower().removeprefix("u")  # pandas' nullable Int64, Float64 and unsigned uint8 are numbers too
    for prefix, logical in _LOGICAL_TYPES.items():
        if name.startswith(prefix):
            return logical
    return "object"
