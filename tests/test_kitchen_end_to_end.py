"""Kitchens end to end: dev materialized, a change to podcasts run in a kitchen, compared, and destroyed.

Each test runs real `mesh` commands with location subprocesses, so they are slow.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from deltalake import DeltaTable

from conftest import REPO, stop_group
from meshkit import copy_mesh, edit, free_port, graphql, mesh

pytestmark = pytest.mark.slow
TIMEOUT = 900


@dataclass(frozen=True)
class Dev:
    """The example mesh materialized in env dev of a store of its own."""

    home: Path
    dagster_home: Path

    def env(self, **more: str) -> dict[str, str]:
        return {"MESH_HOME": str(self.home), "MESH_ENV": "dev", "DAGSTER_HOME": str(self.dagster_home), **more}


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    home = tmp_path_factory.mktemp("mesh")
    dagster_home = tmp_path_factory.mktemp("dagster")
    shutil.copy(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    made = Dev(home, dagster_home)
    result = mesh("run", cwd=REPO, env=made.env(), timeout=TIMEOUT)
    assert result.code == 0, result.stdout + result.stderr
    yield made


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with the sha256 of its bytes."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*")) if path.is_file()
    }


def delta_versions(env: Path) -> dict[str, int]:
    return {str(log.parent.relative_to(env)): DeltaTable(str(log.parent)).version() for log in env.rglob("_delta_log")}


def changed_copy(root: Path) -> Path:
    """A copy of the mesh (with its contract registry) whose podcasts domain drops plays shorter than a minute."""
    copy_mesh(root)
    shutil.copytree(REPO / "contracts", root / "contracts")
    edit(
        root / "domains/podcasts/podcasts_domain/ports.py",
        '    return enriched[columns].sort_values("play_id", ignore_index=True)',
        '    enriched = enriched[enriched["seconds_played"] >= 60]\n'
        '    return enriched[columns].sort_values("play_id", ignore_index=True)',
    )
    return root


def dev_runs(dev: Dev) -> int:
    with dg.DagsterInstance.from_config(str(dev.dagster_home)) as instance:
        return len(instance.get_runs())


def test_a_change_runs_in_a_kitchen_is_compared_with_dev_and_destroyed_leaving_dev_intact(dev: Dev, tmp_path: Path):
    before, versions, runs = tree(dev.home / "dev"), delta_versions(dev.home / "dev"), dev_runs(dev)
    created = mesh("kitchen", "create", "short-plays", "--format", "json", cwd=REPO, env=dev.env())
    assert created.code == 0, created.stderr
    assert created.json()["parent"] == "dev"
    root = changed_copy(tmp_path / "work")

    ran = mesh("kitchen", "run", "short-plays", "--select", "podcasts", "--format", "json", cwd=root,
               env=dev.env(), timeout=TIMEOUT)

    assert ran.code == 0, ran.stdout + ran.stderr
    statuses = {port["port_id"]: port["status"] for port in ran.json()["ports"]}
    assert statuses == {"podcasts.episodes": "published", "podcasts.plays": "published", "artists.payouts": "published"}
    kitchen = dev.home / "short-plays"
    assert sorted(delta_versions(kitchen)) == ["artists/payouts/v1", "podcasts/episodes/v1", "podcasts/plays/v1"], (
        "users (and artists' internal onboarding) are read from dev, not copied"
    )
    assert tree(dev.home / "dev") == before and delta_versions(dev.home / "dev") == versions, "dev unchanged"
    assert dev_runs(dev) == runs, "the kitchen's runs go to its own Dagster instance"
    with dg.DagsterInstance.from_config(str(kitchen / "_dagster")) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(["podcasts", "plays"]))
        read = event.asset_materialization.metadata["mesh/inputs"].value
    dev_profiles = DeltaTable(str(dev.home / "dev/users/profiles/v1")).version()
    assert read["users.profiles"]["snapshot_id"].startswith(f"{dev_profiles}-"), "users.profiles read from dev"

    compared = mesh("kitchen", "diff", "short-plays", "--reader", "artists", "--format", "json", cwd=root,
                    env=dev.env())
    assert compared.code == 0, compared.stderr
    ports = {port["port"]: port for port in compared.json()["ports"]}
    assert set(ports) == {"podcasts.episodes", "podcasts.plays", "artists.payouts"}
    plays = ports["podcasts.plays"]
    assert plays["rows"]["kitchen"] < plays["rows"]["parent"]
    assert plays["keys"]["columns"] == ["play_id"]
    assert plays["keys"]["removed"] == plays["rows"]["parent"] - plays["rows"]["kitchen"] and plays["keys"]["added"] == 0
    assert plays["changed"]["rows"] == 0, "the plays kept are the same plays"
    assert plays["contract"]["status"] == "unchanged" and plays["contract"]["gate"] == "pass"
    assert plays["downstream"]["artists.payouts"] == "not broken"
    payouts = ports["artists.payouts"]
    assert payouts["keys"]["columns"] == ["artist_id", "day"]
    assert payouts["changed"]["rows"] > 0 and {"plays", "amount_usd"} <= set(payouts["changed"]["columns"])
    sample = payouts["changed"]["sample"][0]
    assert set(sample["key"]) == {"artist_id", "day"} and sample["kitchen"] != sample["parent"]
    assert ports["podcasts.episodes"]["rows"]["kitchen"] == ports["podcasts.episodes"]["rows"]["parent"]
    text = mesh("kitchen", "diff", "short-plays", "--reader", "artists", cwd=root, env=dev.env()).stdout
    lost = plays["rows"]["parent"] - plays["rows"]["kitchen"]
    assert f"rows: {plays['rows']['parent']} -> {plays['rows']['kitchen']} (-{lost})" in text
    assert f"keys (play_id): 0 added, {lost} removed" in text and "amount_usd" in text

    query = ("SELECT (SELECT count(*) FROM podcasts.plays) AS kitchen, (SELECT count(*) FROM parent.podcasts.plays)"
             " AS parent, (SELECT count(*) FROM users.profiles) AS users")
    counted = mesh("sql", "--reader", "podcasts", query, "--format", "json", cwd=root, env=dev.env(MESH_ENV="short-plays"))
    assert counted.code == 0, counted.stderr
    assert counted.stdout.strip() == (
        f'[{{"kitchen":{plays["rows"]["kitchen"]},"parent":{plays["rows"]["parent"]},"users":1000}}]'
    )

    refused = mesh("kitchen", "destroy", "dev", cwd=REPO, env=dev.env())
    assert refused.code == 2 and "'dev' is a shared environment, not a kitchen" in refused.stderr
    destroyed = mesh("kitchen", "destroy", "short-plays", cwd=REPO, env=dev.env())
    assert destroyed.code == 0, destroyed.stderr
    assert sorted(path.name for path in kitchen.iterdir()) == ["_audit"], "only the kitchen's audit trail stays"
    audited = mesh("audit", "--port", "users.profiles", "--format", "json", cwd=REPO,
                   env=dev.env(MESH_ENV="short-plays"))
    assert audited.code == 0, audited.stderr
    reads = {(record["reader"], record["decision"]) for record in audited.json() if record["action"] == "read"}
    assert {("podcasts", "allowed"), ("artists", "masked")} <= reads, "dev's PII read from the kitchen stays on record"
    assert tree(dev.home / "dev") == before and delta_versions(dev.home / "dev") == versions


def test_a_kitchen_run_that_breaks_a_consumer_fails_in_the_kitchen_naming_it_and_leaves_dev_untouched(
    dev: Dev, tmp_path: Path
):
    before = tree(dev.home / "dev")
    assert mesh("kitchen", "create", "loose", cwd=REPO, env=dev.env()).code == 0
    root = copy_mesh(tmp_path / "work").parent
    # The podcasts team loosens its own contract and ships negative durations: artists relies on them being >= 0.
    edit(root / "domains/podcasts/podcasts_domain/contracts.py",
         'seconds_played: Series[int] = pa.Field(ge=0, description="Seconds listened.")',
         'seconds_played: Series[int] = pa.Field(description="Seconds listened.")')
    edit(root / "domains/podcasts/podcasts_domain/ports.py",
         '    return enriched[columns].sort_values("play_id", ignore_index=True)',
         '    enriched["seconds_played"] -= 30\n    return enriched[columns].sort_values("play_id", ignore_index=True)')

    ran = mesh("kitchen", "run", "loose", "--select", "podcasts.plays", cwd=root, env=dev.env(), timeout=TIMEOUT)

    assert ran.code == 1, ran.stdout + ran.stderr
    assert "expectations of consumer artists violated" in ran.stdout
    assert "artists.payouts: upstream podcasts.plays not published" in ran.stdout
    assert not (dev.home / "loose" / "podcasts" / "plays").exists() or not any(
        (dev.home / "loose" / "podcasts" / "plays").rglob("_delta_log/*.json")
    ), "nothing published in the kitchen either"
    assert tree(dev.home / "dev") == before


LAUNCH = """
mutation($selector: JobOrPipelineSelector!) {
  launchPipelineExecution(executionParams: {selector: $selector, mode: "default"}) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}
