"""The reference every coverage test compares with: for each output position of a forward
pass, the input positions with a non-zero gradient (positive inputs; callers use positive or
all-ones weights, so nothing cancels). Any number of spatial axes: a signal (L), an image
(H, W) or a volume (D, H, W). Importable because tests/ holds the root conftest."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


def autograd_counts(forward: Callable[[torch.Tensor], torch.Tensor], *spatial: int) -> np.ndarray:
    """Per position of a ``(1, 1, *spatial)`` input, how many output positions (all channels
    of each summed) have a non-zero gradient for it: ``autograd_counts(f, h, w)`` for an
    image, ``autograd_counts(f, length)`` for a signal."""
    x = (torch.rand(1, 1, *spatial) + 0.5).requires_grad_(True)
    y = forward(x).sum(dim=1)  # (1, *out): all channels of each output position
    counts = np.zeros(spatial, dtype=np.int64)
    for index in np.ndindex(*y.shape[1:]):
        (grad,) = torch.autograd.grad(y[(0, *index)], x, retain_graph=True)
        counts += (grad[0, 0] != 0).numpy()
    return counts


def centre_extent(
    model: Callable[[torch.Tensor], torch.Tensor], shape: tuple[int, ...]
) -> tuple[int, ...]:
    """Per spatial axis, how many input positions the centre output position (all its
    channels) depends on: its receptive field's size, as the gradient says."""
    x = (torch.rand(shape) + 0.5).requires_grad_(True)
    y = model(x)
    centre = tuple(n // 2 for n in y.shape[2:])
    (grad,) = torch.autograd.grad(y[(0, slice(None), *centre)].sum(), x)
    where = torch.nonzero(grad[0].abs().sum(0))
    return tuple(int(c.max() - c.min()) + 1 for c in where.unbind(1))
