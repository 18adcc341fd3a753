"""Output ports of the podcasts domain."""

import pandas as pd

from mesh_core import InputPort, MeshSettings
from podcasts_domain import sources
from podcasts_domain.contracts import Episodes, Plays
from podcasts_domain.domain import podcasts


@podcasts.output_port(
    contract=Episodes,
    version="1.0.0",
    waivers={"sla-required": "A root without inputs, materialized by hand when the catalog changes; "
                             "no schedule keeps it fresh, so no freshness can be promised."},
)
def episodes() -> pd.DataFrame:
    """Every published podcast episode, with its artist and length."""
    return sources.episode_catalog(MeshSettings.from_env().scale)


@podcasts.output_port(
    contract=Plays,
    version="1.0.0",
    inputs={"profiles": InputPort("users.profiles", version="1")},
    waivers={"sla-required": "Rebuilt by automation whenever users.profiles publishes, not on a schedule of "
                             "its own; podcasts runs nothing on a clock that could keep a freshness promise."},
)
def plays(profiles: pd.DataFrame) -> pd.DataFrame:
    """Plays by mastered listeners, with the listener's country and the episode's artist.

    Plays by accounts that have no mastered profile are dropped.
    """
    scale = MeshSettings.from_env().scale
    catalog = sources.episode_catalog(scale)
    events = sources.play_events(scale, catalog)
    enriched = events.merge(catalog[["episode_id", "artist_id"]], on="episode_id", how="left").merge(
        profiles[["user_id", "country"]], on="user_id", how="inner"
    )
    columns = ["play_id", "user_id", "episode_id", "artist_id", "played_at", "seconds_played", "country"]
    return enriched[columns].sort_values("play_id", ignore_index=True)
