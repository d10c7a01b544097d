"""What custom Keras layers do in their ``call`` that the reader must follow (the patterns
of transformer blocks written as layers, as in keras_hub's ViT, DINOv2/v3, Swin, MiT, DeiT):
one sub-layer called at several places, a layer that returns its input at inference, values
made from the input's shape alone, sub-layers returning ``(x, None)``, the raw
``dot_product_attention`` op, layers whose arguments Keras cannot serialise, and layers
taking several tensors. Each model is hand-written; numbers are checked against
``count_params()``, Keras' shapes and hand counts."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from stridescope.analysis.summary import summarize
from stridescope.frontends.keras import read_keras
from stridescope.ir import Graph, Node, OpKind


def _named(graph: Graph, name: str) -> Node:
    (node,) = [n for n in graph.nodes if n.name == name]
    return node


def test_a_layer_called_again_deeper_in_a_functional_model(keras: ModuleType) -> None:
    """One dropout after each of two convs: its second call needs the second conv first."""
    L = keras.layers
    x = keras.Input((8, 8, 3))
    drop = L.Dropout(0.1, name="drop")
    y = drop(L.Conv2D(4, 3, padding="same", name="c1")(x))
    y = drop(L.Conv2D(4, 3, padding="same", name="c2")(y))
    model = keras.Model(x, y)
    graph = read_keras(model)
    assert [n.name for n in graph.nodes[1:]] == ["c1", "drop", "c2", "drop@1"]
    assert _named(graph, "drop@1").parents == (_named(graph, "c2").id,)
    assert graph.params == model.count_params()


def test_a_sub_layer_called_twice_in_a_custom_block_is_read_at_each_call(
    keras: ModuleType,
) -> None:
    L = keras.layers

    class Block(L.Layer):  # type: ignore[misc, name-defined]
        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self.attn, self.mlp = L.Dense(16, name="attn"), L.Dense(16, name="mlp")
            self.proj = L.Dense(16, name="proj")
            self.drop = L.Dropout(0.1, name="drop")

        def call(self, x: Any) -> Any:
            x = x + self.drop(self.attn(x))
            x = x + self.drop(self.proj(self.mlp(x)))
            return self.proj(x)  # a weighted sub-layer called again: counted once

    x = keras.Input((10, 16))
    model = keras.Model(x, Block(name="block")(x))
    graph = read_keras(model)
    assert graph.uncounted == ()
    assert graph.params == model.count_params() == 3 * (16 * 16 + 16)
    dense = [n for n in graph.nodes if n.kind is OpKind.LINEAR]
    assert [n.name for n in dense] == ["block.attn", "block.mlp", "block.proj", "block.proj@1"]
    assert [n.macs for n in dense] == [10 * 16 * 16] * 4
    assert _named(graph, "block.proj@1").params == 0
    assert graph.nodes[-1].name == "block.proj@1"
    assert _named(graph, "block.drop@1").parents == (_named(graph, "block.proj").id,)


def test_a_layer_returning_its_input_at_inference_adds_no_node(keras: ModuleType) -> None:
    """A stochastic-depth layer: at inference (``training`` not set) it returns its input."""
    L = keras.layers

    class DropPath(L.Layer):  # type: ignore[misc, name-defined]
        def call(self, x: Any, training: Any = None) -> Any:
            if not training:
                return x
            return x * keras.random.uniform((1,))

    x = keras.Input((6, 6, 4))
    y = L.Conv2D(4, 1, name="conv")(x)
    model = keras.Model(x, L.Add(name="add")([x, DropPath(name="dp")(y)]))
    graph = read_keras(model)
    assert [n.name for n in graph.nodes] == ["input", "conv", "add"]
    assert _named(graph, "add").parents == (0, _named(graph, "conv").id)
    assert graph.uncounted == ()


def test_values_made_from_the_input_shape_alone_are_parentless_nodes(keras: ModuleType) -> None:
    """A rotary table computed from the image size (concrete, not symbolic, in the call), and
    an empty tensor returned in place of hidden states nobody asked for."""
    L = keras.layers
    ops = keras.ops

    class Rope(L.Layer):  # type: ignore[misc, name-defined]
        def build(self, shape: Any) -> None:
            self.freq = self.add_weight(shape=(8,), initializer="ones", trainable=False)

        def call(self, x: Any) -> Any:
            n = x.shape[1] * x.shape[2]
            angles = ops.expand_dims(ops.arange(n, dtype="float32"), -1) * self.freq
            return ops.cos(angles), ops.sin(angles)

    class Encoder(L.Layer):  # type: ignore[misc, name-defined]
        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self.fc = L.Dense(8, name="fc")

        def call(self, x: Any) -> Any:
            return self.fc(x), ops.empty((0, x.shape[1], 8))

    x = keras.Input((4, 4, 8))
    cos, sin = Rope(name="rope")(x)
    tokens = L.Reshape((16, 8))(x)
    out, hidden = Encoder(name="enc")(L.Multiply()([tokens, cos]))
    model = keras.Model(x, [L.Add()([out, sin]), hidden])
    graph = read_keras(model)
    assert graph.uncounted == ()
    assert graph.params == model.count_params()
    rope, rope_sin = _named(graph, "rope"), _named(graph, "rope:1")
    assert rope.parents == rope_sin.parents == ()
    assert rope.output_shape == rope_sin.output_shape == (16, 8)
    assert rope.params == 8 and rope.macs == 0
    assert _named(graph, "enc:1").output_shape == (0, 16, 8)
    assert _named(graph, "enc.fc").macs == 16 * 8 * 8


def test_a_sub_layer_returning_none_beside_its_output_is_read(keras: ModuleType) -> None:
    """Transformer blocks return ``(x, None)`` when attention scores are not asked for;
    Keras itself refuses to record such a call symbolically."""
    L = keras.layers

    class Block(L.Layer):  # type: ignore[misc, name-defined]
        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self.fc = L.Dense(12, name="fc")

        def call(self, x: Any, scores: bool = False) -> Any:
            return self.fc(x), None

    class Encoder(L.Layer):  # type: ignore[misc, name-defined]
        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self.blocks = [Block(name=f"b{i}") for i in range(2)]

        def call(self, x: Any) -> Any:
            for block in self.blocks:
                x, _ = block(x)
            return x

    x = keras.Input((5, 12))
    model = keras.Model(x, Encoder(name="enc")(x))
    graph = read_keras(model)
    assert graph.uncounted == ()
    assert graph.params == model.count_params()
    assert [n.name for n in graph.nodes[1:]] == ["enc.b0.fc", "enc.b1.fc"]
    assert graph.nodes[-1].macs == 5 * 12 * 12


def test_dot_product_attention_counts_both_products(keras: ModuleType) -> None:
    L = keras.layers
    ops = keras.ops
    x = keras.Input((7, 2, 6))  # (tokens, heads, head dim)
    kv = keras.Input((9, 2, 6))
    out = ops.dot_product_attention(x, kv, L.Dense(6)(kv))
    graph = read_keras(keras.Model([x, kv], out))
    (node,) = [n for n in graph.nodes if n.op == "DotProductAttention"]
    assert node.kind is OpKind.MATMUL and node.counted
    assert node.output_shape == (1, 7, 2, 6)
    assert node.macs == 7 * 2 * 9 * (6 + 6)  # q @ k^T, then the weights @ v


def test_a_layer_keras_cannot_serialise_is_still_read(keras: ModuleType) -> None:
    """``Identity(dtype=policy)`` and layers holding a function: ``get_config()`` raises."""
    L = keras.layers
    x = keras.Input((4, 4, 2))
    y = L.Identity(dtype=keras.DTypePolicy("float32"), name="same")(x)
    y = L.Conv2D(3, 1, name="conv")(y)
    graph = read_keras(keras.Model(x, y))
    assert [n.name for n in graph.nodes] == ["input", "conv"]


def test_a_layer_taking_several_tensors_gets_one_shape_per_output(keras: ModuleType) -> None:
    """A layer called with a tensor and two tables (by keyword), returning one tensor, left
    uncounted (an op stridescope does not count): its ``compute_output_shape`` returns the
    shape it is given, and given the three shapes as one list that is three outputs."""
    L = keras.layers
    ops = keras.ops

    class Rotate(L.Layer):  # type: ignore[misc, name-defined]
        def call(self, x: Any, tables: Any = None) -> Any:
            cos, sin = tables
            return ops.pinv(ops.pinv(x * cos + ops.flip(x, axis=-1) * sin))  # (linear algebra)

        def compute_output_shape(self, input_shape: Any) -> Any:
            return input_shape

    x, cos, sin = keras.Input((6, 4)), keras.Input((6, 4)), keras.Input((6, 4))
    out = L.Dense(4, name="fc")(Rotate(name="rot")(x, tables=(cos, sin)))
    graph = read_keras(keras.Model([x, cos, sin], out))
    assert [n.name for n in graph.uncounted] == ["rot"]
    assert _named(graph, "rot").output_shape == (1, 6, 4)
    assert graph.nodes[-1].output_shape == (1, 6, 4)


def test_activation_functions_called_on_symbolic_tensors_are_counted(keras: ModuleType) -> None:
    """``keras.activations.relu(x)`` records an operation of its own class (``ReLU``, not the
    ``Relu`` of ``keras.ops.relu``)."""
    L = keras.layers
    x = keras.Input((6, 6, 4))
    y = keras.activations.relu(L.Conv2D(4, 3, name="conv")(x))
    graph = read_keras(keras.Model(x, y))
    assert graph.uncounted == ()
    assert [(n.kind, n.op) for n in graph.nodes[2:]] == [(OpKind.ACTIVATION, "ReLU")]


def test_weights_no_layer_of_the_graph_uses_are_named_in_a_note(keras: ModuleType) -> None:
    """A model built on a backbone's early features that keeps the backbone as an attribute:
    ``count_params()`` counts the backbone's later layers, which the graph never calls."""
    L = keras.layers
    inp = keras.Input((8, 8, 3))
    stem = L.Conv2D(4, 3, name="stem")(inp)
    backbone = keras.Model(inp, L.Conv2D(6, 3, name="final")(stem))

    class Segmenter(keras.Model):  # type: ignore[misc, name-defined]
        def __init__(self, backbone: Any) -> None:
            features = keras.Model(backbone.input, backbone.get_layer("stem").output)
            x = keras.Input((8, 8, 3))
            super().__init__(x, L.Conv2D(2, 1, name="head")(features(x)))
            self.backbone = backbone

    model = Segmenter(backbone)
    graph = read_keras(model)
    final = 3 * 3 * 4 * 6 + 6
    assert model.count_params() - graph.params == final
    (note,) = graph.notes
    assert note.startswith(f"{final:,} parameters were not used")
    assert "final/kernel, final/bias" in note
    plain = keras.Model(backbone.input, backbone.output)
    assert read_keras(plain).notes == ()  # every weight used: no note


