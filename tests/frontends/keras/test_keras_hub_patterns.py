"""Patterns of keras_hub's SAM, Whisper, Moonshine, D-FINE, SigLIP, MobileNetV5, HGNetV2,
PARSeq and Gemma code that the Keras reader got wrong (a probe of 26 keras_hub models not in
``bench/zoo_keras_hub.py``, 2026-12-04): each model here is hand-written to show one pattern;
numbers are checked against ``count_params()``, Keras' shapes and hand counts."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import stridescope
from stridescope.frontends.keras import read_keras
from stridescope.ir import Graph, GraphBuilder, Node


def _named(graph: Graph, name: str) -> Node:
    (node,) = [n for n in graph.nodes if n.name == name]
    return node


def _with_dense(keras: ModuleType, call: Any) -> Any:
    """A custom layer class holding one ``Dense(16)`` named ``fc``, with ``call`` as its call."""

    class WithDense(keras.layers.Layer):  # type: ignore[misc, name-defined]
        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self.fc = keras.layers.Dense(16, name="fc")

        def build(self, shape: Any) -> None:
            self.fc.build(shape)

    WithDense.call = call
    return WithDense


def test_slicing_a_rank_2_tensor_summarises(keras: ModuleType) -> None:
    """``ids[:, 1:]`` on (batch, tokens): a window on the tokens, a rank-2 input's axis (a
    window without axes crashed the aliasing rule inside ``summary``); a rank-2 tensor with
    no spatial axis (not an input's) has no window."""
    ids = keras.Input((12,), dtype="int32")
    model = keras.Model(ids, keras.layers.Embedding(50, 8, name="emb")(ids[:, 1:]))
    summary = stridescope.summary(model)
    assert summary.totals.params == model.count_params() and summary.totals.uncounted == ()
    assert summary.layers[-1].output_shape == (1, 11, 8)
    b = GraphBuilder((1, 3, 4, 12), "nhwc")
    flat = b.reshape(b.input, "flat", output_shape=(1, 144))  # (its axes merged: none kept)
    node = b.slice(flat, "s", spatial=[], output_shape=(1, 143))
    assert b.build().nodes[node].window is None
    sliced = [r for r in summary.layers if r.kind == "slice"]
    assert sliced and sliced[0].read_fraction == 11 / 12


def test_tensors_passed_by_keyword_out_of_name_order_reach_their_arguments(
    keras: ModuleType,
) -> None:
    """``layer(z=image, a=points)`` (SAM's ``prompt_encoder(**inputs)``): each stand-in goes
    to its own keyword; Keras flattens keywords by name, the reader took them as written."""

    class Two(keras.layers.Layer):  # type: ignore[misc, name-defined]
        def call(self, z: Any = None, a: Any = None) -> Any:
            return keras.ops.mean(z, axis=(1, 2)) + keras.ops.sum(a, axis=1, keepdims=True)

    image, points = keras.Input((32, 32, 4)), keras.Input((3,))
    y = keras.layers.Dense(8, name="dense")(Two(name="two")(z=image, a=points))
    model = keras.Model([image, points], y)
    graph = read_keras(model, [(1, 32, 32, 4), (1, 3)])
    assert graph.uncounted == () and _named(graph, "dense").output_shape == (1, 8)
    assert _named(graph, "two/sum").output_shape == (1, 1)
    assert graph.params == model.count_params()


def test_a_nested_model_called_with_a_dict_takes_its_inputs_by_key(keras: ModuleType) -> None:
    """A backbone called with its input dict (SAM's segmenter): Keras maps the dict to the
    model's inputs by sorted key, not in the order the dict was written."""
    image, points = keras.Input((32, 32, 4)), keras.Input((3,))
    mixed = keras.ops.mean(image, axis=(1, 2)) + keras.ops.sum(points, axis=1, keepdims=True)
    inner = keras.Model({"z_image": image, "a_points": points}, keras.layers.Dense(8)(mixed))
    outer = keras.Model(inner.input, keras.layers.Dense(2)(inner(inner.input)))
    summary = stridescope.summary(outer, input_shape=[(1, 3), (1, 32, 32, 4)])
    assert summary.totals.uncounted == () and summary.totals.params == outer.count_params()
    # mean of the image, sum of the points, the add, then both dense layers
    assert summary.totals.macs == 32 * 32 * 4 + 3 + 4 + 4 * 8 + 8 * 2


def test_training_passed_to_a_sub_layer_whose_call_has_none(keras: ModuleType) -> None:
    """``self.mlp(x, training=training)`` where ``MLP.call(self, x)`` (SigLIP, MobileNetV5):
    Keras' ``__call__`` drops the keyword, so the reader does too."""

    MLP = _with_dense(keras, lambda self, x: self.fc(x))

    class Block(keras.layers.Layer):  # type: ignore[misc, name-defined]
        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self.mlp = MLP(name="mlp")

        def build(self, shape: Any) -> None:
            self.mlp.build(shape)

        def call(self, x: Any, training: Any = None) -> Any:
            return self.mlp(x, training=training)

    x = keras.Input((8, 16))
    model = keras.Model(x, Block(name="block")(x))
    graph = read_keras(model)
    assert graph.uncounted == () and graph.macs == 8 * 16 * 16
    assert graph.params == model.count_params()


def test_a_sub_layer_whose_output_spec_refuses_a_keyword_its_call_takes(
    keras: ModuleType,
) -> None:
    """A ``MultiHeadAttention`` subclass given ``cache=`` (Whisper, Moonshine) and a layer
    whose ``compute_output_spec`` has no ``training`` (D-FINE): sized by running ``call``, as
    Keras did when it built the model, instead of leaving the block uncounted."""

    class CachedMHA(keras.layers.MultiHeadAttention):  # type: ignore[misc, name-defined]
        def call(self, query: Any, value: Any, cache: Any = None, **kw: Any) -> Any:
            return super().call(query, value, **kw)

    def head_call(self: Any, x: Any, training: Any = None) -> Any:
        return self.fc(x)

    class Head(_with_dense(keras, head_call)):  # type: ignore[misc]
        def compute_output_spec(self, x: Any) -> Any:
            return keras.KerasTensor((*x.shape[:-1], 16))

    class Block(keras.layers.Layer):  # type: ignore[misc, name-defined]
        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self.mha = CachedMHA(num_heads=2, key_dim=8, name="mha")
            self.head = Head(name="head")

        def build(self, shape: Any) -> None:
            self.mha.build(shape, shape)
            self.head.build(shape)

        def call(self, x: Any, training: Any = None) -> Any:
            return self.head(x + self.mha(x, x, cache=None), training=training)

    x = keras.Input((10, 16))
    model = keras.Model(x, Block(name="block")(x))
    graph = read_keras(model)
    assert graph.uncounted == ()
    assert graph.params == model.count_params()
    projections = 4 * 10 * 16 * 16  # query, key, value and output, 2 heads of 8
    attention = 2 * 2 * 10 * 10 * 8  # scores and weighted sum, per head
    assert graph.macs == projections + attention + 10 * 16 + 10 * 16 * 16


def test_moveaxis_is_a_permute(keras: ModuleType) -> None:
    x = keras.Input((5, 6, 7))
    model = keras.Model(x, keras.ops.moveaxis(x, [1, 2], [3, 1]))
    graph = read_keras(model)
    assert graph.uncounted == ()
    assert graph.output.output_shape == (1, *model.output_shape[1:]) == (1, 6, 7, 5)


def test_a_weight_on_the_left_of_an_operator(keras: ModuleType) -> None:
    """``self.scale * x + self.bias`` (HGNetV2's learnable affine block): the variable's own
    operator computed on the backend's values and failed, leaving the layer uncounted."""

    class Affine(keras.layers.Layer):  # type: ignore[misc, name-defined]
        def build(self, shape: Any) -> None:
            self.scale = self.add_weight(shape=(), initializer="ones", name="scale")
            self.bias = self.add_weight(shape=(), initializer="zeros", name="bias")

        def call(self, x: Any) -> Any:
            return self.scale * x + self.bias

    x = keras.Input((8, 8, 3))
    model = keras.Model(x, Affine(name="affine")(keras.layers.Conv2D(4, 3, name="conv")(x)))
    graph = read_keras(model)
    assert graph.uncounted == () and graph.params == model.count_params() == 4 * 27 + 4 + 2
    assert graph.macs == 6 * 6 * 4 * 27 + 2 * 6 * 6 * 4


def test_attention_given_its_mask_by_keyword_is_sized_by_query_and_value(
    keras: ModuleType,
) -> None:
    """``mha(query=x, value=y, attention_mask=m)`` (keras_hub's decoders): the products are
    sized by the query and the value, in a Functional graph and inside a custom layer (whose
    keyword tensors Keras lists by name: the mask came first there and was read as the
    query)."""

    def attention(mask: bool) -> Any:
        return keras.layers.MultiHeadAttention(num_heads=2, key_dim=8, name="mha")

    class Block(keras.layers.Layer):  # type: ignore[misc, name-defined]
        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self.mha = attention(True)

        def build(self, shape: Any) -> None:
            self.mha.build(shape, shape)

        def call(self, x: Any, mask: Any) -> Any:
            return self.mha(query=x, value=x, attention_mask=mask)

    x, mask = keras.Input((10, 16)), keras.Input((10, 10), dtype="bool")
    plain = read_keras(keras.Model(x, attention(False)(x, x)))
    functional = keras.Model([x, mask], attention(True)(query=x, value=x, attention_mask=mask))
    inside = keras.Model([x, mask], Block(name="block")(x, mask))
    for model in (functional, inside):
        graph = read_keras(model, [(1, 10, 16), (1, 10, 10)])
        assert graph.uncounted == () and graph.macs == plain.macs
        assert graph.output.output_shape == (1, 10, 16)
        assert graph.params == model.count_params()


def test_a_custom_layer_read_wrongly_part_way_is_one_node(
    keras: ModuleType, monkeypatch: Any
) -> None:
    """Nothing in a custom layer's reading stops a summary: where a part's shapes do not fit
    (a reading error), the nodes made so far are dropped and the layer is one node, with
    Keras' shape and parameters, counted as the torch backend computes it (else uncounted)."""
    from stridescope.frontends.keras import expand, operations
    from stridescope.ir import LayerError

    def fails(*args: Any, **kwargs: Any) -> Any:
        raise LayerError("block/add", "operands of add do not broadcast")

    Block = _with_dense(keras, lambda self, x: self.fc(x) + x)

    x = keras.Input((10, 16))
    model = keras.Model(x, Block(name="block")(x))
    plain = read_keras(model)
    monkeypatch.setattr(expand, "add_operation", fails)
    graph = read_keras(model)
    assert [n.name for n in graph.nodes[1:]] == ["block"]
    assert graph.uncounted == () and plain.macs == 10 * 16 * 16 + 10 * 16
    assert graph.macs == plain.macs + 10 * 16  # (the torch code adds Dense's bias on its own)
    assert graph.params == model.count_params()
    monkeypatch.setattr(operations, "backend_macs", lambda *args: None)  # (another backend's)
    graph = read_keras(model)
    assert graph.uncounted == (graph.nodes[1],) and graph.params == model.count_params()


def test_a_real_tensor_plus_a_symbolic_one_is_keras_add_weights_counted_once(
    keras: ModuleType,
) -> None:
    """``ops.take(self.pos, ops.arange(n)) + x`` (PARSeq's position queries): the take runs
    on the weight's values, and ``real + symbolic`` is Keras' add, not a torch call whose
    tracer would count the weight's torch parameter a second time."""

    class Positions(keras.layers.Layer):  # type: ignore[misc, name-defined]
        def build(self, shape: Any) -> None:
            self.pos = self.add_weight(shape=(1, 26, 8), initializer="zeros", name="pos")

        def call(self, x: Any) -> Any:
            n = keras.ops.shape(x)[1]
            return keras.ops.take(self.pos, keras.ops.arange(n, dtype="int32"), axis=1) + x

    x = keras.Input((25, 8))
    model = keras.Model(x, Positions(name="positions")(keras.layers.Dense(8, name="fc")(x)))
    graph = read_keras(model)
    assert graph.uncounted == () and graph.params == model.count_params() == 26 * 8 + 72


def test_a_reshape_sized_with_a_symbolic_none_is_worked_out(keras: ModuleType) -> None:
    """Gemma's attention reshapes ``q`` with ``ops.shape(q)``, which holds the ``None`` an
    ``EinsumDense(output_shape=(None, heads, dim))`` gives symbolically: the size is worked
    out from the elements, so the scores' einsum gets its MACs (a ``None`` counted as 1)."""

    class Scores(keras.layers.Layer):  # type: ignore[misc, name-defined]
        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self.q = keras.layers.EinsumDense("btd,dnh->btnh", (None, 2, 8), name="q")

        def build(self, shape: Any) -> None:
            self.q.build(shape)

        def call(self, x: Any) -> Any:
            q = self.q(x)
            s = keras.ops.shape(q)
            q = keras.ops.reshape(q, (*s[:-2], 1, 2, s[-1]))
            k = keras.ops.reshape(self.q(x), (*s[:-2], 2, 8))[:, :, :1]
            return keras.ops.einsum("btkgh,bskh->bkgts", q, k)

    x = keras.Input((12, 16))
    model = keras.Model(x, Scores(name="scores")(x))
    graph = read_keras(model)
    assert graph.uncounted == () and graph.output.output_shape == (1, 1, 2, 12, 12)
    assert _named(graph, "scores/einsum").macs == 1 * 2 * 12 * 12 * 8


def test_attention_with_a_learned_probe_as_query(keras: ModuleType) -> None:
    """A pooling head (SigLIP's): ``mha(repeat(probe), x)``, the query a weight, not a
    traced tensor: one query row, so the products are sized by it, not by ``x``."""

    class Pool(keras.layers.Layer):  # type: ignore[misc, name-defined]
        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self.mha = keras.layers.MultiHeadAttention(num_heads=2, key_dim=8, name="mha")

        def build(self, shape: Any) -> None:
            self.probe = self.add_weight(shape=(1, 1, 16), name="probe")
            self.mha.build((1, 1, 16), shape)

        def call(self, x: Any) -> Any:
            probe = keras.ops.repeat(self.probe, keras.ops.shape(x)[0], axis=0)
            return self.mha(probe, x)

    x = keras.Input((10, 16))
    model = keras.Model(x, Pool(name="pool")(x))
    graph = read_keras(model, (1, 10, 16))
    assert graph.uncounted == () and graph.params == model.count_params()
    assert graph.output.output_shape == (1, 1, 16)
    query, keys_values = 1 * 16 * 16, 2 * 10 * 16 * 16
    assert graph.macs == query + keys_values + 2 * 1 * 10 * 16 + 1 * 16 * 16
