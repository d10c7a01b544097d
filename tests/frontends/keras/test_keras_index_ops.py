"""Keras ``ops.slice``, ``ops.split`` and ``ops.unstack`` of a map are windows on its
positions (data movement read whole, or uncounted for ``slice``, before), and
``ops.depth_to_space`` / ``ops.space_to_depth`` are a pixel shuffle and unshuffle (uncounted
before): coverage is then what autograd says."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
import torch

import stridescope
from stridescope.frontends.keras import read_keras
from stridescope.ir import OpKind

SHAPE = (1, 16, 16, 3)
# the op on a 1x1 conv's (1, 16, 16, 4) output
PICKS: dict[str, Callable[[Any, Any], Any]] = {
    "slice": lambda o, y: o.slice(y, (0, 2, 5, 0), (1, 4, 8, 4)),
    "split_rows": lambda o, y: o.split(y, 2, axis=1)[1],
    "split_sizes": lambda o, y: o.split(y, [3, 10], axis=2)[1],
    "unstack_rows": lambda o, y: o.unstack(y, axis=1)[3],
    "space_to_depth": lambda o, y: o.space_to_depth(y[:, :8], 2),
    "depth_to_space": lambda o, y: o.depth_to_space(o.concatenate([y] * 4, -1), 2)[:, :8],
}


def _autograd_coverage(model: Any) -> float:
    x = torch.randn(SHAPE, requires_grad=True)
    model(x).square().sum().backward()
    assert x.grad is not None
    return float((x.grad.abs().sum(-1) > 0).float().mean())


@pytest.mark.parametrize("case", list(PICKS))
def test_a_piece_of_a_map_reads_its_positions(keras: ModuleType, case: str) -> None:
    x = keras.Input(SHAPE[1:], batch_size=1)
    model = keras.Model(x, PICKS[case](keras.ops, keras.layers.Conv2D(4, 1)(x)))
    graph = read_keras(model)
    assert not graph.uncounted
    assert not [n for n in graph.nodes if n.kind is OpKind.MOVE]
    covered = stridescope.summary(model).input_coverage
    assert covered == pytest.approx(_autograd_coverage(model))
    assert covered is not None and covered < 1


def test_pixel_ops_have_keras_shapes(keras: ModuleType) -> None:
    x = keras.Input(SHAPE[1:], batch_size=1)
    down = keras.ops.space_to_depth(x, 4)
    up = keras.ops.depth_to_space(keras.layers.Conv2D(16, 1)(x), 4)
    graph = read_keras(keras.Model(x, [down, up]))
    nodes = {n.op: n for n in graph.nodes}
    assert nodes["SpaceToDepth"].output_shape == (1, 4, 4, 48)
    assert nodes["DepthToSpace"].output_shape == (1, 64, 64, 1)
    assert nodes["SpaceToDepth"].kind is OpKind.PIXEL_UNSHUFFLE  # a 4x4, stride-4 window
    assert nodes["DepthToSpace"].kind is OpKind.PIXEL_SHUFFLE  # an exact 4x4 scatter


def test_a_split_of_the_channels_keeps_the_positions(keras: ModuleType) -> None:
    x = keras.Input(SHAPE[1:], batch_size=1)
    a, b = keras.ops.split(keras.layers.Conv2D(4, 3, strides=2)(x), 2, axis=-1)
    model = keras.Model(x, keras.layers.Conv2D(2, 3)(a + b))
    convs = [r for r in stridescope.summary(model).layers if r.kind == "conv"]
    assert [r.rf_size for r in convs] == [(3, 3), (7, 7)]  # known through the split


def test_a_split_refused_leaves_no_node_behind(keras: ModuleType) -> None:
    """A split with an empty piece is data movement; none of its pieces is made as a slice
    first (a slice node left behind would be a layer the model does not have)."""
    x = keras.Input(SHAPE[1:], batch_size=1)
    pieces = keras.ops.split(keras.layers.Conv2D(4, 1)(x), [0, 4], axis=1)
    graph = read_keras(keras.Model(x, pieces[2]))
    assert [n.kind for n in graph.nodes[1:]] == [OpKind.CONV, *[OpKind.MOVE] * 3]
    assert [n.output_shape[1] for n in graph.nodes[2:]] == [0, 4, 12]


def test_a_take_of_channels_keeps_the_positions(keras: ModuleType) -> None:
    """``ops.take`` of constant indices along the channels reorders or picks channels: every
    position stays itself, as the PyTorch tracer's ``index_select``; along the rows it puts
    them out of order (a pick of positions: coverage follows them, the field is ``?``)."""
    x = keras.Input(SHAPE[1:], batch_size=1)
    y = keras.layers.Conv2D(4, 3, padding="same")(x)
    picked = keras.layers.Conv2D(2, 3)(keras.ops.take(y, [3, 2, 1], axis=-1))
    rows = stridescope.summary(keras.Model(x, picked)).layers
    assert [r.kind for r in rows] == ["conv", "move", "conv"]
    assert [r.rf_size for r in rows] == [(3, 3), (3, 3), (5, 5)]  # before: "?" from the take
    reordered = keras.layers.Conv2D(2, 3)(keras.ops.take(y, [1, 0, 2], axis=1))
    assert stridescope.summary(keras.Model(x, reordered)).layers[-1].rf_size is None
