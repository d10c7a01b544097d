"""Shift-consistency of a classifier during a study (Zhang 2019, "Making convolutional networks
shift-invariant again"): the share of test images whose predicted class is the same under two
random shifts.

Protocol for small images (documented in docs/study.md): each image is shifted by two offsets
``(dy, dx)`` drawn uniformly from ``[-pad, pad]``; the rows and columns a shift uncovers take the
**background value** (per channel, the median of the outermost ring of pixels of the test set —
0 for raw MNIST, whatever that maps to after normalisation). The shift itself is
:func:`stridescope.analysis.consistency.translate` (what ``stridescope consistency`` uses, with
shifts in ``[0, K)``). The draw uses a numpy generator seeded from the run seed, so a run's
consistency is reproducible.

>>> import torch
>>> x = torch.zeros(3, 1, 6, 6); x[:, :, 2:4, 2:4] = 1.0
>>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(36, 2))
>>> shift_consistency(model, x, pad=2, seed=0) <= 1.0
True
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from stridescope.analysis.consistency import background_value, translate

__all__ = ["draw_offsets", "shift_consistency"]


def draw_offsets(images: int, pad: int, seed: int) -> torch.Tensor:
    """The two random offsets of each image: ``(2, images, 2)`` integers in ``[-pad, pad]``;
    offset ``(dy, dx)`` reads the window ``dy`` rows down and ``dx`` columns right, so the
    image content moves by ``(-dy, -dx)``.

    >>> draw_offsets(4, 2, seed=0).abs().max() <= 2
    tensor(True)
    """
    rng = np.random.default_rng([seed, 0x5C0])
    return torch.from_numpy(rng.integers(-pad, pad + 1, size=(2, images, 2)))


@torch.no_grad()
def _predict(model: nn.Module, x: torch.Tensor, batch: int) -> torch.Tensor:
    return torch.cat([model(x[i : i + batch]).argmax(1) for i in range(0, len(x), batch)])


def shift_consistency(
    model: nn.Module, x: torch.Tensor, *, pad: int = 4, seed: int = 0, batch: int = 256
) -> float:
    """Fraction of images in ``x`` whose two random shifts get the same predicted class."""
    offsets = draw_offsets(len(x), pad, seed)
    background = background_value(x)
    was_training = model.training
    model.eval()
    try:
        first = _predict(model, translate(x, -offsets[0], background), batch)
        second = _predict(model, translate(x, -offsets[1], background), batch)
    finally:
        model.train(was_training)
    return int((first == second).sum()) / len(x)
