"""Shared fixtures: every test gets its own MESH_HOME and a Dagster instance in a temporary DAGSTER_HOME."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from hypothesis import settings

from mesh_core import PortStore

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")  # no network here
# Hypothesis properties are about behaviour, not speed: a busy 2-core machine must not fail them.
settings.register_profile("mesh", deadline=None)
settings.load_profile("mesh")
LOCATIONS = {
    "users": "users_domain.definitions",
    "podcasts": "podcasts_domain.definitions",
    "artists": "artists_domain.definitions",
}


@pytest.fixture(autouse=True)
def mesh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty store for each test, whatever the caller's environment says."""
    home = tmp_path / "mesh"
    monkeypatch.setenv("MESH_HOME", str(home))
    monkeypatch.setenv("MESH_ENV", "dev")
    monkeypatch.setenv("MESH_SCALE", "1")
    return home


@pytest.fixture
def store(mesh_home: Path) -> PortStore:
    return PortStore(mesh_home, "dev")


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    """A persistent Dagster instance in a temporary DAGSTER_HOME, telemetry off."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.DagsterInstance.local_temp(str(home), overrides={"telemetry": {"enabled": False}}) as temp:
        yield temp


@pytest.fixture
def dagster_home(tmp_path: Path) -> Path:
    """An empty DAGSTER_HOME with the repository's dagster.yaml, for `mesh` and Dagster subprocesses."""
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home)
    return home


@pytest.fixture
def daemon_env(dagster_home: Path, mesh_home: Path) -> dict[str, str]:
    """The environment of a daemon and its neighbours. The instance's storage is created first, as
    `dagster dev` does, before several processes open it together."""
    with dg.DagsterInstance.from_config(str(dagster_home)):
        pass
    return {**os.environ, "DAGSTER_HOME": str(dagster_home), "MESH_HOME": str(mesh_home), "MESH_ENV": "dev"}


@pytest.fixture
def daemon_workspace() -> list[str]:
    """What the daemon loads: the example mesh's workspace.yaml unless a test module says otherwise."""
    return ["-w", str(REPO / "workspace.yaml")]


@pytest.fixture
def daemon(daemon_env: dict[str, str], daemon_workspace: list[str], tmp_path: Path) -> Iterator[subprocess.Popen]:
    """A real `dagster-daemon` in its own process group, stopped with everything it started.

    Code servers talk over Unix sockets; nothing binds beyond loopback.
    """
    log = (tmp_path / "daemon.log").open("w")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", *daemon_workspace],
        cwd=REPO,
        env=daemon_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        stop_group(process)
        log.close()


def stop_group(process: subprocess.Popen) -> None:
    """Stop ``process`` and every process it started (its own process group), nothing else."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


@dataclass(frozen=True)
class PublishedMesh:
    """The example mesh materialized once: its store and the instance that recorded it."""

    store: PortStore
    instance: dg.DagsterInstance


@pytest.fixture(scope="module")
def published_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PublishedMesh]:
    """users, then podcasts, then artists, materialized once per test module that only reads them."""
    home = tmp_path_factory.mktemp("mesh")
    dagster_home = tmp_path_factory.mktemp("dagster_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MESH_HOME", str(home))
        patch.setenv("MESH_ENV", "dev")
        patch.setenv("MESH_SCALE", "1")
        with dg.DagsterInstance.local_temp(str(dagster_home), overrides={"telemetry": {"enabled": False}}) as temp:
            for domain in LOCATIONS:
                assert materialize(location_defs(domain), temp).success
            yield PublishedMesh(PortStore(home, "dev"), temp)


@dataclass(frozen=True)
class MeshRunOnce:
    """One `mesh run --format json` of a copy of the whole example mesh, shared by the tests that only read it.

    ``MESH_HOME`` was unset, so the store is ``root/.mesh``; the runs are in ``dagster_home``.
    """

    root: Path
    dagster_home: Path
    code: int
    stdout: str
    stderr: str

    @property
    def store(self) -> PortStore:
        return PortStore(self.root / ".mesh", "dev")

    def env(self) -> dict[str, str]:
        """The environment the run had: for further read-only `mesh` commands on it."""
        env = {**os.environ, "DAGSTER_HOME": str(self.dagster_home), "MESH_ENV": "dev", "MESH_SCALE": "1"}
        env.pop("MESH_HOME", None)
        return env


@pytest.fixture(scope="session")
def mesh_run_once(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> MeshRunOnce:
    """The whole example mesh run once for every xdist worker: the first to ask runs it, the rest wait and read."""
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":  # every worker's base folder sits in one folder of this session
        shared = shared.parent
    folder = shared / "mesh-run-once"
    with FileLock(str(shared / "mesh-run-once.lock"), timeout=1800):
        done = folder / "result.json"
        if not done.exists():
            from meshkit import MESH, copy_mesh

            root = copy_mesh(folder / "mesh").parent
            (folder / "dagster").mkdir()
            shutil.copy(REPO / "dagster.yaml", folder / "dagster")
            once = MeshRunOnce(root, folder / "dagster", 0, "", "")
            ran = subprocess.run([MESH, "run", "--format", "json"], cwd=root, env=once.env(), capture_output=True,
                                 text=True, timeout=1200)
            done.write_text(json.dumps({"code": ran.returncode, "stdout": ran.stdout, "stderr": ran.stderr}))
        result = json.loads(done.read_text())
    return MeshRunOnce(folder / "mesh", folder / "dagster", result["code"], result["stdout"], result["stderr"])


def location_defs(name: str) -> dg.Definitions:
    """The example domain's Definitions, exactly as its code location loads them."""
    return importlib.import_module(LOCATIONS[name]).defs


