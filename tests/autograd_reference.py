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


def autograd_share(model: torch.nn.Module, shape: tuple[int, ...]) -> float:
    """The share of a ``shape`` input's positions (over every spatial axis, all channels of
    each) with a non-zero gradient of ``model``'s summed output, its weights set to 0.1."""
    for p in model.parameters():
        torch.nn.init.constant_(p, 0.1)
    x = (torch.rand(shape) + 0.5).requires_grad_(True)
    model(x).sum().backward()
    assert x.grad is not None
    return float((x.grad.abs().sum(dim=(0, 1)) > 0).float().mean())


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


def field_checked(model: torch.nn.Module, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """``stridescope.summary`` of ``model`` (its weights set positive, so nothing cancels in
    the gradient) on ``shape``, checked against autograd: the coverage is autograd's, and the
    last layer's field, when known, is never smaller than the centre's gradient extent.
    Returns that field."""
    import stridescope

    for p in model.parameters():
        torch.nn.init.constant_(p, 0.1)
    summary = stridescope.summary(model, input_shape=shape)
    counts = autograd_counts(model, *shape[2:])
    assert summary.input_coverage is not None
    assert abs(summary.input_coverage - float(np.mean(counts > 0))) < 1e-9
    field = summary.layers[-1].rf_size
    if field is not None:
        reached = centre_extent(model, shape)
        assert all(r <= f for r, f in zip(reached, field, strict=True))  # never too small
    return field
