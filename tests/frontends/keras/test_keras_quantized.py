"""A Keras model after ``model.quantize(mode)`` is summarised as the float model it was: its
quantized ``Conv2D``/``Dense`` layers are read from their configs, with the float layer's
weights as parameters (``count_params()`` also counts the scales, and int4's kernel packed two
values a byte), the same MACs and rows."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from stridescope.frontends import load_graph


def _model(keras: ModuleType) -> Any:
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(16, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(5)(x))


@pytest.mark.parametrize("mode", ["int8", "int4", "float8"])
def test_a_quantized_keras_model_counts_as_its_float_model(keras: ModuleType, mode: str) -> None:
    model = _model(keras)
    expected = load_graph(model)
    quantized = _model(keras)
    quantized.set_weights(model.get_weights())
    quantized.quantize(mode)
    graph = load_graph(quantized)
    assert not graph.uncounted
    assert [(n.kind, n.output_shape, n.params, n.macs) for n in graph.nodes] == [
        (n.kind, n.output_shape, n.params, n.macs) for n in expected.nodes
    ]
    assert graph.params == model.count_params() != quantized.count_params()
