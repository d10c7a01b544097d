"""Map a parsed layer onto :class:`~stridescope.ir.GraphBuilder` calls: one function per
builder category of :data:`~stridescope.frontends.expr.table.LAYERS`, chosen through
:data:`BUILDERS`. Sizes, parameters and MACs are computed by the builder, never here.

>>> from stridescope.ir import GraphBuilder
>>> b = GraphBuilder((1, 8, 8, 4), "nhwc")
>>> last = BUILDERS["separable"](b, b.input, "SeparableConv2D",
...     {"filters": 8, "kernel_size": 3, "strides": 1, "padding": "same", "dilation_rate": 1,
...      "depth_multiplier": 1, "activation": None, "use_bias": True}, "sep")
>>> [(n.name, n.params) for n in b.build().nodes[1:]]
[('sep/depthwise', 36), ('sep/pointwise', 40)]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

from stridescope.errors import StridescopeError
from stridescope.geometry import keras_transposed_padding, per_axis
from stridescope.ir import GraphBuilder, OpKind, channel_axis, spatial_axes

__all__ = ["BUILDERS", "Build"]

Build = Callable[[GraphBuilder, int, str, dict[str, Any], str], int]


def _channels(b: GraphBuilder, node: int, layer: str) -> int:
    shape = b.shape(node)
    channels = shape[channel_axis(len(shape), b.layout)]
    if channels is None:
        raise StridescopeError(f"{layer}: the channel count must be known; received {shape!r}")
    return channels


def _expect_channels(b: GraphBuilder, parent: int, layer: str, arg: str, value: int) -> int:
    """The input's channel count, which a PyTorch layer's ``arg`` must equal."""
    channels = _channels(b, parent, layer)
    if value != channels:
        raise StridescopeError(
            f"{layer}: {arg}={value} but the input has {channels} channels "
            f"(shape {b.shape(parent)!r}, {b.layout})"
        )
    return channels


def _activation(b: GraphBuilder, node: int, layer: str, o: dict[str, Any], name: str) -> int:
    """A Keras layer's ``activation=``: a pointwise node after it, unless None/'linear'."""
    act = o.get("activation")
    if act is None or act == "linear":
        return node
    return b.pointwise(node, f"{name}/{act}", kind=OpKind.ACTIVATION, op=f"{layer}:{act}")


def _keras_window(layer: str, o: dict[str, Any], stride_key: str = "strides") -> None:
    strides, dilation = o.get(stride_key), o.get("dilation_rate", 1)

    def above_one(v: object) -> bool:
        return any(x > 1 for x in v) if isinstance(v, tuple) else bool(isinstance(v, int) and v > 1)

    if above_one(strides) and above_one(dilation):
        raise StridescopeError(
            f"{layer}: Keras does not support strides > 1 together with dilation_rate > 1; "
            f"received strides={strides!r}, dilation_rate={dilation!r}"
        )


# PyTorch's names for the Keras arguments a convolution shares
_TORCH_CONV_NAMES = {
    "out_channels": "filters",
    "stride": "strides",
    "dilation": "dilation_rate",
    "bias": "use_bias",
}


def _pad(b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str) -> int:
    """``ZeroPadding2D(padding)`` (int, (rows, cols) or ((top, bottom), (left, right))) or
    ``nn.ZeroPad2d``/``ReflectionPad2d``/``ReplicationPad2d(padding)`` (int or (left,
    right, top, bottom)): an exact :meth:`GraphBuilder.pad`."""
    p = o["padding"]
    if layer.startswith("nn."):
        left, right, top, bottom = (p,) * 4 if isinstance(p, int) else p
        pairs = [(top, bottom), (left, right)]
    elif isinstance(p, int):
        pairs = [(p, p), (p, p)]
    else:
        pairs = [(x, x) if isinstance(x, int) else (x[0], x[1]) for x in p]
    return b.pad(parent, name, padding=pairs, mode=o.get("mode", "zeros"), op=layer)


