"""The reference every coverage test compares with: for each output position of a forward
pass, the input pixels with a non-zero gradient (positive inputs; callers use positive or
all-ones weights, so nothing cancels). Importable because tests/ holds the root conftest."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


def autograd_counts(forward: Callable[[torch.Tensor], torch.Tensor], h: int, w: int) -> np.ndarray:
    """Per pixel of a ``(1, 1, h, w)`` input, how many output positions (all channels of
    each summed) have a non-zero gradient for it."""
    x = (torch.rand(1, 1, h, w) + 0.5).requires_grad_(True)
    y = forward(x).sum(dim=1)  # (1, H', W'): all channels of each output position
    counts = np.zeros((h, w), dtype=np.int64)
    for index in np.ndindex(*y.shape[1:]):
        (grad,) = torch.autograd.grad(y[(0, *index)], x, retain_graph=True)
        counts += (grad[0, 0] != 0).numpy()
    return counts
