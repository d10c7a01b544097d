"""The one table from Keras 3 layer classes to handlers (in
:mod:`~stridescope.frontends.keras.handlers` and
:mod:`~stridescope.frontends.keras.shape_handlers`), found along each layer's MRO.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stridescope.frontends.keras import handlers, shape_handlers
from stridescope.frontends.keras.handlers import Handler
from stridescope.ir import GraphBuilder, OpKind

__all__ = ["add_keras_layer", "keras_table"]


def _table() -> dict[type, Handler]:
    import keras

    L = keras.layers
    table: dict[type, Handler] = {}
    for cls in (L.Conv1D, L.Conv2D, L.Conv3D):
        table[cls] = handlers.conv
    for cls in (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose):
        table[cls] = handlers.conv_transpose
    table[L.DepthwiseConv1D] = handlers.depthwise_conv
    table[L.DepthwiseConv2D] = handlers.depthwise_conv
    table[L.SeparableConv1D] = handlers.separable_conv
    table[L.SeparableConv2D] = handlers.separable_conv
    table[L.Dense] = handlers.dense
    for cls in (L.MaxPooling1D, L.MaxPooling2D, L.MaxPooling3D):
        table[cls] = handlers.pool("max")
    for cls in (L.AveragePooling1D, L.AveragePooling2D, L.AveragePooling3D):
        table[cls] = handlers.pool("avg")
    for cls in (L.GlobalMaxPooling1D, L.GlobalMaxPooling2D, L.GlobalMaxPooling3D):
        table[cls] = handlers.global_pool("max")
    for cls in (L.GlobalAveragePooling1D, L.GlobalAveragePooling2D, L.GlobalAveragePooling3D):
        table[cls] = handlers.global_pool("avg")
    for cls in (L.Activation, L.ReLU, L.Softmax, L.LeakyReLU, L.ELU):
        table[cls] = handlers.pointwise(OpKind.ACTIVATION)
    for cls in (
        L.Dropout, L.SpatialDropout1D, L.SpatialDropout2D, L.SpatialDropout3D, L.GaussianNoise,
        L.GaussianDropout, L.AlphaDropout,
    ):  # fmt: skip
        table[cls] = handlers.pointwise(OpKind.DROPOUT)
    table[L.PReLU] = handlers.weighted(OpKind.ACTIVATION)
    for cls in (L.GroupNormalization, L.UnitNormalization):
        table[cls] = handlers.weighted(OpKind.NORM)
    for cls in (L.Identity, L.ActivityRegularization):
        table[cls] = handlers.identity
    table[L.MultiHeadAttention] = shape_handlers.attention
    table[L.Rescaling] = handlers.pointwise(OpKind.NORM)
    table[L.BatchNormalization] = handlers.norm(moving_stats=True)
    table[L.LayerNormalization] = handlers.norm(moving_stats=False)
    table[L.Flatten] = handlers.flatten
    for cls in (L.Add, L.Average, L.Subtract, L.Maximum, L.Minimum):
        table[cls] = shape_handlers.merge(OpKind.ADD)
    table[L.Multiply] = shape_handlers.merge(OpKind.MUL)
    table[L.Concatenate] = shape_handlers.merge(OpKind.CONCAT)
    for cls in (L.ZeroPadding1D, L.ZeroPadding2D, L.ZeroPadding3D):
        table[cls] = shape_handlers.zero_padding
    for cls in (L.Cropping1D, L.Cropping2D, L.Cropping3D):
        table[cls] = shape_handlers.cropping
    for cls in (L.UpSampling1D, L.UpSampling2D, L.UpSampling3D):
        table[cls] = shape_handlers.resize(OpKind.INTERPOLATE)
    table[L.Reshape] = shape_handlers.reshape
    table[L.Permute] = shape_handlers.permute
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
    subclasses of known layers are read as their base; anything else is uncounted."""
    table = keras_table()
    handler = next(
        (table[cls] for cls in type(layer).__mro__ if cls in table), shape_handlers.unknown
    )
    return handler(b, parents, layer, layer.get_config(), name)