def materialize(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    select: Sequence[str] | None = None,
    *,
    raise_on_error: bool = True,
) -> dg.ExecuteInProcessResult:
    """Materialize ``select`` (asset key strings like ``"users/profiles"``), or every asset of ``defs``."""
    graph = defs.resolve_asset_graph()
    keys = (
        [dg.AssetKey.from_user_string(key) for key in select]
        if select
        else sorted(graph.materializable_asset_keys, key=lambda key: key.path)
    )
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(instance=instance, asset_selection=keys, raise_on_error=raise_on_error)


def latest_materialization(instance: dg.DagsterInstance, key: str) -> dg.AssetMaterialization:
    event = instance.get_latest_materialization_event(dg.AssetKey.from_user_string(key))
    assert event is not None, f"{key} was never materialized"
    return event.asset_materialization


@dataclass(frozen=True)
class PostgresCluster:
    """A PostgreSQL cluster started for the tests: loopback only, password authentication."""

    host: str
    port: int
    user: str
    password: str

    def create_database(self) -> str:
        """A new, empty database of this cluster; returns its name."""
        import uuid

        import psycopg2

        name = f"mesh_{uuid.uuid4().hex[:12]}"
        connection = psycopg2.connect(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname="postgres"
        )
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return name


def _pg_bin() -> Path:
    """``MESH_PG_BIN``, else the newest Debian PostgreSQL's binaries (``/usr/lib/postgresql/<major>/bin``)."""
    if os.environ.get("MESH_PG_BIN"):
        return Path(os.environ["MESH_PG_BIN"])
    installed = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return installed[-1].parent if installed else Path("/usr/lib/postgresql/<major>/bin")


PG_BIN = _pg_bin()
PG_TIMEOUT_S = 120


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """Debian's PostgreSQL (``initdb``, ``pg_ctl``) in a temporary folder on 127.0.0.1 and a free port.

    PostgreSQL refuses to run as root, so under root the cluster runs as Debian's ``postgres``
    user. The fixture stops exactly this cluster (``pg_ctl stop -D`` its own folder).
    """
    import socket
    import tempfile

    if not (PG_BIN / "initdb").exists():
        missing = f"no PostgreSQL binaries in {PG_BIN} (apt-get install postgresql, or set MESH_PG_BIN)"
        if os.environ.get("CI"):
            pytest.fail(missing + ": CI installs them (.ci/run)")
        pytest.skip(missing)
    user = {"user": "postgres", "group": "postgres"} if os.geteuid() == 0 else {}
    folder = Path(tempfile.mkdtemp(prefix="mesh-pg-"))
    if user:
        shutil.chown(folder, "postgres", "postgres")
    (folder / "password").write_text("mesh-test-secret\n")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = folder / "data"
    subprocess.run(
        [str(PG_BIN / "initdb"), "-D", str(data), "-U", "mesh", "--auth=scram-sha-256",
         f"--pwfile={folder / 'password'}", "--no-sync"],
        check=True, capture_output=True, timeout=PG_TIMEOUT_S, **user,
    )
    options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories='' -c fsync=off"
    subprocess.run(
        [str(PG_BIN / "pg_ctl"), "start", "-D", str(data), "-w", "-t", str(PG_TIMEOUT_S), "-o", options,
         "-l", str(folder / "server.log")],
        check=True, capture_output=True, timeout=PG_TIMEOUT_S + 10, **user,
    )
    try:
        yield PostgresCluster("127.0.0.1", port, "mesh", "mesh-test-secret")
    finally:
        subprocess.run(
            [str(PG_BIN / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w", "-t", str(PG_TIMEOUT_S)],
            capture_output=True, timeout=PG_TIMEOUT_S + 10, **user,
        )
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_home(postgres: PostgresCluster, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A DAGSTER_HOME whose dagster.yaml is the repository's dagster.postgres.yaml, on a fresh database,
    and the ``DAGSTER_PG_*`` variables it reads."""
    home = tmp_path / "dagster_pg"
    home.mkdir()
    shutil.copy(REPO / "dagster.postgres.yaml", home / "dagster.yaml")
    env = {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": postgres.host,
        "DAGSTER_PG_PORT": str(postgres.port),
        "DAGSTER_PG_USERNAME": postgres.user,
        "DAGSTER_PG_PASSWORD": postgres.password,
        "DAGSTER_PG_DB": postgres.create_database(),
    }
    return home, env
