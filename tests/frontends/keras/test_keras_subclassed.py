"""Subclassed Keras models and composite layers (sub-layers called from Python code in
``call``): read through what their ``call`` makes on symbolic inputs, so they summarise like the
same network written with ``keras.Model(inputs, outputs)``, and the user's model keeps no trace
of the reading; one-line errors (models) or an uncounted node (layers) where they cannot."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pytest

import stridescope
from stridescope.errors import StridescopeError
from stridescope.frontends.keras import read_keras


def _net(keras: ModuleType) -> Any:
    L = keras.layers

    class Net(keras.Model):
        def __init__(self) -> None:
            super().__init__(name="net")
            self.stem = L.Conv2D(8, 3, strides=2, padding="same", name="stem")
            self.down = L.Conv2D(16, 1, strides=2, name="down")
            self.pool = L.GlobalAveragePooling2D(name="pool")
            self.head = L.Dense(10, name="head")

        def call(self, x: Any, training: bool = False) -> Any:
            y = keras.ops.relu(self.stem(x))
            return self.head(self.pool(self.down(y) + keras.ops.mean(y)))

    return Net()


def _functional(keras: ModuleType) -> Any:
    """The same network written as a Functional model."""
    L = keras.layers
    x = keras.Input((32, 32, 3))
    y = keras.ops.relu(L.Conv2D(8, 3, strides=2, padding="same", name="stem")(x))
    z = L.Conv2D(16, 1, strides=2, name="down")(y) + keras.ops.mean(y)
    return keras.Model(x, L.Dense(10, name="head")(L.GlobalAveragePooling2D(name="pool")(z)))


def test_a_subclassed_model_reads_as_its_functional_twin(keras: ModuleType) -> None:
    model = _net(keras)
    graph = read_keras(model, (1, 32, 32, 3))
    again = read_keras(model, (1, 32, 32, 3))  # names as Keras gives them; a read takes none
    assert [n.name for n in again.nodes] == [n.name for n in graph.nodes]
    twin = read_keras(_functional(keras))
    assert model.built and graph.params == model.count_params() == twin.params
    assert (graph.macs, graph.output.output_shape) == (twin.macs, twin.output.output_shape)
    assert not graph.uncounted
    names = [n.name for n in graph.nodes]
    assert names[1] == "stem" and "down" in names and names[-1] == "head"


def test_a_model_called_before_is_read_at_the_shape_it_was_called_with(keras: ModuleType) -> None:
    model = _net(keras)
    model(np.zeros((4, 24, 24, 3), dtype="float32"))
    summary = stridescope.summary(model)
    assert summary.input_shape == (1, 24, 24, 3)
    assert summary.totals.params == model.count_params()
    assert summary.input_coverage is not None


def test_a_model_never_built_needs_an_input_shape(keras: ModuleType) -> None:
    with pytest.raises(StridescopeError, match="never built or called; give an input shape"):
        read_keras(_net(keras))


def test_a_call_that_needs_values_is_a_one_line_error(keras: ModuleType) -> None:
    class Branches(keras.Model):
        def __init__(self) -> None:
            super().__init__(name="branches")
            self.dense = keras.layers.Dense(4)

        def call(self, x: Any) -> Any:
            if float(keras.ops.sum(x)) > 0:  # a value: symbolic inputs have none
                return self.dense(x)
            return x

    with pytest.raises(StridescopeError) as error:
        read_keras(Branches(), (1, 8))
    message = str(error.value)
    assert "cannot read the subclassed Keras model 'branches' (Branches)" in message
    assert "\n" not in message


def test_a_read_leaves_no_call_records_on_the_models_layers(keras: ModuleType) -> None:
    model = _net(keras)
    model(np.zeros((1, 16, 16, 3), dtype="float32"))
    layers = list(model._flatten_layers(include_self=False))
    before = [(len(x._inbound_nodes), len(x._outbound_nodes)) for x in layers]
    read_keras(model)
    assert [(len(x._inbound_nodes), len(x._outbound_nodes)) for x in layers] == before


def _residual(keras: ModuleType) -> Any:
    L = keras.layers

    class Residual(L.Layer):  # type: ignore[misc,name-defined]
        """A conv, a norm, an activation and a residual add, as a layer of its own."""

        def __init__(self, width: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.conv = L.Conv2D(width, 3, padding="same", name="conv")
            self.norm = L.BatchNormalization(name="norm")

        def call(self, x: Any, training: Any = None) -> Any:
            return keras.ops.relu(self.norm(self.conv(x), training=training)) + x

    return Residual


def test_composite_layers_are_read_through_their_call(keras: ModuleType) -> None:
    Residual = _residual(keras)
    x = keras.Input((12, 12, 4))
    shared = Residual(4, name="shared")
    y = shared(shared(Residual(4, name="first")(x)))  # a block called twice: weights once
    model = keras.Model(x, y)
    layers = list(model._flatten_layers(include_self=False))
    before = [(len(x._inbound_nodes), len(x._outbound_nodes)) for x in layers]
    graph = read_keras(model)
    assert [(len(x._inbound_nodes), len(x._outbound_nodes)) for x in layers] == before
    assert not graph.uncounted and graph.params == model.count_params()
    convs = [n for n in graph.nodes if n.kind == "conv"]
    assert [n.name for n in convs] == ["first.conv", "shared.conv", "shared@1.conv"]
    assert [n.macs for n in convs] == [12 * 12 * 4 * 4 * 9] * 3
    assert [n.params for n in convs] == [4 * 4 * 9 + 4, 4 * 4 * 9 + 4, 0]
    assert [n.name for n in read_keras(model).nodes] == [n.name for n in graph.nodes]


def test_a_composite_layer_inside_a_composite_layer_is_read_too(keras: ModuleType) -> None:
    Residual = _residual(keras)

    class Stage(keras.layers.Layer):  # type: ignore[misc,name-defined]
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.block = Residual(4, name="block")
            self.down = keras.layers.Conv2D(8, 1, strides=2, name="down")

        def call(self, x: Any) -> Any:
            return self.down(self.block(x))

    x = keras.Input((8, 8, 4))
    model = keras.Model(x, Stage(name="stage")(x))
    graph = read_keras(model)
    assert not graph.uncounted and graph.params == model.count_params()
    assert [n.name for n in graph.nodes if n.kind == "conv"] == ["stage.block.conv", "stage.down"]


def test_a_sub_layer_called_twice_in_a_block_is_read_at_each_call(
    keras: ModuleType,
) -> None:
    class Twice(keras.layers.Layer):  # type: ignore[misc,name-defined]
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(6, name="fc")

        def call(self, x: Any) -> Any:
            return self.dense(self.dense(x))

    x = keras.Input((5, 6))
    model = keras.Model(x, Twice(name="twice")(x))
    graph = read_keras(model)
    assert graph.uncounted == ()
    assert [(n.name, n.macs, n.params) for n in graph.nodes[1:]] == [
        ("twice.fc", 5 * 6 * 6, 6 * 6 + 6),
        ("twice.fc@1", 5 * 6 * 6, 0),  # its weights were counted at its first call
    ]
    assert graph.params == model.count_params()
