"""The artists domain on dbt: contracts kept consistent, write–audit–publish through dbt, a clean checkout."""

from __future__ import annotations

import dataclasses
import inspect
import os
import shutil
import subprocess
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pandera.pandas as pa
import pytest
from dagster_dbt import DbtProject
from pandera.typing import Series

from artists_domain import sources as artists_sources
from artists_domain.contracts import Payouts, Roster
from artists_domain.project import artists_dbt
from conftest import REPO, latest_materialization, materialize
from mesh_core import DefinitionError, Domain, InputPort, PortStore, PreviousMajor
from mesh_core.dbt import DbtPort, dbt_ports, prepare
from mesh_core.dbt.project import dbt_cli
from meshkit import copy_mesh, edit, mesh

SCHEMA_YML = REPO / "domains/artists/artists_dbt/models/marts/schema.yml"


class PayoutsWithFloatPlays(Payouts):
    plays: Series[float] = pa.Field(ge=1)


class PayoutsWithoutDay(pa.DataFrameModel):
    artist_id: Series[int]
    plays: Series[int]
    seconds_played: Series[int]
    amount_usd: Series[float]


def build(contract) -> None:
    domain = Domain("artists", owner="team:artists")
    dbt_ports(
        domain,
        artists_dbt,
        ports={"payouts": DbtPort(contract, version="1.0.0")},
        sources={
            "podcasts__plays": InputPort("podcasts.plays", version="1"),
            "users__profiles": InputPort("users.profiles", version="1"),
        },
    )


@pytest.mark.parametrize(
    "contract, problem",
    [
        (PayoutsWithFloatPlays, "column plays: dbt data_type 'bigint' does not match pandera dtype float64"),
        (PayoutsWithoutDay, "column day is in the dbt contract but not the pandera contract"),
    ],
)
def test_dbt_and_pandera_contracts_must_agree_at_load(contract, problem):
    with pytest.raises(DefinitionError, match="dbt and pandera contracts disagree") as raised:
        build(contract)
    error = raised.value
    assert problem in error.message
    assert error.domain == "artists" and error.port == "artists.payouts"
    assert str(SCHEMA_YML) in error.file and __file__ in error.file, "names both files"


@pytest.mark.parametrize("argument", ["ports", "sources"])
def test_ports_or_sources_given_as_a_list_are_a_definition_error(argument: str):
    given = {
        "ports": {"payouts": DbtPort(Payouts, version="1.0.0")},
        "sources": {"podcasts__plays": InputPort("podcasts.plays", version="1")},
    }
    given[argument] = list(given[argument].values())
    with pytest.raises(DefinitionError, match=f"{argument} must be a mapping") as raised:
        dbt_ports(Domain("artists", owner="team:artists"), artists_dbt, **given)
    assert (raised.value.domain, raised.value.file) == ("artists", __file__)


def test_consistent_contracts_load():
    build(Payouts)


def test_a_model_that_breaks_its_contract_is_not_published(tmp_path: Path, mesh_home: Path, dagster_home: Path):
    root = copy_mesh(tmp_path / "mesh").parent
    env = {"DAGSTER_HOME": str(dagster_home)}
    first = mesh("run", "--format", "json", cwd=root, env=env)
    assert first.code == 0, first.stdout + first.stderr
    store = PortStore(mesh_home, "dev")
    before = store.current("artists.payouts", 1)
    before_bytes = [Path(uri).read_bytes() for uri in before.file_uris]

    edit(
        root / "domains/artists/artists_dbt/models/marts/payouts.sql",
        "    artist_id,\n    day,",
        "    cast(case when artist_id % 7 = 0 then null else artist_id end as bigint) as artist_id,\n    day,",
    )
    edit(root / "domains/artists/artists_dbt/models/marts/payouts.sql", "group by artist_id, day", "group by 1, day")
    broken = mesh("run", "--select", "artists.payouts", "--format", "json", cwd=root, env=env)

    assert broken.code == 1, broken.stdout + broken.stderr
    [payouts] = broken.json()["ports"]
    assert payouts["status"] == "failed"
    assert payouts["checks"]["contract"] is False
    assert payouts["checks"]["not_null_payouts_artist_id"] is False
    assert "artist_id" in payouts["error"] and "nothing published" in payouts["error"]
    assert store.current("artists.payouts", 1) == before
    assert [Path(uri).read_bytes() for uri in before.file_uris] == before_bytes
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        [record] = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey(["artists", "payouts"]), "contract"), limit=1
        )
        evaluation = record.event.dagster_event.event_specific_data
        assert not evaluation.passed
        assert "artist_id: not_nullable" in evaluation.metadata["failures_by_check"].value


