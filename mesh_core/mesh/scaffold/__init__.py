"""``mesh new-domain``: scaffold a domain that loads, validates, runs and passes its tests at once.

In the repository, it writes ``domains/<name>/`` and registers its code location in
``workspace.yaml``; with ``standalone``, it writes a repository of its own that depends
on mesh-core as a package and joins the mesh through the registry.
"""

from mesh_core.mesh.scaffold.create import Created, check_folder, check_new, choose_input, create_in_repo, create_standalone
from mesh_core.mesh.scaffold.files import DomainPlan, render
from mesh_core.mesh.scaffold.names import check_name

__all__ = [
    "Created",
    "DomainPlan",
    "check_folder",
    "check_name",
    "check_new",
    "choose_input",
    "create_in_repo",
    "create_standalone",
    "render",
]
