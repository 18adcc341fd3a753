"""The catalog's data: catalog.json, ODCS v3 contracts per port and ODPS products per domain."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import yaml

from mesh_core.mesh.graph import MeshGraph
from mesh_core.metadata import port_links
from mesh_core.semver import semver_major
from mesh_core.settings import MeshSettings

CATALOG_VERSION = 1
_LOGICAL_TYPES = {"int": "integer", "float": "number", "bool": "boolean", "str": "string", "string": "string",
                  "datetime": "timestamp", "date": "date"}


def catalog_document(
    graph: MeshGraph, manifests: list[dict[str, Any]], statuses: dict[str, dict[str, Any]] | None
) -> dict[str, Any]:
    """catalog.json: every domain and product, described by catalog.schema.json."""
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
            "status": (statuses or {}).get(port_id),
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


def odcs_yaml(product: dict[str, Any]) -> str:
    """One port's contract as an Open Data Contract Standard v3 document."""
    from open_data_contract_standard.model import (
        Description, OpenDataContractStandard, SchemaObject, SchemaProperty, ServiceLevelAgreementProperty,
    )

    domain, name = product["id"].split(".")
    contract = OpenDataContractStandard(
        apiVersion="v3.0.2",
        kind="DataContract",
        id=f"{product['id']}-{product['version']}",
        name=product["id"],
        version=product["version"],
        status="active",
        domain=domain,
        description=Description(purpose=product["description"] or None),
        schema=[  # the model's alias for its schema_ field
            SchemaObject(
                name=name,
                physicalName=f"{domain}.{name}",
                physicalType="table",
                properties=[
                    SchemaProperty(
                        name=column["name"],
                        physicalType=column["dtype"],
                        logicalType=_logical_type(column["dtype"]),
                        required=not column["nullable"],
                        unique=column["unique"],
                        description=column["description"] or None,
                        classification="pii" if column["pii"] else None,
                    )
                    for column in product["columns"]
                ],
            )
        ],
        slaProperties=(
            [ServiceLevelAgreementProperty(property="freshness", value=product["freshness_seconds"], unit="s")]
            if product.get("freshness_seconds") else None
        ),
    )
    return contract.to_yaml()


def odps_yaml(domain: dict[str, Any], products: dict[str, dict[str, Any]]) -> str:
    """One domain as an Open Data Product Standard document, with its input and output ports."""
    document = {
        "apiVersion": "v1.0.0",
        "kind": "DataProduct",
        "id": domain["name"],
        "name": domain["name"],
        "domain": domain["name"],
        "status": "active",
        "description": {"purpose": domain["description"]},
        "team": [{"username": domain["owner"], "role": "owner"}],
        "inputPorts": [
            {"name": port_id, "version": products[port_id]["version"] if port_id in products else "",
             "contractId": f"{port_id}-{products[port_id]['version']}" if port_id in products else ""}
            for port_id in domain["inputs"]
        ],
        "outputPorts": [
            {"name": port_id, "version": products[port_id]["version"], "description": products[port_id]["description"],
             "contractId": f"{port_id}-{products[port_id]['version']}", "type": "tables"}
            for port_id in domain["products"]
        ],
    }
    return yaml.safe_dump(document, sort_keys=False)


def _logical_type(dtype: str) -> str:
    for prefix, logical in _LOGICAL_TYPES.items():
        if dtype.startswith(prefix):
            return logical
    return "object"