def test_a_failing_dbt_port_does_not_stop_its_siblings(tmp_path: Path, mesh_home: Path, dagster_home: Path):
    # roster and payouts are built by one dbt build; roster's audit fails, payouts' passes.
    root = copy_mesh(tmp_path / "mesh").parent
    edit(
        root / "domains/artists/artists_dbt/models/marts/roster.sql",
        "    name,",
        "    case when artist_id % 5 = 0 then null else name end as name,",
    )
    run = mesh("run", "--format", "json", cwd=root, env={"DAGSTER_HOME": str(dagster_home)})

    assert run.code == 1, run.stdout + run.stderr
    ports = {port["port_id"]: port for port in run.json()["ports"]}
    roster, payouts = ports["artists.roster"], ports["artists.payouts"]
    assert payouts["status"] == "published", payouts
    assert payouts["checks"]["contract"] is True and payouts["checks"]["consumer_expectations"] is True
    assert payouts["error"] is None
    assert roster["status"] == "failed" and roster["checks"]["contract"] is False
    assert "artists.roster" in roster["error"] and "name" in roster["error"], roster["error"]
    store = PortStore(mesh_home, "dev")
    assert store.majors("artists.roster") == [], "the bad port is not published"
    assert store.current("artists.payouts", 1).snapshot_id == payouts["snapshot_id"]
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        for name, passed in (("roster", False), ("payouts", True)):
            [record] = instance.event_log_storage.get_asset_check_execution_history(
                dg.AssetCheckKey(dg.AssetKey(["artists", name]), "contract"), limit=1
            )
            assert record.event.dagster_event.event_specific_data.passed is passed, name


class RosterV1(pa.DataFrameModel):
    artist_id: Series[int]
    artist_name: Series[str]

    class Config:
        strict = True


def roster_to_v1(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename(columns={"name": "artist_name"})[["artist_id", "artist_name"]]


def test_a_dbt_port_serves_its_previous_major_to_pinned_consumers(instance, store: PortStore):
    artists = Domain("artists", owner="team:artists")

    @artists.asset
    def onboarding() -> pd.DataFrame:
        return artists_sources.onboarding(1)

    previous = PreviousMajor("1.2.0", RosterV1, adapt=roster_to_v1, deprecation_date=date(2027, 1, 31))
    dbt_ports(
        artists, artists_dbt, ports={"roster": DbtPort(Roster, version="2.0.0", previous=[previous])},
        sources={"onboarding": onboarding},
    )
    result = materialize(artists.definitions(), instance, ["artists/onboarding", "artists/roster"])
    assert {e.check_name: e.passed for e in result.get_asset_check_evaluations()} == {
        "contract": True, "contract_v1": True, "consumer_expectations": True,
        "not_null_roster_artist_id": True, "unique_roster_artist_id": True,
    }
    assert store.majors("artists.roster") == [1, 2]
    assert list(store.read("artists.roster", 2)[0].columns) == ["artist_id", "name", "onboarded_at"]

    fans = Domain("fans", owner="team:fans")

    @fans.output_port(
        contract=pa.DataFrameSchema({"columns": pa.Column(str)}), version="1.0.0",
        inputs={"roster": InputPort("artists.roster", version="1")},
    )
    def followed(roster: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"columns": [",".join(roster.columns)]})

    assert materialize(fans.definitions(), instance).success
    assert store.read("fans.followed", 1)[0]["columns"].tolist() == ["artist_id,artist_name"]
    read = latest_materialization(instance, "fans/followed").metadata["mesh/inputs"].value["artists.roster"]
    assert read["snapshot_id"] == store.current("artists.roster", 1).snapshot_id


def test_a_dbt_port_takes_every_option_of_a_pandas_port():
    options = {
        name: parameter.default for name, parameter in inspect.signature(Domain.output_port).parameters.items()
        if name not in ("self", "inputs", "name")  # a dbt port reads its model's sources and is named by it
    }
    fields = {
        field.name: field.default if field.default is not dataclasses.MISSING else inspect.Parameter.empty
        for field in dataclasses.fields(DbtPort)
    }
    assert fields == options


