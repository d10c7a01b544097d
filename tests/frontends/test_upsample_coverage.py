"""Upsampling by whole factors is an exact scatter: coverage through ``F.interpolate``
(nearest, bilinear), ``nn.Upsample``, ``F.pixel_shuffle`` and Keras ``UpSampling2D`` equals
autograd's. The receptive field after them is known, its jump a fraction of a pixel where
the upsampling goes past the resolution before it (until 2026-12-06 '?'; fields through
upsampling are checked position by position in tests/analysis/test_summary_resize_fields.py)."""

from __future__ import annotations

import os
from collections.abc import Callable
from fractions import Fraction
from types import ModuleType

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stridescope.analysis.coverage import coverage_map
from stridescope.analysis.summary_rf import receptive_fields
from stridescope.frontends.keras import read_keras
from stridescope.frontends.pytorch import trace_torch
from tests.autograd_reference import autograd_counts

Up = Callable[[torch.Tensor], torch.Tensor]


class _UNetish(nn.Module):
    """A 1x1 stride-3 conv (reads one pixel in nine), an upsampling, a 3x3 conv."""

    def __init__(self, up: Up) -> None:
        super().__init__()
        self.down = nn.Conv2d(1, 2, 1, stride=3)
        self.up = up
        self.out = nn.Conv2d(2, 1, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.up(self.down(x)))


UPSAMPLES: list[tuple[str, Up]] = [
    ("interpolate_x2", lambda x: F.interpolate(x, scale_factor=2)),
    ("interpolate_size", lambda x: F.interpolate(x, size=(12, 9), mode="nearest-exact")),
    ("upsample_module", nn.Upsample(scale_factor=(3, 2))),
    ("pixel_shuffle", lambda x: F.pixel_shuffle(torch.cat([x, x, x, x], dim=1), 2)),
]


@pytest.mark.parametrize(("label", "up"), UPSAMPLES, ids=[c[0] for c in UPSAMPLES])
def test_nearest_upsampling_coverage_matches_autograd(label: str, up: Up) -> None:
    torch.manual_seed(0)
    with torch.no_grad():
        net = _UNetish(up)
        for conv in (net.down, net.out):
            conv.weight.abs_()
    graph = trace_torch(net, (1, 1, 12, 9))
    assert graph.output.output_shape == tuple(net(torch.rand(1, 1, 12, 9)).shape), label
    cov = coverage_map(graph)
    assert not cov.notes, label
    np.testing.assert_array_equal(cov.counts, autograd_counts(net, 12, 9), err_msg=label)
    assert cov.fraction == 12 / 108  # the stride-3 conv's pixels: 4 x 3 of 12 x 9
    field = receptive_fields(graph)[-1]
    if label == "interpolate_size":  # back by 3 and 3 after a stride of 3: a jump of 1
        assert isinstance(field, tuple) and [r.jump for r in field] == [1, 1]
    else:  # down by 3, up by 2: a jump of 3/2 (until 2026-12-06 unknown)
        ups = (3, 2) if label == "upsample_module" else (2, 2)
        assert isinstance(field, tuple) and [r.jump for r in field] == [Fraction(3, u) for u in ups]


def test_bilinear_upsampling_is_exact_with_corners_aligned_or_not() -> None:
    """Corners aligned put the sources ``(n - 1) / (N - 1)`` apart, not a window: read
    through the interpolation's coordinates (until 2026-12-06 taken as every position)."""
    torch.manual_seed(0)
    for corners in (False, True):
        net = _UNetish(
            lambda x, c=corners: F.interpolate(  # type: ignore[misc]
                x, scale_factor=2, mode="bilinear", align_corners=c
            )
        )
        with torch.no_grad():
            for conv in (net.down, net.out):
                conv.weight.abs_()
        cov = coverage_map(trace_torch(net, (1, 1, 12, 9)))
        assert not cov.notes
        assert cov.fraction == 12 / 108  # bounded by what the conv before it reads
        np.testing.assert_array_equal(cov.counts, autograd_counts(net, 12, 9))


@pytest.fixture(scope="module")
def keras() -> ModuleType:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    return keras


def test_keras_upsampling_coverage_matches_autograd(keras: ModuleType) -> None:
    L = keras.layers
    model = keras.Sequential(
        [
            keras.Input((12, 9, 1)),
            L.Conv2D(1, 1, strides=3),
            L.UpSampling2D((3, 2)),
            L.Conv2D(1, 3),
        ]
    )
    for layer in model.layers:
        if hasattr(layer, "kernel"):
            layer.kernel.assign(keras.ops.ones(layer.kernel.shape))
    x = torch.full((1, 12, 9, 1), 0.5, requires_grad=True)
    model(x).sum().backward()
    assert x.grad is not None
    cov = coverage_map(read_keras(model))
    assert not cov.notes
    assert (cov.counts > 0).tolist() == (x.grad[0, :, :, 0] != 0).tolist()
