"""The manifest cache never crashes a command: a damaged entry is stale, a stray file is ignored."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO
from mesh_core.manifest_format import manifests_dir, read_cached_manifest, write_cached_manifest
from meshkit import mesh

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
MANIFEST = {
    "manifest_version": 1,
    "location": "royalties",
    "ports": [{"id": "royalties.owed", "domain": "royalties", "contract": {"columns": {}}, "inputs": [
        {"port_id": "tracks.catalog", "major": 1, "direct": True, "expectations": None}
    ]}],
    "internal_assets": [],
}


def _replace_somewhere(document, path: list[int], value):
    """``document`` with the node reached by following ``path`` (indices mod size) replaced by ``value``."""
    if not path or not isinstance(document, (dict, list)) or not document:
        return value
    keys = sorted(document) if isinstance(document, dict) else list(range(len(document)))
    key = keys[path[0] % len(keys)]
    copy = dict(document) if isinstance(document, dict) else list(document)
    copy[key] = _replace_somewhere(document[key], path[1:], value)
    return copy


@FUZZ
@given(value=JSON)
def test_any_json_value_in_the_cache_is_not_a_manifest(tmp_path: Path, value):
    path = tmp_path / "users.json"
    path.write_text(json.dumps(value))
    assert read_cached_manifest(path) is None
    assert read_cached_manifest(path, "key") is None


@FUZZ
@given(header=JSON, body=JSON)
def test_two_json_documents_are_a_manifest_only_with_a_matching_checksum_and_this_format(
    tmp_path: Path, header, body
):
    path = tmp_path / "users.json"
    path.write_text(f"{json.dumps(header)}\n{json.dumps(body)}\n")
    assert read_cached_manifest(path) is None
    raw = json.dumps(body).encode()
    stamp = {"cache_key": "key", "sha256": hashlib.sha256(raw).hexdigest()}
    path.write_bytes(json.dumps(stamp).encode() + b"\n" + raw + b"\n")
    read = read_cached_manifest(path, "key")
    assert read is None or (isinstance(body, dict) and body.get("manifest_version") == 1 and read == body)


@FUZZ
@given(path_in=st.lists(st.integers(min_value=0, max_value=50), max_size=6), value=JSON)
def test_an_entry_edited_anywhere_is_stale(tmp_path: Path, path_in: list[int], value):
    path = tmp_path / "royalties.json"
    write_cached_manifest(path, MANIFEST, "key")
    assert read_cached_manifest(path, "key") == MANIFEST
    header, _ = path.read_text().split("\n", 1)
    edited = json.dumps(_replace_somewhere(MANIFEST, path_in, value), sort_keys=True)
    path.write_text(f"{header}\n{edited}\n")
    unchanged = edited == json.dumps(MANIFEST, sort_keys=True)  # by text: 1, 1.0 and true are equal in Python
    assert read_cached_manifest(path, "key") == (MANIFEST if unchanged else None)


@FUZZ
@given(cut=st.integers(min_value=0))
def test_a_truncated_entry_is_stale(tmp_path: Path, cut: int):
    path = tmp_path / "royalties.json"
    write_cached_manifest(path, MANIFEST, "key")
    whole = path.read_bytes()
    path.write_bytes(whole[: cut % (len(whole) - 1)])  # at least one byte before the final newline is lost
    assert read_cached_manifest(path, "key") is None


def _overwrite(text: str) -> Callable[[Path], None]:
    return lambda path: path.write_text(text)


def _edit_body(change: Callable[[dict], None]) -> Callable[[Path], None]:
    """Edit the cached manifest in place, keeping its header: the entry is damaged, not stale by key."""

    def damage(path: Path) -> None:
        header, body = path.read_text().split("\n", 1)
        manifest = json.loads(body)
        change(manifest)
        path.write_text(f"{header}\n{json.dumps(manifest, sort_keys=True)}\n")

    return damage


def _directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


DAMAGE = {
    "a list": _overwrite("[]\n"),
    "a JSON string": _overwrite('"users"\n'),
    "not JSON": _overwrite("{\"cache_key\": \n"),
    "the old single-document format": _overwrite(json.dumps({"manifest_version": 1, "ports": [], "cache_key": "x"})),
    "ports null": _edit_body(lambda manifest: manifest.update(ports=None)),
    "a port without contract": _edit_body(lambda manifest: manifest["ports"][0].pop("contract")),
    "a directory": _directory,
}


@pytest.fixture(scope="module")
def cached_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A MESH_HOME whose cache holds the example mesh's three manifests."""
    home = tmp_path_factory.mktemp("cached") / "mesh"
    result = mesh("validate", cwd=REPO, env={"MESH_HOME": str(home)})
    assert result.code == 0, result.stdout + result.stderr
    return home


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_mesh_validate_reloads_a_damaged_entry_and_ignores_stray_files(cached_home: Path, tmp_path: Path, damage: str):
    home = tmp_path / "mesh"
    shutil.copytree(cached_home, home)
    cache = manifests_dir(home)
    untouched = {name: (cache / name).stat().st_mtime_ns for name in ("podcasts.json", "artists.json")}
    DAMAGE[damage](cache / "users.json")
    (cache / "stray.json").write_text("[]\n")

    result = mesh("validate", cwd=REPO, env={"MESH_HOME": str(home)})

    assert (result.code, result.stderr) == (0, ""), result.stdout + result.stderr
    assert "5 ports in 3 locations: 0 error(s)" in result.stdout
    if damage != "a directory":  # which the cache cannot replace: it loads users every time instead
        assert read_cached_manifest(cache / "users.json")["location"] == "users", "reloaded and cached again"
    assert sorted(path.name for path in cache.iterdir()) == [
        "artists.json", "podcasts.json", "stray.json", "users.json"
    ], "no temporary file is left behind"
    assert {name: (cache / name).stat().st_mtime_ns for name in untouched} == untouched, "intact entries are kept"
    assert (cache / "stray.json").read_text() == "[]\n"


def test_a_cache_folder_that_cannot_be_written_is_skipped(tmp_path: Path):
    home = tmp_path / "mesh"
    home.mkdir()
    manifests_dir(home).write_text("not a folder")
    result = mesh("validate", cwd=REPO, env={"MESH_HOME": str(home)})
    assert (result.code, result.stderr) == (0, ""), result.stdout + result.stderr
    assert "5 ports in 3 locations" in result.stdout


def test_bulk_loaded_manifests_are_left_out_of_later_collections_and_earlier_garbage_is_still_collected():
    """``paused_gc`` freezes what it loaded (no later collection rescans it) after collecting older garbage."""
    import gc
    import weakref

    from mesh_core.mesh.manifests import paused_gc

    class Node:
        pass

    earlier = Node()
    earlier.me = earlier  # a reference cycle: only the cyclic collector frees it
    freed = weakref.ref(earlier)
    del earlier
    with paused_gc():
        loaded = json.loads(json.dumps(MANIFEST))
    assert gc.isenabled()
    assert freed() is None, "garbage made before the block must be collected, not frozen"
    scanned = {id(obj) for obj in gc.get_objects()}  # what collections still scan (not the frozen)
    assert id(loaded) not in scanned and id(loaded["ports"][0]) not in scanned
    assert loaded == MANIFEST
