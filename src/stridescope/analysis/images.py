"""Real photographs that ship inside scikit-image and scikit-learn (no downloads, ever).

Each image is converted to a float tensor in [0, 1] of the requested ``(C, H, W)``: centre
crop to the target aspect ratio, then area-weighted resize (bilinear with antialiasing).
Grey images are replicated to every channel; for ``C != 3`` channel ``c`` is RGB channel
``c mod 3`` (C = 1 takes the mean of R, G and B instead).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from stridescope.errors import StridescopeError

__all__ = ["IMAGE_NAMES", "load_images"]

#: Bundled images, in the order :func:`load_images` takes them.
IMAGE_NAMES = ("astronaut", "camera", "coffee", "chelsea", "china", "flower", "rocket", "coins")


def _skimage(name: str) -> Callable[[], npt.NDArray[np.generic]]:
    def load() -> npt.NDArray[np.generic]:
        import skimage.data

        return np.asarray(getattr(skimage.data, name)())

    return load


def _sklearn(index: int) -> Callable[[], npt.NDArray[np.generic]]:
    def load() -> npt.NDArray[np.generic]:
        from sklearn.datasets import load_sample_images

        return np.asarray(load_sample_images().images[index])

    return load


_LOADERS = {
    "astronaut": _skimage("astronaut"),
    "camera": _skimage("camera"),
    "coffee": _skimage("coffee"),
    "chelsea": _skimage("chelsea"),
    "china": _sklearn(0),
    "flower": _sklearn(1),
    "rocket": _skimage("rocket"),
    "coins": _skimage("coins"),
}


@functools.lru_cache(maxsize=len(IMAGE_NAMES))
def _rgb(name: str) -> torch.Tensor:
    """(3, H, W) float32 in [0, 1]."""
    array = _LOADERS[name]()
    image = torch.from_numpy(array.astype(np.float32) / 255.0)
    if image.dim() == 2:
        image = image.unsqueeze(-1).expand(-1, -1, 3)
    return image[..., :3].permute(2, 0, 1).contiguous()


def _fit(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    _, h, w = image.shape
    if h * width > w * height:  # too tall: crop rows
        keep = max(1, round(w * height / width))
        top = (h - keep) // 2
        image = image[:, top : top + keep]
    else:
        keep = max(1, round(h * width / height))
        left = (w - keep) // 2
        image = image[:, :, left : left + keep]
    resized = F.interpolate(
        image.unsqueeze(0),
        size=(height, width),
        mode="bilinear",
        antialias=True,
        align_corners=False,
    )
    return resized[0].clamp(0.0, 1.0)


def load_images(shape: tuple[int, int, int], count: int = 4) -> torch.Tensor:
    """``count`` bundled photos as a ``(count, C, H, W)`` float32 tensor in [0, 1].

    >>> load_images((3, 16, 24), count=2).shape
    torch.Size([2, 3, 16, 24])
    """
    channels, height, width = shape
    if not 1 <= count <= len(IMAGE_NAMES):
        raise StridescopeError(
            f"image count must be between 1 and {len(IMAGE_NAMES)}; received {count}"
        )
    if min(shape) < 1:
        raise StridescopeError(f"image shape must be positive (C, H, W); received {shape}")
    images = []
    for name in IMAGE_NAMES[:count]:
        rgb = _fit(_rgb(name), height, width)  # (3, H, W)
        if channels == 1:
            images.append(rgb.mean(dim=0, keepdim=True))
        else:
            images.append(rgb[[c % 3 for c in range(channels)]])
    return torch.stack(images)
