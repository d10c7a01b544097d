"""``keras.ops.image.extract_patches`` with any size, strides, dilation and padding: Keras
computes it as a convolution with a one-hot kernel per value of a patch, and it is read as
that convolution's windows. Until 2026-12-06 only non-overlapping square patches were; any
other was data movement of Keras's shape, which coverage took to read every position (2x2
patches every 4 pixels: 100%, where a quarter of the pixels are read) and whose field was
``?``. Checked against autograd: the output shape, the input coverage, and per axis the
widest span of inputs one output's gradient reaches (the field's size)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch

import stridescope


def _model(keras: ModuleType, hw: tuple[int, int], options: dict[str, Any]) -> Any:
    inputs = keras.Input((*hw, 2))
    patches = keras.ops.image.extract_patches(inputs, **options)
    return keras.Model(inputs, keras.layers.Dense(3, kernel_initializer="ones")(patches))


def _gradient(model: Any, hw: tuple[int, int]) -> tuple[tuple[int, ...], float, list[int]]:
    """The output's shape, the share of input pixels its gradient reaches, and per axis the
    widest span (first to last) one output's gradient reaches."""
    x = (torch.rand(1, *hw, 2) + 0.5).requires_grad_(True)
    y = model(x)
    (total,) = torch.autograd.grad(y.sum(), x, retain_graph=True)
    widest = [0, 0]
    for o in np.ndindex(*y.shape[1:3]):
        (grad,) = torch.autograd.grad(y[(0, *o)].sum(), x, retain_graph=True)
        reached = grad[0].abs().sum(-1).nonzero()
        if len(reached):
            for axis in range(2):
                span = int(reached[:, axis].max() - reached[:, axis].min()) + 1
                widest[axis] = max(widest[axis], span)
    return tuple(y.shape), float((total != 0).float().mean()), widest


@pytest.mark.parametrize(
    ("hw", "options"),
    [
        ((16, 16), {"size": 2, "strides": 4}),  # a quarter of the pixels read
        ((16, 16), {"size": 4}),  # space-to-depth, every pixel
        ((17, 14), {"size": 4}),  # the rows and columns no whole patch holds: unread
        ((16, 12), {"size": (3, 2), "strides": (2, 3)}),
        ((15, 15), {"size": 3, "strides": 2, "padding": "same"}),
        ((13, 16), {"size": 2, "strides": 3, "dilation_rate": 2}),
        ((12, 12), {"size": 3, "strides": 1, "padding": "same"}),
    ],
)
def test_patches_read_what_autograd_reads(
    keras: ModuleType, hw: tuple[int, int], options: dict[str, Any]
) -> None:
    model = _model(keras, hw, options)
    summary = stridescope.summary(model, input_shape=(1, *hw, 2))
    shape, coverage, widest = _gradient(model, hw)
    row = next(r for r in summary.layers if r.kind == "pixel_unshuffle")
    assert summary.totals.uncounted == ()
    assert row.output_shape[:3] == shape[:3] and summary.layers[-1].output_shape == shape
    assert summary.input_coverage == pytest.approx(coverage)
    assert summary.layers[-1].rf_size is not None
    assert list(summary.layers[-1].rf_size) == widest
