"""A port function's source, for its code version, reads as inspect.getsource reads it."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import pytest

from mesh_core.metadata import function_source

SHAPES = '''
import functools


def decorate(fn):
    return fn


@decorate
@functools.lru_cache
def decorated(x):
    """Two decorators."""
    return x


def multiline_return(frame):
    return (
        frame
        + 1
    )


def nested(frame):
    def inner(value):
        return value * 2
    return inner(frame)


def ends_in_nested(frame):
    def inner(value):
        return (
            value
        )


def ends_in_string():
    """Docstring."""
    return """a
    multi-line
    string"""


def one_line(x): return x


class Holder:
    def method(self, frame):
        if frame:
            return frame
        return None
'''


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> object:
    path = Path(tmp_path_factory.mktemp("shapes")) / "shapes.py"
    path.write_text(SHAPES)
    spec = importlib.util.spec_from_file_location("shapes_for_source", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "name", ["decorated", "multiline_return", "nested", "ends_in_nested", "ends_in_string", "one_line", "Holder.method"]
)
def test_function_source_matches_inspect(shapes, name: str):
    fn = shapes
    for part in name.split("."):
        fn = getattr(fn, part)
    fn = inspect.unwrap(fn)
    assert function_source(fn) == inspect.getsource(fn)


def test_a_function_without_a_source_file_uses_its_compiled_code():
    namespace: dict = {}
    exec(compile("def made():\n    return 1\n", "<generated>", "exec"), namespace)
    first = function_source(namespace["made"])
    exec(compile("def made():\n    return 2\n", "<generated>", "exec"), namespace)
    assert first != function_source(namespace["made"])
