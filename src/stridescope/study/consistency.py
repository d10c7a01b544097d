"""Shift-consistency of a classifier (Zhang 2019, "Making convolutional networks shift-invariant
again"): the share of test images whose predicted class is the same under two random shifts.

Protocol for small images (documented in docs/study.md): each image is padded by ``pad`` pixels
on every side with the **background value** (per channel, the median of the outermost ring of
pixels of the test set — 0 for raw MNIST, whatever that maps to after normalisation); two offsets
``(dy, dx)`` are drawn uniformly from ``[-pad, pad]`` for each image; each shifted copy is the
original-size window of the padded image at that offset. The draw uses a numpy generator seeded
from the run seed, so a run's consistency is reproducible.

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

__all__ = ["background_value", "shift_consistency", "shifted"]


def background_value(x: torch.Tensor) -> torch.Tensor:
    """Per-channel median of the border pixels of ``x`` (N, C, H, W) -> (C,)."""
    border = torch.cat(
        [x[:, :, 0, :], x[:, :, -1, :], x[:, :, :, 0], x[:, :, :, -1]], dim=2
    )  # (N, C, 2W + 2H)
    return border.transpose(0, 1).reshape(x.shape[1], -1).median(dim=1).values


def shifted(
    x: torch.Tensor, offsets: torch.Tensor, pad: int, background: torch.Tensor
) -> torch.Tensor:
    """Shift each image of ``x`` (N, C, H, W) by its ``offsets[i] = (dy, dx)``, |d| <= pad,
    filling the uncovered border with ``background`` (C,).

    >>> x = torch.arange(9.0).reshape(1, 1, 3, 3)
    >>> shifted(x, torch.tensor([[1, 0]]), 1, torch.zeros(1))[0, 0].tolist()
    [[3.0, 4.0, 5.0], [6.0, 7.0, 8.0], [0.0, 0.0, 0.0]]
    """
    n, c, h, w = x.shape
    padded = background.view(1, c, 1, 1).expand(n, c, h + 2 * pad, w + 2 * pad).clone()
    padded[:, :, pad : pad + h, pad : pad + w] = x  # (N, C, H + 2P, W + 2P)
    rows = (offsets[:, 0] + pad).view(n, 1) + torch.arange(h, device=x.device).view(1, h)  # (N, H)
    cols = (offsets[:, 1] + pad).view(n, 1) + torch.arange(w, device=x.device).view(1, w)  # (N, W)
    index_n = torch.arange(n, device=x.device).view(n, 1, 1)
    out = padded.permute(0, 2, 3, 1)[index_n, rows.view(n, h, 1), cols.view(n, 1, w)]
    return out.permute(0, 3, 1, 2).contiguous()  # (N, C, H, W)


@torch.no_grad()
def _predict(model: nn.Module, x: torch.Tensor, batch: int) -> torch.Tensor:
    return torch.cat([model(x[i : i + batch]).argmax(1) for i in range(0, len(x), batch)])


def shift_consistency(
    model: nn.Module, x: torch.Tensor, *, pad: int = 4, seed: int = 0, batch: int = 256
) -> float:
    """Fraction of images in ``x`` whose two random shifts get the same predicted class."""
    rng = np.random.default_rng([seed, 0x5C0])
    offsets = torch.from_numpy(rng.integers(-pad, pad + 1, size=(2, len(x), 2))).to(x.device)
    background = background_value(x)
    was_training = model.training
    model.eval()
    try:
        first = _predict(model, shifted(x, offsets[0], pad, background), batch)
        second = _predict(model, shifted(x, offsets[1], pad, background), batch)
    finally:
        model.train(was_training)
    return int((first == second).sum()) / len(x)
