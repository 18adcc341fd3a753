"""Internal assets of the users domain."""

import pandas as pd

from mesh_core import MeshSettings
from users_domain import sources
from users_domain.domain import users


@users.asset
def registrations() -> pd.DataFrame:
    """Registration events landed from the sign-up system."""
    return sources.registrations(MeshSettings.from_env().scale)
