"""Dagster resources over the port store: the store itself and its IO manager."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg
import pandas as pd

from mesh_core.errors import MeshError
from mesh_core.settings import MeshSettings

if TYPE_CHECKING:
    from mesh_core.store import PortStore

IO_MANAGER_KEY = "mesh_io_manager"
STORE_KEY = "mesh_store"
# AssetIn metadata that marks an input as a port read at a pinned major.
PORT_ID = "mesh/port_id"
PORT_MAJOR = "mesh/major"
# AssetIn metadata naming the domain whose asset reads the port: the reader the access check sees.
PORT_READER = "mesh/reader"
# Key in DataFrame.attrs describing the snapshot an input frame came from.
SNAPSHOT_ATTR = "mesh_snapshot"


class MeshStore(dg.ConfigurableResource):
    """The port store as a Dagster resource.

    ``home`` and ``env`` default to ``MESH_HOME`` and ``MESH_ENV``, read when a run
    starts, not at import. ``pii_key`` is the secret PII is masked with for uncleared
    readers; a domain's definitions set it to ``dg.EnvVar("MESH_PII_KEY")`` when that is set.
    """

    home: str | None = None
    env: str | None = None
    pii_key: str | None = None

    def store(self, reader: str | None = None, run_id: str | None = None) -> PortStore:
        """The configured ``PortStore``, read as domain ``reader``; other options come from the environment."""
        from mesh_core.store import PortStore  # pyarrow and deltalake: only a run needs them

        settings = MeshSettings.from_env()
        return PortStore(
            self.home if self.home is not None else settings.store_uri,
            self.env if self.env is not None else settings.env,
            workdir=settings.home,
            storage_options=settings.storage_options,
            verify=settings.verify,
            reader=reader,
            run_id=run_id,
            pii_key=self.pii_key or settings.pii_key,
        )


class PortIOManager(dg.ConfigurableIOManager):
    """Loads input ports from their current published snapshot; stores internal assets.

    A loaded port frame carries ``frame.attrs["mesh_snapshot"]`` (port id, snapshot
    id, the content hash its files were verified against, the columns masked), which
    the consumer records as its "with what". A port is read as the domain that declared
    the input (``mesh/reader`` in the input's metadata; none is an anonymous reader),
    through the store's access check, masking and audit. An internal asset is read as
    ``domain``, the location's own domain: another domain's internal assets are refused.
    """

    mesh_store: MeshStore
    domain: str | None = None

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        domain, name = context.asset_key.path[0], context.asset_key.path[-1]
        if not isinstance(obj, pd.DataFrame):
            raise MeshError(
                f"internal asset '{name}' returned {type(obj).__name__}; mesh assets return a pandas DataFrame",
                domain=domain,
            )
        store = self.mesh_store.store()
        location = store.write_internal(domain, name, obj)
        context.add_output_metadata(
            {"dagster/uri": location, "dagster/row_count": len(obj), "mesh/verification": verification(store)}
        )

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        metadata = context.definition_metadata or {}
        if PORT_ID in metadata:
            store = self.mesh_store.store(metadata.get(PORT_READER), _run_id(context))
            frame, snapshot = store.read(metadata[PORT_ID], int(metadata[PORT_MAJOR]))
            frame.attrs[SNAPSHOT_ATTR] = {
                "port_id": snapshot.port_id,
                "version": snapshot.version,
                "snapshot_id": snapshot.snapshot_id,
                "data_version": snapshot.content_hash,
                "verified": snapshot.verified,
                **({"masked": list(snapshot.masked)} if snapshot.masked else {}),
            }
            return frame
        domain, name = context.asset_key.path[0], context.asset_key.path[-1]
        return self.mesh_store.store(self.domain, _run_id(context)).read_internal(domain, name)


def _run_id(context: dg.InputContext) -> str | None:
    """The run loading the input; none when it is loaded outside a run."""
    try:
        return context.step_context.run_id
    except dg.DagsterInvariantViolationError:
        return None


def verification(store: PortStore) -> str:
    """What a run records about content-hash verification of what it read."""
    return "on" if store.verify else "off (MESH_VERIFY=off): inputs were read unverified"