def test_a_layer_with_weights_returning_its_input_keeps_them_counted(keras: ModuleType) -> None:
    """An auxiliary branch active in training only: at inference the layer returns its input,
    and its weights (which ``count_params()`` counts) sit on a node of no MACs."""
    L = keras.layers

    class Auxiliary(L.Layer):  # type: ignore[misc, name-defined]
        def build(self, shape: Any) -> None:
            self.scale = self.add_weight(shape=(shape[-1],), initializer="ones")

        def call(self, x: Any, training: Any = None) -> Any:
            return x * self.scale if training else x

    x = keras.Input((6, 6, 4))
    model = keras.Model(x, L.Conv2D(2, 1, name="conv")(Auxiliary(name="aux")(x)))
    graph = read_keras(model)
    assert graph.params == model.count_params()
    aux = _named(graph, "aux")
    assert (aux.kind, aux.params, aux.macs, aux.counted) == (OpKind.MOVE, 4, 0, True)
    assert graph.uncounted == ()


def test_the_output_is_the_models_first_output(keras: ModuleType) -> None:
    """A mask and a class label, the label computed after the mask: coverage and the output
    shape are the mask's, as in the PyTorch tracer."""
    L = keras.layers
    x = keras.Input((16, 16, 3))
    mask = L.Conv2D(2, 1, strides=2, name="output")(x)  # a layer named as the output node
    label = L.Dense(4, name="cls")(L.GlobalAveragePooling2D()(x))
    graph = read_keras(keras.Model(x, [mask, label]))
    assert graph.output.op == "output" and graph.output.name == "output1"
    assert graph.output.parents == (_named(graph, "output").id,)
    assert graph.output.output_shape == (1, 8, 8, 2)
    assert summarize(graph).input_coverage == 0.25
    single = read_keras(keras.Model(x, mask))
    assert single.output.name == "output" and single.output.op == "Conv2D"


def test_a_layer_whose_call_defaults_to_training_is_read_at_inference(
    keras: ModuleType,
) -> None:
    """A layer whose ``call`` takes ``training=True`` by default (keras.layers.Pipeline, an
    augmentation block written so) is read as ``predict()`` runs it, with ``training=False``:
    its random training branch would be uncounted, its inference branch is not."""
    L = keras.layers

    class Augment(L.Layer):  # type: ignore[misc, name-defined]
        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self.noise = keras.random.SeedGenerator(0)

        def call(self, x: Any, training: bool = True) -> Any:
            if training:  # random: no count exists for it
                return x + keras.random.normal(keras.ops.shape(x), seed=self.noise)
            return x * 2.0

    x = keras.Input((8, 8, 3))
    y = Augment(name="aug")(x)
    y = L.Pipeline([L.RandomFlip(), L.RandomCrop(6, 6)], name="pipe")(y)
    model = keras.Model(x, y)
    graph = read_keras(model)
    assert graph.uncounted == ()
    assert [(n.op, n.output_shape) for n in graph.nodes[1:]] == [
        ("Multiply", (1, 8, 8, 3)),
        ("RandomCrop", (1, 6, 6, 3)),
    ]
