"""One table from Keras 3 layer classes to :class:`GraphBuilder` calls, read from layer configs.

Nothing here runs a layer. Shapes, params and MACs come from the builder; the only numbers
taken from Keras are the output shapes of layers the builder cannot size itself (up-sampling,
reshape) and of unknown layers, via ``layer.compute_output_shape``.
Unknown layers become uncounted nodes (``counted=False``), never silent zeros.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from stridescope.errors import StridescopeError
from stridescope.geometry import keras_transposed_padding
from stridescope.ir import GraphBuilder, OpKind, Shape, channel_axis

__all__ = ["add_keras_layer", "keras_layout", "keras_table"]

Handler = Callable[[GraphBuilder, Sequence[int], Any, dict[str, Any], str], int]


def keras_layout(config: dict[str, Any]) -> str | None:
    """The IR layout a layer config asks for, or ``None`` if it has no ``data_format``.

    >>> keras_layout({"data_format": "channels_first"}), keras_layout({})
    ('nchw', None)
    """
    fmt = config.get("data_format")
    if fmt is None:
        return None
    return "nchw" if fmt == "channels_first" else "nhwc"


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


def _conv(b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str) -> int:
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


def _conv_transpose(
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


def _depthwise_conv(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> int:
    node = _depthwise(b, parents, layer, c, name, bool(c.get("use_bias", True)))
    return _then_activation(b, node, c, name, type(layer).__name__)


def _separable_conv(
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


def _dense(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> int:
    node = b.linear(
        parents[0],
        name,
        out_features=int(c["units"]),
        bias=bool(c.get("use_bias", True)),
        op=type(layer).__name__,
    )
    return _then_activation(b, node, c, name, type(layer).__name__)


def _pool(mode: str) -> Handler:
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


def _global_pool(mode: str) -> Handler:
    def handler(
        b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
    ) -> int:
        node = b.adaptive_pool(parents[0], name, mode=mode, output_size=1, op=type(layer).__name__)
        if c.get("keepdims", False):
            return node
        return b.flatten(node, f"{name}/squeeze", op=type(layer).__name__)

    return handler


def _pointwise(kind: OpKind) -> Handler:
    def handler(
        b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
    ) -> int:
        op = _activation_name(c) if kind is OpKind.ACTIVATION and "activation" in c else ""
        return b.pointwise(parents[0], name, kind=kind, op=op or type(layer).__name__)

    return handler


def _keras_params(layer: Any) -> int:
    """Keras's own parameter count (0 for a layer that was never built)."""
    return int(layer.count_params()) if getattr(layer, "built", False) else 0


def _weighted(kind: OpKind) -> Handler:
    """A shape-preserving layer whose weights Keras counts (PReLU's slopes, GroupNormalization's
    gamma and beta): params from ``layer.count_params()``."""

    def handler(
        b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
    ) -> int:
        return b.pointwise(
            parents[0], name, kind=kind, params=_keras_params(layer), op=type(layer).__name__
        )

    return handler


