"""Output sizes and 'same' padding against Keras 3 (torch backend): compute_output_shape of
unbuilt layers on random configurations."""

from __future__ import annotations

import os

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from stridescope.geometry import GeometryError, output_shape
from tests.geometry.geometry_strategies import Axis, keras_axes

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")


def _ours(axes: tuple[Axis, ...], padding: str) -> tuple[int | None, ...] | None:
    try:
        return output_shape(
            tuple(a.n for a in axes),
            tuple(a.kernel for a in axes),
            tuple(a.stride for a in axes),
            tuple(a.dilation for a in axes),
            padding,
        )
    except GeometryError:
        return None


def _keras(layer: object, axes: tuple[Axis, ...]) -> tuple[int, ...] | None:
    try:
        shape = layer.compute_output_shape((1, *(a.n for a in axes), 3))  # type: ignore[attr-defined]
    except ValueError:  # Keras: "Computed output size would be zero or negative"
        return None
    spatial = tuple(int(d) for d in shape[1:-1])
    return spatial if all(d > 0 for d in spatial) else None


@settings(max_examples=900)
@given(keras_axes(), keras_axes(), st.sampled_from(("valid", "same")), st.integers(1, 2))
def test_conv_output_shape_matches_keras(h: Axis, w: Axis, padding: str, rank: int) -> None:
    """Conv1D / Conv2D with per-axis kernel, strides and dilation_rate."""
    axes = (h, w)[:rank]
    # Keras refuses strides > 1 together with dilation_rate > 1, whatever the padding.
    assume(not (any(a.stride > 1 for a in axes) and any(a.dilation > 1 for a in axes)))
    cls = keras.layers.Conv1D if rank == 1 else keras.layers.Conv2D
    layer = cls(
        2,
        tuple(a.kernel for a in axes),
        strides=tuple(a.stride for a in axes),
        dilation_rate=tuple(a.dilation for a in axes),
        padding=padding,
    )
    assert _ours(axes, padding) == _keras(layer, axes)


@settings(max_examples=800)
@given(keras_axes(dilate=False), keras_axes(dilate=False), st.sampled_from(("valid", "same")))
def test_pooling_output_shape_matches_keras(h: Axis, w: Axis, padding: str) -> None:
    """MaxPooling2D and AveragePooling2D with per-axis pool_size and strides."""
    for cls in (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D):
        layer = cls((h.kernel, w.kernel), strides=(h.stride, w.stride), padding=padding)
        assert _ours((h, w), padding) == _keras(layer, (h, w))


def test_same_padding_keeps_ceil_of_size_over_stride() -> None:
    """The seed's 1x1 stride-2 'same' conv on 32x32: Keras and stridescope agree on 16x16."""
    layer = keras.layers.Conv2D(16, 1, strides=2, padding="same")
    assert layer.compute_output_shape((1, 32, 32, 3)) == (1, 16, 16, 16)
    assert output_shape((32, 32), 1, 2, padding="same") == (16, 16)
