"""Internal Python assets of the artists domain."""

import pandas as pd

from artists_domain import sources
from artists_domain.domain import artists
from mesh_core import MeshSettings


@artists.asset
def onboarding() -> pd.DataFrame:
    """Artists onboarded, landed from the onboarding system; the dbt model roster reads it."""
    return sources.onboarding(MeshSettings.from_env().scale)
