"""Recurrent layers that return their states (``return_state=True``) are counted once: the
products of the whole sequence on the first output, each state a 0-MAC node beside it, as
other layers with several outputs are (before, every output was an uncounted node); also
when another layer calls them (``Bidirectional``, a custom layer) and for ``ConvLSTM`` on
``channels_first`` input (before, uncounted)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from stridescope.frontends.keras import read_keras


def _rows(graph: Any, op: str) -> list[tuple[int, tuple[int | None, ...]]]:
    return [(n.macs, n.output_shape) for n in graph.nodes if n.op == op]


def test_sequences_and_states_returned_count_the_products_once(keras: ModuleType) -> None:
    x = keras.Input((9, 3))
    seq, h = keras.layers.GRU(5, return_sequences=True, return_state=True)(x)
    model = keras.Model(x, keras.layers.Dense(2)(seq[:, -1] + h))
    graph = read_keras(model)
    assert not graph.uncounted and graph.params == model.count_params()
    assert _rows(graph, "GRU") == [(9 * 3 * 5 * (3 + 5), (1, 9, 5)), (0, (1, 5))]


def test_states_returned_inside_other_layers_are_counted(keras: ModuleType) -> None:
    layers = keras.layers

    class LastStates(layers.Layer):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.rnn = layers.SimpleRNN(4, return_state=True)

        def call(self, x: Any) -> Any:
            _, h = self.rnn(x)
            return h * 2.0

    x = keras.Input((6, 2))
    both = layers.Bidirectional(layers.LSTM(3, return_state=True))(x)
    model = keras.Model(x, layers.Concatenate()([both[0], LastStates()(x)]))
    graph = read_keras(model)
    assert not graph.uncounted and graph.params == model.count_params()
    assert [m for m, _ in _rows(graph, "LSTM")] == [6 * 4 * 3 * (2 + 3), 0, 0] * 2
    assert [m for m, _ in _rows(graph, "SimpleRNN")] == [6 * 4 * (2 + 4), 0]


def test_conv_lstm_on_channels_first_input_is_counted(keras: ModuleType) -> None:
    """(batch, steps, channels, rows, cols): the same products as channels-last."""
    first = keras.Input((3, 2, 6, 5))
    last = keras.Input((3, 6, 5, 2))
    made = [
        read_keras(
            keras.Model(x, keras.layers.ConvLSTM2D(4, 3, data_format=f, return_state=True)(x))
        )
        for x, f in ((first, "channels_first"), (last, "channels_last"))
    ]
    macs = 3 * (4 * 3) * 4 * 4 * 9 * (2 + 4)
    assert [_rows(g, "ConvLSTM2D")[0][0] for g in made] == [macs, macs]
    assert not any(g.uncounted for g in made)
    assert _rows(made[0], "ConvLSTM2D")[1:] == [(0, (1, 4, 4, 3))] * 2


def test_an_rnn_of_a_custom_cell_costs_one_step_times_the_steps(keras: ModuleType) -> None:
    """The cell's call read as a custom layer's is (two products and a sum a step), times
    the steps (before, one uncounted node)."""
    ops = keras.ops

    class Cell(keras.layers.Layer):  # type: ignore[misc, name-defined]
        def __init__(self, units: int) -> None:
            super().__init__()
            self.units = self.state_size = units

        def build(self, shape: Any) -> None:
            self.w = self.add_weight(shape=(shape[-1], self.units), name="w")
            self.u = self.add_weight(shape=(self.units, self.units), name="u")

        def call(self, x: Any, states: Any) -> Any:
            h = ops.matmul(x, self.w) + ops.matmul(states[0], self.u)
            return h, [h]

    x = keras.Input((8, 3))
    model = keras.Model(x, keras.layers.RNN(Cell(5), return_state=True)(x))
    graph = read_keras(model)
    assert not graph.uncounted and graph.params == model.count_params() == 3 * 5 + 5 * 5
    assert _rows(graph, "RNN") == [(8 * (3 * 5 + 5 * 5 + 5), (1, 5)), (0, (1, 5))]
