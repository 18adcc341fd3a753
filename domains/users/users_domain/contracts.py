"""Contracts of the users domain's output ports."""

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from users_domain.sources import COUNTRIES, PLANS


class Profiles(pa.DataFrameModel):
    """One mastered profile per customer."""

    user_id: Series[int] = pa.Field(unique=True, ge=1, description="Customer id, stable across the mesh.")
    email: Series[str] = pa.Field(
        str_matches=r"^[a-z0-9._+-]+@[a-z0-9.-]+$",
        description="Normalised contact email.",
        metadata={"pii": True},
    )
    country: Series[str] = pa.Field(isin=list(COUNTRIES), description="ISO 3166-1 alpha-2 country of residence.")
    plan: Series[str] = pa.Field(isin=list(PLANS), description="Subscription plan.")
    signed_up_at: Series[pd.DatetimeTZDtype] = pa.Field(
        dtype_kwargs={"unit": "us", "tz": "UTC"}, description="Time of the latest registration."
    )

    class Config:
        strict = True
