"""Output ports of the users domain."""

from datetime import timedelta

import pandas as pd

from mesh_core import Clearance
from users_domain.assets import registrations
from users_domain.contracts import Profiles
from users_domain.domain import users


@users.output_port(
    contract=Profiles,
    version="1.0.0",
    access="restricted",
    # podcasts reads emails in clear; artists reads them masked (HMAC-SHA256 under MESH_PII_KEY).
    consumers={"podcasts": Clearance(pii=True), "artists": Clearance(pii=False)},
    freshness=timedelta(days=1),
    inputs={"registrations": registrations},
    tags={"tier": "gold"},
    glossary={"mastered profile": "The single, deduplicated record of a customer across sign-ups."},
)
def profiles(registrations: pd.DataFrame) -> pd.DataFrame:
    """Mastered customer profiles: the latest registration per user, with a normalised email."""
    latest = registrations.sort_values(["registered_at", "user_id"]).drop_duplicates("user_id", keep="last")
    return pd.DataFrame(
        {
            "user_id": latest["user_id"],
            "email": latest["email"].str.strip().str.lower(),
            "country": latest["country"],
            "plan": latest["plan"],
            "signed_up_at": latest["registered_at"],
        }
    ).sort_values("user_id", ignore_index=True)
