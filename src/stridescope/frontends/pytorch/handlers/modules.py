"""Handlers for the leaf ``nn.Module`` types the PyTorch frontend reads from their attributes
instead of tracing their forward (the table is
:data:`~stridescope.frontends.pytorch.module_table.MODULES`).

A module's own parameters are counted at its node, once, the first time it is called.
"""

from __future__ import annotations

import contextlib
import functools
import math
from typing import Any

import torch.ao.nn.quantized as nnq
from torch import nn

from stridescope.frontends import layers
from stridescope.frontends.pytorch.handler_specs import ModuleHandler
from stridescope.frontends.pytorch.handlers import layer_calls, reshaping
from stridescope.frontends.pytorch.handlers.fits import module_fits
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.tracer import Tracer
from stridescope.ir import OpKind, Shape, Window
from stridescope.ir.builder_memo import remember

__all__ = [
    "adaptive",
    "conv",
    "conv_layer",
    "conv_transpose",
    "conv_transpose_layer",
    "flatten",
    "identity",
    "linear",
    "norm",
    "pad",
    "pixel_shuffle",
    "pixel_unshuffle",
    "pointwise",
    "pool",
    "traced",
    "upsample",
]


def _has_bias(m: Any) -> bool:
    """``m.bias is not None``, read from the registered parameters first (``m.bias`` on a
    module goes through ``nn.Module.__getattr__``, a Python call per layer)."""
    own = m._parameters
    if "bias" in own:
        return own["bias"] is not None
    return m.bias is not None


def _attr(m: Any, name: str, default: Any) -> Any:
    """A plain attribute such as ``inplace``, ``default`` where the module has none (without a
    failed ``nn.Module.__getattr__`` lookup, which raises and catches per call)."""
    own = m.__dict__
    if name in own:
        return own[name]
    return getattr(type(m), name, default)


def _flag(m: Any, name: str) -> bool:
    return bool(_attr(m, name, False))


def _stale(m: Any, shape: tuple[int, ...], tensor: str = "weight") -> bool:
    """Whether the layer holds a ``tensor`` of another shape than its attributes give (a
    weight replaced by a pruned one, the attributes left as they were: torch runs the layer
    on the tensor it holds, so its forward is traced, not read from the attributes)."""
    held = m._parameters.get(tensor) if tensor in m._parameters else m._buffers.get(tensor)
    return held is not None and held.shape != shape


