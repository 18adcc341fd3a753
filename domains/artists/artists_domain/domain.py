"""The artists domain object that every module of this code location registers with."""

from mesh_core import Domain

artists = Domain(
    "artists",
    owner="team:artists",
    description="Aggregate: the artist roster and daily royalty payouts computed from plays and listeners' plans.",
)
