"""The artists code location."""

from artists_domain import ports  # noqa: F401  (declares the ports on the domain)
from artists_domain.domain import artists

defs = artists.definitions()
