"""Raw ``keras.ops`` calls a Keras model makes on symbolic tensors (in a Functional graph or
inside a custom layer): products, concatenation, axis moves, reshapes and data movement are
counted nodes, never uncounted; the products' MACs equal ``FlopCounterMode`` / 2 on a real
forward of the same model (torch backend), and weights among the operands are counted."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from stridescope.frontends.keras import read_keras
from stridescope.ir import Graph, OpKind

PRODUCTS = (OpKind.CONV, OpKind.LINEAR, OpKind.MATMUL)


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


def _node(keras: ModuleType, make: Any, shape: tuple[int, ...] = (16, 16, 8)) -> Any:
    """The last node of a Functional model ``x -> make(x)``."""
    x = keras.Input(shape)
    return read_keras(keras.Model(x, make(x))).nodes[-1]


def _same(one: Any, other: Any) -> bool:
    fields = ("kind", "output_shape", "macs", "window", "groups", "scatter")
    return all(getattr(one, f) == getattr(other, f) for f in fields)


def test_raw_pools_convs_and_resize_are_read_as_their_layers(keras: ModuleType) -> None:
    """``keras.ops`` pooling, convolution with a constant kernel (a fixed blur: no params)
    and nearest resizing give the node the matching layer gives."""
    L, ops = keras.layers, keras.ops
    blur = np.ones((3, 3, 8, 1), "float32") / 9
    mix = np.ones((3, 3, 8, 6), "float32")
    pairs = [
        (lambda x: ops.max_pool(x, 2, 2), L.MaxPooling2D(2)),
        (lambda x: ops.average_pool(x, 3, 1, "same"), L.AveragePooling2D(3, 1, "same")),
        (
            lambda x: ops.conv(x, mix, 2, "same"),
            L.Conv2D(6, 3, 2, "same", use_bias=False),
        ),
        (lambda x: ops.depthwise_conv(x, blur, 1), L.DepthwiseConv2D(3, use_bias=False)),
        (
            lambda x: ops.image.resize(x, (32, 48), interpolation="nearest"),
            L.Resizing(32, 48, interpolation="nearest"),
        ),
        (lambda x: ops.image.resize(x, (8, 8)), L.Resizing(8, 8)),
    ]
    for raw, layer in pairs:
        node, expected = _node(keras, raw), _node(keras, layer)
        assert node.counted and _same(node, expected), (node, expected)
        assert node.params == 0
    assert _node(keras, pairs[-2][0]).scatter is not None  # nearest by whole factors: exact


def test_a_weight_as_a_raw_conv_kernel_is_counted_once(keras: ModuleType) -> None:
    L, ops = keras.layers, keras.ops

    class Smooth(L.Layer):  # type: ignore[misc,name-defined]
        def build(self, input_shape: Any) -> None:
            self.kernel = self.add_weight(shape=(3, 3, input_shape[-1], 1))

        def call(self, x: Any) -> Any:
            return ops.depthwise_conv(ops.depthwise_conv(x, self.kernel, 1, "same"), self.kernel, 1)

    x = keras.Input((16, 16, 8))
    model = keras.Model(x, Smooth()(x))
    graph = read_keras(model)
    assert graph.params == model.count_params() == 72 and not graph.uncounted
    assert [n.params for n in graph.nodes[1:]] == [72, 0]
    assert product_macs(graph) == flop_macs(model, (1, 16, 16, 8))


def test_raw_comparisons_selections_and_norms_are_counted(keras: ModuleType) -> None:
    ops = keras.ops
    where = _node(keras, lambda x: ops.where(x > 0, x, 0.1 * x))
    assert where.counted and where.kind is OpKind.ACTIVATION and where.macs == 0
    assert where.output_shape == (1, 16, 16, 8)
    norm = _node(keras, lambda x: ops.layer_normalization(x))
    assert norm.counted and norm.kind is OpKind.NORM and norm.output_shape == (1, 16, 16, 8)
    channels_first = _node(keras, lambda x: ops.max_pool(x, 2, data_format="channels_first"))
    # another layout than the model's: no window of the model's axes, but counted as the
    # torch backend computes it (backend_ops), its positions taken as read whole
    assert channels_first.counted and channels_first.kind is OpKind.MOVE
    assert channels_first.macs > 0 and channels_first.window is None
