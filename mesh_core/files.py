"""Replacing a file in one step: a reader sees its old content or its new, never part of either."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path


def write_atomically(path: Path, data: bytes, *, keep_mode: bool = False) -> None:
    """Write ``data`` to a new file beside ``path``, then rename it over ``path``.

    The new file is created with the process's umask, or with ``path``'s permission bits
    when ``keep_mode`` is set (``path`` must exist then). If anything fails, the new file
    is removed and ``path`` is left as it was.

    Raises:
        OSError: if the file cannot be written or renamed.
    """
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")  # unique: writers never share one
    try:
        with open(temporary, "xb") as out:
            out.write(data)
        if keep_mode:
            shutil.copymode(path, temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
