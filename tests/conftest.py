"""Shared test set-up: Keras on the torch backend, one thread, a fixed Hypothesis profile, and
lint's aliasing cache (DS401) in a temporary file shared by the whole session."""

from __future__ import annotations

import os
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
