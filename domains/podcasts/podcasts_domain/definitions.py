"""The podcasts code location."""

from podcasts_domain import ports  # noqa: F401  (declares the ports on the domain)
from podcasts_domain.domain import podcasts

defs = podcasts.definitions()
