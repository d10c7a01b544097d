"""``layers.Embedding`` (``ops.take`` of its table at the ids) keeps each id's position, so a
``Conv1D`` over the embedded tokens has the field it has over a signal (until 2026-12-06: ``?``)."""

from __future__ import annotations

from types import ModuleType

import stridescope


def _convs(keras: ModuleType, x: object) -> object:
    y = keras.layers.Conv1D(8, 3, strides=2, activation="relu")(x)
    return keras.layers.Conv1D(8, 3)(y)


def test_conv1d_over_embedded_tokens_has_its_field_over_a_signal(keras: ModuleType) -> None:
    ids = keras.Input((16,), dtype="int32")
    tokens = keras.Model(ids, _convs(keras, keras.layers.Embedding(50, 8)(ids)))
    x = keras.Input((16, 8))
    signal = keras.Model(x, _convs(keras, x))
    fields = []
    for model in (tokens, signal):
        summary = stridescope.summary(model)
        fields.append([(r.rf_size, r.rf_jump) for r in summary.layers if r.kind == "conv"])
        assert summary.totals.params == model.count_params()
        assert summary.input_coverage == 15 / 16
    assert fields[0] == fields[1] == [((3,), (2,)), ((7,), (2,))]
    embedded = next(r for r in stridescope.summary(tokens).layers if r.kind == "move")
    assert (embedded.rf_size, embedded.params) == ((1,), 50 * 8)
