"""Add a code location to ``workspace.yaml`` as text, keeping every other line (and comment) as it is."""

from __future__ import annotations

import re

import yaml

from mesh_core.errors import WorkspaceError

_LOAD_FROM = re.compile(r"^load_from:[ \t]*(#.*)?$")
_ITEM = re.compile(r"^([ \t]*)- ")


def location_entry(name: str, module: str, working_directory: str) -> dict:
    """The ``python_module`` entry of a domain, as ``yaml.safe_load`` reads it."""
    return {
        "python_module": {"module_name": module, "working_directory": working_directory, "location_name": name}
    }


def with_location(text: str, entry: dict, *, file: str) -> str:
    """``text`` with ``entry`` appended to its block-style ``load_from`` list.

    The entry goes right after the list's last item, indented like its items; every
    other line is kept byte for byte. The result is parsed again and must read as the
    old workspace plus the entry.

    Raises:
        WorkspaceError: naming ``file`` and showing the entry to add by hand, when the
            list is not a block list at the top level (flow style, anchors) or the
            result would not read as intended.
    """
    (kind, spec), = entry.items()
    snippet = [f"- {kind}:"] + [f"    {key}: {value}" for key, value in spec.items()]
    by_hand = "add this entry to its load_from list by hand:\n" + "\n".join("  " + line for line in snippet)
    try:
        before = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise WorkspaceError(f"not valid YAML: {error}", file=file) from None
    if not isinstance(before, dict) or not isinstance(before.get("load_from"), list):
        raise WorkspaceError("expected a 'load_from' list of code locations; " + by_hand, file=file)
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if _LOAD_FROM.match(line.rstrip("\r\n"))), None)
    if start is None:
        raise WorkspaceError("'load_from' is not a block list this command can extend; " + by_hand, file=file)
    end, indent = start + 1, None
    for i in range(start + 1, len(lines)):
        line = lines[i].rstrip("\r\n")
        if line.strip() and not line.lstrip().startswith("#"):
            if not line[0].isspace() and not line.startswith("-"):
                break  # the next top-level key
            end = i + 1
            item = _ITEM.match(line)
            if indent is None and item:
                indent = item.group(1)
    if indent is None:
        raise WorkspaceError("'load_from' has no block-style items to follow; " + by_hand, file=file)
    newline = "\r\n" if lines[start].endswith("\r\n") else "\n"
    head = lines[:end]
    if head and not head[-1].endswith(("\n", "\r")):
        head[-1] += newline
    added = "".join(indent + line + newline for line in snippet)
    result = "".join(head) + added + "".join(lines[end:])
    expected = {**before, "load_from": [*before["load_from"], entry]}
    try:
        after = yaml.safe_load(result)
    except yaml.YAMLError:
        after = None
    if after != expected:
        raise WorkspaceError("cannot add the location without changing other entries; " + by_hand, file=file)
    return result
