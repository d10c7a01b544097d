"""Shared by the operators: input checks (one-line errors naming what was received), the
IR of their closing 1x1 conv, and the per-rank torch pieces (every operator runs on signals
``(N, C, L)``, images ``(N, C, H, W)`` and volumes ``(N, C, D, H, W)``)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from stridescope.errors import StridescopeError
from stridescope.ir import GraphBuilder

__all__ = [
    "CONVS",
    "CONV_FUNCTIONS",
    "RANKS",
    "check_input",
    "check_rank",
    "check_spatial",
    "every_other",
    "ir_spatial",
    "pointwise_ir",
]

RANKS = (1, 2, 3)
_AXES = {1: "L", 2: "H and W", 3: "D, H and W"}
#: ``nn.Conv1d`` / ``nn.Conv2d`` / ``nn.Conv3d`` and their functional forms, by rank
CONVS: dict[int, type[nn.Conv1d | nn.Conv2d | nn.Conv3d]] = {
    1: nn.Conv1d,
    2: nn.Conv2d,
    3: nn.Conv3d,
}
CONV_FUNCTIONS: dict[int, Callable[..., torch.Tensor]] = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def check_rank(rank: object) -> int:
    """``rank`` if it is 1, 2 or 3 (spatial axes); a one-line error otherwise.

    >>> check_rank(1)
    1
    >>> check_rank(4)
    Traceback (most recent call last):
    ...
    stridescope.errors.StridescopeError: rank must be 1 (signals), 2 (images) or 3 (volumes); received 4
    """
    if isinstance(rank, bool) or rank not in RANKS:
        raise StridescopeError(
            f"rank must be 1 (signals), 2 (images) or 3 (volumes); received {rank!r}"
        )
    assert isinstance(rank, int)
    return rank


def check_input(x: torch.Tensor, op: str, channels: int, min_size: int = 1, rank: int = 2) -> None:
    """Raise :class:`StridescopeError` unless ``x`` is ``(N, channels, *spatial)`` with
    ``rank`` spatial axes, each ``>= min_size``."""
    axes = _AXES[rank]
    if x.dim() != 2 + rank or x.shape[1] != channels:
        shape = axes.replace(" and", ",")
        raise StridescopeError(
            f"{op} expects input (N, {channels}, {shape}); received {tuple(x.shape)}"
        )
    if min(x.shape[2:]) < min_size:
        raise StridescopeError(f"{op} needs {axes} >= {min_size}; received {tuple(x.shape)}")


def check_spatial(spatial: tuple[int | None, ...], op: str, min_size: int) -> None:
    """The same size check on IR shapes (unknown sizes pass)."""
    if any(n is not None and n < min_size for n in spatial):
        axes = _AXES.get(len(spatial), "every spatial size")
        raise StridescopeError(f"{op} needs {axes} >= {min_size}; received {spatial}")


def ir_spatial(
    builder: GraphBuilder, parent: int, op: str, rank: int = 2
) -> tuple[int | None, ...]:
    """Spatial sizes of ``parent`` in a channels-first graph with ``rank`` spatial axes
    (PyTorch modules are channels first)."""
    shape = builder.shape(parent)
    if builder.layout != "nchw" or len(shape) != 2 + rank:
        raise StridescopeError(
            f"{op} expects a channels-first input of rank {2 + rank}; received {shape} "
            f"({builder.layout})"
        )
    return tuple(shape[2:])


def every_other(x: torch.Tensor) -> torch.Tensor:
    """``x[:, :, ::2, ::2]`` on every spatial axis (a view): positions 0, 2, 4, ...

    >>> every_other(torch.arange(5.0).view(1, 1, 5)).tolist()
    [[[0.0, 2.0, 4.0]]]
    """
    return x[(slice(None), slice(None), *(slice(None, None, 2),) * (x.dim() - 2))]


def pointwise_ir(
    builder: GraphBuilder,
    parent: int,
    name: str,
    out_channels: int,
    op: str,
    part: str = "conv",
    bias: bool = True,
) -> int:
    """The IR node of an operator's 1x1 conv (stride 1, with a bias unless ``bias=False``)
    named ``{name}.{part}``."""
    return builder.conv(
        parent, f"{name}.{part}", out_channels=out_channels, kernel=1, op=op, bias=bias
    )
