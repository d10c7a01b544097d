"""MNIST and Fashion-MNIST from the four standard IDX files in a folder (``.gz`` or not).

The IDX format: 2 zero bytes, a type code, the number of dimensions, then each dimension as a
big-endian 32-bit integer, then the values (big-endian) in C order.

>>> import numpy as np
>>> blob = bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(6))
>>> parse_idx(blob, "example").tolist()
[[0, 1, 2], [3, 4, 5]]
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import numpy.typing as npt

from stridescope.errors import StridescopeError
from stridescope.study.data_base import DATASETS, Dataset, LoadOptions, make_dataset, require_path

__all__ = ["IDX_FILES", "parse_idx", "read_idx"]

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_EXPECTED = "the four IDX files " + ", ".join(f"{n}[.gz]" for n in IDX_FILES.values())

# type code -> big-endian numpy dtype
_IDX_TYPES: dict[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}

FASHION_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def parse_idx(blob: bytes, source: str) -> npt.NDArray[np.generic]:
    """Decode one IDX file's bytes; ``source`` names the file in error messages."""
    if len(blob) < 4 or blob[0] != 0 or blob[1] != 0 or blob[2] not in _IDX_TYPES:
        raise StridescopeError(
            f"{source}: bad IDX magic number {blob[:4].hex() or '(empty file)'}; expected "
            f"00 00 <type code in {sorted(_IDX_TYPES)}> <number of dimensions>"
        )
    ndim = blob[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(blob) < header:
        raise StridescopeError(f"{source}: IDX header cut short ({len(blob)} bytes, {ndim} dims)")
    dims = tuple(int(d) for d in np.frombuffer(blob, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[blob[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(blob) - header != expected:
        raise StridescopeError(
            f"{source}: IDX header says shape {dims} of {dtype.name} ({expected} bytes) but the "
            f"file holds {len(blob) - header} bytes of data"
        )
    values = np.frombuffer(blob, dtype=dtype, offset=header).reshape(dims)
    return values.astype(dtype.newbyteorder("="))


def read_idx(folder: Path, stem: str) -> npt.NDArray[np.generic]:
    """Read ``folder/stem`` or ``folder/stem.gz``, whichever exists."""
    plain, packed = folder / stem, folder / f"{stem}.gz"
    if packed.is_file():
        try:
            blob = gzip.decompress(packed.read_bytes())
        except (OSError, EOFError) as error:
            raise StridescopeError(f"{packed}: not a readable gzip file ({error})") from None
        return parse_idx(blob, str(packed))
    if plain.is_file():
        return parse_idx(plain.read_bytes(), str(plain))
    raise StridescopeError(f"{folder}: missing {stem} or {stem}.gz (expected {_EXPECTED})")


def _load_idx_folder(options: LoadOptions, class_names: tuple[str, ...]) -> Dataset:
    folder = require_path(options, _EXPECTED)
    arrays = {key: read_idx(folder, stem) for key, stem in IDX_FILES.items()}
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise StridescopeError(
                f"{folder}: {part} images must be (N, H, W) and labels (N,); got "
                f"{images.shape} and {labels.shape}"
            )
    return make_dataset(
        options.name,
        arrays["train_images"][:, None],  # (N, 1, H, W)
        arrays["train_labels"].astype(np.int64),
        arrays["test_images"][:, None],
        arrays["test_labels"].astype(np.int64),
        class_names,
    )


@DATASETS.register(
    "mnist-idx",
    doc="MNIST from a folder with the four IDX files (uses their own train/test split).",
    reference="http://yann.lecun.com/exdb/mnist/",
)
def load_mnist_idx(options: LoadOptions) -> Dataset:
    """Read the folder; the files' own train/test split is kept (seed and test_fraction unused)."""
    return _load_idx_folder(options, tuple(str(d) for d in range(10)))


@DATASETS.register(
    "fashion-mnist-idx",
    doc="Fashion-MNIST from a folder with the four IDX files (uses their own train/test split).",
    reference="https://github.com/zalandoresearch/fashion-mnist",
)
def load_fashion_mnist_idx(options: LoadOptions) -> Dataset:
    """Read the folder; the files' own train/test split is kept (seed and test_fraction unused)."""
    return _load_idx_folder(options, FASHION_NAMES)
