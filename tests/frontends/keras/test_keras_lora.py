"""A Keras layer after ``enable_lora(rank)`` holds two low-rank kernels its call adds to its
kernel (keras_hub's fine-tuning recipes enable it on a backbone's ``Dense`` and
``EinsumDense`` layers). The layers read from their configs (``Dense``, ``Conv1D``/``2D``)
left them out: a model's parameters fell short of ``count_params()``. The product of the two
kernels, which the call computes each time it reads the kernel (a matrix product on weights
alone), was uncounted: the MACs were those of the model without LoRA."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from stridescope.frontends import load_graph


def _functional(keras: ModuleType) -> Any:
    inputs = keras.Input((12,), dtype="int32")
    x = keras.layers.Embedding(100, 16)(inputs)
    x = keras.layers.Conv1D(16, 3, padding="same")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    x = keras.layers.Dense(32, activation="relu")(x)
    x = keras.layers.EinsumDense("ab,bc->ac", output_shape=10, bias_axes="c")(x)
    return keras.Model(inputs, x)


def _sequential(keras: ModuleType) -> Any:
    return keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(8, 3),
            keras.layers.Flatten(),
            keras.layers.Dense(4),
        ]
    )


@pytest.mark.parametrize("build", [_functional, _sequential])
def test_low_rank_kernels_are_counted(keras: ModuleType, build: Any) -> None:
    model = build(keras)
    plain = load_graph(model)
    assert plain.params == model.count_params()
    for layer in model.layers:
        if hasattr(layer, "enable_lora"):
            layer.enable_lora(4)
    graph = load_graph(model)
    assert graph.params == model.count_params() > plain.params
    assert not graph.uncounted
    # the low-rank products, as torch counts them when Keras runs the model on its backend
    after = _flop_counter_macs(model)
    for layer in model.layers:
        if hasattr(layer, "enable_lora"):
            layer.lora_enabled = False  # (what enable_lora switched on: the plain call)
    assert graph.macs - plain.macs == after - _flop_counter_macs(model) > 0


def _flop_counter_macs(model: Any) -> int:
    """MACs of one call of ``model`` on the torch backend, by ``FlopCounterMode`` / 2."""
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    x = np.zeros((1, *shape), model.inputs[0].dtype)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return int(counter.get_total_flops()) // 2
