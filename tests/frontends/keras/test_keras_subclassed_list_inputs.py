"""A subclassed ``keras.Model`` whose ``call`` takes its inputs as one list
(``a, b = inputs``) reads as a ``keras.layers.Layer`` of the same code does: through its
``call``, given the list. Before, nested in a Functional model it was walked as a chain of its
layers (the second fed the first's output, the ``+`` lost); read itself, its list of inputs
was splatted into separate arguments, and the shapes it was called with taken as one."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from stridescope.frontends.keras import read_keras


def _pair(keras: ModuleType) -> Any:
    layers = keras.layers

    class Pair(keras.Model):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__(name="pair")
            self.left = layers.Dense(3, name="left")
            self.right = layers.Dense(3, name="right")

        def call(self, inputs: Any) -> Any:
            a, b = inputs
            return self.left(a) * self.right(b)

    return Pair()


def _expect(graph: Any, model: Any, prefix: str) -> None:
    assert not graph.uncounted and graph.params == model.count_params() == 7 * 3 + 5 * 3
    dense = {n.name: n for n in graph.nodes if n.op == "Dense"}
    assert sorted(dense) == [f"{prefix}left", f"{prefix}right"]
    assert [graph.nodes[p].output_shape for p in dense[f"{prefix}right"].parents] == [(1, 4)]
    (product,) = [n for n in graph.nodes if n.op == "Multiply"]
    assert sorted(graph.nodes[p].name for p in product.parents) == sorted(dense)
    assert graph.macs == 6 * 3 + 4 * 3 + 3


def test_nested_in_a_functional_model_it_is_wired_by_its_call(keras: ModuleType) -> None:
    pair = _pair(keras)
    a, b = keras.Input((6,)), keras.Input((4,))
    model = keras.Model([a, b], pair([a, b]))
    _expect(read_keras(model), model, "pair.")


def test_read_itself_it_is_given_its_inputs_as_one_list(keras: ModuleType) -> None:
    """With the shapes it was called with, and with shapes given."""
    model = _pair(keras)
    model([np.zeros((2, 6), "float32"), np.zeros((2, 4), "float32")])
    _expect(read_keras(model), model, "")
    _expect(read_keras(model, [(1, 6), (1, 4)]), model, "")
