"""The 6-column frame and contract that P1, P2 and P6 measure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

COUNTRIES = ["US", "GB", "FR", "DE", "ES"]
DTYPES = {"play_id": "int64", "user_id": "int64", "seconds_played": "int64", "score": "float64", "country": "str",
          "played_at": "datetime64[us, UTC]"}


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


def vectorized_failures(frame: pd.DataFrame) -> int:
    """The rules of ``plays_schema``, hand-written in vectorized pandas: the floor.

    It does the work the contract check does: every rule over every row (no stop at the
    first failing rule), counting the failing values, and the cheapest exact proof of the
    unique key (a strictly increasing key is unique; else a hash of every value).
    Returns how many values fail, as pandera counts failure cases.
    """
    columns = plays_schema().columns
    failures = sum(name not in frame.columns for name in columns) + sum(name not in columns for name in frame.columns)
    failures += sum(str(frame[name].dtype) != dtype for name, dtype in DTYPES.items() if name in frame)
    failures += int(frame.isna().to_numpy().sum())
    key = frame["play_id"]
    strictly_increasing = key.is_monotonic_increasing and bool((key.to_numpy()[1:] != key.to_numpy()[:-1]).all())
    failures += 0 if strictly_increasing else int(key.duplicated(keep=False).sum())
    failures += int((frame["play_id"] < 1).sum()) + int((frame["user_id"] < 1).sum())
    failures += int((~frame["seconds_played"].between(0, 86_400)).sum())
    failures += int((~frame["score"].between(0.0, 1.0)).sum())
    failures += int((~frame["country"].isin(COUNTRIES)).sum())
    return failures


def with_bad_rows(frame: pd.DataFrame, share: float = 0.01, seed: int = 2) -> pd.DataFrame:
    """A copy where ``share`` of the rows break a range check."""
    bad = frame.copy()
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(bad), size=max(1, int(len(bad) * share)), replace=False)
    bad.loc[rows, "seconds_played"] = -1
    return bad
