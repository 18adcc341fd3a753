"""Consumer expectations registered in the cached manifests, read by producers at publish.

The ``mesh`` command writes each location's manifest to ``MESH_HOME/manifests``. A
producer reads the expectations that other domains declared on its port from there,
without importing the mesh wing or any consumer's code. Files there that are not an
intact location manifest (stray, damaged, another format's) are skipped with a warning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandera.pandas as pa

from mesh_core.errors import MeshError
from mesh_core.manifest_format import manifests_dir, read_cached_manifest
from mesh_core.schema_doc import schema_from_document

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Expectation:
    """What one consumer relies on in one major of a port."""

    consumer: str
    major: int
    schema: pa.DataFrameSchema


def registered_expectations(home: Path, port_id: str) -> list[Expectation]:
    """Every consumer expectation on ``port_id`` found in the cached manifests."""
    found = []
    for path in sorted(manifests_dir(home).glob("*.json")):
        manifest = read_cached_manifest(path)
        if manifest is None:
            logger.warning("skipping %s: not an intact location manifest", path)
            continue
        for port in manifest.get("ports", []) + manifest.get("internal_assets", []):
            for read in port.get("inputs", []):
                if read.get("port_id") != port_id or not read.get("expectations") or not read.get("direct", True):
                    continue
                consumer = port.get("domain", "?")
                try:
                    schema = schema_from_document(read["expectations"])
                except ValueError as error:  # fail closed: a publish never skips a consumer's expectations
                    raise MeshError(
                        f"expectations of consumer {consumer} cannot be rebuilt ({error}); "
                        "run `mesh validate` to reload the manifests",
                        domain=consumer, port=port_id, file=path,
                    ) from None
                found.append(Expectation(consumer=consumer, major=int(read["major"]), schema=schema))
    return found
