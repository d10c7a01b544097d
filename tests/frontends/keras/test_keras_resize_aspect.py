"""Keras's resizes that first crop or pad to the target's aspect ratio (``Resizing`` with
``crop_to_aspect_ratio`` or ``pad_to_aspect_ratio``, ``keras.ops.image.resize`` with either):
until 2026-12-06 only their shape was read (coverage took them to read every position, and
the field was ``?``); the crop or padding is now a window Keras's own arithmetic places.
A CenterCrop of a smaller input (Keras's ``smart_resize``: that crop, then bilinear) is exact
too, and an UpSampling2D by 3 with bilinear interpolation is read output by output. Checked against
autograd: the input coverage, and per axis the widest span of inputs one output's gradient
reaches (the field's size)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch

import stridescope


def _model(keras: ModuleType, resize: Any, hw: tuple[int, int]) -> Any:
    inputs = keras.Input((*hw, 1))
    model = keras.Model(inputs, keras.layers.Conv2D(1, 1)(resize(inputs)))
    for w in model.weights:  # positive weights: nothing cancels in the gradient
        w.assign(np.full(w.shape, 0.1, dtype="float32"))
    return model


def _gradient(model: Any, hw: tuple[int, int]) -> tuple[float, tuple[int, int]]:
    """The share of input pixels the output's gradient reaches, and per axis the widest
    span (first to last) one output's gradient reaches."""
    x = (torch.rand(1, *hw, 1) + 0.5).requires_grad_(True)
    y = model(x)
    (total,) = torch.autograd.grad(y.sum(), x, retain_graph=True)
    widest = [0, 0]
    for o in np.ndindex(*y.shape[1:3]):
        (grad,) = torch.autograd.grad(y[(0, *o, 0)], x, retain_graph=True)
        reached = grad[0, :, :, 0].nonzero()
        if len(reached):  # (an output of fill only reads nothing)
            for axis in range(2):
                span = int(reached[:, axis].max() - reached[:, axis].min()) + 1
                widest[axis] = max(widest[axis], span)
    return float((total != 0).float().mean()), (widest[0], widest[1])


CASES = [
    ("crop", (16, 16), (5, 7), "bilinear"),
    ("crop", (10, 16), (8, 8), "bilinear"),
    ("crop", (13, 9), (4, 6), "nearest"),
    ("crop", (12, 20), (9, 5), "bicubic"),
    ("pad", (10, 16), (8, 8), "bilinear"),
    ("pad", (16, 16), (5, 7), "nearest"),
    ("pad", (9, 14), (6, 5), "bicubic"),
]


@pytest.mark.parametrize(("how", "hw", "target", "mode"), CASES, ids=[str(c) for c in CASES])
def test_a_resize_to_the_aspect_ratio_reads_what_autograd_reads(
    keras: ModuleType, how: str, hw: tuple[int, int], target: tuple[int, int], mode: str
) -> None:
    aspect = {f"{how}_to_aspect_ratio": True}
    model = _model(keras, keras.layers.Resizing(*target, interpolation=mode, **aspect), hw)
    summary = stridescope.summary(model, (1, *hw, 1))
    share, widest = _gradient(model, hw)
    assert summary.input_coverage == pytest.approx(share)
    assert summary.layers[-1].rf_size == widest
    assert not [n for n in summary.notes if "every position" in n or "unknown" in n]
    assert [r.kind for r in summary.layers if r.path.endswith(f".{how}")] == ["pad"]


def test_keras_ops_image_resize_crops_as_the_layer_does(keras: ModuleType) -> None:
    resize = keras.layers.Lambda(
        lambda t: keras.ops.image.resize(t, (6, 5), crop_to_aspect_ratio=True)
    )
    model = _model(keras, resize, (16, 12))
    summary = stridescope.summary(model, (1, 16, 12, 1))
    share, widest = _gradient(model, (16, 12))
    assert summary.input_coverage == pytest.approx(share) and share < 1
    assert summary.layers[-1].rf_size == widest


def test_upsampling_by_three_bilinear_reads_each_outputs_own_inputs(keras: ModuleType) -> None:
    # (until 2026-12-06 a window of both neighbours for the outputs on a pixel)
    model = _model(keras, keras.layers.UpSampling2D((2, 3), interpolation="bilinear"), (8, 8))
    summary = stridescope.summary(model, (1, 8, 8, 1))
    share, widest = _gradient(model, (8, 8))
    assert summary.input_coverage == pytest.approx(share)
    assert summary.layers[-1].rf_size == widest == (2, 2)


@pytest.mark.parametrize(("hw", "target"), [((8, 12), (10, 10)), ((6, 6), (9, 7))])
def test_center_crop_of_a_smaller_input_crops_to_the_ratio_and_resizes(
    keras: ModuleType, hw: tuple[int, int], target: tuple[int, int]
) -> None:
    # Keras's smart_resize: the centred crop of the target's aspect ratio, then bilinear
    # (until 2026-12-06 only the shape: coverage every position, field unknown)
    model = _model(keras, keras.layers.CenterCrop(*target), hw)
    summary = stridescope.summary(model, (1, *hw, 1))
    share, widest = _gradient(model, hw)
    assert summary.input_coverage == pytest.approx(share) and share < 1
    assert summary.layers[-1].rf_size == widest
