"""Patterns the Keras Applications use that a plain layer table does not cover: broadcasting
merges (squeeze-and-excitation), raw ``keras.ops`` on symbolic tensors (an inline
hard-swish), custom layers without a shape function (a layer scale, a residual scale) and
preprocessing normalisation. Each model here is hand-written; numbers are checked against
Keras' own shapes and ``count_params()``."""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import pytest

from stridescope.frontends.keras import read_keras
from stridescope.ir import Graph, Node, OpKind


def _node(graph: Graph, name: str) -> Node:
    (node,) = [n for n in graph.nodes if n.name == name]
    return node


def _output(graph: Graph) -> Node:
    return graph.nodes[-1]


def test_broadcasting_merge_layers_cost_one_mac_per_output_element(keras: ModuleType) -> None:
    L = keras.layers
    x = keras.Input((12, 12, 8))
    y = L.Conv2D(8, 3, padding="same", name="conv")(x)
    s = L.GlobalAveragePooling2D(keepdims=True, name="squeeze")(y)
    s = L.Conv2D(8, 1, activation="sigmoid", name="excite_fc")(s)
    scaled = L.Multiply(name="excite")([y, s])  # (1,12,12,8) x (1,1,1,8)
    flipped = L.Multiply(name="excite_flipped")([s, y])  # the small operand first
    out = L.Add(name="sum3")([scaled, flipped, s])
    model = keras.Model(x, out)
    graph = read_keras(model)
    assert graph.params == model.count_params()
    for name in ("excite", "excite_flipped"):
        node = _node(graph, name)
        assert node.kind is OpKind.MUL and node.counted
        assert node.output_shape == (1, 12, 12, 8)
        assert node.macs == 12 * 12 * 8
    assert _node(graph, "sum3").macs == 2 * 12 * 12 * 8  # two operands beyond the first
    assert _output(graph).output_shape == (1, *tuple(model.output.shape)[1:])
    assert graph.uncounted == ()


def test_raw_ops_in_a_functional_graph_are_counted(keras: ModuleType) -> None:
    ops = keras.ops
    x = keras.Input((10, 10, 4))
    y = keras.layers.Conv2D(6, 3, padding="same", name="conv")(x)
    hard_swish = y * ops.relu6(y + 3.0) * (1.0 / 6.0)  # written inline, as in MobileNetV3
    pooled = ops.mean(hard_swish, axis=[1, 2])
    model = keras.Model(x, ops.transpose(ops.reshape(pooled, (-1, 2, 3)), (0, 2, 1)))
    graph = read_keras(model)
    assert graph.uncounted == ()
    assert graph.params == model.count_params()
    kinds = [(n.kind, n.macs) for n in graph.nodes[2:]]
    elements = 10 * 10 * 6
    assert kinds[:4] == [
        (OpKind.ADD, elements),  # y + 3.0: one constant operand
        (OpKind.ACTIVATION, 0),  # relu6
        (OpKind.MUL, elements),  # y * relu6(..)
        (OpKind.MUL, elements),  # * (1 / 6)
    ]
    assert _output(graph).output_shape == (1, 3, 2)
    assert _output(graph).kind is OpKind.PERMUTE


def test_raw_op_without_a_count_is_uncounted_with_its_true_shape(keras: ModuleType) -> None:
    """An eigendecomposition (whose cost the PyTorch tracer does not count either, so the
    torch backend's code cannot price it: see backend_ops) is uncounted, Keras's shapes."""
    ops = keras.ops
    x = keras.Input((None, None, 3))
    y = keras.layers.Conv2D(4, 3, name="conv")(x)
    model = keras.Model(x, ops.eigh(ops.matmul(y, ops.transpose(y, (0, 1, 3, 2))))[0])
    graph = read_keras(model, (1, 20, 16, 3))
    assert [(n.op, n.output_shape) for n in graph.uncounted] == [
        ("Eigh", (1, 18, 14)),
        ("Eigh", (1, 18, 14, 14)),
    ]


