"""Add a project to a ``dg.toml`` workspace as text, keeping every other line (and comment) as it is."""

from __future__ import annotations

import tomllib

from mesh_core.errors import WorkspaceError


def with_project(text: str, path: str, *, file: str) -> str:
    """``text`` with a ``[[workspace.projects]]`` table for ``path`` appended at its end.

    Every existing line is kept byte for byte. The result is parsed again and must read as
    the old workspace plus the project.

    Raises:
        WorkspaceError: naming ``file`` and showing the table to add by hand, when the file is
            not a dg workspace whose projects are an array of tables (``[[workspace.projects]]``),
            or the result would not read as intended.
    """
    snippet = f'[[workspace.projects]]\npath = "{path}"\n'
    by_hand = "add this project by hand:\n" + "".join("  " + line + "\n" for line in snippet.splitlines())
    try:
        before = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise WorkspaceError(f"not valid TOML: {error}", file=file) from None
    workspace = before.get("workspace")
    if before.get("directory_type") != "workspace" or not isinstance(workspace, dict):
        raise WorkspaceError("expected a dg workspace (directory_type = \"workspace\"); " + by_hand, file=file)
    projects = workspace.get("projects", [])
    newline = "\r\n" if "\r\n" in text else "\n"
    head = text if not text or text.endswith("\n") else text + newline
    result = head + newline + snippet.replace("\n", newline)
    try:
        after = tomllib.loads(result)
    except tomllib.TOMLDecodeError:
        after = None
    expected = {**before, "workspace": {**workspace, "projects": [*projects, {"path": path}]}}
    if after != expected:
        raise WorkspaceError("cannot add the project without changing other entries; " + by_hand, file=file)
    return result
