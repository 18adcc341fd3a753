"""P5: `mesh run` of the example mesh at ≥ 2,000,000 plays, against a plain pandas script.

The baseline computes the same five products (users.profiles, podcasts.episodes,
podcasts.plays, artists.roster, artists.payouts) from the same generated feeds, with
pandas and no orchestration, and writes each to a parquet file. Both run as whole
processes in fresh MESH_HOME and DAGSTER_HOME folders, at a tiny and a large scale: the
tiny run is the fixed cost (against plain Dagster materializing one trivial asset per
location), the slope between the two the marginal cost per row.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks.timing import Measurement, compared, table
from mesh_core.manifest_format import manifests_dir
from mesh_core.store import PortStore

ROOT = Path(__file__).resolve().parent.parent
USD_PER_SECOND = {"free": 0.00002, "premium": 0.0001}


def plain_pipeline(scale: float, out: Path) -> None:
    """The example mesh's products, computed directly from the simulated source systems."""
    from artists_domain import sources as artist_sources
    from podcasts_domain import sources as podcast_sources
    from users_domain import sources as user_sources

    registrations = user_sources.registrations(scale)
    latest = registrations.sort_values(["registered_at", "user_id"]).drop_duplicates("user_id", keep="last")
    profiles = pd.DataFrame({
        "user_id": latest["user_id"], "email": latest["email"].str.strip().str.lower(),
        "country": latest["country"], "plan": latest["plan"], "signed_up_at": latest["registered_at"],
    }).sort_values("user_id", ignore_index=True)
    episodes = podcast_sources.episode_catalog(scale)
    plays = (
        podcast_sources.play_events(scale, episodes)
        .merge(episodes[["episode_id", "artist_id"]], on="episode_id", how="left")
        .merge(profiles[["user_id", "country"]], on="user_id", how="inner")
        .sort_values("play_id", ignore_index=True)
    )
    roster = artist_sources.onboarding(scale)[["artist_id", "name", "onboarded_at"]]
    royalties = plays.merge(profiles[["user_id", "plan"]], on="user_id").assign(
        day=lambda f: f["played_at"].dt.floor("D"),
        amount_usd=lambda f: f["seconds_played"] * f["plan"].map(USD_PER_SECOND),
    )
    payouts = royalties.groupby(["artist_id", "day"], as_index=False).agg(
        plays=("play_id", "size"), seconds_played=("seconds_played", "sum"), amount_usd=("amount_usd", "sum")
    )
    for name, frame in {"profiles": profiles, "episodes": episodes, "plays": plays, "roster": roster,
                        "payouts": payouts}.items():
        frame.to_parquet(out / f"{name}.parquet", index=False)


TRIVIAL_LOCATION = """import dagster as dg


@dg.asset
def trivial() -> None:
    \"\"\"One trivial asset: what plain Dagster pays to run anything in a location.\"\"\"


defs = dg.Definitions(assets=[trivial])
"""
LOCATIONS = 3  # users, podcasts, artists: one process each in `mesh run`


def _timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def _same_payouts(store: PortStore, plain: Path) -> int:
    """Check that both computed the same payouts; return how many plays the mesh published."""
    mesh_payouts, _ = store.read("artists.payouts", 1)
    plain_payouts = pd.read_parquet(plain / "payouts.parquet")
    if len(mesh_payouts) != len(plain_payouts) or not math.isclose(
        mesh_payouts["amount_usd"].sum(), plain_payouts["amount_usd"].sum(), rel_tol=1e-9
    ):
        raise RuntimeError("the plain pandas script and mesh run computed different payouts")
    return store.current("podcasts.plays", 1).rows


class _Round:
    """One repetition's folders: a plain script's output, and fresh MESH_HOME / DAGSTER_HOME per mesh run."""

    def __init__(self, folder: Path, scale: float) -> None:
        self.folder, self.scale, self.runs = folder, scale, 0
        folder.mkdir(parents=True, exist_ok=True)
        self.mesh = str(Path(sys.executable).parent / "mesh") if Path(sys.executable).with_name("mesh").exists() \
            else shutil.which("mesh") or "mesh"

    def env(self, home: Path) -> dict[str, str]:
        Path(home, "dagster").mkdir(parents=True, exist_ok=True)
        return {**os.environ, "MESH_SCALE": str(self.scale), "MESH_HOME": str(Path(home, "mesh")),
                "DAGSTER_HOME": str(Path(home, "dagster"))}

    def plain(self) -> float:
        out = Path(self.folder, "plain")
        out.mkdir(exist_ok=True)
        script = f"from benchmarks.mesh_run import plain_pipeline; plain_pipeline({self.scale}, __import__('pathlib').Path({str(out)!r}))"
        return _timed([sys.executable, "-c", script], self.env(self.folder))

    def mesh_run(self, *, cached_manifests: Path | None) -> tuple[float, Path]:
        """``mesh run`` in a fresh home; with ``cached_manifests``, that home starts with them in its cache."""
        self.runs += 1
        home = Path(self.folder, f"run{self.runs}")
        if cached_manifests is not None:
            shutil.copytree(cached_manifests, manifests_dir(Path(home, "mesh")))
        seconds = _timed([self.mesh, "run"], self.env(home))
        return seconds, Path(home, "mesh")

    def plain_dagster(self, locations: int) -> float:
        """``dagster asset materialize`` of one trivial asset, ``locations`` times, one process each."""
        location = Path(self.folder, "trivial.py")
        location.write_text(TRIVIAL_LOCATION)
        env = self.env(Path(self.folder, "trivial"))
        return sum(_timed([str(Path(sys.executable).with_name("dagster")), "asset", "materialize", "-f", str(location),
                           "--select", "trivial"], env) for _ in range(locations))


