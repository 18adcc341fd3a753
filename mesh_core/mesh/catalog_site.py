"""``mesh catalog``: a static site that works offline, plus catalog.json, ODCS and ODPS files."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import jinja2
import networkx as nx

from mesh_core.mesh.catalog_data import (
    catalog_document, odcs_yaml, odps_path, odps_yaml, served_versions,
)
from mesh_core.mesh.graph import MeshGraph
from mesh_core.metadata import contract_path
from mesh_core.settings import MeshSettings

ASSETS = Path(__file__).parent / "catalog_assets"
_NODE_W, _NODE_H, _GAP_X, _GAP_Y = 180, 36, 60, 20
_TOP = 30  # room above the nodes for edges that skip a layer


@dataclass(frozen=True)
class Site:
    """A written catalog: its document and every file written, relative to the output folder."""

    catalog: dict[str, Any]
    files: list[str]


def build_site(
    graph: MeshGraph, manifests: list[dict[str, Any]], out: Path, statuses: dict[str, dict[str, Any]] | None,
    usage: dict[str, dict[str, Any]] | None = None,
) -> Site:
    """Write the site and machine-readable files to ``out``.

    Links into the catalog itself (``MESH_CATALOG_URL``) become relative on the pages, so
    the site works from disk; catalog.json keeps them absolute.
    """
    catalog = catalog_document(graph, manifests, statuses, usage)
    catalog_url = MeshSettings.from_env().catalog_url
    written: list[Path] = []
    for product in catalog["products"]:
        product["status_label"] = _status_label(product["status"])
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ASSETS), autoescape=True, undefined=jinja2.StrictUndefined)
    for folder in ("products", "domains", "odcs", "odps"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    products = {p["id"]: p for p in catalog["products"]}
    filters = {
        "domain": sorted({p["domain"] for p in products.values()}),
        "owner": sorted({p["owner"] for p in products.values() if p["owner"]}),
        "tag": sorted({f"{k}={v}" if v else k for p in products.values() for k, v in p["tags"].items()}),
        "access": sorted({p["access"] for p in products.values()}),
        "status": sorted({p["status_label"] for p in products.values()}),
    }
    _write(written, out / "index.html", env.get_template("index.html.j2").render(
        root="", products=list(products.values()), domains=catalog["domains"], filters=filters,
        generated_at=catalog["generated_at"],
    ))
    _write(written, out / "usage.html", env.get_template("usage.html.j2").render(
        root="", products=list(products.values()), generated_at=catalog["generated_at"],
    ))
    for port_id, product in products.items():
        page = {**product, "links": _relative_links(product["links"], catalog_url, "../")}
        _write(written, out / "products" / f"{port_id}.html", env.get_template("product.html.j2").render(
            root="../", p=page, lineage_svg=lineage_svg(graph, port_id),
        ))
        for served in served_versions(graph.ports[port_id]):
            _write(written, out / contract_path(port_id, served["version"]),
                   odcs_yaml(port_id, graph.ports[port_id], served))
    for domain in catalog["domains"]:
        page = {**domain, "links": _relative_links(domain["links"], catalog_url, "../")}
        _write(written, out / "domains" / f"{domain['name']}.html",
               env.get_template("domain.html.j2").render(root="../", d=page))
        _write(written, out / odps_path(domain["name"]), odps_yaml(domain, graph))
    _write(written, out / "catalog.json", json.dumps(catalog, indent=2, sort_keys=True, default=str))
    written.append(Path(shutil.copy(ASSETS / "catalog.schema.json", out / "catalog.schema.json")))
    return Site(catalog, sorted(path.relative_to(out).as_posix() for path in written))


def lineage_svg(graph: MeshGraph, port_id: str) -> str:
    """An SVG of the port with everything upstream and downstream of it, across domains."""
    related = {port_id} | nx.ancestors(graph.graph, port_id) | nx.descendants(graph.graph, port_id)
    layers = list(nx.topological_generations(graph.graph.subgraph(related)))
    position = {
        node: (x * (_NODE_W + _GAP_X), _TOP + y * (_NODE_H + _GAP_Y))
        for x, layer in enumerate(layers) for y, node in enumerate(sorted(layer))
    }
    width = len(layers) * (_NODE_W + _GAP_X)
    height = _TOP + max(len(layer) for layer in layers) * (_NODE_H + _GAP_Y)
    parts = [
        f'<svg id="lineage" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="Lineage of {escape(port_id)}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" '
        'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#57606a"/></marker></defs>',
    ]
    for source, target in graph.graph.subgraph(related).edges:
        (x1, y1), (x2, y2) = position[source], position[target]
        start, end = (x1 + _NODE_W, y1 + _NODE_H / 2), (x2, y2 + _NODE_H / 2)
        skips_a_layer = x2 - x1 > _NODE_W + _GAP_X
        lift = _TOP - 4 if skips_a_layer else 0  # arc over the nodes in between
        parts.append(
            f'<path d="M{start[0]},{start[1]} C{start[0] + _GAP_X},{start[1] - lift - _NODE_H / 2} '
            f'{end[0] - _GAP_X},{end[1] - lift - _NODE_H / 2} {end[0]},{end[1]}" fill="none" '
            'stroke="#57606a" marker-end="url(#arrow)"/>'
            if skips_a_layer
            else f'<line x1="{start[0]}" y1="{start[1]}" x2="{end[0]}" y2="{end[1]}" stroke="#57606a" '
            'marker-end="url(#arrow)"/>'
        )
    for node, (x, y) in position.items():
        fill = "#ddf4ff" if node == port_id else "#f6f8fa"
        parts.append(
            f'<a href="{escape(node)}.html"><rect x="{x}" y="{y}" width="{_NODE_W}" height="{_NODE_H}" rx="6" '
            f'fill="{fill}" stroke="#57606a"/><text x="{x + 10}" y="{y + 23}" font-size="13">{escape(node)}</text></a>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _status_label(status: dict[str, Any] | None) -> str:
    if status is None:
        return "unknown"
    if status["failing"]:
        return "failing"
    if status["published_at"] is None:
        return "never published"
    return "stale" if status["stale"] else "ok"


def _relative_links(links: dict[str, str], catalog_url: str, root: str) -> dict[str, str]:
    """Links into the catalog, made relative to a page ``root`` away from the site's top."""
    prefix = catalog_url + "/"
    return {name: root + url.removeprefix(prefix) if url.startswith(prefix) else url for name, url in links.items()}


def _write(written: list[Path], path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    written.append(path)
