"""Which names a new domain may take."""

from __future__ import annotations

import keyword
import re

from mesh_core.errors import MeshError

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
# Names the mesh keeps for itself, with why.
RESERVED = {
    "mesh": "the mesh command and mesh_core's mesh wing",
    "mesh_core": "the mesh_core library",
    "dagster": "the Dagster library",
    "dev": "the default environment (MESH_ENV)",
    "_registry": "the registry folder in the store",
    "_internal": "the store folder of a domain's internal assets",
}
# The aliases the generated modules import: a domain object of that name would shadow them.
_TEMPLATE_NAMES = {"pd", "pa", "dg", "pytest"}


def check_name(name: str) -> None:
    """Refuse a name that cannot be a domain: it must be a lowercase identifier, not a keyword, not reserved.

    Raises:
        MeshError: saying what is wrong with ``name`` and what a good name looks like.

    Example:
        >>> check_name("payments")  # a good name: no error
    """
    hint = "use a lowercase identifier such as 'payments' or 'ad_sales'"
    if name in RESERVED:
        raise MeshError(f"{name!r} is reserved for {RESERVED[name]}; pick another domain name")
    if name in _TEMPLATE_NAMES:
        raise MeshError(f"{name!r} would shadow an import of the generated modules; pick another domain name")
    if not name:
        raise MeshError(f"the domain name is empty; {hint}")
    if not _IDENTIFIER.match(name):
        raise MeshError(
            f"{name!r} is not a valid domain name: only lowercase letters, digits and '_', "
            f"starting with a letter; {hint}"
        )
    if keyword.iskeyword(name):
        raise MeshError(f"{name!r} is a Python keyword, so it cannot name the domain's module; {hint}")
