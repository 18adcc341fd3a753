"""The users domain object that every module of this code location registers with."""

from mesh_core import Domain

users = Domain(
    "users",
    owner="team:users",
    description="Source-aligned: registrations from the sign-up system, mastered into one profile per customer.",
)