def run(quick: bool) -> str:
    tiny, large = 1, None if quick else 211
    repeats = 1 if quick else 2
    locations = 1 if quick else LOCATIONS
    seconds: dict[str, list[float]] = {name: [] for name in (
        "plain dagster", "plain tiny", "mesh tiny cold", "mesh tiny warm", "plain large", "mesh large warm")}
    plays: dict[float, int] = {}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as folder:
            small = _Round(Path(folder, "tiny"), tiny)
            seconds["plain dagster"].append(small.plain_dagster(locations) / locations)
            seconds["plain tiny"].append(small.plain())
            cold, home = small.mesh_run(cached_manifests=None)
            seconds["mesh tiny cold"].append(cold)
            plays[tiny] = _same_payouts(PortStore(home, reader="artists"), Path(small.folder, "plain"))
            warm, _ = small.mesh_run(cached_manifests=manifests_dir(home))
            seconds["mesh tiny warm"].append(warm)
            if large is None:
                continue  # quick: the fixed cost only
            big = _Round(Path(folder, "large"), large)
            seconds["plain large"].append(big.plain())
            warm, big_home = big.mesh_run(cached_manifests=manifests_dir(home))
            seconds["mesh large warm"].append(warm)
            plays[large] = _same_payouts(PortStore(big_home, reader="artists"), Path(big.folder, "plain"))
    per_location = Measurement(
        f"plain Dagster: `dagster asset materialize` of one trivial asset, per location ({locations} process(es))",
        seconds["plain dagster"])
    fixed = Measurement(f"mesh run, {plays[tiny]:,} plays, warm manifest cache, per location (/ {LOCATIONS})",
                        [v / LOCATIONS for v in seconds["mesh tiny warm"]])
    fixed_cold = Measurement(f"mesh run, {plays[tiny]:,} plays, cold manifest cache, per location (/ {LOCATIONS})",
                             [v / LOCATIONS for v in seconds["mesh tiny cold"]])
    plain_tiny = Measurement(f"plain pandas script, {plays[tiny]:,} plays", seconds["plain tiny"])
    rows = [
        (per_location.case, per_location, "1.00 (baseline)"),
        (fixed.case, fixed, compared(fixed, per_location, 1.5)),
        (fixed_cold.case, fixed_cold, compared(fixed_cold, per_location)),
        (plain_tiny.case, plain_tiny, compared(plain_tiny, per_location)),
    ]
    if large is not None:
        per_million = 1e6 / (plays[large] - plays[tiny])
        plain_slope = Measurement("plain pandas script: seconds per million plays (slope between the two scales)",
                                  [(b - a) * per_million for a, b in zip(seconds["plain tiny"], seconds["plain large"])])
        mesh_slope = Measurement("mesh run (warm): seconds per million plays (slope between the two scales)",
                                 [(b - a) * per_million for a, b in zip(seconds["mesh tiny warm"], seconds["mesh large warm"])])
        plain_large = Measurement(f"plain pandas script, {plays[large]:,} plays", seconds["plain large"])
        mesh_large = Measurement(f"mesh run, {plays[large]:,} plays, warm manifest cache", seconds["mesh large warm"])
        slope_ratio = compared(mesh_slope, plain_slope, 1.3) if min(plain_slope.seconds) > 0 else "n/a (no slope)"
        rows += [(plain_slope.case, plain_slope, "1.00 (baseline)"), (mesh_slope.case, mesh_slope, slope_ratio),
                 (plain_large.case, plain_large, "1.00 (baseline)"),
                 (mesh_large.case, mesh_large, compared(mesh_large, plain_large, 3.0))]
    scales = f"MESH_SCALE={tiny} ({plays[tiny]:,} plays)" + (
        f" and MESH_SCALE={large} ({plays[large]:,} plays)" if large is not None else " only (quick mode: no slope)")
    notes = (
        f"The example mesh at {scales}. `mesh run` publishes the diamond in three stages, each location in its own "
        "process, with contracts, consumer expectations, Delta commits with verified reads, dbt for artists and the "
        "Dagster event log; each run starts from an empty store and Dagster instance. *Cold*: no manifest cached, so "
        "`mesh run` first loads the three locations to build their manifests; *warm*: the manifests are in the cache, "
        "as after any earlier `mesh` command. The plain pandas script computes the same five products in one process "
        "and writes five parquet files; both compute the same payouts (checked at each scale). "
        "**Fixed cost**: the tiny mesh's run per location, against plain Dagster's `dagster asset materialize` of one "
        "trivial asset (a process per location), aim ≤ 1.5. **Marginal cost**: the slope between the two scales, in "
        "seconds per million plays, against the plain script's slope, aim ≤ 1.3. **Whole run** at the large scale "
        "against the plain script, aim ≤ 3. Cases run in this order in each repetition: plain Dagster, plain tiny, "
        "mesh tiny cold, mesh tiny warm, plain large, mesh large warm. Measured with `mesh run`'s speed-ups in place "
        "(no busy wait on dbt's events, no `dbt --version` subprocess, location processes started at once that load "
        "with the garbage collector off and open the instance while earlier stages run, a dbt server that imports dbt "
        "and parses the project while earlier stages run and then takes the stage's `dbt build`, each run's event log "
        "made while waiting, dbt's column metadata read from DuckDB rather than through a dbt adapter); "
        "`benchmarks/gaps.md` gives the profile and the floor."
    )
    title = f"{plays[large]:,} plays" if large is not None else f"{plays[tiny]:,} plays (quick)"
    return table(f"P5: the example mesh end to end, {title}", notes, rows)
