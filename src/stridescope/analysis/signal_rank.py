"""Recoverable information: the rank of the operator's Jacobian over the input dimension.

For a linear operator (every one here except max pooling and APS) the Jacobian is the
operator itself, so ``rank / (C * H * W)`` is exactly the share of the input that can be
reconstructed from the output. For max pooling and APS it is the rank at the given point.
A 1x1 stride-2 conv reads one pixel in four: at most 1/4 (on a signal, one sample in two: at
most 1/2); space-to-depth + 1x1 with ``C_out >= 4 C_in`` (a fold: ``2 C_in``) keeps
everything: 1.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.func import functional_call, jacfwd

from stridescope.analysis.signal import quiet_forward_ad

__all__ = ["jacobian_size", "recoverable_fraction"]

_MAX_INPUTS = 1024


def jacobian_size(in_channels: int, size: int = 8, min_size: int = 1, rank: int = 2) -> int:
    """Spatial side used for the Jacobian: ``size``, shrunk (keeping it even) until
    ``C * side^rank <= 1024`` so the rank stays cheap.

    >>> jacobian_size(3), jacobian_size(64), jacobian_size(1024), jacobian_size(512, 16, rank=1)
    (8, 4, 2, 2)
    """
    side = size
    while side > 2 and in_channels * side**rank > _MAX_INPUTS:
        side -= 2
    return max(side, min_size)


def recoverable_fraction(
    op: nn.Module, in_channels: int, size: int = 8, seed: int = 0, rank: int = 2
) -> float:
    """``rank(J) / input dimension`` on one random ``(1, C, s, s)`` input (``(1, C, s)`` for
    ``rank=1``), in float64.

    >>> from stridescope.ops import create_op
    >>> recoverable_fraction(create_op("conv1x1_s2", 3, 16), 3)
    0.25
    >>> recoverable_fraction(create_op("conv1x1_s2", 3, 16, rank=1), 3, size=16, rank=1)
    0.5
    """
    side = jacobian_size(in_channels, size, int(getattr(op, "min_size", 1)), rank)
    generator = torch.Generator().manual_seed(seed)
    shape = (1, in_channels, *(side,) * rank)
    x = torch.randn(*shape, generator=generator, dtype=torch.float64)
    op64 = copy.deepcopy(op).to(device="cpu", dtype=torch.float64).eval()
    params = {k: v.detach() for k, v in op64.named_parameters()}
    buffers = dict(op64.named_buffers())

    def apply(inp: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = functional_call(op64, (params, buffers), (inp,))
        return out

    # forward mode: one batched pass over the input basis (much faster than reverse mode)
    with quiet_forward_ad():
        jac = jacfwd(apply)(x)  # (out..., in...)
    matrix = jac.reshape(-1, x.numel())
    return int(torch.linalg.matrix_rank(matrix)) / x.numel()
