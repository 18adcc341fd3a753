"""docs/deploy.md's files, checked as far as this machine can: no Kubernetes or Docker engine runs here.

The Helm values are parsed and held to the mesh (one deployment per domain of workspace.yaml,
the same run queue as dagster.postgres.yaml); the gRPC workspace is read by Dagster's own
loader; each deployment's ``codeServerArgs`` start a real ``dagster code-server`` on loopback.
dagster.postgres.yaml itself runs against a PostgreSQL cluster in test_postgres_instance.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from dagster._core.remote_origin import GrpcServerCodeLocationOrigin
from dagster._core.workspace.load import location_origins_from_config

from conftest import REPO, stop_group
from meshkit import free_port
from mesh_core.mesh.workspace import load_workspace

VALUES = REPO / "docs/deploy/values.yaml"
GRPC_WORKSPACE = REPO / "docs/deploy/workspace.grpc.yaml"
SERVER_START_S = 240


def _values() -> dict:
    return yaml.safe_load(VALUES.read_text())


def _deployments() -> dict[str, dict]:
    return {deployment["name"]: deployment for deployment in _values()["dagster-user-deployments"]["deployments"]}


def _option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_one_code_server_per_domain_each_from_its_own_image():
    deployments = _deployments()
    locations = {location.name: location for location in load_workspace(REPO / "workspace.yaml")}
    assert list(deployments) == list(locations)
    for name, deployment in deployments.items():
        args = deployment["codeServerArgs"]
        assert _option(args, "--module-name") == locations[name].target
        assert _option(args, "--location-name") == name
        assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}, "runs use the domain's image"
        env = {item["name"]: item["value"] for item in deployment["env"]}
        assert env["MESH_HOME"].startswith("s3://") and env["MESH_ENV"] == "prod"
        secrets = [item["name"] for item in deployment["envSecrets"]]
        assert secrets == [f"mesh-store-credentials-{name}", "mesh-pii-key"], "one store principal per domain"
    images = [deployment["image"]["repository"] for deployment in deployments.values()]
    assert len(set(images)) == len(images)
    assert len({tuple(sorted((item["name"], item["value"]) for item in d["env"] if item["name"].startswith("MESH_")))
                for d in deployments.values()}) == 1, "every domain shares one store and environment"


def test_the_instance_and_run_queue_match_dagster_postgres_yaml():
    values = _values()
    instance = yaml.safe_load((REPO / "dagster.postgres.yaml").read_text())
    assert values["postgresql"]["enabled"] is False and values["generatePostgresqlPasswordSecret"] is False
    assert "postgresqlPassword" not in values["postgresql"], "the password comes from a Secret, never this file"
    assert values["postgresql"]["postgresqlScheme"] == instance["storage"]["postgres"]["postgres_db"]["scheme"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert not values["runLauncher"]["config"]["k8sRunLauncher"].get("envSecrets"), "runs take their domain's secrets"
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["type"] == "QueuedRunCoordinator"
    queue = coordinator["config"]["queuedRunCoordinator"]
    runs = instance["concurrency"]["runs"]
    assert queue["maxConcurrentRuns"] == runs["max_concurrent_runs"]
    assert queue["tagConcurrencyLimits"] == runs["tag_concurrency_limits"]


def test_the_grpc_workspace_is_what_the_chart_writes_and_dagster_reads_it():
    origins = location_origins_from_config(yaml.safe_load(GRPC_WORKSPACE.read_text()), str(GRPC_WORKSPACE))
    assert all(isinstance(origin, GrpcServerCodeLocationOrigin) for origin in origins.values())
    assert {name: (origin.host, origin.port) for name, origin in origins.items()} == {
        name: (name, deployment["port"]) for name, deployment in _deployments().items()
    }


def test_the_guide_names_the_files_it_relies_on():
    guide = (REPO / "docs/deploy.md").read_text()
    for path in ("docs/deploy/values.yaml", "docs/deploy/workspace.grpc.yaml", "dagster.postgres.yaml"):
        assert path in guide and (REPO / path).is_file()
    for name in ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"):
        assert name in guide and name in (REPO / "dagster.postgres.yaml").read_text()



@pytest.mark.slow
def test_each_deployment_s_code_server_args_serve_its_location(tmp_path: Path, mesh_home: Path):
    """What the chart runs in each pod, `dagster code-server start -h HOST -p PORT <codeServerArgs>`, on loopback."""
    from dagster._grpc.client import DagsterGrpcClient

    dagster = str(Path(sys.executable).parent / "dagster")
    servers = {}
    try:
        for name, deployment in _deployments().items():
            port = free_port()
            home = tmp_path / name  # each pod has its own DAGSTER_HOME
            home.mkdir()
            log = (tmp_path / f"{name}.log").open("w")
            servers[name] = (port, subprocess.Popen(
                [dagster, "code-server", "start", "-h", "127.0.0.1", "-p", str(port), *deployment["codeServerArgs"]],
                cwd=home, env={**os.environ, "DAGSTER_HOME": str(home)}, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            ))
        deadline = time.monotonic() + SERVER_START_S
        for name, (port, process) in servers.items():
            client = DagsterGrpcClient(port=port, host="127.0.0.1")
            while True:
                assert process.poll() is None, (tmp_path / f"{name}.log").read_text()[-3000:]
                try:
                    served = json.loads(client.list_repositories())
                except Exception:  # noqa: BLE001 - not serving yet
                    served = None
                if served:
                    assert served["__class__"] == "ListRepositoriesResponse", served
                    pointer = served["repository_code_pointer_dict"]["__repository__"]
                    assert pointer["module"] == _option(_deployments()[name]["codeServerArgs"], "--module-name")
                    break
                assert time.monotonic() < deadline, f"{name}'s code server did not serve within {SERVER_START_S}s"
                time.sleep(1)
            health = subprocess.run(
                [dagster, "api", "grpc-health-check", "-p", str(port), "-h", "127.0.0.1"],
                capture_output=True, text=True, timeout=120,
            )
            assert health.returncode == 0, health.stdout + health.stderr
    finally:
        for _, process in servers.values():
            stop_group(process)