def conv(t: Tracer, m: Any, name: str, x: ShapeProxy) -> Any:
    own = m.__dict__
    if _stale(m, (own["out_channels"], own["in_channels"] // own["groups"], *own["kernel_size"])):
        return traced(t, m, name, x)
    key = (
        type(m),
        t.builder._nodes[x.node].output_shape,
        *[own.get(a) for a in _CONV_ATTRIBUTES],
    )
    found = _repeated(t, m, name, x, key)
    return _conv(t, m, name, x, key) if found is None else found


_CONV_ATTRIBUTES = (
    "out_channels",
    "in_channels",
    "kernel_size",
    "stride",
    "padding",
    "dilation",
    "groups",
    "padding_mode",
)


def _conv(t: Tracer, m: Any, name: str, x: ShapeProxy, key: tuple[Any, ...]) -> ShapeProxy:
    weight = m.out_channels * (m.in_channels // m.groups) * math.prod(m.kernel_size)
    bias = _has_bias(m)
    params = t.module_params(m, weight + (m.out_channels if bias else 0))
    out = conv_layer(t, m, name, x, bias, params)
    _called_again(t, m, out.node)
    return _remember(t, key, out)


def conv_layer(
    t: Tracer, m: Any, name: str, x: ShapeProxy, bias: bool, params: int | None
) -> ShapeProxy:
    """The node of a conv layer ``m`` read from its attributes (``in_channels``,
    ``kernel_size``, ``stride``...: a quantized conv has them too); ``bias`` and ``params``
    as :func:`~layer_calls.conv_node` takes them."""
    weight = (m.out_channels, m.in_channels // m.groups, *m.kernel_size)
    return layer_calls.conv_node(
        t,
        name,
        type(m).__name__,
        x,
        weight,
        groups=m.groups,
        stride=m.stride,
        padding=m.padding,
        dilation=m.dilation,
        bias=bias,
        params=params,
        pad_mode=m.padding_mode,
    )


def _called_again(t: Tracer, m: Any, node: int) -> None:
    """A layer with weights whose node counts none: called before, its weights counted there
    (the node names it in ``shares``, so it is not read as a filter without weights)."""
    if not t.builder._nodes[node].params and m._parameters.get("weight") is not None:
        t.builder.shared(node, t.paths.get(id(m)) or type(m).__name__)


# Per leaf layer configuration (the module's class, its input's shape and the attributes its
# node is made from), the node fields its handler made: (kind, output shape, MACs, window,
# groups, op). A network repeats a few configurations many times, and each layer call
# otherwise goes through the handler's argument checks, torch's spelling of sizes and the
# builder's geometry (a dozen Python calls for a convolution) to arrive at the same fields.
_MADE: dict[tuple[Any, ...], tuple[OpKind, Shape, int, Window | None, int, str]] = {}


def _repeated(
    t: Tracer, m: Any, name: str, x: ShapeProxy, key: tuple[Any, ...]
) -> ShapeProxy | None:
    """The node of a layer configuration :data:`_MADE` holds, made again (its parameters
    counted as the handler counts them: the layer's own, the first time), else ``None``
    (also for an attribute that cannot be a key, such as a list set on the module)."""
    try:
        found = _MADE.get(key)
    except TypeError:
        return None
    if found is None:
        return None
    kind, out, macs, window, groups, op = found
    node = t.builder._add(
        name,
        kind,
        (x.node,),
        key[1],
        out,
        params=t.take_own(m),
        macs=macs,
        window=window,
        groups=groups,
        op=op,
    )
    _called_again(t, m, node)
    return t.proxy(node, x)


def _remember(t: Tracer, key: tuple[Any, ...], out: ShapeProxy) -> ShapeProxy:
    """Keep the fields of the node ``out`` stands for under ``key`` (a configuration whose
    every attribute was found on the module: ``None`` is what a missing one reads as), where
    it is the one node the layer made (not an input without its batch axis, read as a batch
    of one: a reshape, the layer, a reshape)."""
    n = t.builder._nodes[out.node]
    if None not in key and n.kind is not OpKind.RESHAPE:
        with contextlib.suppress(TypeError):  # an unhashable attribute: not remembered
            remember(_MADE, key, (n.kind, n.output_shape, n.macs, n.window, n.groups, n.op))
    return out


def conv_transpose(t: Tracer, m: Any, name: str, x: ShapeProxy) -> Any:
    if _stale(m, (m.in_channels, m.out_channels // m.groups, *m.kernel_size)):
        return traced(t, m, name, x)
    weight = m.in_channels * (m.out_channels // m.groups) * math.prod(m.kernel_size)
    bias = _has_bias(m)
    params = t.module_params(m, weight + (m.out_channels if bias else 0))
    return conv_transpose_layer(t, m, name, x, bias, params)


def conv_transpose_layer(
    t: Tracer, m: Any, name: str, x: ShapeProxy, bias: bool, params: int | None
) -> ShapeProxy:
    """:func:`conv_layer` for a transposed conv layer."""
    weight = (m.in_channels, m.out_channels // m.groups, *m.kernel_size)
    return layer_calls.conv_transpose_node(
        t,
        name,
        type(m).__name__,
        x,
        weight,
        groups=m.groups,
        stride=m.stride,
        padding=m.padding,
        output_padding=m.output_padding,
        dilation=m.dilation,
        bias=bias,
        params=params,
    )


def linear(t: Tracer, m: Any, name: str, x: ShapeProxy) -> Any:
    own = m.__dict__
    if _stale(m, (own["out_features"], own["in_features"])):
        return traced(t, m, name, x)
    shape = t.builder._nodes[x.node].output_shape
    key = (type(m), shape, own.get("in_features"), own.get("out_features"))
    found = _repeated(t, m, name, x, key)
    return _linear(t, m, name, x, key) if found is None else found


def _linear(t: Tracer, m: Any, name: str, x: ShapeProxy, key: tuple[Any, ...]) -> ShapeProxy:
    fin, fout, bias = m.in_features, m.out_features, _has_bias(m)
    params = t.module_params(m, fin * fout + (fout if bias else 0))
    out = layer_calls.dense_node(t, name, type(m).__name__, x, fin, fout, bias, params)
    return _remember(t, key, out)


def pointwise(kind: OpKind) -> ModuleHandler:
    def handler(t: Tracer, m: Any, name: str, x: ShapeProxy) -> ShapeProxy:
        # layer_calls.pointwise_node's node, without its calls: activations are most layers
        params = 0
        if m._parameters or m._modules:  # a norm's or PReLU's weights fix the input's shape
            module_fits(m, name, x)
            params = t.take_own(m)
        node = t.builder.pointwise(x.node, name, kind=kind, params=params, op=type(m).__name__)
        own = m.__dict__  # (``inplace`` where it usually is, without _flag's two calls)
        inplace = bool(own["inplace"]) if "inplace" in own else _flag(m, "inplace")
        return layer_calls.result(t, node, x, inplace)

    return handler


_NORM_RANKS: tuple[tuple[tuple[type[nn.Module], ...], int], ...] = (
    ((nn.BatchNorm1d, nn.InstanceNorm1d), 3),
    ((nn.BatchNorm2d, nn.InstanceNorm2d, nnq.BatchNorm2d), 4),  # (a quantized one too)
    ((nn.BatchNorm3d, nn.InstanceNorm3d, nnq.BatchNorm3d), 5),
)


_INSTANCE_NORMS = (nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)


@functools.cache
def _rank_of(cls: type) -> int | None:
    return next((r for classes, r in _NORM_RANKS if issubclass(cls, classes)), None)


def _norm_rank(cls: type, ndim: int) -> int:
    """The input rank a batch / instance norm class takes (``ndim`` for other classes)."""
    rank = _rank_of(cls)
    return ndim if rank is None else rank


def norm(t: Tracer, m: Any, name: str, x: ShapeProxy) -> Any:
    """Batch / instance norm: rank and channel count checked as torch does."""
    shape = t.builder._nodes[x.node].output_shape
    key = (type(m), shape, features := m.__dict__.get("num_features"))
    if _stale(
        m, (features,), "weight" if m._parameters.get("weight") is not None else "running_mean"
    ):
        return traced(t, m, name, x)
    found = _repeated(t, m, name, x, key)
    if found is not None:
        return found
    rank = _norm_rank(type(m), x.ndim)
    alone: bool | tuple[int, ...] = False
    if isinstance(m, _INSTANCE_NORMS):  # (C, *spatial) too, read as a batch of one
        x, alone = layer_calls.batched(t, name, type(m).__name__, x, rank - 2)
    batch_norm_1d = rank == 3 and x.ndim == 2 and isinstance(m, nn.BatchNorm1d)  # (N, C) too
    if (x.ndim != rank and not batch_norm_1d) or x.dims[1] != m.num_features:
        layer_calls.expect(x, name, type(m).__name__, rank, m.num_features)
    params = t.take_own(m)
    node = layers.norm(t.builder, x.node, name, type(m).__name__, params=params)
    out = layer_calls.unbatched(t, name, type(m).__name__, t.proxy(node, x), alone)
    return _remember(t, key, out)  # (not a batch of one's: its last node is a reshape)


def pool(mode: str, rank: int) -> ModuleHandler:
    def handler(t: Tracer, m: Any, name: str, x: ShapeProxy) -> Any:
        if _flag(m, "return_indices"):  # (values, indices): the forward's F call makes both
            return traced(t, m, name, x)
        return layer_calls.pool_node(
            t,
            name,
            type(m).__name__,
            x,
            mode=mode,
            rank=rank,
            kernel=m.kernel_size,
            stride=m.stride,
            padding=m.padding,
            dilation=_attr(m, "dilation", 1),
            ceil_mode=m.ceil_mode,
        )

    return handler


def adaptive(mode: str, rank: int) -> ModuleHandler:
    def handler(t: Tracer, m: Any, name: str, x: ShapeProxy) -> Any:
        if _flag(m, "return_indices"):
            return traced(t, m, name, x)
        return layer_calls.adaptive_node(
            t, name, type(m).__name__, x, mode=mode, rank=rank, output_size=m.output_size
        )

    return handler


def flatten(t: Tracer, m: Any, name: str, x: ShapeProxy) -> Any:
    return reshaping.flatten(t, name, type(m).__name__, x, m.start_dim, m.end_dim)


def identity(t: Tracer, m: Any, name: str, x: ShapeProxy) -> ShapeProxy:
    return x


def pixel_unshuffle(t: Tracer, m: Any, name: str, x: ShapeProxy) -> Any:
    return reshaping.pixel_unshuffle(t, name, type(m).__name__, x, m.downscale_factor)


def pixel_shuffle(t: Tracer, m: Any, name: str, x: ShapeProxy) -> Any:
    return reshaping.pixel_shuffle(t, name, type(m).__name__, x, m.upscale_factor)


def upsample(t: Tracer, m: Any, name: str, x: ShapeProxy) -> ShapeProxy:
    scale = m.scale_factor  # (nn.Upsample passes its own recompute_scale_factor)
    recompute = getattr(m, "recompute_scale_factor", None)
    return reshaping.interpolate_node(
        t, name, type(m).__name__, x, m.size, scale, m.mode, m.align_corners, False, recompute
    )


def pad(t: Tracer, m: Any, name: str, x: ShapeProxy) -> ShapeProxy:
    kind = type(m).__name__
    mode = next((mode for prefix, mode in _PAD_PREFIXES if kind.startswith(prefix)), "constant")
    return layer_calls.pad_node(t, name, kind, x, m.padding, mode)


_PAD_PREFIXES = (("Reflection", "reflect"), ("Replication", "replicate"), ("Circular", "circular"))


def traced(t: Tracer, m: nn.Module, name: str, x: ShapeProxy) -> Any:
    return t.run_forward(m, name, (x,), {})
