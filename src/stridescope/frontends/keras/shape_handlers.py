"""Handlers for the Keras 3 layers that merge, pad, crop, resize, reshape or reorder tensors,
for multi-head attention, and for layers no table row knows (:func:`unknown`, uncounted).

The only numbers taken from Keras are the output shapes of layers the builder cannot size
itself (up-sampling, reshape, attention) and of unknown layers, via
``layer.compute_output_shape``. Unknown layers become uncounted nodes (``counted=False``),
never silent zeros.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from stridescope.frontends.keras.handlers import Handler, keras_params
from stridescope.frontends.keras.operations import uncounted
from stridescope.frontends.keras.shapes import keras_shapes
from stridescope.ir import GraphBuilder, OpKind, Shape, channel_axis

__all__ = [
    "attention",
    "cropping",
    "keras_shape",
    "merge",
    "permute",
    "reshape",
    "resize",
    "unknown",
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
            rank = len(b.shape(parents[0]))
            axis = int(c.get("axis", -1)) % rank
            if axis != channel_axis(rank, b.layout):  # tokens, positions: Keras's shape
                shape = keras_shape(b, parents, layer)
                return b.other(list(parents), name, kind=kind, output_shape=shape, op="Concatenate")
        if kind is not OpKind.CONCAT and len({b.shape(p) for p in parents}) > 1:  # broadcast
            return b.elementwise(list(parents), name, kind=kind, op=type(layer).__name__)
        return b.merge(parents, name, kind=kind, op=type(layer).__name__)

    return handler


def resize(kind: OpKind) -> Handler:
    """UpSampling1D/2D/3D: nearest-neighbour by whole factors is an exact scatter (input
    ``i`` copied to ``i*s .. i*s + s - 1``); other interpolations keep only the shape."""

    def handler(
        b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
    ) -> int:
        out = keras_shape(b, parents, layer)
        size = c.get("size", 2)
        rank = len(b.shape(parents[0])) - 2
        factors = [int(size)] * rank if isinstance(size, int) else [int(s) for s in size]
        nearest = c.get("interpolation", "nearest") == "nearest" and len(factors) == rank
        return b.resize(
            parents[0],
            name,
            kind=kind,
            output_shape=out,
            op=type(layer).__name__,
            repeat=factors if nearest else None,
        )

    return handler


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
        return unknown(b, parents, layer, c, name)
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
    params = keras_params(layer)
    out = keras_shape(b, parents, layer)
    unique = list(dict.fromkeys(parents))
    return b.matmul(
        unique, name, output_shape=out, macs=macs, params=params, op=type(layer).__name__
    )


def unknown(
    b: GraphBuilder, parents: Sequence[int], layer: Any, c: dict[str, Any], name: str
) -> int:
    """A layer stridescope cannot count: uncounted, with Keras' shape and params."""
    return uncounted(b, parents, layer, None, name)[0]
