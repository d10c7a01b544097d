"""Shift-equivariance of a stride-2 operator ``D``, on real images or signals (any rank).

With ``D0(x) = D(x) - D(0)`` (bias removed), an ideal stride-2 operator maps an input shift
of 2 positions to an output shift of 1. Three numbers, each relative to ``||D0(x)||``:

- ``circular``: ``||D0(roll_2(x)) - roll_1(D0(x))||`` with circular shifts by 2 on every
  spatial axis: only the operator's border handling (padding) can make it non-zero.
- ``crop``: a real shift. Two crops of a photo ``(H + 2) x (W + 2)`` (a signal ``L + 2``)
  two positions apart, ``a = x[:H, :W]``, ``b = x[2:, 2:]``; compare ``D0(b)[:-1, :-1]`` with
  ``D0(a)[1:, 1:]``: new content enters at the border.
- ``one_position``: a circular shift by one position on every axis (one pixel diagonally, one
  sample), which no output shift can match exactly; ``min over s in {0, 1}^rank of
  ||D0(roll_1(x)) - roll_s(D0(x))||`` per image. 0 only for an operator that is invariant to
  the phase of the input (APS); large for a bare stride.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import torch
from torch import nn

from stridescope.analysis.signal import centered

__all__ = ["ShiftErrors", "shift_errors"]


@dataclass(frozen=True)
class ShiftErrors:
    """Relative output errors under input shifts (see the module docstring)."""

    circular: float
    crop: float
    one_position: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _d0(op: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        out: torch.Tensor = op(x) - op(torch.zeros_like(x[:1]))
    return out.double()


def _rel(diff: torch.Tensor, ref: torch.Tensor) -> float:
    norm = float(ref.norm())
    return 0.0 if norm == 0.0 else float(diff.norm()) / norm


def _crop(x: torch.Tensor, start: int | None, stop: int | None) -> torch.Tensor:
    """``x[..., start:stop]`` on every spatial axis."""
    return x[(slice(None), slice(None), *(slice(start, stop),) * (x.dim() - 2))]


def shift_errors(op: nn.Module, padded_images: torch.Tensor) -> ShiftErrors:
    """Shift errors of ``op`` on ``(N, C, H + 2, W + 2)`` photographs (H, W of the study), or
    ``(N, C, L + 2)`` signals.

    >>> from stridescope.ops import create_op
    >>> x = torch.randn(2, 3, 18, 18)
    >>> errors = shift_errors(create_op("conv1x1_s2", 3, 8), x)
    >>> errors.circular < 1e-6, errors.one_position > 0.5
    (True, True)
    >>> shift_errors(create_op("aps_conv1x1", 3, 8, rank=1), torch.randn(2, 3, 34)).one_position
    0.0
    """
    images = centered(padded_images)
    dims = tuple(range(2, images.dim()))
    rank = len(dims)
    x = _crop(images, None, -2)  # (N, C, H, W)
    base = _d0(op, x)
    rolled = _d0(op, torch.roll(x, (2,) * rank, dims=dims))
    circular = _rel(rolled - torch.roll(base, (1,) * rank, dims=dims), base)
    moved = _d0(op, _crop(images, 2, None))
    crop = _rel(_crop(moved, None, -1) - _crop(base, 1, None), _crop(base, 1, None))
    one = _d0(op, torch.roll(x, (1,) * rank, dims=dims))
    candidates = torch.stack(
        [
            (one - torch.roll(base, shift, dims=dims)).square().flatten(1).sum(dim=1)
            for shift in itertools.product((0, 1), repeat=rank)
        ]
    )  # (2**rank, N): squared error per output shift and image; each image takes its best
    total = float(base.square().sum())
    one_position = (
        0.0 if total == 0.0 else (float(candidates.min(dim=0).values.sum()) / total) ** 0.5
    )
    return ShiftErrors(circular, crop, one_position)
