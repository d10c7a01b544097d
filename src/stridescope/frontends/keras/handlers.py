"""Handlers for the Keras 3 layers with weights or windows (convolutions, dense, pooling,
normalisation, activations), read from layer configs; the table that maps layer classes to
handlers is :mod:`stridescope.frontends.keras.layer_table`.

Nothing here runs a layer. Shapes, params and MACs come from the builder.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from stridescope.errors import StridescopeError
from stridescope.geometry import keras_transposed_padding
from stridescope.ir import GraphBuilder, OpKind, Shape, channel_axis

__all__ = [
    "Handler",
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


Handler = Callable[[GraphBuilder, Sequence[int], Any, dict[str, Any], str], int]


def _channels(b: GraphBuilder, shape: Shape) -> int | None:
    return shape[channel_axis(len(shape), b.layout)]


def _activation_name(config: dict[str, Any]) -> str:
    act = config.get("activation", "linear")
    if isinstance(act, dict):
        inner = act.get("config")
        return str(inner.get("name") if isinstance(inner, dict) else act.get("class_name"))
    return str(act) if act is not None else "linear"


def _then_activation(
    b: GraphBuilder, node: int, config: dict[str, Any], name: str, layer_op: str = ""
) -> int:
    """A fused ``activation=`` becomes its own pointwise node named ``<layer>/<activation>``
    (as in :mod:`stridescope.frontends.expr`)."""
    act = _activation_name(config)
    if act in ("linear", "None", ""):
        return node
    return b.pointwise(node, f"{name}/{act}", kind=OpKind.ACTIVATION, op=f"{layer_op}:{act}")


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
    kernel = tuple(c["kernel_size"])
    node = b.conv(
        parents[0],
        name,
        out_channels=int(c["filters"]),
        kernel=kernel,
        stride=tuple(c["strides"]),
        dilation=tuple(c["dilation_rate"]),
        padding=_conv_padding(b, c, len(kernel)),
        groups=int(c.get("groups", 1)),
        bias=bool(c.get("use_bias", True)),
        op=type(layer).__name__,
    )
    return _then_activation(b, node, c, name, type(layer).__name__)


def conv_transpose(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> int:
    """Conv1DTranspose / Conv2DTranspose / Conv3DTranspose: ``'same'`` / ``'valid'`` and
    ``output_padding`` resolved by :func:`~stridescope.geometry.keras_transposed_padding`."""
    kernel = tuple(int(k) for k in c["kernel_size"])
    stride = tuple(int(s) for s in c["strides"])
    dilation = tuple(int(d) for d in c["dilation_rate"])
    extra = c.get("output_padding")
    extras = [None] * len(kernel) if extra is None else list(extra)
    resolved = [
        keras_transposed_padding(k, s, d, _padding(c), None if e is None else int(e))
        for k, s, d, e in zip(kernel, stride, dilation, extras, strict=True)
    ]
    node = b.conv_transpose(
        parents[0],
        name,
        out_channels=int(c["filters"]),
        kernel=kernel,
        stride=stride,
        dilation=dilation,
        padding=[pads for pads, _ in resolved],
        output_padding=[e for _, e in resolved],
        bias=bool(c.get("use_bias", True)),
        op=type(layer).__name__,
    )
    return _then_activation(b, node, c, name, type(layer).__name__)


def _depthwise(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str, bias: bool
) -> int:
    cin = _channels(b, b.shape(parents[0]))
    if cin is None:
        raise StridescopeError(f"{name}: depthwise convolution needs a known channel count")
    return b.conv(
        parents[0],
        name,
        out_channels=cin * int(c.get("depth_multiplier", 1)),
        kernel=tuple(c["kernel_size"]),
        stride=tuple(c["strides"]),
        dilation=tuple(c["dilation_rate"]),
        padding=_padding(c),
        groups=cin,
        bias=bias,
        op=type(layer).__name__,
    )


def depthwise_conv(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> int:
    node = _depthwise(b, parents, layer, c, name, bool(c.get("use_bias", True)))
    return _then_activation(b, node, c, name, type(layer).__name__)


def separable_conv(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> int:
    """Keras' SeparableConv: a depthwise conv (no bias) then a 1x1 conv (with the bias)."""
    depth = _depthwise(b, parents, layer, c, f"{name}/depthwise", bias=False)
    rank = len(tuple(c["kernel_size"]))
    node = b.conv(
        depth,
        f"{name}/pointwise",
        out_channels=int(c["filters"]),
        kernel=(1,) * rank,
        bias=bool(c.get("use_bias", True)),
        op=type(layer).__name__,
    )
    return _then_activation(b, node, c, name, type(layer).__name__)


def dense(b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str) -> int:
    node = b.linear(
        parents[0],
        name,
        out_features=int(c["units"]),
        bias=bool(c.get("use_bias", True)),
        op=type(layer).__name__,
    )
    return _then_activation(b, node, c, name, type(layer).__name__)


def pool(mode: str) -> Handler:
    def handler(
        b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
    ) -> int:
        kernel = tuple(c["pool_size"])
        strides = c.get("strides")
        return b.pool(
            parents[0],
            name,
            mode=mode,
            kernel=kernel,
            stride=kernel if strides is None else tuple(strides),
            padding=_padding(c),
            op=type(layer).__name__,
        )

    return handler


def global_pool(mode: str) -> Handler:
    def handler(
        b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
    ) -> int:
        node = b.adaptive_pool(parents[0], name, mode=mode, output_size=1, op=type(layer).__name__)
        if c.get("keepdims", False):
            return node
        return b.flatten(node, f"{name}/squeeze", op=type(layer).__name__)

    return handler


def pointwise(kind: OpKind) -> Handler:
    def handler(
        b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
    ) -> int:
        op = _activation_name(c) if kind is OpKind.ACTIVATION and "activation" in c else ""
        return b.pointwise(parents[0], name, kind=kind, op=op or type(layer).__name__)

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
        return b.pointwise(
            parents[0], name, kind=kind, params=keras_params(layer), op=type(layer).__name__
        )

    return handler


def identity(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> int:
    """Identity and ActivityRegularization return their input: no node, as ``nn.Identity``."""
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
        return b.pointwise(
            parents[0], name, kind=OpKind.NORM, params=size * per_element, op=type(layer).__name__
        )

    return handler


def flatten(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> int:
    return b.flatten(parents[0], name, op=type(layer).__name__)
