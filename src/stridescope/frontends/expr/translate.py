"""A parsed layer's arguments → one call of :mod:`stridescope.frontends.layers`.

:data:`TRANSLATORS` has one function per framework and category of
:data:`~stridescope.frontends.expr.table.LAYERS`. Each checks what the framework itself would
refuse (a PyTorch ``in_channels`` that does not match the input, Keras strides with dilation)
and renames the framework's arguments; sizes, parameters and MACs are computed by the builder,
never here.

>>> from stridescope.ir import GraphBuilder
>>> b = GraphBuilder((1, 8, 8, 4), "nhwc")
>>> last = TRANSLATORS["keras"]["separable"](b, b.input, "SeparableConv2D",
...     {"filters": 8, "kernel_size": 3, "strides": 1, "padding": "same", "dilation_rate": 1,
...      "depth_multiplier": 1, "activation": None, "use_bias": True}, "sep")
>>> [(n.name, n.params) for n in b.build().nodes[1:]]
[('sep/depthwise', 36), ('sep/pointwise', 40)]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from stridescope.errors import StridescopeError
from stridescope.frontends import layers
from stridescope.frontends.expr.table import Framework
from stridescope.geometry import per_axis
from stridescope.ir import GraphBuilder, OpKind, channel_axis, spatial_axes

__all__ = ["TRANSLATORS", "Translate"]

Translate = Callable[[GraphBuilder, int, str, dict[str, Any], str], int]
"""``(builder, parent, layer, options, name) -> last node``; ``layer`` is the name as written
(``Conv2D``, ``nn.Conv2d``), ``options`` every parameter (given or default)."""


def _channels(b: GraphBuilder, parent: int, layer: str, arg: str, value: int) -> int:
    """The input's channel count, which a PyTorch layer's ``arg`` must equal."""
    shape = b.shape(parent)
    channels = shape[channel_axis(len(shape), b.layout)]
    if channels is None:
        raise StridescopeError(f"{layer}: the channel count must be known; received {shape!r}")
    if value != channels:
        raise StridescopeError(
            f"{layer}: {arg}={value} but the input has {channels} channels "
            f"(shape {shape!r}, {b.layout})"
        )
    return channels


def _keras_window(layer: str, o: dict[str, Any]) -> None:
    """Keras refuses strides > 1 together with dilation_rate > 1."""
    strides, dilation = o.get("strides"), o.get("dilation_rate", 1)

    def above_one(v: object) -> bool:
        return any(x > 1 for x in v) if isinstance(v, tuple) else bool(isinstance(v, int) and v > 1)

    if above_one(strides) and above_one(dilation):
        raise StridescopeError(
            f"{layer}: Keras does not support strides > 1 together with dilation_rate > 1; "
            f"received strides={strides!r}, dilation_rate={dilation!r}"
        )


def _pointwise(kind: OpKind) -> Translate:
    """Activations and dropout, both frameworks: a fixed ``activation`` names the op."""

    def translate(b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str) -> int:
        rate = o.get("rate", o.get("p"))
        if rate is not None and not 0 <= rate < 1:
            raise StridescopeError(f"{layer}: the dropout rate must be in [0, 1); got {rate!r}")
        act = o.get("activation")
        op = layer if act is None else f"{layer}:{act}"
        return layers.pointwise(b, parent, name, op, kind=kind)

    return translate


def _keras_padding(o: dict[str, Any]) -> str | list[tuple[int, int]]:
    """Keras' padding mode; ``'causal'`` (``Conv1D`` only) pads ``dilation * (kernel - 1)``
    before and nothing after, so output ``t`` reads inputs up to ``t``."""
    mode = str(o["padding"]).lower()
    if mode != "causal":
        return mode
    (k,) = per_axis(o["kernel_size"], 1, "kernel_size")
    (d,) = per_axis(o["dilation_rate"], 1, "dilation_rate")
    return [(d * (k - 1), 0)]


# -- Keras spelling ------------------------------------------------------------------------
def _keras_conv(b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str) -> int:
    _keras_window(layer, o)
    return layers.conv(
        b,
        parent,
        name,
        layer,
        out_channels=o["filters"],
        kernel=o["kernel_size"],
        stride=o["strides"],
        dilation=o["dilation_rate"],
        padding=_keras_padding(o),
        groups=o["groups"],
        bias=o["use_bias"],
        activation=o["activation"],
    )


def _keras_conv_transpose(
    b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str
) -> int:
    """``Conv1DTranspose`` / ``Conv2DTranspose``: ``'same'`` / ``'valid'`` and
    ``output_padding`` as Keras resolves them."""
    _keras_window(layer, o)
    return layers.conv_transpose(
        b,
        parent,
        name,
        layer,
        out_channels=o["filters"],
        kernel=o["kernel_size"],
        stride=o["strides"],
        dilation=o["dilation_rate"],
        padding=o["padding"].lower(),
        output_padding=o["output_padding"],
        bias=o["use_bias"],
        activation=o["activation"],
    )


def _keras_depthwise(b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str) -> int:
    _keras_window(layer, o)
    return layers.depthwise(
        b,
        parent,
        name,
        layer,
        kernel=o["kernel_size"],
        multiplier=o["depth_multiplier"],
        stride=o["strides"],
        dilation=o["dilation_rate"],
        padding=o["padding"].lower(),
        bias=o["use_bias"],
        activation=o["activation"],
    )


def _keras_separable(b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str) -> int:
    _keras_window(layer, o)
    return layers.separable(
        b,
        parent,
        name,
        layer,
        out_channels=o["filters"],
        kernel=o["kernel_size"],
        multiplier=o["depth_multiplier"],
        stride=o["strides"],
        dilation=o["dilation_rate"],
        padding=o["padding"].lower(),
        bias=o["use_bias"],
        activation=o["activation"],
    )


def _keras_pool(b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str) -> int:
    _keras_window(layer, o)
    padding = o["padding"].lower()
    kernel, stride = o["pool_size"], o["strides"]
    return layers.pool(
        b, parent, name, layer, mode=o["mode"], kernel=kernel, stride=stride, padding=padding
    )


def _keras_global_pool(
    b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str
) -> int:
    return layers.global_pool(b, parent, name, layer, mode=o["mode"], keepdims=o["keepdims"])


def _keras_flatten(b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str) -> int:
    return layers.flatten(b, parent, name, layer)


def _keras_dense(b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str) -> int:
    units, bias, act = o["units"], o["use_bias"], o["activation"]
    return layers.dense(b, parent, name, layer, out_features=units, bias=bias, activation=act)


def _keras_norm(b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str) -> int:
    """``BatchNormalization``: gamma and beta (if scale / center) and the moving mean and
    variance per feature, as ``count_params()`` counts them."""
    shape = b.shape(parent)
    axis = o["axis"]
    if not -len(shape) <= axis < len(shape) or axis % len(shape) == 0:
        raise StridescopeError(f"{layer}: axis={axis} is not a feature axis of {shape!r}")
    features = shape[axis]
    if features is None:
        raise StridescopeError(f"{layer}: axis {axis} of {shape!r} must be known")
    params = (2 + int(o["center"]) + int(o["scale"])) * features
    return layers.norm(b, parent, name, layer, params=params)


def _keras_pad(b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str) -> int:
    """``ZeroPadding2D(padding)``: an int, ``(rows, cols)`` or ``((top, bottom), (left,
    right))``; an exact :meth:`GraphBuilder.pad`."""
    p = o["padding"]
    if isinstance(p, int):
        pairs = [(p, p), (p, p)]
    else:
        pairs = [(x, x) if isinstance(x, int) else (x[0], x[1]) for x in p]
    return b.pad(parent, name, padding=pairs, op=layer)


# -- PyTorch spelling ----------------------------------------------------------------------
def _torch_conv(b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str) -> int:
    _channels(b, parent, layer, "in_channels", o["in_channels"])
    return layers.conv(
        b,
        parent,
        name,
        layer,
        out_channels=o["out_channels"],
        kernel=o["kernel_size"],
        stride=o["stride"],
        dilation=o["dilation"],
        padding="torch-same" if o["padding"] == "same" else o["padding"],
        groups=o["groups"],
        bias=o["bias"],
        pad_mode=o["padding_mode"],
    )


def _torch_conv_transpose(
    b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str
) -> int:
    """``nn.ConvTranspose1d/2d``: symmetric int padding plus ``output_padding``."""
    _channels(b, parent, layer, "in_channels", o["in_channels"])
    if o["padding_mode"] != "zeros":
        raise StridescopeError(
            f"{layer}: ConvTranspose supports only padding_mode='zeros' (as torch); "
            f"received {o['padding_mode']!r}"
        )
    rank = len(spatial_axes(len(b.shape(parent)), b.layout))
    return layers.conv_transpose(
        b,
        parent,
        name,
        layer,
        out_channels=o["out_channels"],
        kernel=o["kernel_size"],
        stride=o["stride"],
        dilation=o["dilation"],
        padding=[(p, p) for p in per_axis(o["padding"], rank, "padding")],
        output_padding=o["output_padding"],
        groups=o["groups"],
        bias=o["bias"],
    )


def _torch_pool(b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str) -> int:
    """``nn.MaxPool*d`` / ``nn.AvgPool*d``: int padding of at most half the kernel (as
    torch requires)."""
    padding, kernel = o["padding"], o["kernel_size"]
    if isinstance(padding, str):
        raise StridescopeError(
            f"{layer}: padding must be an int or a tuple of ints; got {padding!r}"
        )
    rank = len(spatial_axes(len(b.shape(parent)), b.layout))
    pads = padding if isinstance(padding, tuple) else (padding,) * rank
    kernels = kernel if isinstance(kernel, tuple) else (kernel,) * rank
    if any(2 * p > k for p, k in zip(pads, kernels, strict=False)):
        raise StridescopeError(
            f"{layer}: padding should be at most half of kernel_size (as torch requires); "
            f"received padding={padding!r}, kernel_size={kernel!r}"
        )
    spatial = [b.shape(parent)[a] for a in spatial_axes(len(b.shape(parent)), b.layout)]
    small = any(n is not None and n < k for n, k in zip(spatial, kernels, strict=False))
    if o["mode"] == "avg" and rank == 3 and small:  # torch's avg_pool3d, padding or not
        raise StridescopeError(
            f"{layer}: the input {tuple(spatial)!r} is smaller than kernel_size {kernel!r} on "
            "an axis, which torch's avg_pool3d refuses even with padding"
        )
    return layers.pool(
        b,
        parent,
        name,
        layer,
        mode=o["mode"],
        kernel=kernel,
        stride=o["stride"],
        dilation=o.get("dilation", 1),
        padding=padding,
        ceil_mode=o["ceil_mode"],
    )


def _torch_adaptive_pool(
    b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str
) -> int:
    return layers.adaptive_pool(
        b, parent, name, layer, mode=o["mode"], output_size=o["output_size"]
    )


def _torch_flatten(b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str) -> int:
    start, end = o["start_dim"], o["end_dim"]
    return layers.flatten(b, parent, name, layer, start_dim=start, end_dim=end)


def _torch_dense(b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str) -> int:
    features = b.shape(parent)[-1]
    if o["in_features"] != features:
        raise StridescopeError(
            f"{layer}: in_features={o['in_features']} but the input's last axis has "
            f"{features} (shape {b.shape(parent)!r})"
        )
    return layers.dense(b, parent, name, layer, out_features=o["out_features"], bias=o["bias"])


def _torch_norm(b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str) -> int:
    """``nn.BatchNorm2d``: weight and bias per channel if ``affine`` (the running statistics
    are buffers)."""
    channels = _channels(b, parent, layer, "num_features", o["num_features"])
    return layers.norm(b, parent, name, layer, params=2 * channels if o["affine"] else 0)


def _torch_pad(b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str) -> int:
    """``nn.ZeroPad2d`` / ``ReflectionPad2d`` / ``ReplicationPad2d(padding)``: an int or
    ``(left, right, top, bottom)``; an exact :meth:`GraphBuilder.pad` in that mode."""
    p = o["padding"]
    left, right, top, bottom = (p,) * 4 if isinstance(p, int) else p
    pairs = [(top, bottom), (left, right)]
    return b.pad(parent, name, padding=pairs, mode=o["mode"], op=layer)


def _torch_pixel_unshuffle(
    b: GraphBuilder, parent: int, layer: str, o: dict[str, Any], name: str
) -> int:
    if len(spatial_axes(len(b.shape(parent)), b.layout)) != 2:
        raise StridescopeError(f"{layer} needs a 4-D input; received {b.shape(parent)!r}")
    return b.pixel_unshuffle(parent, name, factor=o["downscale_factor"], op=layer)


TRANSLATORS: Final[dict[Framework, dict[str, Translate]]] = {
    "keras": {
        "conv": _keras_conv,
        "conv_transpose": _keras_conv_transpose,
        "depthwise": _keras_depthwise,
        "separable": _keras_separable,
        "pool": _keras_pool,
        "global_pool": _keras_global_pool,
        "flatten": _keras_flatten,
        "dense": _keras_dense,
        "norm": _keras_norm,
        "activation": _pointwise(OpKind.ACTIVATION),
        "dropout": _pointwise(OpKind.DROPOUT),
        "pad": _keras_pad,
    },
    "torch": {
        "conv": _torch_conv,
        "conv_transpose": _torch_conv_transpose,
        "pool": _torch_pool,
        "adaptive_pool": _torch_adaptive_pool,
        "flatten": _torch_flatten,
        "dense": _torch_dense,
        "norm": _torch_norm,
        "activation": _pointwise(OpKind.ACTIVATION),
        "dropout": _pointwise(OpKind.DROPOUT),
        "pad": _torch_pad,
        "pixel_unshuffle": _torch_pixel_unshuffle,
    },
}
