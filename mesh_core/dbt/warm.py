"""The warm dbt of a dbt domain: started while its ``mesh run`` location process loads and waits.

See ``mesh_core.dbt_warm`` for the server and its client. The server imports dbt while
the location loads, then parses the project with the run's own profile and target
folder, so the stage's ``dbt build`` starts with dbt imported and the project parsed.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtProject

from mesh_core import dbt_warm
from mesh_core.dbt.project import (
    database_file,
    target_folder,
    write_profile,
)
from mesh_core.io import STORE_KEY


class WarmDbt:
    """A warm-up (``mesh_core.warm_ups``) that starts the warm dbt of ``project`` for this process's run.

    One per process: the client finds the server through one environment variable. Without
    the client beside the interpreter (``mesh-dbt``, installed with mesh-core) it does nothing.
    """

    def __init__(self, project: DbtProject, domain: str, database: str) -> None:
        self.project, self.domain, self.database = project, domain, database
        self.server: subprocess.Popen | None = None

    def begin(self) -> None:
        """Start the server: it imports dbt, then waits for the run's profile."""
        if os.environ.get(dbt_warm.SOCKET_ENV) or not Path(sys.executable).with_name(dbt_warm.CLIENT).exists():
            return
        self.server, socket_path = dbt_warm.start_server(
            self.project.project_dir, {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        )
        os.environ[dbt_warm.SOCKET_ENV] = socket_path
        atexit.register(dbt_warm.stop_server, self.server, socket_path)  # unused when its stage did not come

    def start(self, definitions: dg.Definitions) -> None:
        """Hand the server the run's profile and target folder: it parses."""
        if self.server is None:
            return
        store = definitions.resources[STORE_KEY].store(self.domain)
        database = database_file(store, self.domain, self.database)
        target = target_folder(database)
        target.mkdir(parents=True, exist_ok=True)
        profiles = write_profile(store, database, self.project)
        variables = {"DBT_PROJECT_DIR": str(self.project.project_dir), "DBT_PROFILES_DIR": str(profiles),
                     "DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(target)}
        assert self.server.stdin is not None
        self.server.stdin.write(json.dumps(variables).encode() + b"\n")
        self.server.stdin.flush()