def test_a_clean_checkout_has_no_generated_dbt_files():
    tracked = subprocess.run(
        ["git", "ls-files", "domains/artists/artists_dbt"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked, "the dbt project is committed"
    assert not [path for path in tracked if "/target/" in path or "/logs/" in path]
    ignored = (REPO / "domains/artists/artists_dbt/.gitignore").read_text().split()
    assert {"target/", "logs/"} <= set(ignored)


def test_models_in_two_databases_are_a_definition_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # The run-time DuckDB file takes the manifest's database name, so there must be one.
    # The manifest is prepared as a location without its virtual environment on PATH would.
    monkeypatch.setenv("PATH", os.defpath)
    project_dir = tmp_path / "artists_dbt"
    shutil.copytree(REPO / "domains/artists/artists_dbt", project_dir, ignore=shutil.ignore_patterns("target", "logs"))
    edit(project_dir / "models/marts/roster.sql", "select\n", "{{ config(database='elsewhere') }}\nselect\n")
    project = DbtProject(project_dir=project_dir)
    prepare(project)
    with pytest.raises(DefinitionError, match=r"span databases \['artists', 'elsewhere'\]") as raised:
        dbt_ports(Domain("artists", owner="team:artists"), project, ports={}, sources={})
    assert raised.value.file == str(project.manifest_path)


@pytest.mark.slow  # a real dbt parse; CI runs it with -m slow
def test_running_dbt_asks_no_dbt_version_subprocess(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # dagster-dbt runs `dbt --version` (a second dbt start-up) before each command to learn
    # the version; the dbt beside this interpreter is the dbt-core imported here.
    import dagster_dbt.core.resource as resource

    asked = []
    run = resource.check_output
    monkeypatch.setattr(resource, "check_output", lambda command, *a, **k: asked.append(command) or run(command, *a, **k))
    invocation = dbt_cli(artists_dbt).cli(["parse", "--quiet"], target_path=tmp_path / "target")
    assert invocation.wait().is_successful()
    assert asked == []
    assert (tmp_path / "target" / "manifest.json").exists()


def test_a_dbt_database_held_by_another_build_is_a_clear_error(store: PortStore, tmp_path: Path):
    """Two builds of one dbt domain in one env (two `mesh run`s) meet at its DuckDB file: one line, not tracebacks."""
    import sys

    from mesh_core import MeshError
    from mesh_core.access import ReadPolicy
    from mesh_core.dbt.sources import pin_sources

    store.publish("podcasts.plays", pd.DataFrame({"play_id": [1]}), version="1.0.0",
                  policy=ReadPolicy("podcasts", "public"))
    database = tmp_path / "artists.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, sys; c = duckdb.connect({str(database)!r}); print('held', flush=True); "
                               "sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(MeshError, match="in use by another build of artists in env 'dev'") as held:
            pin_sources(store.as_reader("artists"), database, {"plays": InputPort("podcasts.plays", version="1")},
                        "artists")
        assert held.value.file == str(database)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


@pytest.mark.slow  # a whole run of a copy of the example mesh
def test_a_model_whose_column_lineage_cannot_be_built_still_publishes_the_domains_ports(tmp_path: Path):
    # A quoted column name dbt and DuckDB accept, which sqlglot's lineage fails on: as in dagster-dbt,
    # that model's lineage is left out with a warning, and nothing fails.
    root = copy_mesh(tmp_path / "mesh").parent
    edit(root / "domains/artists/artists_dbt/models/staging/stg_plays.sql",
         "    seconds_played\n", '    seconds_played,\n    user_id as "semi;colon"\n')
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home)
    result = mesh("run", cwd=root, env={"DAGSTER_HOME": str(home), "MESH_HOME": str(tmp_path / "store")})
    assert result.code == 0, result.stdout + result.stderr
    assert "5 published, 0 failed" in result.stdout
    with dg.DagsterInstance.from_config(str(home)) as instance:
        staging = latest_materialization(instance, "artists/stg_plays").metadata
        payouts = latest_materialization(instance, "artists/payouts").metadata
    assert "semi;colon" in [column.name for column in staging["dagster/column_schema"].value.columns]
    assert "dagster/column_lineage" not in staging
    assert payouts["dagster/column_lineage"].value.deps_by_column["amount_usd"], "the other models keep theirs"
