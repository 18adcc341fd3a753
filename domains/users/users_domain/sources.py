"""The sign-up system (the operational "O" of this domain), simulated deterministically.

Users re-register (changing plan or country), and emails arrive with stray case
and whitespace, so mastering has real work to do.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COUNTRIES = ("US", "GB", "DE", "FR", "BR", "IN", "JP", "SE")
PLANS = ("free", "premium")
USERS_PER_SCALE = 1_000
_EPOCH = pd.Timestamp("2026-01-01", tz="UTC")


def registrations(scale: float, seed: int = 7) -> pd.DataFrame:
    """One row per registration event; about 20% are re-registrations of existing users."""
    rng = np.random.default_rng(seed)
    users = max(10, int(USERS_PER_SCALE * scale))
    events = users + users // 5
    user_id = np.concatenate([np.arange(1, users + 1), rng.integers(1, users + 1, events - users)])
    seconds = rng.integers(0, 300 * 86_400, events)
    names = pd.Series(user_id).astype(str)
    return pd.DataFrame(
        {
            "user_id": user_id.astype("int64"),
            "email": " User" + names + "@Example.COM ",
            "country": rng.choice(COUNTRIES, events),
            "plan": rng.choice(PLANS, events, p=[0.7, 0.3]),
            "registered_at": _EPOCH + pd.to_timedelta(seconds, unit="s"),
        }
    )
