"""A code location's manifest: its ports, contracts and input pins, derived from its Definitions alone.

Run inside the location's own interpreter by the ``mesh`` command::

    python -m mesh_core.manifest --location users --module users_domain.definitions --out users.json
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Any

from mesh_core import loading_gc

if __name__ == "__main__":
    loading_gc.pause()  # until the definitions are loaded

import click  # noqa: E402
import dagster as dg  # noqa: E402

from mesh_core.code_target import CodeTarget, load_target_definitions, target_options  # noqa: E402
from mesh_core.domain import DOMAIN_METADATA  # noqa: E402
from mesh_core.manifest_format import MANIFEST_VERSION  # noqa: E402
from mesh_core.semver import semver_major  # noqa: E402


def build_manifest(defs: dg.Definitions, location: str) -> dict[str, Any]:
    """Describe every port and internal asset of ``defs`` as JSON-safe data.

    Each port lists the input ports it reads directly and, through local internal
    assets, indirectly (``"direct": false``), so the mesh graph sees every edge.

    Example:
        >>> from users_domain.definitions import defs  # doctest: +SKIP
        >>> build_manifest(defs, "users")["ports"][0]["id"]  # doctest: +SKIP
        'users.profiles'
    """
    graph = defs.resolve_asset_graph()
    local = sorted(graph.materializable_asset_keys, key=lambda key: key.path)
    ports, internal = [], []
    for key in local:
        metadata = graph.get(key).metadata
        entry = {
            "asset_key": list(key.path),
            "domain": key.path[0],
            "inputs": _inputs(graph, key),
        }
        if "mesh/port_id" in metadata:
            checks = sorted(check.name for check in graph.asset_check_keys if check.asset_key == key)
            ports.append({**entry, **_port(graph.get(key), metadata), "checks": checks})
        else:
            internal.append({**entry, "name": key.path[-1]})
    domain = _value(defs.metadata.get(DOMAIN_METADATA)) if defs.metadata else None
    return {
        "manifest_version": MANIFEST_VERSION,
        "location": location,
        "interpreter": sys.executable,
        "domain": domain,
        "ports": ports,
        "internal_assets": internal,
        "asset_keys": [list(key.path) for key in local],
    }


def _port(node: Any, metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": _value(metadata["mesh/port_id"]),
        "version": _value(metadata["mesh/contract_version"]),
        "access": _value(metadata["mesh/access"]),
        "consumers": _value(metadata.get("mesh/consumers")) or [],
        "pii_cleared": _value(metadata.get("mesh/pii_cleared")) or [],
        "contract": _value(metadata["mesh/contract"]),
        "previous_majors": _value(metadata.get("mesh/previous_majors")) or [],
        "freshness_seconds": _value(metadata.get("mesh/freshness_seconds")),
        "owner": (node.owners or [None])[0],
        "code_version": node.code_version,
        "tags": {k: v for k, v in (node.tags or {}).items() if not k.startswith(("mesh/", "dagster/"))},
        "description": node.description or "",
        "file": _value(metadata.get("mesh/file")),
        "waivers": _value(metadata.get("mesh/waivers")) or {},
    }


def _inputs(graph: Any, key: dg.AssetKey) -> list[dict[str, Any]]:
    """Input ports read by ``key``: declared on it, on its local upstream assets, or local ports upstream."""
    reads = [{**read, "direct": True} for read in _declared(graph, key)]
    seen = {read["port_id"] for read in reads}
    for ancestor in sorted(graph.get_ancestor_asset_keys(key), key=lambda k: k.path):
        if ancestor not in graph.materializable_asset_keys:
            continue
        metadata = graph.get(ancestor).metadata
        if "mesh/port_id" in metadata:
            port_id = _value(metadata["mesh/port_id"])
            major = semver_major(_value(metadata["mesh/contract_version"]), port=port_id)
            candidates = [{"port_id": port_id, "major": major, "expectations": None}]
        else:
            candidates = _declared(graph, ancestor)
        for read in candidates:
            if read["port_id"] not in seen:
                direct = ancestor in graph.get(key).parent_keys
                reads.append({**read, "direct": direct, "via": "/".join(ancestor.path)})
                seen.add(read["port_id"])
    return reads


def _declared(graph: Any, key: dg.AssetKey) -> list[dict[str, Any]]:
    return list(_value(graph.get(key).metadata.get("mesh/input_ports")) or [])


def _value(metadata_value: Any) -> Any:
    return getattr(metadata_value, "value", metadata_value)


def load_location(target: CodeTarget) -> dg.Definitions | None:
    """In a location's own process (cwd = its working directory): its Definitions, or None.

    A failure to import user code is reported on stderr in one line, naming the file and
    line, for the ``mesh`` command to show; the caller then exits 2.
    """
    try:
        defs = load_target_definitions(target, str(Path.cwd()))
        defs.resolve_asset_graph()  # definition errors surface here; Dagster caches the graph
        return defs
    except Exception as error:  # noqa: BLE001 - any failure to import user code is reported, not raised
        while isinstance(error, dg.DagsterError) and error.__cause__ is not None:
            error = error.__cause__  # Dagster's loader wraps the user's own error (an ImportError, say)
        last = traceback.extract_tb(error.__traceback__)[-1]
        print(f"{type(error).__name__}: {error} (at {last.filename}:{last.lineno})", file=sys.stderr)
        return None


@click.command()
@click.option("--location", required=True, help="The location's name in workspace.yaml.")
@target_options
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The manifest file.")
def main(location: str, target: CodeTarget, out: Path) -> None:
    """Write the manifest of one location to --out; exit 2 with a message if it cannot load."""
    defs = load_location(target)
    if defs is None:
        sys.exit(2)
    loading_gc.freeze_loaded()
    out.write_text(json.dumps(build_manifest(defs, location), indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
