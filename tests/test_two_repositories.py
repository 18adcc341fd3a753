"""The proof: two repositories, each with its own virtual environment and workspace, sharing only the store and the instance.

The producer's repository holds the example `users` domain; the consumer's holds a domain
that pins users.profiles and states expectations on it. Neither has the other's code: each
sees the other only through the registry in the shared store (MESH_HOME), locally and on a
loopback S3 server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import REPO, stop_group
from meshkit import MeshRun, edit, free_port
from test_store_s3 import BUCKET, SECRET, s3_endpoint  # noqa: F401 - the loopback S3 server fixture

pytestmark = pytest.mark.slow  # builds two virtual environments and runs both repositories' locations

CONSUMER = '''
from datetime import timedelta

import pandas as pd
import pandera.pandas as pa
from mesh_core import Domain, InputPort

podcasts = Domain("podcasts", owner="team:podcasts", description="Listeners per country, in a repository of its own.")
# What this team relies on: normalised (lowercase) emails, as the producer's contract promises today.
RELIED_ON = pa.DataFrameSchema({"email": pa.Column(str, pa.Check.str_matches(r"^[a-z0-9._+-]+@[a-z0-9.-]+$"))})
LISTENERS = pa.DataFrameSchema({"country": pa.Column(str), "listeners": pa.Column(int)})


@podcasts.output_port(
    contract=LISTENERS, version="1.0.0", freshness=timedelta(days=1),
    inputs={"profiles": InputPort("users.profiles", version="1", expectations=RELIED_ON)},
)
def listeners(profiles: pd.DataFrame) -> pd.DataFrame:
    """Listeners per country."""
    return profiles.groupby("country", as_index=False).agg(listeners=("user_id", "count"))


defs = podcasts.definitions()
'''
# The producer loosens its contract (a non-breaking change: a check removed) and stops lowercasing
# emails: its own contract passes, but the consumer relies on what the check promised.
EMAIL_CHECK = '        str_matches=r"^[a-z0-9._+-]+@[a-z0-9.-]+$",\n'
EMAIL = 'latest["email"].str.strip().str.lower()'


@dataclass
class Repository:
    root: Path
    env: dict[str, str]
    printed: list[str] = field(default_factory=list)

    def run(self, *args: str, tool: str = "mesh", timeout: int = 600) -> MeshRun:
        done = subprocess.run(
            [str(self.root / ".venv/bin" / tool), *args], cwd=self.root, env=self.env, capture_output=True,
            text=True, timeout=timeout,
        )
        self.printed += [done.stdout, done.stderr]
        return MeshRun(done.returncode, done.stdout, done.stderr)

    def python(self, code: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.root / ".venv/bin/python"), "-c", code], cwd=self.root, env=self.env,
                              capture_output=True, text=True, timeout=120)


def make_venv(root: Path) -> None:
    """A virtual environment of the repository's own, reusing the test's installed wheels (not its editable domains).

    Its site-packages names the test environment's site-packages and mesh-core's source in
    a .pth file; the editable installs of the example domains there are .pth files of
    their own, which Python does not follow from a plain path, so no domain is importable.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / ".venv")], check=True, timeout=120)
    site = root / f".venv/lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
    (site / "shared.pth").write_text(f"{sysconfig.get_paths()['purelib']}\n{REPO}\n")
    for tool in ("mesh", "dagster"):
        script = (Path(sys.executable).parent / tool).read_text().split("\n", 1)[1]
        target = root / ".venv/bin" / tool
        target.write_text(f"#!{root / '.venv/bin/python'}\n{script}")
        target.chmod(0o755)


def producer_repository(root: Path, env: dict[str, str]) -> Repository:
    shutil.copytree(REPO / "domains/users", root / "users", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    (root / "workspace.yaml").write_text(
        "load_from:\n  - python_module:\n      module_name: users_domain.definitions\n"
        "      working_directory: users\n      location_name: users\n"
    )
    make_venv(root)
    return Repository(root, env)


def consumer_repository(root: Path, env: dict[str, str]) -> Repository:
    package = root / "listeners" / "listeners_domain"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "definitions.py").write_text(CONSUMER)
    (root / "workspace.yaml").write_text(
        "load_from:\n  - python_module:\n      module_name: listeners_domain.definitions\n"
        "      working_directory: listeners\n      location_name: podcasts\n"
    )
    make_venv(root)
    return Repository(root, env)


def shared_environment(tmp_path: Path, mesh_home: str) -> dict[str, str]:
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESH_", "VIRTUAL_ENV", "PYTHON"))}
    return {**env, "MESH_HOME": mesh_home, "MESH_ENV": "dev", "DAGSTER_HOME": str(dagster_home)}


def two_repositories(tmp_path: Path, mesh_home: str) -> tuple[Repository, Repository]:
    env = shared_environment(tmp_path, mesh_home)
    return producer_repository(tmp_path / "producer", env), consumer_repository(tmp_path / "consumer", env)


