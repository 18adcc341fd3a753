"""Files replaced in one step: the old content or the new, and nothing left beside them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mesh_core.files import write_atomically


def test_a_file_is_replaced_with_the_new_content_and_nothing_beside_it(tmp_path: Path):
    path = tmp_path / "profiles.yml"
    path.write_text("old")
    write_atomically(path, b"new")
    assert path.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["profiles.yml"]


def test_a_failed_rename_leaves_the_target_as_it_was_and_no_temporary_file(tmp_path: Path):
    target = tmp_path / "manifest.json"
    target.mkdir()  # a folder where the file should go: the rename fails
    (target / "inside").write_text("kept")
    with pytest.raises(OSError):
        write_atomically(target, b"{}")
    assert (target / "inside").read_text() == "kept"
    assert os.listdir(tmp_path) == ["manifest.json"]


def test_keep_mode_keeps_the_permissions_of_the_file_it_replaces(tmp_path: Path):
    path = tmp_path / "workspace.yaml"
    path.write_text("load_from: []\n")
    path.chmod(0o640)
    write_atomically(path, b"load_from: [x]\n", keep_mode=True)
    assert path.stat().st_mode & 0o777 == 0o640
    assert path.read_text() == "load_from: [x]\n"
