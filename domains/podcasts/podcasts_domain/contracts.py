"""Contracts of the podcasts domain's output ports."""

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series


class Episodes(pa.DataFrameModel):
    """The episode catalog."""

    episode_id: Series[int] = pa.Field(unique=True, ge=1, description="Episode id.")
    title: Series[str] = pa.Field(description="Episode title.")
    artist_id: Series[int] = pa.Field(ge=1, description="The artist who made the episode.")
    duration_s: Series[int] = pa.Field(gt=0, description="Length in seconds.")

    class Config:
        strict = True


class Plays(pa.DataFrameModel):
    """Plays by mastered listeners, enriched with the listener's country and the episode's artist."""

    play_id: Series[int] = pa.Field(unique=True, ge=1, description="Play event id.")
    user_id: Series[int] = pa.Field(ge=1, description="Listener; always a users.profiles user_id.")
    episode_id: Series[int] = pa.Field(ge=1, description="Episode played.")
    artist_id: Series[int] = pa.Field(ge=1, description="The episode's artist.")
    played_at: Series[pd.DatetimeTZDtype] = pa.Field(
        dtype_kwargs={"unit": "us", "tz": "UTC"}, description="When the play started."
    )
    seconds_played: Series[int] = pa.Field(ge=0, description="Seconds listened.")
    country: Series[str] = pa.Field(str_length={"min_value": 2, "max_value": 2}, description="Listener's country.")

    class Config:
        strict = True
