"""Shared by the operators: input checks (one-line errors naming what was received) and the
IR of their closing 1x1 conv."""

from __future__ import annotations

import torch

from stridescope.errors import StridescopeError
from stridescope.ir import GraphBuilder

__all__ = ["check_input", "check_spatial", "ir_spatial", "pointwise_ir"]


def check_input(x: torch.Tensor, op: str, channels: int, min_size: int = 1) -> None:
    """Raise :class:`StridescopeError` unless ``x`` is ``(N, channels, H, W)`` with
    ``H, W >= min_size``."""
    if x.dim() != 4 or x.shape[1] != channels:
        raise StridescopeError(
            f"{op} expects input (N, {channels}, H, W); received {tuple(x.shape)}"
        )
    if min(x.shape[2], x.shape[3]) < min_size:
        raise StridescopeError(f"{op} needs H and W >= {min_size}; received {tuple(x.shape)}")


def check_spatial(spatial: tuple[int | None, ...], op: str, min_size: int) -> None:
    """The same size check on IR shapes (unknown sizes pass)."""
    if any(n is not None and n < min_size for n in spatial):
        raise StridescopeError(f"{op} needs H and W >= {min_size}; received {spatial}")


def ir_spatial(builder: GraphBuilder, parent: int, op: str) -> tuple[int | None, ...]:
    """Spatial sizes of ``parent`` in an NCHW graph (PyTorch modules are NCHW)."""
    shape = builder.shape(parent)
    if builder.layout != "nchw" or len(shape) != 4:
        raise StridescopeError(
            f"{op} expects an NCHW input of rank 4; received {shape} ({builder.layout})"
        )
    return tuple(shape[2:])


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
