"""Handlers for the Keras 3 layers with weights or windows (convolutions, dense, pooling,
normalisation, activations), read from layer configs; the table that maps layer classes to
handlers is :mod:`stridescope.frontends.keras.layer_table`.

Each handler reads a layer config into one call of :mod:`stridescope.frontends.layers`; nothing
here runs a layer. Shapes, params and MACs come from the builder.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from stridescope.errors import StridescopeError
from stridescope.frontends import layers
from stridescope.ir import GraphBuilder, OpKind

__all__ = [
    "Handler",
    "adaptive_pool",
    "conv",
    "conv_transpose",
    "dense",
    "depthwise_conv",
    "flatten",
    "global_pool",
    "identity",
    "keras_params",
    "norm",
    "pointwise",
    "pool",
    "separable_conv",
    "weighted",
]


# a handler gives its node, or one node per output for a layer with several
Handler = Callable[[GraphBuilder, Sequence[int], Any, dict[str, Any], str], int | list[int]]


def _activation(config: dict[str, Any]) -> str:
    """The name of a layer's fused ``activation=`` (``'linear'`` for none)."""
    act = config.get("activation", "linear")
    if isinstance(act, dict):
        inner = act.get("config")
        return str(inner.get("name") if isinstance(inner, dict) else act.get("class_name"))
    return str(act) if act is not None else "linear"


def _ints(values: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


def _padding(config: dict[str, Any]) -> str:
    return str(config.get("padding", "valid")).lower()


def _conv_padding(b: GraphBuilder, config: dict[str, Any], rank: int) -> Any:
    mode = _padding(config)
    if mode != "causal":
        return mode
    kernel = tuple(config["kernel_size"])
    dilation = tuple(config.get("dilation_rate", (1,) * rank))
    return [((k - 1) * d, 0) for k, d in zip(kernel, dilation, strict=True)]


def conv(b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str) -> int:
    kernel = _ints(c["kernel_size"])
    return layers.conv(
        b,
        parents[0],
        name,
        type(layer).__name__,
        out_channels=int(c["filters"]),
        kernel=kernel,
        stride=_ints(c["strides"]),
        dilation=_ints(c["dilation_rate"]),
        padding=_conv_padding(b, c, len(kernel)),
        groups=int(c.get("groups", 1)),
        bias=bool(c.get("use_bias", True)),
        activation=_activation(c),
    )


def conv_transpose(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> int:
    """Conv1DTranspose / Conv2DTranspose / Conv3DTranspose: ``'same'`` / ``'valid'`` and
    ``output_padding`` as Keras resolves them."""
    extra = c.get("output_padding")
    return layers.conv_transpose(
        b,
        parents[0],
        name,
        type(layer).__name__,
        out_channels=int(c["filters"]),
        kernel=_ints(c["kernel_size"]),
        stride=_ints(c["strides"]),
        dilation=_ints(c["dilation_rate"]),
        padding=_padding(c),
        output_padding=None if extra is None else _ints(extra),
        bias=bool(c.get("use_bias", True)),
        activation=_activation(c),
    )


def depthwise_conv(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> int:
    return layers.depthwise(
        b,
        parents[0],
        name,
        type(layer).__name__,
        kernel=_ints(c["kernel_size"]),
        multiplier=int(c.get("depth_multiplier", 1)),
        stride=_ints(c["strides"]),
        dilation=_ints(c["dilation_rate"]),
        padding=_padding(c),
        bias=bool(c.get("use_bias", True)),
        activation=_activation(c),
    )


def separable_conv(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> int:
    """Keras' SeparableConv: a depthwise conv (no bias) then a 1x1 conv (with the bias)."""
    return layers.separable(
        b,
        parents[0],
        name,
        type(layer).__name__,
        out_channels=int(c["filters"]),
        kernel=_ints(c["kernel_size"]),
        multiplier=int(c.get("depth_multiplier", 1)),
        stride=_ints(c["strides"]),
        dilation=_ints(c["dilation_rate"]),
        padding=_padding(c),
        bias=bool(c.get("use_bias", True)),
        activation=_activation(c),
    )


def dense(b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str) -> int:
    return layers.dense(
        b,
        parents[0],
        name,
        type(layer).__name__,
        out_features=int(c["units"]),
        bias=bool(c.get("use_bias", True)),
        activation=_activation(c),
    )


def pool(mode: str) -> Handler:
    def handler(
        b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
    ) -> int:
        strides = c.get("strides")
        return layers.pool(
            b,
            parents[0],
            name,
            type(layer).__name__,
            mode=mode,
            kernel=_ints(c["pool_size"]),
            stride=None if strides is None else _ints(strides),
            padding=_padding(c),
        )

    return handler


def global_pool(mode: str) -> Handler:
    def handler(
        b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
    ) -> int:
        keepdims = bool(c.get("keepdims", False))
        return layers.global_pool(
            b, parents[0], name, type(layer).__name__, mode=mode, keepdims=keepdims
        )

    return handler


def adaptive_pool(mode: str) -> Handler:
    """``AdaptiveAveragePooling*D`` / ``AdaptiveMaxPooling*D``: to ``output_size`` positions
    per spatial axis, windows as PyTorch's adaptive pools place them."""

    def handler(
        b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
    ) -> int:
        size = c["output_size"]  # (Keras keeps a tuple; an int is every axis's size)
        wanted = int(size) if isinstance(size, int) else [int(n) for n in size]
        op = type(layer).__name__
        return layers.adaptive_pool(b, parents[0], name, op, mode=mode, output_size=wanted)

    return handler


def pointwise(kind: OpKind) -> Handler:
    def handler(
        b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
    ) -> int:
        op = _activation(c) if kind is OpKind.ACTIVATION and "activation" in c else ""
        return layers.pointwise(b, parents[0], name, op or type(layer).__name__, kind=kind)

    return handler


def keras_params(layer: Any) -> int:
    """Keras's own parameter count (0 for a layer that was never built)."""
    return int(layer.count_params()) if getattr(layer, "built", False) else 0


def weighted(kind: OpKind) -> Handler:
    """A shape-preserving layer whose weights Keras counts (PReLU's slopes, GroupNormalization's
    gamma and beta): params from ``layer.count_params()``."""

    def handler(
        b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
    ) -> int:
        op, params = type(layer).__name__, keras_params(layer)
        return layers.pointwise(b, parents[0], name, op, kind=kind, params=params)

    return handler


def identity(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> int:
    """Identity and ActivityRegularization return their input, as do Masking (it only marks
    padded steps) and the random augmentation layers at inference: no node, as
    ``nn.Identity``."""
    return parents[0]


def norm(moving_stats: bool) -> Handler:
    """Normalisation: gamma and beta (if scale/center) per normalised element, plus the moving
    mean and variance for batch norm, as ``layer.count_params()`` counts them."""

    def handler(
        b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
    ) -> int:
        shape = b.shape(parents[0])
        axes = c.get("axis", -1)
        size = 1
        for axis in [axes] if isinstance(axes, int) else list(axes):
            dim = shape[axis]
            if dim is None:
                raise StridescopeError(f"{name}: normalised axis {axis} of {shape!r} is unknown")
            size *= dim
        per_element = int(bool(c.get("scale", True))) + int(bool(c.get("center", True)))
        per_element += 2 if moving_stats else 0
        params = size * per_element  # (rms_scaling leaves the centre out: Keras's own count)
        if getattr(layer, "built", False):
            params = keras_params(layer)
        return layers.norm(b, parents[0], name, type(layer).__name__, params=params)

    return handler


def flatten(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> int:
    return layers.flatten(b, parents[0], name, type(layer).__name__)
