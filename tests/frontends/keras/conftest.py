"""The Keras frontend's tests: Keras imported once per module, on the torch backend."""

from __future__ import annotations

import os
from types import ModuleType

import pytest


@pytest.fixture(scope="module")
def keras() -> ModuleType:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    return keras
