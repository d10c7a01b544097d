"""``ops.flip``, ``ops.roll``, ``ops.repeat``, ``ops.tile`` and ``ops.take`` of constant
indices along a spatial axis put positions elsewhere on their axes: until 2026-12-06 they were data movement whose input
coverage took every position to be read (``ops.take(x, [0, 3, 7], axis=1)``: 100%, where a
quarter of the rows are read). Checked against autograd, as the PyTorch tracer's
``test_pytorch_position_picks``."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch

import stridescope

CASES: dict[str, Callable[[Any, Any], Any]] = {
    "flip then rows": lambda ops, x: ops.flip(x, axis=1)[:, :4],
    "flip of every axis then a stride": lambda ops, x: ops.flip(x)[:, ::3, ::2],
    "roll then columns": lambda ops, x: ops.roll(x, 5, axis=2)[:, :, :3],
    "roll on two axes": lambda ops, x: ops.roll(x, (2, -3), axis=(1, 2))[:, ::4, :5],
    "take of rows": lambda ops, x: ops.take(x, np.array([0, 3, 7]), axis=1),
    "take of columns, from the end": lambda ops, x: ops.take(x, [-1, 2, 2], axis=2),
    "flip of channels then a stride": lambda ops, x: ops.flip(x, axis=3)[:, ::2],
    "flip then a row": lambda ops, x: ops.flip(x, axis=1)[:, 0],
    "roll then a column": lambda ops, x: ops.roll(x, 5, axis=2)[:, :, 4],
    "repeat of rows": lambda ops, x: ops.repeat(x, 2, axis=1)[:, :6],
    "tile of columns": lambda ops, x: ops.tile(x, (1, 1, 2, 1))[:, :, 10:15],
    # (an index the same at every position of the other axes: since 2026-12-06)
    "take_along_axis of rows": lambda ops, x: ops.take_along_axis(
        x, np.array([0, 3, 7, 3]).reshape(1, 4, 1, 1), axis=1
    ),
    "take_along_axis of columns, every channel": lambda ops, x: ops.take_along_axis(
        x, np.broadcast_to(np.array([11, 2]).reshape(1, 1, 2, 1), (1, 12, 2, 2)), axis=2
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_moved_positions_are_read_where_they_came_from(keras: ModuleType, name: str) -> None:
    inputs = keras.Input((12, 12, 2))
    y = keras.layers.Conv2D(2, 3, padding="same")(inputs)
    model = keras.Model(inputs, CASES[name](keras.ops, y))
    summary = stridescope.summary(model, input_shape=(1, 12, 12, 2))
    x = (torch.rand(1, 12, 12, 2) + 0.5).requires_grad_(True)
    out = model(x)
    (grad,) = torch.autograd.grad(out.abs().sum(), x)
    assert summary.totals.uncounted == ()
    assert summary.layers[-1].output_shape == tuple(out.shape)
    read = float((grad.abs().sum(-1) != 0).float().mean())
    assert summary.input_coverage == pytest.approx(read)
