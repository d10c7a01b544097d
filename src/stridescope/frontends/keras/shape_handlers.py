"""Handlers for the Keras 3 layers that merge, pad, crop, resize, reshape or reorder tensors,
for multi-head attention and recurrent layers, and for layers no table row knows
(:func:`unknown`, uncounted).

The only numbers taken from Keras are the output shapes of layers the builder cannot size
itself (up-sampling, resizing, reshape, attention, recurrent layers, a concatenation along
another axis than channels) and of unknown layers, via ``layer.compute_output_shape``, and the
parameter counts of attention and recurrent layers. Unknown layers become uncounted nodes
(``counted=False``), never silent zeros.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from stridescope.frontends.keras.axis_ops import outputs_beside
from stridescope.frontends.keras.handlers import Handler, keras_params
from stridescope.frontends.keras.operations import concat, uncounted
from stridescope.frontends.keras.resizes import resize_node
from stridescope.frontends.keras.shapes import keras_shapes
from stridescope.ir import GraphBuilder, OpKind, Shape, spatial_axes

__all__ = [
    "attention",
    "center_crop",
    "conv_lstm",
    "cropping",
    "keras_shape",
    "known_cells",
    "merge",
    "permute",
    "recurrent",
    "reshape",
    "resize",
    "resizing",
    "unknown",
    "with_states",
    "zero_padding",
]


def keras_shape(b: GraphBuilder, parents: Sequence[int], layer: Any) -> Shape:
    """The shape of the first output of ``layer`` on ``parents``, as Keras computes it."""
    return keras_shapes(b, parents, layer)[0]


def merge(kind: OpKind) -> Handler:
    def handler(
        b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
    ) -> int:
        if kind is OpKind.CONCAT:
            axis = int(c.get("axis", -1))
            return concat(
                b, parents, name, axis=axis, output_shape=lambda: keras_shape(b, parents, layer)
            )
        if len({b.shape(p) for p in parents}) > 1:  # broadcast
            return b.elementwise(list(parents), name, kind=kind, op=type(layer).__name__)
        return b.merge(parents, name, kind=kind, op=type(layer).__name__)

    return handler


def resize(kind: OpKind) -> Handler:
    """UpSampling1D/2D/3D: by whole factors, nearest-neighbour (input ``i`` copied to
    ``i*s .. i*s + s - 1``), bilinear and bicubic (``image.resize``, half-pixel centres) are
    exact scatters; other interpolations keep only the shape."""

    def handler(
        b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
    ) -> int:
        out = keras_shape(b, parents, layer)
        size = c.get("size", 2)
        rank = len(b.shape(parents[0])) - 2
        factors = [int(size)] * rank if isinstance(size, int) else [int(s) for s in size]
        return b.resize(
            parents[0],
            name,
            kind=kind,
            output_shape=out,
            op=type(layer).__name__,
            repeat=factors if len(factors) == rank else None,
            interpolation=c.get("interpolation", "nearest"),
        )

    return handler


def resizing(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> int:
    """Resizing(height, width): see :func:`~stridescope.frontends.keras.operations.resize_node`.
    RandomCrop(height, width) crops only in training: at inference it resizes the whole image
    to its size (bilinear, as ``keras.ops.image.resize``), an identity where sizes agree."""
    out = keras_shape(b, parents, layer)
    settings = c if "interpolation" in c else {"interpolation": "bilinear"}
    return resize_node(b, parents[0], name, out, settings=settings, op=type(layer).__name__)


def center_crop(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> int:
    """CenterCrop(height, width) of an input at least that large: the window Keras keeps
    (``(size - target) // 2`` from the top and left), an exact :meth:`GraphBuilder.pad` with
    negative amounts; a smaller input Keras resizes as ``smart_resize`` does: the centred
    crop of the target's aspect ratio, then a bilinear resize (:func:`resize_node`)."""
    shape = b.shape(parents[0])
    sizes = [shape[a] or 0 for a in spatial_axes(len(shape), b.layout)]  # (unknown: 0)
    targets = [int(c["height"]), int(c["width"])]
    if len(sizes) != 2 or any(n < t for n, t in zip(sizes, targets, strict=True)):
        out = keras_shape(b, parents, layer)
        crop = {"crop_to_aspect_ratio": True, "interpolation": "bilinear"}
        return resize_node(b, parents[0], name, out, settings=crop, op="CenterCrop")
    cuts = [n - t for n, t in zip(sizes, targets, strict=True)]
    return b.pad(
        parents[0], name, padding=[(-(d // 2), -(d - d // 2)) for d in cuts], op="CenterCrop"
    )


_GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1, "LSTMCell": 4, "GRUCell": 3, "SimpleRNNCell": 1}


def _cells(layer: Any) -> list[tuple[int, int]] | None:
    """(gates, units) of each cell of a recurrent layer, in order: the layer itself for
    SimpleRNN / GRU / LSTM, the cell (or each cell of a stack) of a generic ``RNN``; ``None``
    for a cell of another kind."""
    if type(layer).__name__ != "RNN":
        return [(_GATES.get(type(layer).__name__, 1), int(layer.units))]
    cells = getattr(layer.cell, "cells", [layer.cell])
    if not all(type(cell).__name__ in _GATES for cell in cells):
        return None
    return [(_GATES[type(cell).__name__], int(cell.units)) for cell in cells]


def with_states(
    b: GraphBuilder, parents: Sequence[int], layer: Any, name: str, macs: int
) -> list[int]:
    """A recurrent layer's product node (``macs``, params from ``count_params()``), of the
    shape Keras computes for its sequences (the first parent; an initial state does not change
    it), then, where it returns its states too (``return_state``), one 0-MAC node per state,
    read from it (computed on the way, as a multi-output layer's other outputs are)."""
    shapes = keras_shapes(b, parents[:1], layer)
    first = b.matmul(
        list(parents),
        name,
        output_shape=shapes[0],
        macs=macs,
        params=keras_params(layer),
        op=type(layer).__name__,
    )
    op = type(layer).__name__
    return [first, *outputs_beside(b, first, name, shapes[1:], kind=OpKind.MATMUL, op=op)]


def known_cells(layer: Any) -> bool:
    """Whether :func:`recurrent` knows ``layer``'s cells (an ``RNN`` of a custom cell: no)."""
    return _cells(layer) is not None


def recurrent(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> list[int]:
    """SimpleRNN, GRU, LSTM and ``RNN`` of their cells (stacked too) on ``(batch, steps,
    features)``: one product node for the sequence, ``steps * batch * gates * units *
    (inputs + units)`` MACs per cell, a cell's inputs the previous cell's units (every gate's
    input and hidden products at every step, as the PyTorch tracer counts ``nn.RNN`` /
    ``nn.GRU`` / ``nn.LSTM``); params from ``count_params()``; the states it returns too
    (``return_state``) 0-MAC nodes beside it. A cell of another kind: one uncounted node per
    output."""
    shape = b.shape(parents[0])
    cells = _cells(layer)
    if len(shape) != 3 or None in shape or cells is None:
        return uncounted(b, parents, layer, None, name)
    batch, steps, features = (d or 0 for d in shape)  # (known: checked above)
    macs = 0
    for gates, units in cells:
        macs += steps * batch * gates * units * (features + units)
        features = units
    return with_states(b, parents, layer, name, macs)


def conv_lstm(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> list[int]:
    """ConvLSTM1D/2D/3D on ``(batch, steps, *space, channels)`` (``channels_first``:
    ``(batch, steps, channels, *space)``): at every step, a convolution of the input to the
    four gates and one of the hidden state (stride 1, ``'same'``), so ``batch * steps * out
    positions * 4 * filters * window * (channels + filters)`` MACs, as a product node (as the
    recurrent layers are), the states it returns too (``return_state``) 0-MAC nodes beside it;
    unknown sizes: uncounted."""
    shape = b.shape(parents[0])
    window = tuple(int(k) for k in c["kernel_size"])
    channels_last = c.get("data_format", "channels_last") == "channels_last"
    if None in shape or len(shape) != len(window) + 3:
        return uncounted(b, parents, layer, None, name)
    out = keras_shapes(b, parents[:1], layer)[0]
    space = out[-1 - len(window) : -1] if channels_last else out[-len(window) :]
    batch, steps = int(shape[0] or 0), int(shape[1] or 0)
    channels = int((shape[-1] if channels_last else shape[2]) or 0)
    filters = int(c["filters"])
    positions = math.prod(int(d or 0) for d in space)
    macs = batch * steps * positions * 4 * filters * math.prod(window) * (channels + filters)
    return with_states(b, parents, layer, name, macs)


def zero_padding(
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


def cropping(
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


def reshape(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> int:
    out = keras_shape(b, parents, layer)
    return b.reshape(parents[0], name, output_shape=out, op=type(layer).__name__)


def permute(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> int:
    """Permute(dims): 1-based axes after the batch axis; positions stay, axes move."""
    dims = (0, *(int(d) for d in c["dims"]))
    return b.permute(parents[0], name, dims=dims, op=type(layer).__name__)


def attention(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> int:
    """MultiHeadAttention and GroupQueryAttention (query, value[, key]): the three
    projections (keys and values to the key-value heads of a grouped layer), ``q @ kᵀ``, the
    product with ``v`` and the output projection as one ``matmul`` node (as for
    ``nn.MultiheadAttention``), which maps to ``output_shape`` where one is set (else the
    query's width); params from ``count_params()``. A gated or sliding-window layer is
    uncounted."""
    q = b.shape(parents[0])
    v = b.shape(parents[1]) if len(parents) > 1 else q
    k = b.shape(parents[2]) if len(parents) > 2 else v
    shapes = (q, k, v)
    custom = c.get("use_gate") or c.get("sliding_window")
    if custom or any(None in s[1:] for s in shapes) or len({len(s) for s in shapes}) != 1:
        return unknown(b, parents, layer, c, name)
    rank = len(q)
    axes = c.get("attention_axes") or tuple(range(1, rank - 1))
    axes = tuple(int(a) % rank for a in axes)
    if "num_query_heads" in c:  # grouped: keys and values on fewer heads, shared by groups
        heads, kv_heads = int(c["num_query_heads"]), int(c["num_key_value_heads"])
        key_dim = value_dim = int(c["head_dim"])
    else:
        heads, key_dim = int(c["num_heads"]), int(c["key_dim"])
        kv_heads, value_dim = heads, int(c.get("value_dim") or key_dim)

    def rows(shape: Shape) -> int:
        return math.prod(int(d or 1) for d in shape[:-1])

    def along(shape: Shape) -> int:
        return math.prod(int(shape[a] or 1) for a in axes)

    width = int(q[-1] or 1)
    macs = rows(q) * width * heads * key_dim + rows(k) * int(k[-1] or 1) * kv_heads * key_dim
    macs += rows(v) * int(v[-1] or 1) * kv_heads * value_dim
    macs += rows(q) * along(k) * heads * (key_dim + value_dim)  # scores, then the values
    given = c.get("output_shape")
    if given is not None:  # the output projection's width: (32,), (4, 8) or 32
        width = math.prod(int(d) for d in (given if isinstance(given, list | tuple) else [given]))
    macs += rows(q) * heads * value_dim * width
    params = keras_params(layer)
    out = keras_shape(b, parents, layer)
    unique = list(dict.fromkeys(parents))
    return b.matmul(
        unique, name, output_shape=out, macs=macs, params=params, op=type(layer).__name__
    )


def dot_attention(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> int:
    """Attention (Luong: ``q @ kᵀ`` scores; ``score_mode='concat'``: ``tanh(q + k)`` summed
    over the features) and AdditiveAttention (Bahdanau, the same as concat) on (query, value[,
    key]) of shape ``(batch, T, dim)``: the scores, a softmax and the product with the values
    as one ``matmul`` node, ``batch * Tq * Tv * (dim + dim_v)`` MACs for dot scores and
    ``batch * Tq * Tv * (2 * dim + dim_v)`` for additive ones (the broadcast sum and the
    weighted sum over the features); params (the scale) from ``count_params()``."""
    q = b.shape(parents[0])
    v = b.shape(parents[1]) if len(parents) > 1 else q
    k = b.shape(parents[2]) if len(parents) > 2 else v
    if len(q) != 3 or len(k) != 3 or None in (*q, *k, *v):
        return unknown(b, parents, layer, c, name)
    batch, tq, dim = (int(d or 0) for d in q)
    additive = type(layer).__name__ == "AdditiveAttention" or c.get("score_mode") == "concat"
    macs = batch * tq * int(k[1] or 0) * ((2 if additive else 1) * dim + int(v[-1] or 0))
    return b.matmul(
        list(dict.fromkeys(parents)),
        name,
        output_shape=keras_shape(b, parents, layer),
        macs=macs,
        params=keras_params(layer),
        op=type(layer).__name__,
    )


def unknown(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> int:
    """A layer stridescope cannot count: uncounted, with Keras' shape and params."""
    return uncounted(b, parents, layer, None, name)[0]
