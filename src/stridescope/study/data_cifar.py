"""CIFAR-10 and CIFAR-100 from their "python version" folders of pickled batches.

- CIFAR-10 (``cifar-10-batches-py``): ``data_batch_1`` .. ``data_batch_5``, ``test_batch`` and
  ``batches.meta`` (``label_names``).
- CIFAR-100 (``cifar-100-python``): ``train``, ``test`` and ``meta`` (``fine_label_names``);
  the 100 fine labels are used.

Each batch is a dict with ``b"data"`` (N, 3072) uint8 (R, G, B planes of 32x32) and the labels.
Pickles can run code, so they are read with an unpickler that only admits the few numpy names a
CIFAR batch needs; anything else is refused.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from stridescope.errors import StridescopeError
from stridescope.study.data_base import DATASETS, Dataset, LoadOptions, make_dataset, require_path

__all__ = ["read_batch"]

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}")
        return super().find_class(module, name)


def read_batch(path: Path) -> dict[bytes, Any]:
    """Unpickle one batch file (``encoding="bytes"``, keys are bytes)."""
    if not path.is_file():
        raise StridescopeError(f"{path}: missing CIFAR batch file")
    try:
        with path.open("rb") as handle:
            data = _BatchUnpickler(handle, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise StridescopeError(f"{path}: not a CIFAR python batch ({error})") from None
    if not isinstance(data, dict):
        raise StridescopeError(f"{path}: not a CIFAR python batch (a {type(data).__name__})")
    return data


def _images_labels(
    path: Path, label_key: bytes
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    batch = read_batch(path)
    if b"data" not in batch or label_key not in batch:
        raise StridescopeError(
            f"{path}: a CIFAR batch needs keys b'data' and {label_key!r}; got {sorted(batch)}"
        )
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[label_key], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise StridescopeError(
            f"{path}: expected data (N, 3072) and N labels; got {data.shape} and {labels.shape}"
        )
    return data.reshape(-1, 3, 32, 32), labels  # (N, 3, 32, 32)


def _names(path: Path, key: bytes) -> tuple[str, ...]:
    meta = read_batch(path)
    if key not in meta:
        raise StridescopeError(f"{path}: missing {key!r}; got keys {sorted(meta)}")
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in meta[key])


def _load(
    options: LoadOptions,
    train_files: tuple[str, ...],
    test_file: str,
    meta: tuple[str, bytes],
    label_key: bytes,
) -> Dataset:
    expected = f"a CIFAR python folder with {', '.join((*train_files, test_file, meta[0]))}"
    folder: Path = require_path(options, expected)
    missing = [n for n in (*train_files, test_file, meta[0]) if not (folder / n).is_file()]
    if missing:
        raise StridescopeError(f"{folder}: missing {', '.join(missing)} (expected {expected})")
    parts = [_images_labels(folder / n, label_key) for n in train_files]
    x_test, y_test = _images_labels(folder / test_file, label_key)
    return make_dataset(
        options.name,
        np.concatenate([x for x, _ in parts]),
        np.concatenate([y for _, y in parts]),
        x_test,
        y_test,
        _names(folder / meta[0], meta[1]),
    )


@DATASETS.register(
    "cifar10",
    doc="CIFAR-10 from its python-pickle folder (32x32 RGB, 10 classes; own train/test split).",
    reference="https://www.cs.toronto.edu/~kriz/cifar.html",
)
def load_cifar10(options: LoadOptions) -> Dataset:
    """Read ``data_batch_1..5`` and ``test_batch``; names from ``batches.meta``."""
    train = tuple(f"data_batch_{i}" for i in range(1, 6))
    return _load(options, train, "test_batch", ("batches.meta", b"label_names"), b"labels")


@DATASETS.register(
    "cifar100",
    doc="CIFAR-100 from its python-pickle folder (32x32 RGB, 100 fine classes; own split).",
    reference="https://www.cs.toronto.edu/~kriz/cifar.html",
)
def load_cifar100(options: LoadOptions) -> Dataset:
    """Read ``train`` and ``test`` with their fine labels; names from ``meta``."""
    return _load(options, ("train",), "test", ("meta", b"fine_label_names"), b"fine_labels")
