"""The input coverage of a model that returns several maps (a feature pyramid, a segmentation
model's auxiliary head, deep supervision) counts what any of them reads, as the gradient of
their sum says; it was the first map's alone. The output row, its field and DS501 stay the
first map's. PyTorch (tuples, lists, dicts) and Keras (a model of several outputs)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import stridescope
from stridescope.analysis.coverage import coverage_map
from stridescope.frontends.load import load_graph


class _TwoMaps(nn.Module):
    """A 1x1 stride-2 map (a pixel in four) returned first, a 3x3 map beside it."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.skip = nn.Conv2d(1, 2, 1, stride=2)
        self.full = nn.Conv2d(1, 2, 3, padding=1)
        self.kind = kind

    def forward(self, x: torch.Tensor) -> object:
        a, b = self.skip(x), self.full(x)
        if self.kind == "dict":
            return {"out": a, "aux": b}
        return [a, b] if self.kind == "list" else (a, b)


def _gradient_reads(model: nn.Module, shape: tuple[int, ...]) -> np.ndarray:
    x = (torch.rand(shape) + 0.5).requires_grad_(True)
    out = model(x)
    maps = out.values() if isinstance(out, dict) else out
    (grad,) = torch.autograd.grad(sum(m.sum() for m in maps), x)
    return (grad[0, 0] != 0).numpy()


@pytest.mark.parametrize("kind", ["tuple", "list", "dict"])
def test_every_returned_map_counts_toward_the_coverage(kind: str) -> None:
    model = _TwoMaps(kind).eval()
    for p in model.parameters():
        nn.init.constant_(p, 0.1)
    summary = stridescope.summary(model, (1, 1, 8, 8))
    assert summary.input_coverage == float(_gradient_reads(model, (1, 1, 8, 8)).mean()) == 1.0
    assert summary.layers[-1].output_shape == (1, 2, 4, 4)  # the output row: the first map
    assert not [f for f in stridescope.lint(model, (1, 1, 8, 8)).findings if f.code == "DS202"]
    cov = coverage_map(load_graph(model, (1, 1, 8, 8)))
    assert cov.fraction == 1.0 and cov.output_node == "output"  # (the node standing for skip)
    # each pixel: the 3x3 map's 9 (fewer at the border) plus the stride-2 map's 1 on its phase
    assert cov.counts[4, 4] == 10 and cov.counts[3, 3] == 9
    assert any("other maps the model returns" in note for note in cov.notes)


def test_a_map_returned_twice_or_a_vector_beside_it_adds_nothing() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.skip = nn.Conv2d(1, 2, 1, stride=2)
            self.head = nn.Linear(2, 3)

        def forward(self, x: torch.Tensor) -> object:
            a = self.skip(x)
            return a, a, self.head(a.mean((2, 3)))

    model = Net().eval()
    assert stridescope.summary(model, (1, 1, 8, 8)).input_coverage == 0.25
    assert coverage_map(load_graph(model, (1, 1, 8, 8))).counts.max() == 1


def test_a_keras_model_of_two_outputs_counts_both() -> None:
    import keras

    inputs = keras.Input((8, 8, 1))
    skip = keras.layers.Conv2D(2, 1, strides=2)(inputs)
    full = keras.layers.Conv2D(2, 3, padding="same")(inputs)
    model = keras.Model(inputs, [skip, full])
    summary = stridescope.summary(model, (1, 8, 8, 1))
    assert summary.input_coverage == 1.0
    assert summary.layers[-1].output_shape == (1, 4, 4, 2)
    single = keras.Model(inputs, skip)
    assert stridescope.summary(single, (1, 8, 8, 1)).input_coverage == 0.25
