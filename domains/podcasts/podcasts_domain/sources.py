"""The catalog service and the player's event stream (the "O" of this domain), simulated.

The simulation shares its id spaces with the other domains' simulated systems, as
real operational systems would: listeners are customer ids of the sign-up system
(a few belong to accounts that were never mastered), and episodes belong to artists
of the onboarding system.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

EPISODES_PER_SCALE = 100
ARTISTS_PER_SCALE = 30
PLAYS_PER_SCALE = 10_000
LISTENERS_PER_SCALE = 1_050
_EPOCH = pd.Timestamp("2026-10-01", tz="UTC")


def episode_catalog(scale: float, seed: int = 11) -> pd.DataFrame:
    """Every published episode, with its artist and length."""
    rng = np.random.default_rng(seed)
    episodes = max(10, int(EPISODES_PER_SCALE * scale))
    artists = max(3, int(ARTISTS_PER_SCALE * scale))
    episode_id = np.arange(1, episodes + 1, dtype="int64")
    return pd.DataFrame(
        {
            "episode_id": episode_id,
            "title": "Episode " + pd.Series(episode_id).astype(str),
            "artist_id": rng.integers(1, artists + 1, episodes).astype("int64"),
            "duration_s": rng.integers(300, 3_600, episodes).astype("int64"),
        }
    )


def play_events(scale: float, catalog: pd.DataFrame, seed: int = 13) -> pd.DataFrame:
    """One row per play: who listened to which episode, when, and for how long."""
    rng = np.random.default_rng(seed)
    plays = max(100, int(PLAYS_PER_SCALE * scale))
    listeners = max(10, int(LISTENERS_PER_SCALE * scale))
    row = rng.integers(0, len(catalog), plays)
    duration = catalog["duration_s"].to_numpy()[row]
    return pd.DataFrame(
        {
            "play_id": np.arange(1, plays + 1, dtype="int64"),
            "user_id": rng.integers(1, listeners + 1, plays).astype("int64"),
            "episode_id": catalog["episode_id"].to_numpy()[row],
            "played_at": _EPOCH + pd.to_timedelta(rng.integers(0, 30 * 86_400, plays), unit="s"),
            "seconds_played": (duration * rng.random(plays)).astype("int64"),
        }
    )
