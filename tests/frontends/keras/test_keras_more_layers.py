"""Keras layers read since the third 2026-12-03 session: recurrent layers (SimpleRNN, GRU,
LSTM, and Bidirectional through its call) cost what the PyTorch tracer counts for the same
``nn`` modules; CenterCrop is the exact window Keras keeps; Resizing by whole factors with
``nearest`` is an exact scatter; Masking and the random augmentation layers are no node at
inference; RMSNormalization counts its scale."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pytest
from torch import nn

from stridescope.analysis.coverage import coverage_map
from stridescope.frontends.keras import read_keras
from stridescope.frontends.pytorch.trace import trace_torch
from stridescope.ir import OpKind


def _model(keras: ModuleType, layer: Any, shape: tuple[int, ...]) -> Any:
    x = keras.Input(shape)
    return keras.Model(x, layer(x))


@pytest.mark.parametrize(
    ("kind", "torch_kind"), [("SimpleRNN", nn.RNN), ("GRU", nn.GRU), ("LSTM", nn.LSTM)]
)
def test_recurrent_layers_cost_what_the_torch_modules_cost(
    keras: ModuleType, kind: str, torch_kind: Any
) -> None:
    model = _model(keras, getattr(keras.layers, kind)(6, return_sequences=True), (10, 8))
    graph = read_keras(model, (2, 10, 8))
    traced = trace_torch(torch_kind(8, 6, batch_first=True), (2, 10, 8))
    assert not graph.uncounted and graph.params == model.count_params()
    assert graph.output.output_shape == (2, 10, 6)
    assert (
        graph.output.macs
        == traced.nodes[1].macs
        == 10 * 2 * {"SimpleRNN": 1, "GRU": 3}.get(kind, 4) * 6 * (8 + 6)
    )


def test_a_bidirectional_lstm_is_two_lstms(keras: ModuleType) -> None:
    model = _model(keras, keras.layers.Bidirectional(keras.layers.LSTM(6)), (10, 8))
    graph = read_keras(model)
    lstms = [n for n in graph.nodes if n.op == "LSTM"]
    assert not graph.uncounted and graph.params == model.count_params()
    assert len(lstms) == 2 and all(n.macs == 10 * 4 * 6 * 14 for n in lstms)


def test_returning_the_states_counts_the_layer_once(keras: ModuleType) -> None:
    """``return_state=True``: the layer's products on its first output, each state a 0-MAC
    node beside it (before, all three outputs were uncounted)."""
    x = keras.Input((10, 8))
    out, h, c = keras.layers.LSTM(6, return_state=True)(x)
    model = keras.Model(x, keras.layers.Add()([out, h, c]))
    graph = read_keras(model)
    lstm = [n for n in graph.nodes if n.op == "LSTM"]
    assert not graph.uncounted and graph.params == model.count_params()
    assert [n.macs for n in lstm] == [10 * 4 * 6 * (8 + 6), 0, 0]
    assert [n.output_shape for n in lstm] == [(1, 6)] * 3


def test_center_crop_reads_the_window_keras_keeps(keras: ModuleType) -> None:
    model = _model(keras, keras.layers.CenterCrop(4, 3), (9, 8, 1))
    graph = read_keras(model)
    image = np.arange(72, dtype="float32").reshape(1, 9, 8, 1)
    kept = np.asarray(model(image))[0, ..., 0]
    reads = coverage_map(graph).counts > 0
    assert graph.output.output_shape == (1, 4, 3, 1) and not graph.uncounted
    assert sorted(image[0, ..., 0][reads].tolist()) == sorted(kept.ravel().tolist())


def test_resizing_by_whole_factors_is_exact(keras: ModuleType) -> None:
    near = read_keras(
        _model(keras, keras.layers.Resizing(12, 8, interpolation="nearest"), (6, 4, 2))
    )
    smooth = read_keras(_model(keras, keras.layers.Resizing(12, 8), (6, 4, 2)))  # bilinear
    lanczos = read_keras(
        _model(keras, keras.layers.Resizing(12, 8, interpolation="lanczos3"), (6, 4, 2))
    )
    assert near.output.output_shape == smooth.output.output_shape == (1, 12, 8, 2)
    assert near.output.scatter is not None and near.output.scatter.kernel == (2, 2)
    # bilinear by 2: each input read by the 4 outputs from 2*i - 1
    assert smooth.output.scatter is not None and smooth.output.scatter.kernel == (4, 4)
    assert smooth.output.scatter.stride == (2, 2) and smooth.output.scatter.padding[0] == (1, 1)
    assert lanczos.output.scatter is None  # not modelled: the shape only
    assert not near.uncounted and not smooth.uncounted


def test_masking_and_augmentation_layers_are_no_node(keras: ModuleType) -> None:
    L = keras.layers
    x = keras.Input((8, 8, 3))
    y = L.RandomContrast(0.2)(L.RandomRotation(0.1)(L.RandomFlip()(x)))
    graph = read_keras(keras.Model(x, L.Conv2D(4, 1, name="conv")(y)))
    assert [n.name for n in graph.nodes] == ["input", "conv"]
    masked = read_keras(_model(keras, L.Masking(), (5, 3)))
    assert len(masked.nodes) == 1


def test_rms_normalization_counts_its_scale(keras: ModuleType) -> None:
    model = _model(keras, keras.layers.RMSNormalization(), (5, 6))
    graph = read_keras(model)
    assert (graph.output.kind, graph.params) == (OpKind.NORM, model.count_params())


@pytest.mark.parametrize("output_shape", [(32,), (4, 8), 6])
def test_multi_head_attention_projects_to_its_output_shape(
    keras: ModuleType, output_shape: Any
) -> None:
    """``MultiHeadAttention(output_shape=...)``: the output projection maps the heads to that
    shape instead of the query's width; counted, with the shape and params Keras gives."""
    L = keras.layers
    x = keras.Input((10, 16))
    model = keras.Model(x, L.MultiHeadAttention(2, 4, output_shape=output_shape)(x, x))
    graph = read_keras(model)
    width = 4 * 8 if output_shape == (4, 8) else 32 if output_shape == (32,) else 6
    q, k, v, products = 10 * 16 * 2 * 4, 10 * 16 * 2 * 4, 10 * 16 * 2 * 4, 2 * 10 * 10 * 2 * 4
    assert not graph.uncounted and graph.params == model.count_params()
    assert graph.output.output_shape == (1, *tuple(model.output.shape)[1:])
    assert graph.output.macs == q + k + v + products + 10 * 2 * 4 * width