def test_custom_layers_without_shape_functions_are_read_through_their_call(
    keras: ModuleType,
) -> None:
    class LayerScale(keras.layers.Layer):  # type: ignore[misc,name-defined]
        """A learned per-channel factor, without compute_output_shape."""

        def build(self, input_shape: Any) -> None:
            self.gamma = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, x: Any) -> Any:
            return x * self.gamma

    class ResidualScale(keras.layers.Layer):  # type: ignore[misc,name-defined]
        def call(self, inputs: Any) -> Any:
            return inputs[0] + inputs[1] * 0.2

    L = keras.layers
    x = keras.Input((9, 9, 16))
    y = L.Conv2D(16, 3, padding="same", name="conv")(x)
    y = LayerScale(name="scale")(y)
    out = ResidualScale(name="residual")([x, y])
    model = keras.Model(x, out)
    with pytest.raises(NotImplementedError):
        model.get_layer("scale").compute_output_shape((1, 9, 9, 16))
    graph = read_keras(model)
    assert graph.uncounted == ()
    assert graph.params == model.count_params()
    scale = [n for n in graph.nodes if n.name.startswith("scale/")]
    assert [(n.kind, n.params, n.macs) for n in scale] == [(OpKind.MUL, 16, 9 * 9 * 16)]
    residual = [n for n in graph.nodes if n.name.startswith("residual/")]
    assert [n.kind for n in residual] == [OpKind.MUL, OpKind.ADD]
    assert _output(graph).output_shape == (1, 9, 9, 16)


def test_custom_layer_that_cannot_be_counted_keeps_shape_and_params(keras: ModuleType) -> None:
    class Sorted(keras.layers.Layer):  # type: ignore[misc,name-defined]
        """An op stridescope does not count, with a weight, and no shape function."""

        def build(self, input_shape: Any) -> None:
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, x: Any) -> Any:
            y = (x * self.w)[:, ::2]
            gram = keras.ops.matmul(keras.ops.transpose(y, (0, 2, 1)), y)
            return y * keras.ops.logdet(gram)[:, None, None]  # logdet: no formula

    class Block(keras.layers.Layer):  # type: ignore[misc,name-defined]
        """A layer with a sub-layer: read through its call, its call records taken out."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(5)

        def call(self, x: Any) -> Any:
            return keras.ops.tanh(self.dense(x))

    x = keras.Input((None, 6))
    y = Sorted(name="sorted")(x)
    model = keras.Model(x, Block(name="block")(y))
    calls = len(model.get_layer("block").dense._inbound_nodes)
    graph = read_keras(model, (2, 11, 6))
    assert len(model.get_layer("block").dense._inbound_nodes) == calls
    assert [(n.op, n.output_shape) for n in graph.uncounted] == [("Sorted", (2, 6, 6))]
    dense, tanh = graph.nodes[-2:]
    assert dense.name.startswith("block.dense")  # (the sub-layer's own name, as Keras made it)
    assert (dense.kind, dense.params, dense.macs) == ("linear", 35, 2 * 6 * 6 * 5)
    assert (tanh.name, tanh.kind, tanh.output_shape) == ("block/tanh", "activation", (2, 6, 5))
    assert graph.params == model.count_params() == 6 + 6 * 5 + 5


def test_preprocessing_normalization_counts_its_statistics(keras: ModuleType) -> None:
    x = keras.Input((8, 8, 3))
    y = keras.layers.Normalization(axis=-1, name="norm")(x)
    model = keras.Model(x, keras.layers.Conv2D(4, 3, name="conv")(y))
    graph = read_keras(model)
    node = _node(graph, "norm")
    assert node.kind is OpKind.NORM and node.counted
    assert graph.params == model.count_params() == math.prod((3, 2)) + 1 + (27 * 4 + 4)


def test_a_layer_called_twice_counts_its_weights_once(keras: ModuleType) -> None:
    L = keras.layers
    shared = L.Conv2D(4, 3, padding="same", name="shared")
    scale = L.Normalization(axis=-1, mean=0.0, variance=1.0, name="norm")
    x = keras.Input((6, 6, 4))
    y = shared(shared(x))
    model = keras.Model(x, L.Add(name="sum")([scale(y), scale(x)]))
    graph = read_keras(model)
    assert graph.params == model.count_params() == 4 * 9 * 4 + 4
    assert _node(graph, "shared").params == 4 * 9 * 4 + 4
    assert _node(graph, "shared@1").params == 0
    assert _node(graph, "shared@1").macs == _node(graph, "shared").macs


def test_a_layer_that_cannot_run_again_takes_the_shape_the_graph_recorded(
    keras: ModuleType,
) -> None:
    class Frozen(keras.layers.Layer):  # type: ignore[misc,name-defined]
        """A call with a side effect: it refuses to run once the model is built."""

        frozen = False
        refused = 0

        def call(self, x: Any) -> Any:
            if Frozen.frozen:
                Frozen.refused += 1
                raise RuntimeError("frozen")
            return keras.ops.sort(x, axis=-1)[:, :3]

    x = keras.Input((7,))
    model = keras.Model(x, Frozen(name="frozen")(x))
    Frozen.frozen = True
    graph = read_keras(model, (5, 7))
    (node,) = graph.uncounted
    assert node.output_shape == (5, 3)  # the recorded (None, 3), batch set to ours
    assert Frozen.refused > 0  # the stand-in call was tried and refused
