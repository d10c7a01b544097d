"""Images from a folder of class folders: ``root/<class name>/<image files>``.

Classes are the sub-folders in sorted order. Every image is read with ``skimage.io.imread`` and
resized to ``image_size`` (default: the first image's size). Channels follow the first image:
grey images stay grey (colour ones are converted), colour images stay RGB (grey ones are
repeated, alpha is dropped). The split is stratified by class with the seed.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import numpy.typing as npt

from stridescope.errors import StridescopeError
from stridescope.study.data_base import (
    DATASETS,
    Dataset,
    LoadOptions,
    make_dataset,
    require_path,
    split_dataset,
)

__all__ = ["IMAGE_SUFFIXES", "load_imagefolder"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")
_EXPECTED = f"a folder of class folders, each holding images ({', '.join(IMAGE_SUFFIXES)})"


def _class_files(root: Path) -> dict[str, list[Path]]:
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise StridescopeError(f"{root}: no class folders (expected {_EXPECTED})")
    files: dict[str, list[Path]] = {}
    for folder in classes:
        images = sorted(
            p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not images:
            raise StridescopeError(f"{folder}: empty class folder (expected {_EXPECTED})")
        files[folder.name] = images
    return files


def _read(path: Path) -> npt.NDArray[np.float32]:
    """One image as ``(H, W, C)`` float32 in 0..1."""
    import skimage.io
    from skimage.util import img_as_float32

    try:
        with warnings.catch_warnings():  # imageio warns while it tries plugins on odd files
            warnings.simplefilter("ignore", DeprecationWarning)
            image = skimage.io.imread(path)
    except (OSError, ValueError, SyntaxError) as error:
        raise StridescopeError(f"{path}: not a readable image ({error})") from None
    image = img_as_float32(image)  # type: ignore[no-untyped-call]
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4):
        raise StridescopeError(f"{path}: expected a grey or colour image; got shape {image.shape}")
    if image.shape[2] in (2, 4):  # drop alpha
        image = image[:, :, :-1]
    return np.asarray(image, dtype=np.float32)


def _conform(
    image: npt.NDArray[np.float32], size: tuple[int, int], channels: int
) -> npt.NDArray[np.float32]:
    from skimage.transform import resize

    if image.shape[2] != channels:
        image = image.mean(axis=2, keepdims=True) if channels == 1 else np.repeat(image, 3, axis=2)
    if image.shape[:2] != size:
        image = resize(  # type: ignore[no-untyped-call]
            image, (*size, channels), anti_aliasing=True, preserve_range=True
        )
    return np.asarray(image, dtype=np.float32)


@DATASETS.register(
    "imagefolder",
    doc="Images from root/<class>/<files>, resized to one size, split stratified by class.",
)
def load_imagefolder(options: LoadOptions) -> Dataset:
    """Read, conform size and channels, split stratified, normalise."""
    root = require_path(options, _EXPECTED)
    files = _class_files(root)
    first = _read(next(iter(files.values()))[0])
    size = options.image_size or (int(first.shape[0]), int(first.shape[1]))
    if min(size) < 1:
        raise StridescopeError(f"image_size must be positive (height, width); got {size}")
    channels = int(first.shape[2])
    images: list[npt.NDArray[np.float32]] = []
    labels: list[int] = []
    for label, paths in enumerate(files.values()):
        for path in paths:
            images.append(_conform(_read(path), size, channels))
            labels.append(label)
    x = np.stack(images).transpose(0, 3, 1, 2)  # (N, C, H, W)
    y = np.asarray(labels, dtype=np.int64)
    xtr, ytr, xte, yte = split_dataset(
        options.name, x, y, seed=options.seed, test_fraction=options.test_fraction
    )
    return make_dataset(options.name, xtr, ytr, xte, yte, tuple(files))
