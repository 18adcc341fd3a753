"""The artist onboarding system (the "O" of this domain), simulated deterministically.

Artist ids are shared with the simulated podcast catalog, as the real systems would.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ARTISTS_PER_SCALE = 30
_EPOCH = pd.Timestamp("2025-01-01", tz="UTC")


def onboarding(scale: float, seed: int = 17) -> pd.DataFrame:
    """One row per onboarded artist."""
    rng = np.random.default_rng(seed)
    artists = max(3, int(ARTISTS_PER_SCALE * scale))
    artist_id = np.arange(1, artists + 1, dtype="int64")
    return pd.DataFrame(
        {
            "artist_id": artist_id,
            "name": "Artist " + pd.Series(artist_id).astype(str),
            "onboarded_at": _EPOCH + pd.to_timedelta(rng.integers(0, 365 * 86_400, artists), unit="s"),
        }
    )
