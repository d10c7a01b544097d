"""Shared test set-up: Keras on the torch backend, one thread, a fixed Hypothesis profile,
lint's aliasing cache (DS401) in a temporary file shared by the whole session, and each test
helper module loaded once.

Helpers (the modules under ``tests/`` that are neither ``test_*.py`` nor ``conftest.py``) are
imported by their package path (``from tests.frontends.pytorch.applied import odd_op``) and
are not collected for doctests: the collector would import each again under its bare name, a
second module whose top level runs again. ``applied.py`` registers a custom operator there,
and registering it again destroys the first registration under the tests holding the first
module's operator (a dangling handle: ``std::bad_alloc``, ``basic_string::_M_create`` or a
segmentation fault, now and then, far from the cause)."""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("ci")


@pytest.fixture(scope="session", autouse=True)
def _aliasing_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """DS401 measures each layer configuration once per session (kept in memory, and on disk
    here rather than in the user's cache folder)."""
    path = tmp_path_factory.mktemp("lint-cache") / "aliasing.json"
    before = os.environ.get("STRIDESCOPE_ALIASING_CACHE")
    os.environ["STRIDESCOPE_ALIASING_CACHE"] = str(path)
    yield path
    if before is None:
        os.environ.pop("STRIDESCOPE_ALIASING_CACHE", None)
    else:
        os.environ["STRIDESCOPE_ALIASING_CACHE"] = before


TESTS = Path(__file__).resolve().parent


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Helper modules hold no tests: not imported for doctests (see the module's text)."""
    name = collection_path.name
    if collection_path.suffix == ".py" and not name.startswith("test_") and name != "conftest.py":
        return True
    return None


def loaded_twice(modules: dict[str, object], root: Path) -> dict[str, list[str]]:
    """Files under ``root`` loaded as more than one module, each with its module names.

    >>> import types
    >>> one, two = types.ModuleType("a"), types.ModuleType("tests.a")
    >>> one.__file__ = two.__file__ = "/r/a.py"
    >>> loaded_twice({"a": one, "tests.a": two, "b": types.ModuleType("b")}, Path("/r"))
    {'/r/a.py': ['a', 'tests.a']}
    """
    files: dict[str, list[str]] = defaultdict(list)
    for name, module in modules.items():
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and Path(file).is_relative_to(root):
            files[file].append(name)
    return {file: sorted(names) for file, names in files.items() if len(names) > 1}


@pytest.fixture(scope="session", autouse=True)
def _helpers_loaded_once() -> Iterator[None]:
    """After the session: no file under ``tests/`` was loaded as two modules."""
    yield
    twice = loaded_twice(dict(sys.modules), TESTS)
    assert not twice, f"test modules loaded twice (import them by one name): {twice}"
