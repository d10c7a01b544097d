"""Shared test set-up: Keras on the torch backend, one thread, a fixed Hypothesis profile,
lint's aliasing cache (DS401) in a temporary file shared by the whole session, and each test
helper module loaded once.

Helpers (the modules under ``tests/`` that are neither ``test_*.py`` nor ``conftest.py``) are
imported by their package path (``from tests.frontends.pytorch.applied import odd_op``), and
neither they nor the conftest files are collected for doctests (``tests/`` holds none): the
collector would import each again under its bare name, a second module whose top level runs
again. ``applied.py`` registers a custom operator there,
and registering it again destroys the first registration under the tests holding the first
module's operator (a dangling handle: ``std::bad_alloc``, ``basic_string::_M_create`` or a
segmentation fault, now and then, far from the cause)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest
from hypothesis import settings

from tests.module_checks import loaded_twice

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
    """Helper modules and conftest files hold no tests: not imported for doctests (see the
    module's text; each conftest file is already loaded, as the module ``conftest``, and a
    second one collected there clashed with it)."""
    if collection_path.suffix == ".py" and not collection_path.name.startswith("test_"):
        return True
    return None


@pytest.fixture(scope="session", autouse=True)
def _helpers_loaded_once() -> Iterator[None]:
    """After the session: no file under ``tests/`` was loaded as two modules."""
    yield
    twice = loaded_twice(dict(sys.modules), TESTS)
    assert not twice, f"test modules loaded twice (import them by one name): {twice}"
