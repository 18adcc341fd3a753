"""`mesh run` reports the error behind a failed port, not Dagster's wrapper around it.

Most cases go through the location runner in-process (the code `mesh run` starts in each
location's process); one end-to-end `mesh run` on a copied mesh shows the same messages
in the journey summary.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pandera.pandas as pa
import pytest

from mesh_core import Domain, InputPort, PortStore
from mesh_core.runner import run_ports
from meshkit import copy_mesh, edit, mesh

HERE = str(Path(__file__).resolve())
STRICT = pa.DataFrameSchema({"amount": pa.Column(int)}, strict=True)
ANYTHING = pa.DataFrameSchema({"amount": pa.Column(object)})


def compute_amounts() -> pd.DataFrame:
    raise ZeroDivisionError("no rate for EUR")  # line asserted below


RAISE_LINE = compute_amounts.__code__.co_firstlineno + 1

# Each port of the "ledger" test domain misbehaves in one way: (contract, what it returns).
BAD_PORTS = {
    "returns_none": (STRICT, lambda: None),
    "returns_list": (STRICT, lambda: [{"amount": 1}]),
    "returns_series": (STRICT, lambda: pd.Series([1, 2], name="amount")),
    "duplicate_columns": (STRICT, lambda: pd.DataFrame([[1, 2]], columns=["amount", "amount"])),
    "mixed_types": (ANYTHING, lambda: pd.DataFrame({"amount": [1, "two", 3.0]})),
    "raises": (STRICT, compute_amounts),
    "user_failure": (STRICT, lambda: (_ for _ in ()).throw(dg.Failure(description="the ledger feed is closed"))),
}
EXPECTED = {
    "returns_none": "the port function returned NoneType; an output port returns a pandas DataFrame",
    "returns_list": "the port function returned list; an output port returns a pandas DataFrame",
    "returns_series": "the port function returned Series; an output port returns a pandas DataFrame",
    "duplicate_columns": "the port function returned a frame with duplicate columns ['amount']",
    "mixed_types": "cannot store the frame: ",
    "raises": f"ZeroDivisionError: no rate for EUR (raised at {HERE}:{RAISE_LINE})",
    "user_failure": "the ledger feed is closed",
}

# Ports whose local upstream asset fails: the port reports that asset's error.
BEHIND_A_FAILED_ASSET = {
    "converted": f"not executed: ledger/rates failed: domain ledger: ZeroDivisionError: no rate for EUR "
                 f"(raised at {HERE}:{RAISE_LINE})",
    "fed": "not executed: ledger/feed failed: domain ledger: DagsterTypeCheckDidNotPass: Type check failed for "
           "step output \"result\" - expected type \"DataFrame\". Description: Value of type <class 'list'> failed "
           "type check for Dagster type DataFrame, expected value to be of Python type pandas.DataFrame.",
}


def ledger_domain() -> dg.Definitions:
    ledger = Domain("ledger", owner="team:ledger")
    for name, (contract, body) in BAD_PORTS.items():
        ledger.output_port(contract=contract, version="1.0.0", name=name)(_named(body, name))

    @ledger.output_port(contract=STRICT, version="1.0.0")
    def balances() -> pd.DataFrame:
        return pd.DataFrame({"amount": [1, 2]})

    @ledger.asset
    def rates() -> pd.DataFrame:
        return compute_amounts()

    @ledger.asset
    def feed() -> pd.DataFrame:
        return [{"amount": 1}]

    @ledger.output_port(contract=STRICT, version="1.0.0", inputs={"rates": "rates"})
    def converted(rates: pd.DataFrame) -> pd.DataFrame:
        return rates

    @ledger.output_port(contract=STRICT, version="1.0.0", inputs={"feed": "feed"})
    def fed(feed: pd.DataFrame) -> pd.DataFrame:
        return feed

    return ledger.definitions()


def _named(body, name: str):
    def port() -> pd.DataFrame:
        return body()

    port.__name__ = name
    return port


def sink_domain() -> dg.Definitions:
    """A consumer of ledger.balances, in its own location."""
    sink = Domain("sink", owner="team:sink")

    @sink.output_port(contract=STRICT, version="1.0.0", inputs={"balances": InputPort("ledger.balances", version="1")})
    def totals(balances: pd.DataFrame) -> pd.DataFrame:
        return balances

    return sink.definitions()


@pytest.fixture(scope="module")
def ledger_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Every port of the ledger domain run once, as `mesh run` runs a location."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MESH_HOME", str(tmp_path_factory.mktemp("mesh")))
        patch.setenv("MESH_ENV", "dev")
        with dg.DagsterInstance.ephemeral() as instance:
            keys = [dg.AssetKey(["ledger", name]) for name in [*BAD_PORTS, *BEHIND_A_FAILED_ASSET]]
            yield run_ports(ledger_domain(), keys, instance, {})["ports"]


@pytest.mark.parametrize("name", sorted(BAD_PORTS))
def test_a_misbehaving_port_reports_its_own_error_naming_domain_port_and_file(ledger_run: dict, name: str):
    outcome = ledger_run[f"ledger/{name}"]
    assert outcome["status"] == "failed"
    error = outcome["error"]
    assert error.startswith(f"domain ledger, port ledger.{name} ({HERE}): "), error
    assert EXPECTED[name] in error
    assert "Dagster" not in error and "Error occurred while executing op" not in error


@pytest.mark.parametrize("name", sorted(BEHIND_A_FAILED_ASSET))
def test_a_port_behind_a_failed_local_asset_reports_that_assets_error(ledger_run: dict, name: str):
    assert ledger_run[f"ledger/{name}"]["error"] == BEHIND_A_FAILED_ASSET[name]


def test_a_mixed_type_column_is_named(ledger_run: dict):
    assert "columns holding values of several types: ['amount']" in ledger_run["ledger/mixed_types"]["error"]


def test_a_missing_or_damaged_input_names_the_producer_port_and_its_file(store: PortStore, mesh_home: Path):
    sink = sink_domain()
    totals = [dg.AssetKey(["sink", "totals"])]
    with dg.DagsterInstance.ephemeral() as instance:
        missing = run_ports(sink, totals, instance, {})["ports"]["sink/totals"]
        assert run_ports(ledger_domain(), [dg.AssetKey(["ledger", "balances"])], instance, {})["ports"][
            "ledger/balances"
        ]["status"] == "published"
        published = mesh_home / "dev" / "ledger" / "balances"
        for path in published.rglob("*"):
            if path.is_file():
                path.write_text("garbage")
        damaged = run_ports(sink, totals, instance, {})["ports"]["sink/totals"]

    for outcome in (missing, damaged):
        assert outcome["status"] == "failed"
        assert "port ledger.balances" in outcome["error"], outcome["error"]
        assert "DagsterExecutionLoadInputError" not in outcome["error"]
        assert re.search(rf"\({re.escape(str(published))}/\S+\)", outcome["error"]), "names the store file at fault"
    assert "no snapshot of v1 is published" in missing["error"]


def test_mesh_run_shows_the_real_errors_in_its_progress_and_summary(dagster_home: Path, tmp_path: Path):
    root = copy_mesh(tmp_path / "mesh").parent
    ports = root / "domains/podcasts/podcasts_domain/ports.py"
    edit(ports, "    return sources.episode_catalog(MeshSettings.from_env().scale)\n",
         "    sources.episode_catalog(MeshSettings.from_env().scale)\n")
    edit(ports, "    scale = MeshSettings.from_env().scale\n", "    scale = MeshSettings.from_env().scale / 0\n")
    line = ports.read_text().splitlines().index("    scale = MeshSettings.from_env().scale / 0") + 1

    result = mesh("run", "--select", "users", "--select", "podcasts.episodes", cwd=root,
                  env={"DAGSTER_HOME": str(dagster_home)})

    assert result.code == 1, result.stdout + result.stderr
    episodes = (f"domain podcasts, port podcasts.episodes ({ports}): "
                "the port function returned NoneType; an output port returns a pandas DataFrame")
    plays = (f"domain podcasts, port podcasts.plays ({ports}): "
             f"ZeroDivisionError: float division by zero (raised at {ports}:{line})")
    progress, summary = result.stdout.split("\nport ", 1)
    assert f"podcasts.episodes: FAILED ({episodes})" in progress
    assert f"podcasts.plays: FAILED ({plays})" in progress
    assert f"podcasts.episodes: {episodes}" in summary and f"podcasts.plays: {plays}" in summary
    assert "Dagster" not in result.stdout
