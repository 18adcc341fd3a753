"""Contracts of the artists domain's output ports."""

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series


class Roster(pa.DataFrameModel):
    """Every onboarded artist."""

    artist_id: Series[int] = pa.Field(unique=True, ge=1, description="Artist id.")
    name: Series[str] = pa.Field(description="Stage name.")
    onboarded_at: Series[pd.DatetimeTZDtype] = pa.Field(
        dtype_kwargs={"unit": "us", "tz": "UTC"}, description="When the artist signed."
    )

    class Config:
        strict = True


class Payouts(pa.DataFrameModel):
    """Royalties owed per artist per day."""

    artist_id: Series[int] = pa.Field(ge=1, description="Artist paid.")
    day: Series[pd.DatetimeTZDtype] = pa.Field(
        dtype_kwargs={"unit": "us", "tz": "UTC"}, description="UTC day of the plays."
    )
    plays: Series[int] = pa.Field(ge=1, description="Plays that day.")
    seconds_played: Series[int] = pa.Field(ge=0, description="Seconds listened that day.")
    amount_usd: Series[float] = pa.Field(ge=0, description="Royalty owed in USD.")

    class Config:
        strict = True
        unique = ["artist_id", "day"]


class PlaysReliedOn(pa.DataFrameModel):
    """What payouts rely on in podcasts.plays: every play names its artist, and durations are counts."""

    play_id: Series[int]
    user_id: Series[int]
    artist_id: Series[int] = pa.Field(nullable=False, description="A play without an artist cannot be paid.")
    played_at: Series[pd.DatetimeTZDtype] = pa.Field(dtype_kwargs={"unit": "us", "tz": "UTC"})
    seconds_played: Series[int] = pa.Field(ge=0)