def _conv(b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str) -> int:
    if layer.startswith("nn."):
        _expect_channels(b, parent, layer, "in_channels", o["in_channels"])
        padding = "torch-same" if o["padding"] == "same" else o["padding"]
        o = {_TORCH_CONV_NAMES.get(k, k): v for k, v in o.items()}
    else:
        _keras_window(layer, o)
        padding = o["padding"].lower()
    node = b.conv(
        parent,
        name,
        out_channels=o["filters"],
        kernel=o["kernel_size"],
        stride=o["strides"],
        dilation=o["dilation_rate"],
        padding=padding,
        groups=o["groups"],
        bias=o["use_bias"],
        op=layer,
        pad_mode=o.get("padding_mode", "zeros"),
    )
    return _activation(b, node, layer, o, name)


def _conv_transpose(b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str) -> int:
    """``nn.ConvTranspose1d/2d`` (symmetric int padding plus ``output_padding``) or Keras
    ``Conv1DTranspose/Conv2DTranspose`` (``'same'``/``'valid'``, resolved by
    :func:`~stridescope.geometry.keras_transposed_padding`)."""
    rank = len(spatial_axes(len(b.shape(parent)), b.layout))
    if layer.startswith("nn."):
        _expect_channels(b, parent, layer, "in_channels", o["in_channels"])
        if o["padding_mode"] != "zeros":
            raise StridescopeError(
                f"{layer}: ConvTranspose supports only padding_mode='zeros' (as torch); "
                f"received {o['padding_mode']!r}"
            )
        pads = [(p, p) for p in per_axis(o["padding"], rank, "padding")]
        node = b.conv_transpose(
            parent, name, out_channels=o["out_channels"], kernel=o["kernel_size"],
            stride=o["stride"], dilation=o["dilation"], padding=pads,
            output_padding=o["output_padding"], groups=o["groups"], bias=o["bias"], op=layer,
        )  # fmt: skip
        return node
    _keras_window(layer, o)
    k = per_axis(o["kernel_size"], rank, "kernel_size")
    st = per_axis(o["strides"], rank, "strides")
    d = per_axis(o["dilation_rate"], rank, "dilation_rate")
    op = o["output_padding"]
    extras = [None] * rank if op is None else list(per_axis(op, rank, "output_padding"))
    mode = o["padding"].lower()
    resolved = [
        keras_transposed_padding(ki, si, di, mode, extra)
        for ki, si, di, extra in zip(k, st, d, extras, strict=True)
    ]
    node = b.conv_transpose(
        parent, name, out_channels=o["filters"], kernel=k, stride=st, dilation=d,
        padding=[pads for pads, _ in resolved], output_padding=[e for _, e in resolved],
        bias=o["use_bias"], op=layer,
    )  # fmt: skip
    return _activation(b, node, layer, o, name)


def _depthwise(
    b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str, bias: bool
) -> int:
    _keras_window(layer, o)
    cin = _channels(b, parent, layer)
    return b.conv(
        parent,
        name,
        out_channels=cin * o["depth_multiplier"],
        kernel=o["kernel_size"],
        stride=o["strides"],
        dilation=o["dilation_rate"],
        padding=o["padding"].lower(),
        groups=cin,
        bias=bias,
        op=layer,
    )


def _keras_depthwise(b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str) -> int:
    node = _depthwise(b, parent, layer, o, name, o["use_bias"])
    return _activation(b, node, layer, o, name)


def _separable(b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str) -> int:
    depth = _depthwise(b, parent, layer, o, f"{name}/depthwise", bias=False)
    point = b.conv(
        depth,
        f"{name}/pointwise",
        out_channels=o["filters"],
        kernel=1,
        bias=o["use_bias"],
        op=layer,
    )
    return _activation(b, point, layer, o, name)


def _pool(b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str) -> int:
    if not layer.startswith("nn."):
        _keras_window(layer, o)
        return b.pool(
            parent,
            name,
            mode=o["mode"],
            kernel=o["pool_size"],
            stride=o["strides"],
            padding=o["padding"].lower(),
            op=layer,
        )
    padding, kernel = o["padding"], o["kernel_size"]
    if isinstance(padding, str):
        raise StridescopeError(
            f"{layer}: padding must be an int or a tuple of ints; got {padding!r}"
        )
    axes = 2
    pads = padding if isinstance(padding, tuple) else (padding,) * axes
    kernels = kernel if isinstance(kernel, tuple) else (kernel,) * axes
    if any(2 * p > k for p, k in zip(pads, kernels, strict=False)):
        raise StridescopeError(
            f"{layer}: padding should be at most half of kernel_size (as torch requires); "
            f"received padding={padding!r}, kernel_size={kernel!r}"
        )
    return b.pool(
        parent,
        name,
        mode=o["mode"],
        kernel=kernel,
        stride=o["stride"],
        dilation=o.get("dilation", 1),
        padding=padding,
        ceil_mode=o["ceil_mode"],
        op=layer,
    )


