"""A Keras model on a ``(batch, samples)`` input: the signal along its last axis, as in the
PyTorch frontend. A ``Reshape`` to ``(samples, 1)`` then ``Conv1D`` layers has the fields and
the coverage of the same network on ``(samples, 1)``; a ``Dense`` stack reads all of it."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch

import stridescope


def _encoder(keras: ModuleType, shape: tuple[int, ...]) -> Any:
    layers = keras.layers
    inp = keras.Input(shape)
    x = layers.Reshape((400, 1))(inp) if len(shape) == 1 else inp
    x = layers.Conv1D(4, 5, strides=5)(x)
    x = layers.Conv1D(4, 1, strides=2)(x)  # every other frame: half the samples
    return keras.Model(inp, layers.Conv1D(2, 3)(x))


def test_a_waveform_input_reads_as_its_channels_last_form(keras: ModuleType) -> None:
    signal = stridescope.summary(_encoder(keras, (400,)))
    channels_last = stridescope.summary(_encoder(keras, (400, 1)))
    assert signal.input_coverage == channels_last.input_coverage == 0.5
    assert signal.lint == channels_last.lint
    assert [r.rf_size for r in signal.layers] == [(1,), (5,), (5,), (25,)]
    assert [r.rf_size for r in channels_last.layers] == [(5,), (5,), (25,)]
    assert signal.spatial == channels_last.spatial == (400,)


def test_a_dense_stack_reads_all_of_its_input(keras: ModuleType) -> None:
    layers = keras.layers
    model = keras.Sequential([keras.Input((784,)), layers.Dense(32), layers.Dense(10)])
    summary = stridescope.summary(model)
    assert [r.rf_note for r in summary.layers] == ["whole input", "whole input"]
    assert summary.input_coverage == 1.0


@pytest.mark.parametrize("add_axis", ["reshape", "expand_dims"])
def test_one_row_kernels_on_a_signal_read_its_axis(keras: ModuleType, add_axis: str) -> None:
    """A ``(L, C)`` signal made ``(1, L, C)`` for ``Conv2D`` layers with ``(1, k)`` kernels:
    the windows are read on ``L`` (a 1x1 stride-(1, 2) conv after a stride-2 one reads 3
    samples of 4, what autograd reads; it was read whole: 100%)."""
    layers = keras.layers
    inp = keras.Input((64, 1))
    x = layers.Reshape((1, 64, 1))(inp) if add_axis == "reshape" else keras.ops.expand_dims(inp, 1)
    x = layers.Conv2D(4, (1, 3), strides=(1, 2), padding="same")(x)
    x = layers.Conv2D(2, 1, strides=(1, 2))(x)
    model = keras.Model(inp, layers.Reshape((16, 2))(x))
    summary = stridescope.summary(model)
    fields = [(r.rf_size, r.rf_jump) for r in summary.layers[1:]]
    assert fields == [((3,), (2,)), ((3,), (4,)), ((3,), (4,))]
    for weight in model.weights:
        weight.assign(np.full(weight.shape, 0.1, dtype="float32"))
    x = torch.rand(1, 64, 1, requires_grad=True)
    torch.as_tensor(model(x)).sum().backward()
    assert summary.input_coverage == float((x.grad[0, :, 0] != 0).float().mean()) == 0.75
