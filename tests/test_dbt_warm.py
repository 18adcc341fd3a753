"""The warm dbt: a dbt imported and its project parsed before the stage, running the stage's one command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, MeshRunOnce

from mesh_core import dbt_warm

PROJECT = REPO / "domains/artists/artists_dbt"
CLIENT = str(Path(sys.executable).with_name(dbt_warm.CLIENT))
PARSE_EVENTS = {"PartialParsingEnabled", "PartialParsingSkipParsing", "UnableToPartialParse", "ParseCmdOut"}


@pytest.fixture
def run_env(tmp_path: Path) -> dict[str, str]:
    """The DBT_* variables of a run: a profile building into a DuckDB file under tmp_path, a target folder."""
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    output = {"type": "duckdb", "path": str(tmp_path / "artists.duckdb"), "threads": 1}
    (profiles / "profiles.yml").write_text(yaml.safe_dump({"artists": {"target": "mesh", "outputs": {"mesh": output}}}))
    return {"DBT_PROJECT_DIR": str(PROJECT), "DBT_PROFILES_DIR": str(profiles), "DBT_TARGET_PATH": str(tmp_path / "target"),
            "DBT_LOG_PATH": str(tmp_path / "target"), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}


def start_server() -> tuple[subprocess.Popen, str]:
    return dbt_warm.start_server(PROJECT, dict(os.environ))


def hand(server: subprocess.Popen, run_env: dict[str, str]) -> None:
    assert server.stdin is not None
    server.stdin.write(json.dumps(run_env).encode() + b"\n")
    server.stdin.flush()


def client(args: list[str], run_env: dict[str, str], socket_path: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **run_env, "DBT_LOG_FORMAT": "json", dbt_warm.SOCKET_ENV: socket_path}
    return subprocess.run([CLIENT, *args], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)


def dbt_events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def stopped(server: subprocess.Popen) -> int:
    try:
        return server.wait(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_a_command_runs_in_the_warm_dbt_without_parsing_again(tmp_path: Path, run_env: dict[str, str]):
    server, socket_path = start_server()
    hand(server, run_env)
    ran = client(["compile", "--select", "roster"], run_env, socket_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    events = dbt_events(ran.stdout)
    assert events, "dbt's JSON events reach the client's stdout, where dagster-dbt reads them"
    assert {event["info"]["pid"] for event in events} == {server.pid}, "it ran in the server"
    assert not PARSE_EVENTS & {event["info"]["name"] for event in events}, "handed the parsed project"
    assert (Path(run_env["DBT_TARGET_PATH"]) / "compiled/artists/models/marts/roster.sql").exists()
    assert stopped(server) == 0, "one command, then it exits"
    assert not Path(socket_path).parent.exists(), "its socket folder is removed"


@pytest.mark.slow  # a dbt server and a second dbt; CI runs it with -m slow
def test_a_failing_build_exits_as_dbt_would_and_a_second_command_runs_dbt_itself(
    tmp_path: Path, run_env: dict[str, str]
):
    server, socket_path = start_server()
    hand(server, run_env)
    failed = client(["build", "--select", "roster"], run_env, socket_path)  # its source tables do not exist here
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert any(event["info"]["level"] == "error" for event in dbt_events(failed.stdout))
    assert stopped(server) == 1, "it ends with its command, and with its exit code"
    again = client(["build", "--select", "roster"], run_env, socket_path)  # the server is gone: dbt itself runs
    assert again.returncode == 1
    assert {event["info"]["pid"] for event in dbt_events(again.stdout)} - {server.pid}


@pytest.mark.slow  # a dbt server and a full parse; CI runs it with -m slow
def test_options_that_change_the_parse_make_dbt_parse_again(tmp_path: Path, run_env: dict[str, str]):
    server, socket_path = start_server()
    hand(server, run_env)
    ran = client(["compile", "--select", "roster", "--vars", "{region: eu}"], run_env, socket_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    names = {event["info"]["name"] for event in dbt_events(ran.stdout)}
    assert "UnableToPartialParse" in names, "the vars changed: dbt decides what to parse again"
    assert stopped(server) == 0


def test_without_a_server_the_client_runs_dbt(tmp_path: Path):
    env = {**os.environ, dbt_warm.SOCKET_ENV: str(tmp_path / "none.sock")}
    ran = subprocess.run([CLIENT, "--version"], env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert "Core:" in ran.stdout


def test_the_server_ends_when_the_process_that_started_it_goes(tmp_path: Path, run_env: dict[str, str]):
    server, socket_path = start_server()
    assert server.stdin is not None
    server.stdin.close()  # its starter is gone before it handed a profile
    assert stopped(server) == 0
    assert not Path(socket_path).parent.exists()


def test_mesh_run_hands_the_artists_build_to_the_warm_dbt(mesh_run_once: MeshRunOnce):
    assert mesh_run_once.code == 0, mesh_run_once.stderr
    log = (mesh_run_once.store.root / "dbt/artists/target/dbt.log").read_text()
    build = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert build and build[0]["info"]["name"] == "MainReportVersion"
    assert "dbt build" in json.dumps(build[1]["data"]), "the build's own events"
    assert not PARSE_EVENTS & {event["info"]["name"] for event in build}, (
        "the stage's build parsed nothing: the warm dbt parsed the project while earlier stages ran"
    )


def test_an_unused_server_stopped_by_its_starter_cleans_up(tmp_path: Path, run_env: dict[str, str]):
    server, socket_path = start_server()
    hand(server, run_env)
    dbt_warm.stop_server(server, socket_path)  # its location process exits without its stage (an upstream failed)
    assert server.returncode is not None
    assert not Path(socket_path).parent.exists()