def prove_the_mesh_spans_both(producer: Repository, consumer: Repository) -> None:
    """The consumer sees the producer through the registry; the producer cannot break the consumer unseen."""
    assert consumer.python("import users_domain").returncode != 0, "the consumer never has the producer's code"
    assert producer.python("import listeners_domain").returncode != 0, "nor the producer the consumer's"

    published = producer.run("run")
    assert published.code == 0, published.stdout + published.stderr
    registered = consumer.run("register")
    assert registered.code == 0, registered.stderr
    assert "registered podcasts (location podcasts" in registered.stdout

    alone = consumer.run("validate", "--from", "workspace")
    assert alone.code == 1 and "users.profiles" in alone.stdout, "without the registry the producer is unknown"
    validated = consumer.run("validate")
    assert validated.code == 0, validated.stdout + validated.stderr
    assert "2 ports in 2 locations: 0 error(s), 0 warning(s)" in validated.stdout
    planned = consumer.run("plan", "--format", "json")
    assert planned.code == 0, planned.stderr
    assert planned.json()["stages"] == [["users.profiles"], ["podcasts.listeners"]]

    edit(producer.root / "users/users_domain/contracts.py", EMAIL_CHECK, "")
    edit(producer.root / "users/users_domain/ports.py", EMAIL, 'latest["email"].str.strip()')
    broken = producer.run("run", "--format", "json")
    assert broken.code == 1
    [profiles] = broken.json()["ports"]
    assert profiles["status"] == "failed"
    assert "expectations of consumer podcasts violated" in profiles["error"]
    assert not list(producer.root.rglob("listeners_domain")), "the producer's repository never held the consumer"



def test_two_repositories_share_one_mesh_through_the_registry_and_a_code_server(tmp_path: Path):
    producer, consumer = two_repositories(tmp_path, str(tmp_path / "store"))

    prove_the_mesh_spans_both(producer, consumer)
    staged = consumer.run("register", "--env", "staging", "--format", "json")
    assert staged.code == 0, staged.stderr
    assert [e["file"] for e in staged.json()["registered"]] == [str(tmp_path / "store/staging/_registry/podcasts.json")]

    port = free_port()
    server = subprocess.Popen(
        [str(producer.root / ".venv/bin/dagster"), "code-server", "start", "-m", "users_domain.definitions",
         "-d", str(producer.root / "users"), "-h", "127.0.0.1", "-p", str(port), "--location-name", "users"],
        cwd=producer.root, env=producer.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while producer.run("api", "grpc-health-check", "-p", str(port), "-h", "127.0.0.1", tool="dagster",
                           timeout=60).code != 0:
            assert server.poll() is None, "the code server exited"
            assert time.monotonic() < deadline, "the code server did not answer within 180s"
            time.sleep(2)
        (consumer.root / "deployed.yaml").write_text(
            f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {port}\n      location_name: users\n"
            "  - python_module:\n      module_name: listeners_domain.definitions\n"
            "      working_directory: listeners\n      location_name: podcasts\n"
        )
        validated = consumer.run("validate", "-w", "deployed.yaml", "--from", "workspace")
        assert validated.code == 0, validated.stdout + validated.stderr
        assert "2 ports in 2 locations: 0 error(s)" in validated.stdout
        impact = consumer.run("impact", "users.profiles", "-w", "deployed.yaml", "--from", "workspace")
        assert impact.code == 0 and "podcasts.listeners (podcasts): users.profiles -> podcasts.listeners" in impact.stdout
        dagster = consumer.run("definitions", "validate", "-w", "deployed.yaml", tool="dagster")
        assert dagster.code == 0, dagster.stdout + dagster.stderr
    finally:
        stop_group(server)


def test_two_repositories_share_one_mesh_on_s3(tmp_path: Path, s3_endpoint: str):  # noqa: F811
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                          aws_access_key_id="mesh-test", aws_secret_access_key=SECRET)
    if BUCKET not in [bucket["Name"] for bucket in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=BUCKET)
    producer, consumer = two_repositories(tmp_path, f"s3://{BUCKET}/two-repositories")
    credentials = {"AWS_ACCESS_KEY_ID": "mesh-test", "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "us-east-1",
                   "AWS_ENDPOINT_URL": s3_endpoint, "AWS_ALLOW_HTTP": "true"}
    for repository in (producer, consumer):
        repository.env.update(credentials)
        repository.env["MESH_WORKDIR"] = str(repository.root / ".mesh")

    prove_the_mesh_spans_both(producer, consumer)

    keys = [item["Key"] for item in client.list_objects_v2(Bucket=BUCKET, Prefix="two-repositories/dev/_registry/")["Contents"]]
    assert sorted(keys) == ["two-repositories/dev/_registry/podcasts.json", "two-repositories/dev/_registry/users.json"]
    assert not (tmp_path / "store").exists()
    for key in keys:
        assert SECRET.encode() not in client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert not [text for text in producer.printed + consumer.printed if SECRET in text], "credentials never printed"
