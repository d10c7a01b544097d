"""The session check that each file under ``tests/`` is loaded as one module."""

from __future__ import annotations

import types
from pathlib import Path

from tests.module_checks import loaded_twice


def test_a_file_loaded_under_two_names_is_found() -> None:
    one, two = types.ModuleType("a"), types.ModuleType("tests.a")
    one.__file__ = two.__file__ = "/r/a.py"
    elsewhere = types.ModuleType("c")
    elsewhere.__file__ = "/other/c.py"
    modules = {"a": one, "tests.a": two, "b": types.ModuleType("b"), "c": elsewhere}
    assert loaded_twice(modules, Path("/r")) == {"/r/a.py": ["a", "tests.a"]}
    assert loaded_twice({"a": one, "c": elsewhere}, Path("/r")) == {}
