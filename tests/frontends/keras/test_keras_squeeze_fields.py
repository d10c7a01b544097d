"""A Keras CRNN's ``Reshape`` of a ``(1, W, C)`` map to ``(W, C)`` (or of ``(W, H, C)`` to
``(W, H*C)``, folding the rows into the channels: until 2026-12-07 "whole input") and the steps of
``TimeDistributed`` (each frame picked, then the layer) keep the fields of the axes they drop
(until 2026-12-06: the ``Conv1D`` after the reshape read "whole input", each frame's
``Conv2D`` ``?``), as the PyTorch tracer's squeezes do (``tests/analysis/
test_summary_rf_squeeze.py``)."""

from __future__ import annotations

from types import ModuleType

import pytest

import stridescope


def test_conv1d_after_a_reshape_of_one_row_keeps_both_fields(keras: ModuleType) -> None:
    layers = keras.layers
    image = keras.Input((3, 32, 1))
    x = layers.Conv2D(4, (3, 1), strides=(1, 2))(image)  # (1, 16, 4): 3 rows, 2 apart
    x = layers.Reshape((16, 4))(x)
    x = layers.Conv1D(4, 3)(x)
    model = keras.Model(image, layers.Dense(2)(x))
    rows = stridescope.summary(model).layers
    fields = [(r.kind, r.rf_size, r.rf_jump, r.rf_note) for r in rows]
    assert fields == [
        ("conv", (3, 1), (1, 2), ""),
        ("reshape", (3, 1), (1, 2), ""),
        ("conv", (3, 5), (1, 2), ""),
        ("linear", (3, 5), (1, 2), ""),  # (a dense layer on the channels keeps positions)
    ]


def test_each_step_of_time_distributed_keeps_the_frame_axis_field(keras: ModuleType) -> None:
    layers = keras.layers
    clip = keras.Input((4, 16, 16, 1))
    x = layers.TimeDistributed(layers.Conv2D(2, 3, strides=2))(clip)
    model = keras.Model(clip, x)
    summary = stridescope.summary(model)
    convs = [r for r in summary.layers if r.kind == "conv"]
    assert len(convs) == 4 and summary.totals.params == model.count_params()
    assert {(r.rf_size, r.rf_jump, r.rf_note) for r in convs} == {((1, 3, 3), (1, 2, 2), "")}


def test_time_distributed_after_time_distributed_composes_the_fields(keras: ModuleType) -> None:
    # the first layer's steps stacked back are a clip again: the second layer's frames are
    # picked from it as from the input (until 2026-12-06: unknown from the first stack on)
    layers = keras.layers
    clip = keras.Input((3, 16, 16, 1))
    x = layers.TimeDistributed(layers.Conv2D(2, 3, strides=2))(clip)
    x = layers.TimeDistributed(layers.MaxPooling2D(2))(x)
    x = layers.Conv3D(2, (3, 1, 1))(x)
    summary = stridescope.summary(keras.Model(clip, x))
    pools = {(r.rf_size, r.rf_jump) for r in summary.layers if r.kind == "maxpool"}
    assert pools == {((1, 5, 5), (1, 4, 4))}  # 3 + 2 apart, then a 2x2 pool
    last = summary.layers[-1]
    assert (last.kind, last.rf_size, last.rf_jump, last.rf_note) == (
        "conv",
        (3, 5, 5),
        (1, 4, 4),
        "",
    )


@pytest.mark.parametrize(("channels", "dense"), [(3, True), (1, False), (1, True)])
def test_a_reshape_folding_the_rows_into_the_channels_keeps_the_steps_fields(
    keras: ModuleType, channels: int, dense: bool
) -> None:
    """``(W, H, C)`` made ``(W, H*C)``; with one channel, ``(W, H, 1)`` made ``(W, H)``: the
    builder keeps both axes (no position merges), and the Conv1D (or a Dense) after it reads
    the rows as its channels, so they fold there (``channel_fold``; until 2026-12-07's
    fortieth session ``?`` from there on)."""
    import torch

    layers = keras.layers
    image = keras.Input((24, 12, 1))  # (W, H): the width first, as an OCR model reads it
    x = layers.Conv2D(channels, 3, padding="same")(image)
    x = layers.AveragePooling2D(2)(x)  # (12, 6, C) (a max pool: its gradient picks one)
    x = layers.Reshape((12, 6 * channels))(x)  # the 6 rows folded into the channels
    if dense:
        x = layers.Dense(4)(x)  # (each step's channels: positions stay)
    model = keras.Model(image, layers.Conv1D(2, 3)(x))
    last = stridescope.summary(model).layers[-1]
    # steps: 3 of 4-wide fields 2 apart, 4 + 2 * 2; rows: all 6 of them, 4 + 5 * 2
    assert (last.rf_size, last.rf_jump, last.rf_note) == ((8, 14), (2, 2), "")
    for w in model.weights:  # positive weights and inputs: nothing cancels in the gradient
        w.assign(keras.ops.full(w.shape, 0.1))
    x = (torch.rand(1, 24, 12, 1) + 0.5).requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x)[0, 4].sum(), x)
    steps, rows = torch.nonzero(grad[0, :, :, 0]).unbind(1)
    # within the 24 x 12 input: the field's 8 steps, and the 14 rows clipped to the 12
    assert (int(steps.max() - steps.min()) + 1, int(rows.max() - rows.min()) + 1) == (8, 12)
