"""Handlers for torch calls that change the shape but not the values: ``torch.cat``,
``torch.stack``, ``flatten``, ``view`` / ``reshape``, the no-op conversions, pixel (un)shuffle,
``F.interpolate``, ``F.pad``, and the data movement left to a meta run (:func:`by_meta`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from stridescope.frontends import layers
from stridescope.frontends.pytorch.errors import LayerInputError, NotHandled
from stridescope.frontends.pytorch.handlers.layer_calls import (
    batched,
    expect,
    ints,
    pad_node,
    reshape_node,
    unbatched,
)
from stridescope.frontends.pytorch.meta_calls import meta_call
from stridescope.frontends.pytorch.proxy import ShapeProxy, integral
from stridescope.frontends.pytorch.tracer import Tracer
from stridescope.frontends.pytorch.value_sizes import STORED
from stridescope.geometry import ANTIALIAS
from stridescope.ir import OpKind
from stridescope.ir.axes import stackable

__all__ = [
    "as_other",
    "by_meta",
    "cat",
    "constant",
    "flatten",
    "interpolate",
    "interpolate_node",
    "pad",
    "pixel_shuffle",
    "pixel_unshuffle",
    "same",
    "stack",
    "unfold",
    "view",
]


def cat(t: Tracer, name: str, op: str, tensors: Sequence[Any], dim: int = 0) -> Any:
    proxies = [x for x in tensors if type(x) is ShapeProxy]
    if not proxies:
        raise NotHandled
    if len(proxies) != len(tensors):  # torch skips an empty 1-D tensor (``torch.tensor([])``)
        tensors = [x for x in tensors if not (isinstance(x, torch.Tensor) and x.shape == (0,))]
    rank = len(proxies[0].dims)
    if len(proxies) == len(tensors) and dim % rank == 1:  # channels: the builder checks
        node = t.builder.merge([p.node for p in proxies], name, kind=OpKind.CONCAT, op=op)
        return t.proxy(node, proxies[0])
    if not all(isinstance(x, ShapeProxy | torch.Tensor) for x in tensors):
        raise NotHandled
    shapes = [x.dims if type(x) is ShapeProxy else tuple(x.shape) for x in tensors]
    axis = dim % len(shapes[0])
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    parents = [p.node for p in proxies]
    node = t.builder.other(parents, name, kind=OpKind.CONCAT, output_shape=tuple(out), op=op)
    return t.proxy(node, proxies[0])


def stack(t: Tracer, name: str, op: str, tensors: Sequence[Any], dim: Any = 0) -> Any:
    """Traced tensors of one shape, their spatial axes in one place, stacked along a new
    axis (:meth:`GraphBuilder.stack`); anything else is left to the meta run."""
    if not isinstance(tensors, list | tuple) or not tensors or type(dim) is not int:
        raise NotHandled
    if not all(type(x) is ShapeProxy for x in tensors):
        raise NotHandled
    dims, rank = tensors[0].dims, len(tensors[0].dims) + 1
    if not -rank <= dim < rank or not stackable([t.builder._nodes[x.node] for x in tensors]):
        raise NotHandled  # (torch's own error, from the meta run; or data movement)
    axis = dim % rank
    out = (*dims[:axis], len(tensors), *dims[axis:])
    parents = [x.node for x in tensors]
    return t.proxy(t.builder.stack(parents, name, axis=axis, output_shape=out, op=op), tensors[0])


def flatten(
    t: Tracer, name: str, op: str, input: Any, start_dim: int = 0, end_dim: int = -1
) -> Any:
    if not isinstance(input, ShapeProxy):
        raise NotHandled
    node = layers.flatten(t.builder, input.node, name, op, start_dim=start_dim, end_dim=end_dim)
    return t.proxy(node, input)


def view(t: Tracer, name: str, op: str, input: Any, *shape: Any, **keywords: Any) -> Any:
    if keywords:  # x.reshape(shape=(...)), x.view(size=(...))
        (key, value), *more = keywords.items()
        if shape or more or key not in ("shape", "size"):
            raise NotHandled
        shape = tuple(value)
    if len(shape) == 1 and isinstance(shape[0], torch.dtype):
        return _reread(t, name, op, input, shape[0])
    if len(shape) == 1 and type(shape[0]) is not int and isinstance(shape[0], Sequence):
        shape = tuple(shape[0])  # (an int, the usual first size, skips the ABC's check)
    if not isinstance(input, ShapeProxy):
        raise NotHandled
    known = 1
    for s in shape:  # (a loop, not lists or generators: several views per block)
        if not isinstance(s, int):
            if (sizes := _sizes(shape)) is None:
                raise NotHandled
            return view(t, name, op, input, *sizes)
        if s != -1:
            known *= s
    numel = math.prod(input.dims)
    out = tuple([numel // known if s == -1 else s for s in shape]) if -1 in shape else shape
    if math.prod(out) != numel:
        raise LayerInputError(name, op, f"{math.prod(out)} elements for shape {shape}", input.dims)
    return reshape_node(t, name, op, input, out)


def _sizes(shape: Sequence[Any]) -> list[int] | None:
    """Sizes given as ints or as real one-element integer tensors (``torch.div(n, 2,
    rounding_mode="trunc")`` of sizes, as Longformer chunks by), as ints; ``None`` for
    anything else (a traced size: the meta run's error)."""
    sizes = []
    for s in shape:
        if isinstance(s, int):
            sizes.append(s)
        elif isinstance(s, torch.Tensor) and s.numel() == 1 and integral(s.dtype):
            sizes.append(int(s))
        else:
            return None
    return sizes


def _reread(t: Tracer, name: str, op: str, input: Any, dtype: torch.dtype) -> Any:
    """``x.view(torch.int32)``: the same bytes read as another dtype, the last axis scaled by
    the ratio of element sizes (one torch refuses, the meta run refuses too)."""
    if not isinstance(input, ShapeProxy) or not input.dims:
        raise NotHandled
    last = input.dims[-1] * input.dtype.itemsize
    if last % dtype.itemsize:
        raise NotHandled
    out = reshape_node(t, name, op, input, (*input.dims[:-1], last // dtype.itemsize))
    return ShapeProxy(out.node, out.dims, dtype)


def same(t: Tracer, name: str, op: str, input: Any, *options: Any, **keywords: Any) -> Any:
    """``contiguous``, ``clone``, ``to``, ``float``...: the same node; a dtype among the
    arguments (``x.to(torch.bool)``, ``x.type_as(y)``, ``x.half()``) is the proxy's now; a
    real tensor (a weight ``w.type_as(x)``) is itself, cast."""
    if not isinstance(input, ShapeProxy | torch.Tensor):
        raise NotHandled
    if op == "type" and not options and not keywords:  # the question: "torch.FloatTensor"
        return torch.empty(0, dtype=input.dtype, device=t.device).type()
    dtype = _CASTS.get(op, keywords.get("dtype"))
    for option in options:
        if isinstance(option, str) and op == "type":  # x.type("torch.HalfTensor")
            option = getattr(torch, option.rpartition(".")[2], None)
            option = getattr(option, "dtype", None)
        if isinstance(option, torch.dtype):
            dtype = option
        elif isinstance(option, ShapeProxy | torch.Tensor):
            dtype = option.dtype
    dtype = STORED.get(dtype, dtype)  # type: ignore[arg-type]  # (quantize_per_tensor's)
    if dtype is None or dtype == input.dtype:
        return input
    if type(input) is not ShapeProxy:  # a weight cast like the traced tensor (``type_as``)
        return input.to(dtype)
    return ShapeProxy(input.node, input.dims, dtype)


_CASTS = {
    "float": torch.float32,
    "half": torch.float16,
    "double": torch.float64,
    "bfloat16": torch.bfloat16,
    "bool": torch.bool,
    "long": torch.int64,
    "int": torch.int32,
    "short": torch.int16,
    "char": torch.int8,
    "byte": torch.uint8,
    "cfloat": torch.complex64,
    "cdouble": torch.complex128,
    "chalf": torch.complex32,
    "dequantize": torch.float32,
}


def as_other(t: Tracer, name: str, op: str, input: Any, other: Any) -> Any:
    """``reshape_as`` / ``view_as``: a reshape to ``other``'s shape; ``expand_as`` (data
    movement). A real tensor given a traced one's shape stays real: its values are known (a
    window's overlap-add, checked before it is applied), only the shape is the traced one's."""
    if type(other) is ShapeProxy and isinstance(input, torch.Tensor):
        spelled = op.rpartition(".")[2]
        return input.expand(other.dims) if spelled == "expand_as" else input.reshape(other.dims)
    if op.endswith("expand_as"):
        return by_meta(torch.Tensor.expand_as)(t, name, op, input, other)
    if not isinstance(input, ShapeProxy) or not isinstance(other, ShapeProxy | torch.Tensor):
        raise NotHandled
    return view(t, name, op, input, *(other.dims if type(other) is ShapeProxy else other.shape))


def constant(func: Any) -> Callable[..., Any]:
    """``x.new_zeros(...)``, ``torch.zeros_like(x)``...: a tensor made in the forward, whose
    values do not come from ``x``: a node with no parents, shaped by a meta run."""

    def handler(t: Tracer, name: str, op: str, *args: Any, **kwargs: Any) -> Any:
        made = meta_call(func, args, kwargs)
        if not isinstance(made, torch.Tensor):
            raise NotHandled
        shape = tuple(int(d) for d in made.shape)
        node = t.builder.other([], name, kind=OpKind.MOVE, output_shape=shape, op=op)
        return ShapeProxy(node, shape, made.dtype)

    return handler


def pixel_unshuffle(t: Tracer, name: str, op: str, input: Any, downscale_factor: int) -> Any:
    """``(N, C, H, W)``, or ``(C, H, W)`` read as a batch of one, or ``(*, C, H, W)`` with
    its leading axes as one batch axis, as torch reads them."""
    input, alone = batched(t, name, op, input, 2, folds=True)
    x = expect(input, name, op, 4)
    node = t.builder.pixel_unshuffle(x.node, name, factor=downscale_factor, op=op)
    return unbatched(t, name, op, t.proxy(node, x), alone)


def pixel_shuffle(t: Tracer, name: str, op: str, input: Any, upscale_factor: int) -> Any:
    """``(N, C, H, W)``, or ``(C, H, W)`` read as a batch of one, or ``(*, C, H, W)`` with
    its leading axes as one batch axis, as torch reads them."""
    input, alone = batched(t, name, op, input, 2, folds=True)
    x = expect(input, name, op, 4)
    n, c, h, w = x.dims
    r = upscale_factor
    if c % (r * r):
        raise LayerInputError(name, op, f"channels divisible by {r * r}", x.dims)
    out = (n, c // (r * r), h * r, w * r)
    node = t.builder.resize(  # output (h, w) comes from input (h // r, w // r): a scatter
        x.node, name, kind=OpKind.PIXEL_SHUFFLE, output_shape=out, op=op, repeat=(r, r)
    )
    return unbatched(t, name, op, t.proxy(node, x), alone)


def interpolate_node(
    t: Tracer,
    name: str,
    op: str,
    x: Any,
    size: Any,
    scale_factor: Any,
    mode: str = "nearest",
    align_corners: bool | None = None,
    antialias: bool = False,
    recompute_scale_factor: bool | None = None,
) -> ShapeProxy:
    """``F.interpolate`` sizes: ``size``, else ``floor(n * scale_factor)`` per spatial axis.
    A resize of a modelled mode reads each output's inputs as its kernel places them: by
    whole factors with half-pixel centres an exact window (coverage and receptive fields),
    else through the source coordinates (coverage; the scale factor given places them unless
    recomputed), with antialiasing too (bilinear and bicubic: its filter's support), see
    ``GraphBuilder.resize``."""
    if not isinstance(x, ShapeProxy) or x.ndim < 3:
        raise NotHandled
    rank = x.ndim - 2
    scales: tuple[float | None, ...] = (None,) * rank
    if size is not None:
        spatial = ints(size, rank)
    else:
        factors = scale_factor if isinstance(scale_factor, Sequence) else [scale_factor] * rank
        spatial = tuple(math.floor(n * float(s)) for n, s in zip(x.dims[2:], factors, strict=True))
        if not recompute_scale_factor:
            scales = tuple(float(s) for s in factors)
    node = t.builder.resize(
        x.node,
        name,
        kind=OpKind.INTERPOLATE,
        output_shape=(*x.dims[:2], *spatial),
        op=op,
        interpolation=f"{mode}{ANTIALIAS}" if antialias else mode,
        align_corners=bool(align_corners),
        scales=scales,
    )
    return t.proxy(node, x)


def interpolate(
    t: Tracer,
    name: str,
    op: str,
    input: Any,
    size: Any = None,
    scale_factor: Any = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Any:
    return interpolate_node(
        t,
        name,
        op,
        input,
        size,
        scale_factor,
        mode,
        align_corners,
        bool(antialias),
        recompute_scale_factor,
    )


def pad(
    t: Tracer,
    name: str,
    op: str,
    input: Any,
    pad: Sequence[int],
    mode: str = "constant",
    value: float | None = None,
) -> Any:
    return pad_node(t, name, op, input, pad, mode, value)


def unfold(t: Tracer, name: str, op: str, input: Any, *args: Any, **kwargs: Any) -> Any:
    """``F.unfold(x, kernel_size, dilation, padding, stride)`` on ``(N, C, H, W)`` and
    ``x.unfold(dim, size, step)`` along a spatial axis: the windows as a patches node (its
    window tells coverage which positions they read: a step above the size skips some), then
    the layout torch returns: ``F.unfold``'s positions flattened into one axis (a reshape,
    read as ``x.flatten(2)`` of a map is: every position mixed), ``x.unfold``'s where they
    were, each window's values appended as the last axis (data movement that keeps them:
    each window's field, its frame's). Other calls: data movement from meta."""
    if not isinstance(input, ShapeProxy) or input.ndim < 3:
        raise NotHandled
    b, dims = t.builder, input.dims
    if op == "F.unfold":
        if input.ndim != 4:
            raise NotHandled
        keys = ("kernel_size", "dilation", "padding", "stride")
        given = dict(zip(keys, args, strict=False)) | kwargs
        node = b.patches(
            input.node,
            name,
            kernel=given["kernel_size"],
            stride=given.get("stride", 1),
            dilation=given.get("dilation", 1),
            padding=given.get("padding", 0),
            op=op,
        )
        n, c, h, w = (int(d or 0) for d in b.shape(node))
        flat = b.reshape(node, t.unique(f"{name}.windows"), output_shape=(n, c, h * w), op=op)
        return t.proxy(flat, input)
    keys3 = ("dimension", "size", "step")
    given = dict(zip(keys3, args, strict=False)) | kwargs
    axis = int(given["dimension"]) % input.ndim
    if axis < 2:  # batch or channels: no spatial window
        raise NotHandled
    ones = [1] * (input.ndim - 2)
    kernel, stride = list(ones), list(ones)
    kernel[axis - 2], stride[axis - 2] = int(given["size"]), int(given["step"])
    # (a tensor whose positions are not on every axis after the channels, an earlier
    # unfold's windows appended: its window is read on the axes where the positions are)
    at = b._nodes[input.node].spatial_at
    placed = at if at and set(at) <= set(range(2, input.ndim)) else None
    node = b.patches(
        input.node, name, kernel=tuple(kernel), stride=tuple(stride), op=op, keeps=placed
    )
    windows = b.shape(node)[axis]
    out = (*dims[:axis], int(windows or 0), *dims[axis + 1 :], int(given["size"]))
    kept = placed or tuple(range(2, input.ndim))  # (the positions: where they were)
    moved = b.other(
        node, t.unique(f"{name}.windows"), kind=OpKind.MOVE, output_shape=out, op=op, keeps=kept
    )
    return t.proxy(moved, input)


def by_meta(func: Any, spelled: str = "") -> Callable[..., Any]:
    """Data movement (permute, flip, stack, integer indexing...): no MACs; the shape comes
    from meta. Positions may move, so the receptive field after it is unknown. ``spelled``:
    the node's op where ``func``'s own name does not say it (a property's getter)."""

    def handler(t: Tracer, name: str, op: str, *args: Any, **kwargs: Any) -> Any:
        return t.fallback(func, args, kwargs, name=name, kind=OpKind.MOVE, counted=True, op=spelled)

    return handler
