"""Royalty rules: what one second of listening earns the artist, by the listener's plan."""

import pandas as pd

USD_PER_SECOND = {"free": 0.000_02, "premium": 0.000_10}


def royalty_per_play(plays: pd.DataFrame, profiles: pd.DataFrame) -> pd.Series:
    """The royalty in USD earned by each play, aligned with ``plays``' rows."""
    plan = plays[["user_id"]].merge(profiles[["user_id", "plan"]], on="user_id", how="left")["plan"]
    rate = plan.map(USD_PER_SECOND)
    if rate.isna().any():
        unknown = sorted(set(plan[rate.isna()].astype(str)))
        raise ValueError(f"plays by listeners with no known plan: {unknown[:5]}")
    return pd.Series(plays["seconds_played"].to_numpy() * rate.to_numpy(), index=plays.index)
