"""Handlers for torch's pooling functions: ``F.max_pool*``, ``F.avg_pool*``, ``F.lp_pool*``
and ``F.adaptive_*_pool*``, one factory per family and spatial rank; their ``*_with_indices``
forms (:func:`with_indices`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stridescope.frontends.pytorch.errors import NotHandled
from stridescope.frontends.pytorch.handlers.layer_calls import adaptive_node, pool_node
from stridescope.frontends.pytorch.handlers.reduction import indices_of
from stridescope.frontends.pytorch.tracer import Tracer

__all__ = ["adaptive", "avg_pool", "lp_pool", "max_pool", "with_indices"]


def max_pool(rank: int) -> Callable[..., Any]:
    def handler(
        t: Tracer,
        name: str,
        op: str,
        input: Any,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        dilation: Any = 1,
        ceil_mode: bool = False,
        return_indices: bool = False,
    ) -> Any:
        if return_indices:
            raise NotHandled
        return pool_node(
            t,
            name,
            op,
            input,
            mode="max",
            rank=rank,
            kernel=kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            ceil_mode=ceil_mode,
        )

    return handler


def avg_pool(rank: int) -> Callable[..., Any]:
    def handler(
        t: Tracer,
        name: str,
        op: str,
        input: Any,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> Any:
        return pool_node(
            t,
            name,
            op,
            input,
            mode="avg",
            rank=rank,
            kernel=kernel_size,
            stride=stride,
            padding=padding,
            ceil_mode=ceil_mode,
        )

    return handler


def lp_pool(rank: int) -> Callable[..., Any]:
    """``F.lp_pool*d``: a power-average over the same window as an average pool (no padding;
    counted as one, one MAC per window element)."""

    def handler(
        t: Tracer,
        name: str,
        op: str,
        input: Any,
        norm_type: Any,
        kernel_size: Any,
        stride: Any = None,
        ceil_mode: bool = False,
    ) -> Any:
        return pool_node(
            t,
            name,
            op,
            input,
            mode="avg",
            rank=rank,
            kernel=kernel_size,
            stride=stride,
            padding=0,
            ceil_mode=ceil_mode,
        )

    return handler


def adaptive(mode: str, rank: int) -> Callable[..., Any]:
    def handler(
        t: Tracer, name: str, op: str, input: Any, output_size: Any, return_indices: bool = False
    ) -> Any:
        if return_indices:
            raise NotHandled
        return adaptive_node(t, name, op, input, mode=mode, rank=rank, output_size=output_size)

    return handler


def with_indices(values: Callable[..., Any]) -> Callable[..., Any]:
    """``F.max_pool*d_with_indices`` / ``F.adaptive_max_pool*d_with_indices`` (what
    ``return_indices=True`` calls): the pool ``values`` makes, and its indices, a free node
    of the same shape read from it (what ``F.max_unpool*d`` takes back)."""

    def handler(t: Tracer, name: str, op: str, input: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs.pop("return_indices", None)
        pooled = values(t, name, op, input, *args, **kwargs)
        return pooled, indices_of(t, pooled.node, name, op)

    return handler
