"""``nn.Module`` types the PyTorch frontend reads from their attributes instead of tracing.

The table is keyed by the class's ``forward`` function, so a subclass that keeps the forward
(``nn.UpsamplingNearest2d``) is read the same way, while a subclass that overrides it (a conv
that standardises its weight, a conv that pads dynamically) is traced through its forward.
A module's own parameters are counted at its node, once, the first time it is called.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from torch import nn

from stridescope.frontends import pytorch_functional as fn
from stridescope.frontends import pytorch_nodes as nodes
from stridescope.frontends.pytorch_proxy import LayerInputError, ModuleHandler, ShapeProxy
from stridescope.frontends.pytorch_tracer import Tracer, own_parameters
from stridescope.ir import OpKind

__all__ = ["MODULES"]


def _own_params(t: Tracer, module: nn.Module) -> int:
    """Elements of the module's own parameters not counted yet (marked counted now)."""
    return t.take_params(own_parameters(module))


def _override(fresh: int, weight: int, bias: int) -> int | None:
    """``None`` (geometry's count) when the parameters are exactly weight + bias."""
    return None if fresh == weight + bias else fresh


def _conv(t: Tracer, m: Any, name: str, x: ShapeProxy) -> ShapeProxy:
    fresh = _own_params(t, m)
    weight_shape = (m.out_channels, m.in_channels // m.groups, *m.kernel_size)
    bias = m.out_channels if m.bias is not None else 0
    return nodes.conv_node(
        t, name, type(m).__name__, x, weight_shape, groups=m.groups, stride=m.stride,
        padding=m.padding, dilation=m.dilation, bias=m.bias is not None,
        params=_override(fresh, math.prod(weight_shape), bias), pad_mode=m.padding_mode,
    )  # fmt: skip


def _conv_transpose(t: Tracer, m: Any, name: str, x: ShapeProxy) -> ShapeProxy:
    fresh = _own_params(t, m)
    weight_shape = (m.in_channels, m.out_channels // m.groups, *m.kernel_size)
    bias = m.out_channels if m.bias is not None else 0
    return nodes.conv_transpose_node(
        t, name, type(m).__name__, x, weight_shape, groups=m.groups, stride=m.stride,
        padding=m.padding, output_padding=m.output_padding, dilation=m.dilation,
        bias=m.bias is not None, params=_override(fresh, math.prod(weight_shape), bias),
    )  # fmt: skip


def _linear(t: Tracer, m: Any, name: str, x: ShapeProxy) -> ShapeProxy:
    op = type(m).__name__
    if x.dims[-1] != m.in_features:
        raise LayerInputError(name, op, f"a last axis of {m.in_features}", x.dims)
    fresh = _own_params(t, m)
    bias = m.out_features if m.bias is not None else 0
    node = t.builder.linear(
        x.node, name, out_features=m.out_features, bias=m.bias is not None, op=op,
        params=_override(fresh, m.in_features * m.out_features, bias),
    )  # fmt: skip
    return t.proxy(node, x)


def _pointwise(kind: OpKind) -> ModuleHandler:
    def handler(t: Tracer, m: Any, name: str, x: ShapeProxy) -> ShapeProxy:
        fresh = _own_params(t, m)
        inplace = bool(getattr(m, "inplace", False))
        return nodes.pointwise_node(t, name, type(m).__name__, x, kind, fresh, inplace)

    return handler


_NORM_RANKS: tuple[tuple[tuple[type[nn.Module], ...], int], ...] = (
    ((nn.BatchNorm1d, nn.InstanceNorm1d), 3),
    ((nn.BatchNorm2d, nn.InstanceNorm2d), 4),
    ((nn.BatchNorm3d, nn.InstanceNorm3d), 5),
)


def _norm(t: Tracer, m: Any, name: str, x: ShapeProxy) -> Any:
    """Batch / instance norm: rank and channel count checked as torch does."""
    rank = next((r for classes, r in _NORM_RANKS if isinstance(m, classes)), x.ndim)
    batch_norm_1d = isinstance(m, nn.BatchNorm1d) and x.ndim == 2  # (N, C) is allowed too
    if (x.ndim != rank and not batch_norm_1d) or x.dims[1] != m.num_features:
        nodes.expect(x, name, type(m).__name__, rank, m.num_features)
    return _pointwise(OpKind.NORM)(t, m, name, x)


def _pool(mode: str, rank: int) -> ModuleHandler:
    def handler(t: Tracer, m: Any, name: str, x: ShapeProxy) -> ShapeProxy:
        return nodes.pool_node(
            t, name, type(m).__name__, x, mode=mode, rank=rank, kernel=m.kernel_size,
            stride=m.stride, padding=m.padding, dilation=getattr(m, "dilation", 1),
            ceil_mode=m.ceil_mode,
        )  # fmt: skip

    return handler


def _adaptive(mode: str, rank: int) -> ModuleHandler:
    def handler(t: Tracer, m: Any, name: str, x: ShapeProxy) -> Any:
        if getattr(m, "return_indices", False):
            return _traced(t, m, name, x)
        return nodes.adaptive_node(
            t, name, type(m).__name__, x, mode=mode, rank=rank, output_size=m.output_size
        )

    return handler


def _flatten(t: Tracer, m: Any, name: str, x: ShapeProxy) -> Any:
    return fn.flatten(t, name, type(m).__name__, x, m.start_dim, m.end_dim)


def _identity(t: Tracer, m: Any, name: str, x: ShapeProxy) -> ShapeProxy:
    return x


def _pixel_unshuffle(t: Tracer, m: Any, name: str, x: ShapeProxy) -> Any:
    return fn.pixel_unshuffle(t, name, type(m).__name__, x, m.downscale_factor)


def _pixel_shuffle(t: Tracer, m: Any, name: str, x: ShapeProxy) -> Any:
    return fn.pixel_shuffle(t, name, type(m).__name__, x, m.upscale_factor)


def _upsample(t: Tracer, m: Any, name: str, x: ShapeProxy) -> ShapeProxy:
    return nodes.interpolate_node(t, name, type(m).__name__, x, m.size, m.scale_factor, m.mode)


def _pad(t: Tracer, m: Any, name: str, x: ShapeProxy) -> ShapeProxy:
    kind = type(m).__name__
    mode = next((mode for prefix, mode in _PAD_PREFIXES if kind.startswith(prefix)), "constant")
    return nodes.pad_node(t, name, kind, x, m.padding, mode)


_PAD_PREFIXES = (("Reflection", "reflect"), ("Replication", "replicate"), ("Circular", "circular"))


def _traced(t: Tracer, m: nn.Module, name: str, x: ShapeProxy) -> Any:
    return t.run_forward(m, name, (x,), {})


def _build() -> dict[Any, ModuleHandler]:
    table: dict[Any, ModuleHandler] = {}

    def add(handler: ModuleHandler, *classes: type[nn.Module]) -> None:
        for cls in classes:
            table.setdefault(cls.forward, handler)

    add(_conv, nn.Conv1d, nn.Conv2d, nn.Conv3d)
    add(_conv_transpose, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
    add(_linear, nn.Linear)
    add(_norm, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
    add(_norm, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)
    add(_pointwise(OpKind.NORM), nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)
    activations: tuple[type[nn.Module], ...] = (
        nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
        nn.Mish, nn.Sigmoid, nn.Tanh, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Softmax,
        nn.LogSoftmax, nn.Softplus, nn.Softsign, nn.LogSigmoid,
    )  # fmt: skip
    add(_pointwise(OpKind.ACTIVATION), *activations)
    add(_pointwise(OpKind.DROPOUT), nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
    add(_pointwise(OpKind.DROPOUT), nn.AlphaDropout, nn.FeatureAlphaDropout)
    for rank, classes in enumerate(
        (
            (nn.MaxPool1d, nn.AvgPool1d, nn.AdaptiveMaxPool1d, nn.AdaptiveAvgPool1d),
            (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool2d),
            (nn.MaxPool3d, nn.AvgPool3d, nn.AdaptiveMaxPool3d, nn.AdaptiveAvgPool3d),
        ),
        start=1,
    ):
        add(_pool("max", rank), classes[0])
        add(_pool("avg", rank), classes[1])
        add(_adaptive("max", rank), classes[2])
        add(_adaptive("avg", rank), classes[3])
    add(_flatten, nn.Flatten)
    add(_identity, nn.Identity)
    add(_pixel_unshuffle, nn.PixelUnshuffle)
    add(_pixel_shuffle, nn.PixelShuffle)
    add(_upsample, nn.Upsample)
    pads: tuple[type[nn.Module], ...] = (
        nn.ZeroPad1d, nn.ZeroPad2d, nn.ZeroPad3d, nn.ConstantPad1d, nn.ConstantPad2d,
        nn.ConstantPad3d, nn.ReflectionPad1d, nn.ReflectionPad2d, nn.ReflectionPad3d,
        nn.ReplicationPad1d, nn.ReplicationPad2d, nn.ReplicationPad3d, nn.CircularPad1d,
        nn.CircularPad2d, nn.CircularPad3d,
    )  # fmt: skip
    add(_pad, *pads)
    return table


MODULES: dict[Any, Callable[..., Any]] = _build()
