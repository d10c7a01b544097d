"""What every dataset loader shares: the :class:`Dataset` record, the registry and the split.

A loader reads images as ``(N, C, H, W)`` arrays plus integer labels, then calls
:func:`split_dataset` (when the format has no train/test split of its own) and
:func:`make_dataset`, which normalises every channel to mean 0, std 1 over the train set.

>>> import numpy as np
>>> x = np.arange(40, dtype=np.float32).reshape(20, 1, 2, 1)
>>> y = np.repeat(np.arange(2), 10)
>>> xtr, ytr, xte, yte = split_dataset("toy", x, y, seed=0, test_fraction=0.2)
>>> len(ytr), len(yte), sorted(np.bincount(yte).tolist())
(16, 4, [2, 2])
>>> ds = make_dataset("toy", xtr, ytr, xte, yte, ("a", "b"))
>>> ds.input_shape, ds.num_classes, round(float(ds.x_train.mean()), 6)
((1, 2, 1), 2, 0.0)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from stridescope.errors import StridescopeError
from stridescope.registry import Registry

__all__ = [
    "DATASETS",
    "Dataset",
    "LoadOptions",
    "forbid_path",
    "make_dataset",
    "require_path",
    "split_dataset",
]

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images and labels, split into train and test, normalised per channel on the train set.

    ``x_*`` are ``(N, C, H, W)`` float32; ``y_*`` are ``(N,)`` int64 class indices into
    ``class_names``.
    """

    name: str
    x_train: FloatArray  # (N, C, H, W)
    y_train: IntArray  # (N,)
    x_test: FloatArray  # (M, C, H, W)
    y_test: IntArray  # (M,)
    num_classes: int
    class_names: tuple[str, ...]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        _, c, h, w = self.x_train.shape
        return (int(c), int(h), int(w))

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready description (sizes and names, not the pixels)."""
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "train_size": len(self.y_train),
            "test_size": len(self.y_test),
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
        }


@dataclass(frozen=True)
class LoadOptions:
    """What :func:`stridescope.study.data.load_dataset` passes to every loader."""

    name: str
    path: Path | None
    seed: int
    test_fraction: float
    cache_dir: Path | None
    image_size: tuple[int, int] | None


Loader = Callable[[LoadOptions], Dataset]

DATASETS: Registry[Dataset] = Registry("dataset")


def require_path(options: LoadOptions, expected: str) -> Path:
    """The dataset's path, which must exist; ``expected`` says what it should hold."""
    if options.path is None:
        raise StridescopeError(
            f"dataset {options.name!r} is read from disk: give its path (expected {expected})"
        )
    path = Path(options.path).expanduser()
    if not path.exists():
        raise StridescopeError(
            f"dataset {options.name!r}: path {str(path)!r} does not exist (expected {expected})"
        )
    if not path.is_dir():
        raise StridescopeError(
            f"dataset {options.name!r}: path {str(path)!r} is not a folder (expected {expected})"
        )
    return path


def forbid_path(options: LoadOptions) -> None:
    """Bundled datasets take no path: say so instead of silently ignoring it."""
    if options.path is not None:
        raise StridescopeError(
            f"dataset {options.name!r} ships with the installed packages and takes no path; "
            f"got path {str(options.path)!r}"
        )


def split_dataset(
    name: str,
    x: npt.NDArray[np.generic],
    y: npt.NDArray[np.integer],
    *,
    seed: int,
    test_fraction: float,
) -> tuple[npt.NDArray[np.generic], IntArray, npt.NDArray[np.generic], IntArray]:
    """Shuffle with ``seed`` and split stratified by class: every class keeps its share."""
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise StridescopeError(
            f"test_fraction must lie strictly between 0 and 1; got {test_fraction}"
        )
    labels = np.asarray(y, dtype=np.int64)
    index = np.arange(len(labels))
    try:
        train_idx, test_idx = train_test_split(
            index, test_size=test_fraction, random_state=seed, shuffle=True, stratify=labels
        )
    except ValueError as error:
        counts = np.bincount(labels).tolist()
        raise StridescopeError(
            f"dataset {name!r}: cannot split {len(labels)} images (per class {counts}) with "
            f"test_fraction {test_fraction} stratified by class: {error}"
        ) from None
    return x[train_idx], labels[train_idx], x[test_idx], labels[test_idx]


def make_dataset(
    name: str,
    x_train: npt.NDArray[np.generic],
    y_train: npt.NDArray[np.integer],
    x_test: npt.NDArray[np.generic],
    y_test: npt.NDArray[np.integer],
    class_names: tuple[str, ...],
) -> Dataset:
    """Convert to float32, normalise each channel with the train set's mean and std."""
    if x_train.ndim != 4 or x_test.ndim != 4 or x_train.shape[1:] != x_test.shape[1:]:
        raise StridescopeError(
            f"dataset {name!r}: images must be (N, C, H, W) with equal train and test shapes; "
            f"got {x_train.shape} and {x_test.shape}"
        )
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise StridescopeError(
            f"dataset {name!r}: {len(x_train)} train images but {len(y_train)} labels, "
            f"{len(x_test)} test images but {len(y_test)} labels"
        )
    train = np.asarray(x_train, dtype=np.float32)
    test = np.asarray(x_test, dtype=np.float32)
    mean = train.mean(axis=(0, 2, 3), keepdims=True, dtype=np.float64)
    std = train.std(axis=(0, 2, 3), keepdims=True, dtype=np.float64)
    std = np.where(std > 0, std, 1.0)  # a constant channel stays constant (0), not NaN
    train = ((train - mean) / std).astype(np.float32)
    test = ((test - mean) / std).astype(np.float32)
    ytr = np.asarray(y_train, dtype=np.int64)
    yte = np.asarray(y_test, dtype=np.int64)
    num_classes = len(class_names)
    for part, labels in (("train", ytr), ("test", yte)):
        if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
            raise StridescopeError(
                f"dataset {name!r}: {part} labels range {int(labels.min())}..{int(labels.max())} "
                f"but there are {num_classes} classes"
            )
    return Dataset(name, train, ytr, test, yte, num_classes, tuple(class_names))
