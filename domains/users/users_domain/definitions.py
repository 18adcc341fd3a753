"""The users code location."""

from users_domain import ports  # noqa: F401  (declares the ports on the domain)
from users_domain.domain import users

defs = users.definitions()
