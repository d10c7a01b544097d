"""Raw ``keras.ops`` calls a Keras model makes on symbolic tensors (in a Functional graph or
inside a custom layer): products, concatenation, axis moves, reshapes and data movement are
counted nodes, never uncounted; the products' MACs equal ``FlopCounterMode`` / 2 on a real
forward of the same model (torch backend), and weights among the operands are counted."""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from stridescope.frontends.keras import read_keras
from stridescope.ir import Graph, OpKind

PRODUCTS = (OpKind.CONV, OpKind.LINEAR, OpKind.MATMUL)


@pytest.fixture(scope="module")
def keras() -> ModuleType:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    return keras


def flop_macs(model: Any, shape: tuple[int, ...]) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(np.random.rand(*shape).astype("float32"))
    return int(counter.get_total_flops()) // 2


def product_macs(graph: Graph) -> int:
    return sum(n.macs for n in graph.nodes if n.kind in PRODUCTS)


def _attention(keras: ModuleType) -> Any:
    """Tokens, a class token concatenated in front, attention written with keras.ops."""
    L, ops = keras.layers, keras.ops

    class ClassToken(L.Layer):  # type: ignore[misc,name-defined]
        def build(self, input_shape: Any) -> None:
            self.token = self.add_weight(shape=(1, 1, input_shape[-1]), initializer="zeros")

        def call(self, x: Any) -> Any:
            token = ops.broadcast_to(self.token, (ops.shape(x)[0], 1, ops.shape(x)[-1]))
            return ops.concatenate([token, x], axis=1)

    x = keras.Input((8, 8, 3))
    t = L.Reshape((16, 12))(L.Conv2D(12, 2, strides=2, name="patch")(x))
    t = ClassToken(name="cls")(t)
    q, k, v = (L.Dense(12, name=n)(t) for n in "qkv")
    scores = ops.softmax(ops.matmul(q, ops.swapaxes(k, 1, 2)) / 3.0)
    mixed = ops.einsum("bij,bjd->bid", scores, v)
    pooled = ops.squeeze(ops.expand_dims(mixed[:, 0], 1), 1) ** 2
    return keras.Model(x, L.Dense(4, name="head")(pooled))


def test_raw_operations_are_counted_nodes(keras: ModuleType) -> None:
    model = _attention(keras)
    graph = read_keras(model)
    assert not graph.uncounted
    assert graph.params == model.count_params()
    assert product_macs(graph) == flop_macs(model, (1, 8, 8, 3))
    ops = {n.op for n in graph.nodes}
    assert {"Concatenate", "Swapaxes", "ExpandDims", "Squeeze", "GetItem"} <= ops
    cat = next(n for n in graph.nodes if n.op == "Concatenate")
    assert cat.kind is OpKind.CONCAT and cat.output_shape == (1, 17, 12)


def test_a_custom_layer_multiplying_by_its_weight_is_read_through_its_call(
    keras: ModuleType,
) -> None:
    class Project(keras.layers.Layer):  # type: ignore[misc,name-defined]
        def build(self, input_shape: Any) -> None:
            self.w = self.add_weight(shape=(input_shape[-1], 5), initializer="ones")

        def call(self, x: Any) -> Any:
            return keras.ops.matmul(x, self.w)

    x = keras.Input((6, 4))
    model = keras.Model(x, Project(name="project")(x))
    graph = read_keras(model, (2, 6, 4))
    (node,) = [n for n in graph.nodes if n.kind is OpKind.MATMUL]
    assert node.name.startswith("project/matmul") and (node.params, node.macs) == (20, 240)
    assert not graph.uncounted and graph.params == model.count_params()


def test_a_concatenate_layer_along_tokens_is_a_concat(keras: ModuleType) -> None:
    a, b = keras.Input((5, 8)), keras.Input((3, 8))
    model = keras.Model([a, b], keras.layers.Concatenate(axis=1, name="join")([a, b]))
    graph = read_keras(model)
    assert not graph.uncounted
    assert (graph.output.kind, graph.output.output_shape) == (OpKind.CONCAT, (1, 8, 8))
