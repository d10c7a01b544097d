"""A custom ``torch.autograd.Function`` called on traced tensors.

``Function.apply`` runs the forward from torch's C++ code, which then checks that what the
forward saved for backward (``ctx.save_for_backward``, ``save_for_forward``) or marked
(``mark_dirty``, ``mark_non_differentiable``) are tensors: a traced tensor is not one, so a
reversible block or a memory-saving activation failed with "save_for_backward can only save
variables". While a trace runs, those ``FunctionCtx`` methods save ``None`` in a traced
tensor's place and mark only real tensors (a trace runs no backward); :func:`route` sets
them, :func:`unroute` puts torch's own back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch.autograd.function import FunctionCtx

from stridescope.frontends.pytorch.proxy import ShapeProxy

__all__ = ["route", "unroute"]

_METHODS = ("save_for_backward", "save_for_forward", "mark_dirty", "mark_non_differentiable")
_TORCH: dict[str, Callable[..., None]] = {name: getattr(FunctionCtx, name) for name in _METHODS}


def _without_proxies(original: Callable[..., None], saves: bool) -> Callable[..., None]:
    """``original`` given ``None`` for a traced tensor to save, or not given one to mark."""

    def method(ctx: Any, *tensors: Any) -> None:
        if saves:
            original(ctx, *(None if type(t) is ShapeProxy else t for t in tensors))
        else:
            original(ctx, *(t for t in tensors if type(t) is not ShapeProxy))

    return method


_TRACED = {name: _without_proxies(m, name.startswith("save")) for name, m in _TORCH.items()}


def route() -> None:
    """Let a custom Function's forward save and mark traced tensors (as ``None``)."""
    for name, method in _TRACED.items():
        setattr(FunctionCtx, name, method)


def unroute() -> None:
    """torch's own methods back."""
    for name, method in _TORCH.items():
        setattr(FunctionCtx, name, method)
