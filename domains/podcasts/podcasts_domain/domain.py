"""The podcasts domain object that every module of this code location registers with."""

from mesh_core import Domain

podcasts = Domain(
    "podcasts",
    owner="team:podcasts",
    description="Source-aligned: the episode catalog and the play events of the streaming app.",
)
