"""dbt domains: dbt models as mesh ports, published through the same write–audit–publish path.

Requires the ``dbt`` extra (``dagster-dbt``, ``dbt-core<1.12``, ``dbt-duckdb``).

- The domain's input ports (and its own Python assets) reach dbt as the tables of one
  dbt source. Each run pins them to exact snapshots, verified against their hashes: a
  view per table, in the run's DuckDB database, over the snapshot's parquet files (``sources``).
- Selected models become output ports with the usual keys, group, owners, contract
  checks, previous majors and metadata (``specs``). dbt builds them into its own
  database (the "write"); mesh_core audits each one on its own against its pandera
  contracts and consumer expectations, and only then publishes a snapshot (``publish``).
  A port that fails does not stop the others; the run fails at the end, naming each.
- The dbt model contract (``contract: enforced: true`` with ``data_type``s) must agree
  with the pandera contract; a mismatch is a ``MeshError`` when definitions load
  (``contracts``).
- dbt tests become Dagster asset checks, as ``dagster-dbt`` makes them.
- The database lives under ``MESH_HOME/MESH_ENV/dbt/<domain>/``, so environments stay
  isolated. Its file is named as the database in the prepared manifest (the profile used
  for ``dbt parse``), so relation names agree at parse and run time and dbt's column
  lineage resolves (``project``).
"""

from mesh_core.dbt.ports import DbtPort, dbt_ports
from mesh_core.dbt.project import prepare

__all__ = ["DbtPort", "dbt_ports", "prepare"]