def _global_pool(b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str) -> int:
    pooled = b.adaptive_pool(parent, name, mode=o["mode"], output_size=1, op=layer)
    if o["keepdims"]:
        return pooled
    return b.flatten(pooled, f"{name}/squeeze", op=layer)


def _adaptive_pool(b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str) -> int:
    return b.adaptive_pool(parent, name, mode=o["mode"], output_size=o["output_size"], op=layer)


def _flatten(b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str) -> int:
    shape = b.shape(parent)
    rank = len(shape)
    start, end = o.get("start_dim", 1), o.get("end_dim", -1)
    first, last = start % rank, end % rank
    if not (-rank <= start < rank and -rank <= end < rank) or first > last:
        raise StridescopeError(
            f"{layer}: start_dim={start}, end_dim={end} do not fit a {rank}-D input {shape!r}"
        )
    if last == rank - 1:
        return b.flatten(parent, name, start_dim=first, op=layer)
    middle = shape[first : last + 1]
    size = None if None in middle else math.prod(d for d in middle if d is not None)
    out = (*shape[:first], size, *shape[last + 1 :])
    return b.other(parent, name, kind=OpKind.FLATTEN, output_shape=out, op=layer)


def _dense(b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str) -> int:
    if layer.startswith("nn."):
        features = b.shape(parent)[-1]
        if o["in_features"] != features:
            raise StridescopeError(
                f"{layer}: in_features={o['in_features']} but the input's last axis has "
                f"{features} (shape {b.shape(parent)!r})"
            )
        return b.linear(parent, name, out_features=o["out_features"], bias=o["bias"], op=layer)
    node = b.linear(parent, name, out_features=o["units"], bias=o["use_bias"], op=layer)
    return _activation(b, node, layer, o, name)


def _norm(b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str) -> int:
    shape = b.shape(parent)
    if layer.startswith("nn."):
        channels = _expect_channels(b, parent, layer, "num_features", o["num_features"])
        params = 2 * channels if o["affine"] else 0
    else:
        axis = o["axis"]
        if not -len(shape) <= axis < len(shape) or axis % len(shape) == 0:
            raise StridescopeError(f"{layer}: axis={axis} is not a feature axis of {shape!r}")
        channels = shape[axis]
        if channels is None:
            raise StridescopeError(f"{layer}: axis {axis} of {shape!r} must be known")
        params = (2 + int(o["center"]) + int(o["scale"])) * channels
    return b.pointwise(parent, name, kind=OpKind.NORM, params=params, op=layer)


def _pointwise(kind: OpKind) -> Build:
    def build(b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str) -> int:
        rate = o.get("rate", o.get("p"))
        if rate is not None and not 0 <= rate < 1:
            raise StridescopeError(f"{layer}: the dropout rate must be in [0, 1); got {rate!r}")
        act = o.get("activation")
        return b.pointwise(parent, name, kind=kind, op=layer if act is None else f"{layer}:{act}")

    return build


def _pixel_unshuffle(b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str) -> int:
    if len(spatial_axes(len(b.shape(parent)), b.layout)) != 2:
        raise StridescopeError(f"{layer} needs a 4-D input; received {b.shape(parent)!r}")
    return b.pixel_unshuffle(parent, name, factor=o["downscale_factor"], op=layer)


BUILDERS: Final[dict[str, Build]] = {
    "conv": _conv,
    "conv_transpose": _conv_transpose,
    "depthwise": _keras_depthwise,
    "separable": _separable,
    "pool": _pool,
    "global_pool": _global_pool,
    "adaptive_pool": _adaptive_pool,
    "flatten": _flatten,
    "dense": _dense,
    "norm": _norm,
    "activation": _pointwise(OpKind.ACTIVATION),
    "dropout": _pointwise(OpKind.DROPOUT),
    "pixel_unshuffle": _pixel_unshuffle,
    "pad": _pad,
}