def _attention(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> int:
    """MultiHeadAttention(query, value[, key]): the three projections, ``q @ kᵀ``, the
    product with ``v`` and the output projection as one ``matmul`` node (as for
    ``nn.MultiheadAttention``); params from ``count_params()``. A gated or sliding-window
    layer, or a custom output shape, is uncounted."""
    q = b.shape(parents[0])
    v = b.shape(parents[1]) if len(parents) > 1 else q
    k = b.shape(parents[2]) if len(parents) > 2 else v
    shapes = (q, k, v)
    custom = c.get("use_gate") or c.get("sliding_window") or c.get("output_shape") is not None
    if custom or any(None in s[1:] for s in shapes) or len({len(s) for s in shapes}) != 1:
        return _unknown(b, parents, layer, c, name)
    rank = len(q)
    axes = c.get("attention_axes") or tuple(range(1, rank - 1))
    axes = tuple(int(a) % rank for a in axes)
    heads, key_dim = int(c["num_heads"]), int(c["key_dim"])
    value_dim = int(c.get("value_dim") or key_dim)

    def rows(shape: Shape) -> int:
        return math.prod(int(d or 1) for d in shape[:-1])

    def along(shape: Shape) -> int:
        return math.prod(int(shape[a] or 1) for a in axes)

    width = int(q[-1] or 1)
    macs = rows(q) * width * heads * key_dim + rows(k) * int(k[-1] or 1) * heads * key_dim
    macs += rows(v) * int(v[-1] or 1) * heads * value_dim
    macs += rows(q) * along(k) * heads * (key_dim + value_dim)  # scores, then the values
    macs += rows(q) * heads * value_dim * width
    params = _keras_params(layer)
    out = _keras_shape(b, parents, layer)
    unique = list(dict.fromkeys(parents))
    return b.matmul(
        unique, name, output_shape=out, macs=macs, params=params, op=type(layer).__name__
    )


def _identity(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> int:
    """Identity and ActivityRegularization return their input: no node, as ``nn.Identity``."""
    return parents[0]


def _norm(moving_stats: bool) -> Handler:
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


def _flatten(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> int:
    return b.flatten(parents[0], name, op=type(layer).__name__)


def _merge(kind: OpKind) -> Handler:
    def handler(
        b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
    ) -> int:
        if kind is OpKind.CONCAT:
            rank = len(b.shape(parents[0]))
            axis = int(c.get("axis", -1)) % rank
            if axis != channel_axis(rank, b.layout):
                return _unknown(b, parents, layer, c, name)
        return b.merge(parents, name, kind=kind, op=type(layer).__name__)

    return handler


def _keras_shape(b: GraphBuilder, parents: Sequence[int], layer: Any) -> Shape:
    shapes = [b.shape(p) for p in parents]
    try:
        out = layer.compute_output_shape(shapes[0] if len(shapes) == 1 else shapes)
    except Exception as error:  # Keras raises many types; report it as one line
        try:  # layers that take their inputs as separate arguments (query, value, key)
            if len(shapes) == 1:
                raise
            out = layer.compute_output_shape(*shapes)
        except Exception:
            raise StridescopeError(
                f"{layer.name}: Keras could not compute the output shape of "
                f"{type(layer).__name__} for input {shapes!r}: {error}"
            ) from None
    return tuple(None if d is None else int(d) for d in out)


def _resize(kind: OpKind) -> Handler:
    """UpSampling1D/2D/3D: nearest-neighbour by whole factors is an exact scatter (input
    ``i`` copied to ``i*s .. i*s + s - 1``); other interpolations keep only the shape."""

    def handler(
        b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
    ) -> int:
        out = _keras_shape(b, parents, layer)
        size = c.get("size", 2)
        rank = len(b.shape(parents[0])) - 2
        factors = [int(size)] * rank if isinstance(size, int) else [int(s) for s in size]
        nearest = c.get("interpolation", "nearest") == "nearest" and len(factors) == rank
        return b.resize(
            parents[0], name, kind=kind, output_shape=out, op=type(layer).__name__,
            repeat=factors if nearest else None,
        )  # fmt: skip

    return handler


def _zero_padding(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> int:
    """ZeroPadding1D/2D/3D: an exact :meth:`GraphBuilder.pad` (``padding`` is ``(b, a)`` for
    1-D, one ``(b, a)`` per axis otherwise)."""
    padding = c["padding"]
    pairs = [padding] if isinstance(padding[0], int) else list(padding)
    return b.pad(
        parents[0],
        name,
        padding=[(int(p[0]), int(p[1])) for p in pairs],
        op=type(layer).__name__,
    )


def _cropping(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> int:
    """Cropping1D/2D/3D: an exact :meth:`GraphBuilder.pad` with negative amounts
    (``cropping`` is ``(b, a)`` for 1-D, one ``(b, a)`` per axis otherwise)."""
    cropping = c["cropping"]
    pairs = [cropping] if isinstance(cropping[0], int) else list(cropping)
    return b.pad(
        parents[0],
        name,
        padding=[(-int(p[0]), -int(p[1])) for p in pairs],
        op=type(layer).__name__,
    )


def _reshape(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> int:
    out = _keras_shape(b, parents, layer)
    return b.reshape(parents[0], name, output_shape=out, op=type(layer).__name__)


def _permute(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> int:
    """Permute(dims): 1-based axes after the batch axis; positions stay, axes move."""
    dims = (0, *(int(d) for d in c["dims"]))
    return b.permute(parents[0], name, dims=dims, op=type(layer).__name__)


def _unknown(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> int:
    out = _keras_shape(b, parents, layer)
    params = _keras_params(layer)
    return b.other(
        list(parents),
        name,
        kind=OpKind.UNCOUNTED,
        output_shape=out,
        params=params,
        counted=False,
        note=f"{type(layer).__name__}: shape and params from Keras, MACs not counted",
        op=type(layer).__name__,
    )


def _table() -> dict[type, Handler]:
    import keras

    L = keras.layers
    table: dict[type, Handler] = {}
    for cls in (L.Conv1D, L.Conv2D, L.Conv3D):
        table[cls] = _conv
    for cls in (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose):
        table[cls] = _conv_transpose
    table[L.DepthwiseConv1D] = _depthwise_conv
    table[L.DepthwiseConv2D] = _depthwise_conv
    table[L.SeparableConv1D] = _separable_conv
    table[L.SeparableConv2D] = _separable_conv
    table[L.Dense] = _dense
    for cls in (L.MaxPooling1D, L.MaxPooling2D, L.MaxPooling3D):
        table[cls] = _pool("max")
    for cls in (L.AveragePooling1D, L.AveragePooling2D, L.AveragePooling3D):
        table[cls] = _pool("avg")
    for cls in (L.GlobalMaxPooling1D, L.GlobalMaxPooling2D, L.GlobalMaxPooling3D):
        table[cls] = _global_pool("max")
    for cls in (L.GlobalAveragePooling1D, L.GlobalAveragePooling2D, L.GlobalAveragePooling3D):
        table[cls] = _global_pool("avg")
    for cls in (L.Activation, L.ReLU, L.Softmax, L.LeakyReLU, L.ELU):
        table[cls] = _pointwise(OpKind.ACTIVATION)
    for cls in (
        L.Dropout, L.SpatialDropout1D, L.SpatialDropout2D, L.SpatialDropout3D, L.GaussianNoise,
        L.GaussianDropout, L.AlphaDropout,
    ):  # fmt: skip
        table[cls] = _pointwise(OpKind.DROPOUT)
    table[L.PReLU] = _weighted(OpKind.ACTIVATION)
    for cls in (L.GroupNormalization, L.UnitNormalization):
        table[cls] = _weighted(OpKind.NORM)
    for cls in (L.Identity, L.ActivityRegularization):
        table[cls] = _identity
    table[L.MultiHeadAttention] = _attention
    table[L.Rescaling] = _pointwise(OpKind.NORM)
    table[L.BatchNormalization] = _norm(moving_stats=True)
    table[L.LayerNormalization] = _norm(moving_stats=False)
    table[L.Flatten] = _flatten
    for cls in (L.Add, L.Average, L.Subtract, L.Maximum, L.Minimum):
        table[cls] = _merge(OpKind.ADD)
    table[L.Multiply] = _merge(OpKind.MUL)
    table[L.Concatenate] = _merge(OpKind.CONCAT)
    for cls in (L.ZeroPadding1D, L.ZeroPadding2D, L.ZeroPadding3D):
        table[cls] = _zero_padding
    for cls in (L.Cropping1D, L.Cropping2D, L.Cropping3D):
        table[cls] = _cropping
    for cls in (L.UpSampling1D, L.UpSampling2D, L.UpSampling3D):
        table[cls] = _resize(OpKind.INTERPOLATE)
    table[L.Reshape] = _reshape
    table[L.Permute] = _permute
    return table


_TABLE: dict[type, Handler] | None = None


def keras_table() -> dict[type, Handler]:
    """The class → handler table (built on first use, so importing this module is cheap)."""
    global _TABLE
    if _TABLE is None:
        _TABLE = _table()
    return _TABLE


def add_keras_layer(b: GraphBuilder, parents: Sequence[int], layer: Any, name: str) -> int:
    """Append one Keras layer's node(s); the handler is found along the class's MRO, so
    subclasses of known layers are read as their base; a layer with a
    ``stridescope_ir(builder, parent, name)`` method (stridescope's own) describes itself, as
    in the PyTorch tracer; anything else is uncounted."""
    describe = getattr(layer, "stridescope_ir", None)
    if callable(describe) and len(parents) == 1:
        return int(describe(b, parents[0], name))
    table = keras_table()
    handler = next((table[cls] for cls in type(layer).__mro__ if cls in table), _unknown)
    return handler(b, parents, layer, layer.get_config(), name)