def test_group_query_attention_projects_keys_and_values_to_fewer_heads(keras: ModuleType) -> None:
    L = keras.layers
    x = keras.Input((10, 8))
    grouped = keras.Model(x, L.GroupQueryAttention(4, 4, 2)(x, x))  # head_dim, q heads, kv heads
    graph = read_keras(grouped)
    q, kv, products, out = 10 * 8 * 4 * 4, 2 * 10 * 8 * 2 * 4, 2 * 10 * 10 * 4 * 4, 10 * 4 * 4 * 8
    assert not graph.uncounted and graph.params == grouped.count_params()
    assert graph.output.macs == q + kv + products + out
    same = keras.Model(x, L.GroupQueryAttention(4, 2, 2)(x, x))  # as many kv heads: plain MHA
    plain = keras.Model(x, L.MultiHeadAttention(2, 4)(x, x))
    assert read_keras(same).output.macs == read_keras(plain).output.macs


@pytest.mark.parametrize(
    "options",
    [{}, {"strides": 2, "padding": "same", "return_sequences": True}, {"kernel_size": (3, 1)}],
)
def test_conv_lstm_costs_its_two_convolutions_at_every_step(
    keras: ModuleType, options: dict[str, Any]
) -> None:
    """ConvLSTM2D's MACs are, per step, those of a Conv2D of the frame to the four gates and of
    a 'same' Conv2D of the hidden state (Keras's torch backend runs the cell once more than the
    steps, so FlopCounterMode on its forward is not the reference)."""
    L = keras.layers
    kwargs = {"filters": 4, "kernel_size": 3, **options}
    steps, frame = 5, (16, 16, 2)
    x = keras.Input((steps, *frame))
    model = keras.Model(x, L.ConvLSTM2D(**kwargs)(x))
    graph = read_keras(model)
    assert graph.params == model.count_params() and not graph.uncounted
    conv = {k: v for k, v in kwargs.items() if k in ("kernel_size", "strides", "padding")}
    f = keras.Input(frame)
    gates = read_keras(keras.Model(f, L.Conv2D(16, use_bias=False, **conv)(f))).nodes[-1]
    h = keras.Input((*gates.output_shape[1:-1], 4))
    hidden = L.Conv2D(16, kwargs["kernel_size"], padding="same", use_bias=False)(h)
    recurrent = read_keras(keras.Model(h, hidden)).nodes[-1]
    assert graph.macs == steps * (gates.macs + recurrent.macs)
    assert graph.output.output_shape == (1, *model.output.shape[1:])
