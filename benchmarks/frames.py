"""The 6-column frame and contract that P1, P2 and P6 measure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

COUNTRIES = ["US", "GB", "FR", "DE", "ES"]


def plays_frame(rows: int, seed: int = 1) -> pd.DataFrame:
    """``rows`` plays: unique ids, integers, a float, a string and a UTC timestamp, all valid."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "play_id": np.arange(1, rows + 1, dtype="int64"),
        "user_id": rng.integers(1, 100_000, rows),
        "seconds_played": rng.integers(0, 3_600, rows),
        "score": rng.random(rows),
        "country": pd.array(rng.choice(COUNTRIES, rows), dtype="str"),
        "played_at": pd.to_datetime(rng.integers(1_700_000_000, 1_800_000_000, rows), unit="s", utc=True).as_unit("us"),
    })


def plays_schema() -> pa.DataFrameSchema:
    """The contract of ``plays_frame``: dtypes, non-null, a unique key and range and set checks."""
    return pa.DataFrameSchema(
        {
            "play_id": pa.Column("int64", pa.Check.ge(1), unique=True),
            "user_id": pa.Column("int64", pa.Check.ge(1)),
            "seconds_played": pa.Column("int64", pa.Check.in_range(0, 86_400)),
            "score": pa.Column("float64", pa.Check.in_range(0.0, 1.0)),
            "country": pa.Column("str", pa.Check.isin(COUNTRIES)),
            "played_at": pa.Column(pd.DatetimeTZDtype("us", "UTC")),
        },
        strict=True,
    )


def vectorized_check(frame: pd.DataFrame) -> bool:
    """The same rules as ``plays_schema``, hand-written in vectorized pandas: the floor."""
    return bool(
        list(frame.columns) == list(plays_schema().columns)
        and not frame.isna().to_numpy().any()
        and frame["play_id"].is_unique
        and (frame["play_id"] >= 1).all()
        and (frame["user_id"] >= 1).all()
        and frame["seconds_played"].between(0, 86_400).all()
        and frame["score"].between(0.0, 1.0).all()
        and frame["country"].isin(COUNTRIES).all()
        and str(frame["played_at"].dtype) == "datetime64[us, UTC]"
    )


def with_bad_rows(frame: pd.DataFrame, share: float = 0.01, seed: int = 2) -> pd.DataFrame:
    """A copy where ``share`` of the rows break a range check."""
    bad = frame.copy()
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(bad), size=max(1, int(len(bad) * share)), replace=False)
    bad.loc[rows, "seconds_played"] = -1
    return bad
