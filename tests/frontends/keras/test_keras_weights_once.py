"""A weight a subclassed model's ``call`` uses in raw operations counts once, where first
used, also when it reaches the operation computed on weights alone (``ops.transpose(w)``,
``ops.exp(log_scale)``, ``ops.stop_gradient(w)``: Keras runs those eagerly while it records
the call, so the operation is handed a plain torch tensor). Before, each raw operation counted
the weights among its operands again (32 of 16 parameters below), and a weight reaching one
computed was reported unused."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

import stridescope
from stridescope.frontends.keras import read_keras


def _model(keras: ModuleType, call: Any) -> Any:
    ops = keras.ops

    class Heads(keras.Model):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.w = self.add_weight(shape=(3, 4), name="w")
            self.g = self.add_weight(shape=(4,), name="g")

        def call(self, x: Any) -> Any:
            return call(ops, self, x)

    model = Heads()
    model(np.ones((2, 3), dtype="float32"))
    return model


def test_a_weight_used_by_several_raw_operations_counts_once(keras: ModuleType) -> None:
    model = _model(keras, lambda ops, m, x: ops.matmul(x, m.w) * m.g + m.g + ops.matmul(x, m.w))
    graph = read_keras(model, (2, 3))
    assert graph.params == model.count_params() == 16 and not graph.notes
    first, scaled = graph.nodes[1:3]
    assert (first.params, scaled.params) == (12, 4)
    assert sum(n.params for n in graph.nodes[3:]) == 0
    assert graph.macs == 2 * (2 * 3 * 4) + 3 * (2 * 4)


def test_weights_reaching_an_operation_computed_count_there(keras: ModuleType) -> None:
    model = _model(
        keras,
        lambda ops, m, x: (
            ops.matmul(x, ops.stop_gradient(m.w))
            + ops.matmul(x, ops.transpose(ops.transpose(m.w))) * ops.exp(m.g)
        ),
    )
    summary = stridescope.summary(model, input_shape=(2, 3))
    assert summary.totals.params == model.count_params() == 16 and not summary.notes
    assert [row.params for row in summary.layers if row.params] == [12, 4]


def test_a_weight_read_for_its_value_is_counted(keras: ModuleType) -> None:
    """A gate whose value decides a branch is used (``count_params()`` counts it): counted
    at the first node, as its use is not in the graph; a weight the call never touches is
    still only named in the note."""
    ops = keras.ops

    class Gated(keras.Model):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.dense = keras.layers.Dense(4)
            self.gate = self.add_weight(shape=(), initializer="ones", name="gate")
            self.spare = self.add_weight(shape=(5,), initializer="zeros", name="spare")

        def call(self, x: Any) -> Any:
            y = self.dense(x)
            return y * 2 if float(ops.convert_to_numpy(self.gate)) > 0 else y

    model = Gated()
    model(np.ones((2, 3), dtype="float32"))
    graph = read_keras(model, (2, 3))
    assert graph.params == model.count_params() - 5 == 3 * 4 + 4 + 1
    assert graph.nodes[1].params == 3 * 4 + 4 + 1
    assert len(graph.notes) == 1 and graph.notes[0].endswith(": gated/spare")
    from keras.src.backend.torch.core import Variable

    assert Variable.__dict__["value"].fget.__name__ != "_reading"  # (put back after)


def test_a_weight_another_layer_uses_counts_once(keras: ModuleType) -> None:
    """A table used by its layer and again in a custom layer's ``call`` (tied input and
    output embeddings), and a Dense called in the graph and again inside custom layers:
    each weight counts where first used (before, at every use: twice the parameters), and a
    product that reads a kernel counted before claims none of it."""
    layers, ops = keras.layers, keras.ops

    class Tied(layers.Layer):  # type: ignore[misc, name-defined]
        def __init__(self, table: Any) -> None:
            super().__init__()
            self.table = table

        def call(self, x: Any) -> Any:
            return ops.matmul(x, ops.transpose(self.table.embeddings))

    class Twice(layers.Layer):  # type: ignore[misc, name-defined]
        def __init__(self, dense: Any, name: str) -> None:
            super().__init__(name=name)
            self.dense = dense

        def call(self, x: Any) -> Any:
            return self.dense(x) - x

    tokens = keras.Input((5,), dtype="int32")
    table = layers.Embedding(12, 4)
    dense = layers.Dense(4, name="proj")
    x = Twice(dense, "b")(Twice(dense, "a")(dense(table(tokens))))
    model = keras.Model(tokens, Tied(table)(x))
    graph = read_keras(model)
    assert graph.params == model.count_params() == 12 * 4 + 4 * 4 + 4 and not graph.notes
    counted = [n.params for n in graph.nodes if n.params]
    assert counted == [12 * 4, 4 * 4 + 4]
    assert [(n.name, n.shares) for n in graph.nodes if n.op == "Dense"] == [
        ("proj", ""),
        ("a.proj", "proj"),
        ("b.proj", "proj"),
    ]