"""
STATUS = 'query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }'




def test_dagster_dev_in_a_kitchen_reads_dev_and_publishes_into_the_kitchen(dev: Dev, tmp_path: Path):
    before, runs = tree(dev.home / "dev"), dev_runs(dev)
    created = mesh("kitchen", "create", "ui", "--format", "json", cwd=REPO, env=dev.env())
    assert created.code == 0, created.stderr
    dagster_home = created.json()["dagster_home"]
    url = f"http://127.0.0.1:{free_port()}"
    log = (tmp_path / "dagster-dev.log").open("w")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "dev", "-w", str(REPO / "workspace.yaml"),
         "-h", "127.0.0.1", "-p", url.rsplit(":", 1)[1]],
        cwd=REPO, env={**os.environ, **dev.env(MESH_ENV="ui", DAGSTER_HOME=dagster_home)},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 600
        selector = {"repositoryLocationName": "podcasts", "repositoryName": "__repository__",
                    "pipelineName": "__ASSET_JOB", "assetSelection": [{"path": ["podcasts", "plays"]}]}
        launched = None
        while launched is None:
            assert time.monotonic() < deadline, (tmp_path / "dagster-dev.log").read_text()[-3000:]
            try:
                answer = graphql(url, LAUNCH, {"selector": selector})["launchPipelineExecution"]
            except OSError:
                time.sleep(2)
                continue
            if answer["__typename"] == "LaunchRunSuccess":
                launched = answer["run"]["runId"]
            else:
                time.sleep(2)  # the location is still loading
        status = None
        while status not in ("SUCCESS", "FAILURE", "CANCELED"):
            assert time.monotonic() < deadline, (tmp_path / "dagster-dev.log").read_text()[-3000:]
            time.sleep(2)
            status = graphql(url, STATUS, {"id": launched})["runOrError"]["status"]
        assert status == "SUCCESS", (tmp_path / "dagster-dev.log").read_text()[-3000:]
    finally:
        stop_group(process)
        log.close()
    kitchen = dev.home / "ui"
    assert sorted(delta_versions(kitchen)) == ["podcasts/plays/v1"], "published into the kitchen only"
    with dg.DagsterInstance.from_config(dagster_home) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(["podcasts", "plays"]))
        read = event.asset_materialization.metadata["mesh/inputs"].value
    assert read["users.profiles"]["snapshot_id"].startswith(f"{delta_versions(dev.home / 'dev')['users/profiles/v1']}-")
    assert tree(dev.home / "dev") == before and dev_runs(dev) == runs
