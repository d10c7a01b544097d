"""Keras Conv1D/2DTranspose through the Keras frontend: shapes and params against Keras,
coverage against autograd through the Keras layer itself (a torch module on this backend)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
import torch

from stridescope.analysis.coverage import coverage_map
from stridescope.frontends.keras import read_keras
from stridescope.ir import OpKind

CONFIGS = [
    {"kernel_size": 3, "strides": 2, "padding": "same"},
    {"kernel_size": 4, "strides": 2, "padding": "same"},
    {"kernel_size": 2, "strides": 3, "padding": "valid"},
    {"kernel_size": 3, "strides": 2, "padding": "valid", "output_padding": 1},
    {"kernel_size": 3, "strides": 1, "padding": "same", "dilation_rate": 2},
]


@pytest.mark.parametrize("config", CONFIGS, ids=[str(c) for c in CONFIGS])
def test_conv2d_transpose_matches_keras(keras: ModuleType, config: dict[str, Any]) -> None:
    L = keras.layers
    model = keras.Sequential([keras.Input((7, 5, 3)), L.Conv2DTranspose(4, **config)])
    graph = read_keras(model)
    node = graph.output
    assert node.kind is OpKind.CONV_TRANSPOSE and not graph.uncounted
    assert node.output_shape[1:] == tuple(model.layers[-1].output.shape)[1:]
    assert graph.params == model.count_params()
    area = int(config["kernel_size"]) ** 2
    assert node.macs == 7 * 5 * 3 * 4 * area


def test_conv1d_transpose_and_activation(keras: ModuleType) -> None:
    L = keras.layers
    model = keras.Sequential(
        [keras.Input((9, 2)), L.Conv1DTranspose(3, 5, strides=3, activation="relu")]
    )
    graph = read_keras(model)
    assert graph.output.output_shape[1:] == tuple(model.layers[-1].output.shape)[1:]
    assert graph.params == model.count_params()


@pytest.mark.parametrize("config", CONFIGS[:3], ids=[str(c) for c in CONFIGS[:3]])
def test_coverage_matches_autograd_through_keras(keras: ModuleType, config: dict[str, Any]) -> None:
    L = keras.layers
    model = keras.Sequential(
        [
            keras.Input((11, 10, 1)),
            L.Conv2D(1, 2, strides=2),
            L.Conv2DTranspose(1, **config),
            L.Conv2D(1, 1, strides=3),
        ]
    )
    for layer in model.layers:
        layer.kernel.assign(keras.ops.ones(layer.kernel.shape))
    x = torch.zeros(1, 11, 10, 1, requires_grad=True)
    model(x).sum().backward()
    assert x.grad is not None
    cov = coverage_map(read_keras(model))
    assert not cov.notes
    assert (cov.counts > 0).tolist() == (x.grad[0, :, :, 0] != 0).tolist()
