"""Output ports of the artists domain."""

import pandas as pd

from artists_domain import sources
from artists_domain.contracts import Payouts, PlaysReliedOn, Roster
from artists_domain.domain import artists
from artists_domain.royalties import royalty_per_play
from mesh_core import InputPort, MeshSettings


@artists.output_port(contract=Roster, version="1.0.0")
def roster() -> pd.DataFrame:
    """Every artist onboarded to the platform."""
    return sources.onboarding(MeshSettings.from_env().scale)


@artists.output_port(
    contract=Payouts,
    version="1.0.0",
    access="private",
    inputs={
        "plays": InputPort("podcasts.plays", version="1", expectations=PlaysReliedOn),
        "profiles": InputPort("users.profiles", version="1"),
    },
)
def payouts(plays: pd.DataFrame, profiles: pd.DataFrame) -> pd.DataFrame:
    """Royalties owed per artist per UTC day, from plays priced by the listener's plan."""
    priced = plays.assign(
        amount_usd=royalty_per_play(plays, profiles),
        day=plays["played_at"].dt.floor("D"),
    )
    daily = priced.groupby(["artist_id", "day"], as_index=False).agg(
        plays=("play_id", "size"),
        seconds_played=("seconds_played", "sum"),
        amount_usd=("amount_usd", "sum"),
    )
    return daily.astype({"plays": "int64", "seconds_played": "int64"})
