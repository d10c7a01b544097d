"""The Keras 3 twins of the standalone operators the fix policies insert: :class:`BlurPool`
(the binomial blur of :class:`stridescope.ops.blurpool.Blur`, reflect padding, any stride,
1-3 spatial axes) and :class:`AdaptivePolyphase` (APS by 2, as
:func:`stridescope.ops.polyphase.polyphase_select`).

Both are registered serializable layers (package ``stridescope``): a model holding them saves
to ``.keras`` and loads back with ``safe_mode=True`` once this module is imported (importing
it registers them). They have no weights (the blur filter is rebuilt from its config), are
written with ``keras.ops`` only, and describe themselves to the IR (``stridescope_ir``), so a
summary of a fixed Keras model counts them exactly. For example (Keras takes seconds to
import, so not a doctest)::

    blur = BlurPool(size=3, strides=(2, 2), padding=((1, 1), (1, 1)))
    blur(keras.ops.ones((1, 7, 8, 4))).shape  # (1, 4, 4, 4), every value 1.0
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
from keras import ops

from stridescope.errors import StridescopeError
from stridescope.ir import GraphBuilder
from stridescope.ops.blurpool import binomial_filter, blur_ir, blur_sizes

__all__ = ["AdaptivePolyphase", "BlurPool"]

_FORMATS = ("channels_last", "channels_first")


def _data_format(value: str | None) -> str:
    fmt = value or keras.config.image_data_format()
    if fmt not in _FORMATS:
        raise StridescopeError(
            f"data_format must be one of {', '.join(_FORMATS)}; received {fmt!r}"
        )
    return fmt


def _spatial_axes(rank: int, data_format: str) -> list[int]:
    """Axes of the spatial dimensions in a batched tensor with ``rank`` spatial axes."""
    return list(range(1, rank + 1)) if data_format == "channels_last" else list(range(2, rank + 2))


def _reflect(x: Any, axis: int, before: int, after: int) -> Any:
    """Reflect-pad one axis (the edge value is not repeated, as torch's ``'reflect'``)."""
    n = int(x.shape[axis])
    if max(before, after) >= n:
        raise StridescopeError(
            f"reflect padding ({before}, {after}) needs an axis longer than {max(before, after)}; "
            f"received size {n}"
        )
    index = [*range(before, 0, -1), *range(n), *range(n - 2, n - 2 - after, -1)]
    return ops.take(x, np.asarray(index, dtype="int32"), axis=axis)


@keras.saving.register_keras_serializable(package="stridescope")
class BlurPool(keras.layers.Layer):  # type: ignore[misc]
    """A fixed binomial blur of ``size`` taps per axis (or one size per axis: 1 leaves an
    axis alone) at ``strides``, depthwise, with reflect padding ``(before, after)`` per
    spatial axis; no weights."""

    def __init__(
        self,
        size: int | Sequence[int] = 3,
        strides: Sequence[int] = (2, 2),
        padding: Sequence[Sequence[int]] = ((1, 1), (1, 1)),
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.strides = tuple(int(s) for s in strides)
        self.padding = tuple((int(p[0]), int(p[1])) for p in padding)
        if len(self.padding) != len(self.strides) or len(self.strides) not in (1, 2, 3):
            raise StridescopeError(
                f"BlurPool needs 1-3 spatial axes with one (before, after) each; received "
                f"strides={self.strides}, padding={self.padding}"
            )
        self.size = blur_sizes(size, len(self.strides))
        self.data_format = _data_format(data_format)
        self.kernel: Any = None

    def build(self, input_shape: Sequence[int | None]) -> None:
        channels = input_shape[-1 if self.data_format == "channels_last" else 1]
        kernel = np.asarray(binomial_filter(self.size[0]), dtype="float64")
        for k in self.size[1:]:
            kernel = np.multiply.outer(kernel, np.asarray(binomial_filter(k), dtype="float64"))
        # (*size, 1, C): keras.ops.conv infers groups = C from the kernel's input axis of 1
        kernel = np.broadcast_to(kernel[..., None, None], (*kernel.shape, 1, int(channels or 1)))
        self.kernel = ops.convert_to_tensor(np.ascontiguousarray(kernel, dtype="float32"))

    def call(self, inputs: Any) -> Any:
        x = inputs
        axes = _spatial_axes(len(self.strides), self.data_format)
        for axis, (before, after) in zip(axes, self.padding, strict=True):
            x = _reflect(x, axis, before, after)
        kernel = ops.cast(self.kernel, x.dtype)
        return ops.conv(x, kernel, strides=self.strides, data_format=self.data_format)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        out = list(input_shape)
        axes = _spatial_axes(len(self.strides), self.data_format)
        pads = zip(axes, self.size, self.strides, self.padding, strict=True)
        for axis, size, stride, (before, after) in pads:
            n = out[axis]
            out[axis] = None if n is None else (n + before + after - size) // stride + 1
        return tuple(out)

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        config.update(
            size=list(self.size),
            strides=list(self.strides),
            padding=[list(p) for p in self.padding],
            data_format=self.data_format,
        )
        return config

    def stridescope_ir(self, builder: GraphBuilder, parent: int, name: str) -> int:
        return blur_ir(
            builder,
            parent,
            name,
            size=self.size,
            stride=self.strides,
            padding=self.padding,
            op="BlurPool",
        )


@keras.saving.register_keras_serializable(package="stridescope")
class AdaptivePolyphase(keras.layers.Layer):  # type: ignore[misc]
    """Adaptive polyphase sampling by 2 over two spatial axes: per sample, keep the 2x2
    polyphase component of largest l2 norm (odd sizes: one zero row / column appended);
    no weights. The same numbers as :func:`stridescope.ops.polyphase.polyphase_select`."""

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = _data_format(data_format)

    def call(self, inputs: Any) -> Any:
        x = inputs
        h_axis, w_axis = _spatial_axes(2, self.data_format)
        h, w = int(x.shape[h_axis]), int(x.shape[w_axis])
        pads = [[0, 0] for _ in range(4)]
        pads[h_axis][1], pads[w_axis][1] = h % 2, w % 2
        if h % 2 or w % 2:
            x = ops.pad(x, pads)
        phases = []
        for i in (0, 1):  # the order of polyphase_select: (0, 0), (0, 1), (1, 0), (1, 1)
            rows = ops.take(x, np.arange(i, h + h % 2, 2, dtype="int32"), axis=h_axis)
            for j in (0, 1):
                cols = np.arange(j, w + w % 2, 2, dtype="int32")
                phases.append(ops.take(rows, cols, axis=w_axis))
        stacked = ops.stack(phases, axis=1)  # (N, 4, ...)
        norms = ops.sum(ops.square(ops.stop_gradient(stacked)), axis=(2, 3, 4))  # (N, 4)
        choice = ops.one_hot(ops.argmax(norms, axis=1), 4, dtype=stacked.dtype)  # (N, 4)
        return ops.sum(stacked * ops.reshape(choice, (-1, 4, 1, 1, 1)), axis=1)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        out = list(input_shape)
        for axis in _spatial_axes(2, self.data_format):
            n = out[axis]
            out[axis] = None if n is None else -(-n // 2)
        return tuple(out)

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        config.update(data_format=self.data_format)
        return config

    def stridescope_ir(self, builder: GraphBuilder, parent: int, name: str) -> int:
        return builder.polyphase(parent, name, factor=2, op="AdaptivePolyphase")
