"""Cropping (negative F.pad amounts, Keras Cropping1D/2D): an exact index shift for
coverage and the receptive field, checked against autograd and against Keras shapes."""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stridescope.analysis.coverage import coverage_map
from stridescope.analysis.summary_rf import receptive_fields
from stridescope.frontends.keras import read_keras
from stridescope.frontends.pytorch import trace_torch
from stridescope.geometry import ReceptiveField
from stridescope.ir import GraphBuilder, OpKind

torch.set_num_threads(1)


class _Crop(nn.Module):
    def __init__(self, pad: tuple[int, ...], mode: str = "constant") -> None:
        super().__init__()
        self.pad, self.mode = pad, mode
        self.conv = nn.Conv2d(1, 1, 3, stride=2)
        self.after = nn.Conv2d(1, 1, 2, stride=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.after(F.pad(self.conv(x), self.pad, mode=self.mode))


@pytest.mark.parametrize(
    ("pad", "mode"),
    [((-1, -2, 0, -3), "constant"), ((2, -1, -2, 1), "constant"), ((1, -2, -1, 2), "reflect")],
)
def test_crop_coverage_matches_autograd(pad: tuple[int, ...], mode: str) -> None:
    net = _Crop(pad, mode)
    for p in net.parameters():
        nn.init.uniform_(p, 0.5, 1.0)
    x = torch.zeros(1, 1, 21, 23, requires_grad=True)
    out = net(x)
    out.sum().backward()
    assert x.grad is not None
    graph = trace_torch(net, (1, 1, 21, 23))
    crop = next(n for n in graph.nodes if n.kind is OpKind.PAD)
    assert crop.window is not None and graph.output.output_shape == tuple(out.shape)
    cov = coverage_map(graph)
    assert not cov.notes
    assert (cov.counts > 0).tolist() == (x.grad[0, 0] != 0).tolist()


def test_crop_shifts_the_receptive_field_start() -> None:
    b = GraphBuilder((1, 1, 16, 16), "nchw")
    x = b.conv(b.input, "c", out_channels=1, kernel=3, stride=2)
    x = b.pad(x, "crop", padding=[(-2, -1), (-1, 0)])
    node = b.build().nodes[x]
    assert node.output_shape == (1, 1, 4, 6)
    assert node.window is not None and node.window.read_fraction((7, 7)) == pytest.approx(
        4 / 7 * 6 / 7
    )
    rf = receptive_fields(b.build())[-1]
    assert rf == (ReceptiveField(3, 2, 4), ReceptiveField(3, 2, 2))


def test_crop_that_leaves_nothing_is_an_error() -> None:
    from stridescope.geometry import GeometryError

    b = GraphBuilder((1, 1, 4, 4), "nchw")
    with pytest.raises(GeometryError, match="leaves no positions"):
        b.pad(b.input, "crop", padding=[(-2, -2), (0, 0)])


def test_keras_cropping_is_exact() -> None:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    L = keras.layers
    model = keras.Sequential(
        [
            keras.Input((13, 12, 1)),
            L.Conv2D(1, 3, strides=2),
            L.Cropping2D(((1, 0), (2, 1))),
            L.Conv2D(1, 2, strides=2),
        ]
    )
    for layer in model.layers:
        if hasattr(layer, "kernel"):
            layer.kernel.assign(keras.ops.ones(layer.kernel.shape))
    graph = read_keras(model)
    crop = next(n for n in graph.nodes if n.kind is OpKind.PAD)
    assert crop.window is not None
    assert crop.output_shape[1:] == tuple(model.layers[1].output.shape)[1:]
    x = torch.zeros(1, 13, 12, 1, requires_grad=True)
    model(x).sum().backward()
    assert x.grad is not None
    cov = coverage_map(graph)
    assert (cov.counts > 0).tolist() == (x.grad[0, :, :, 0] != 0).tolist()
    one_d = keras.Sequential([keras.Input((9, 2)), L.Cropping1D((2, 3))])
    assert read_keras(one_d).output.output_shape[1:] == (4, 2)
