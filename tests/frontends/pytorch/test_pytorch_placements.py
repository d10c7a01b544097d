"""An image written into a canvas the forward made (``canvas[0, :, :h, :w] = image``,
``canvas[..., :h, :w].copy_(image)``: torchvision's detectors batch their images so, padded
to a multiple of 32) is a pad of the image: receptive fields and coverage go through it, as
autograd says (until 2026-12-07 the write was data movement of unknown geometry: every field
after it ``?``, coverage an upper bound). A write into a tensor that already holds traced
values stays a merge of the two. A sampling op whose positions another traced tensor gives
(``grid_sample``'s grid, ``roi_align``'s boxes) reads wherever it says: its field is the whole
input (it was ``?``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import stridescope
from stridescope.frontends import load_graph
from tests.autograd_reference import autograd_counts

Write = Callable[[torch.Tensor, torch.Tensor], None]

WRITES: dict[str, Write] = {
    "setitem, batch entry by an int": lambda c, x: c.__setitem__(
        (0, slice(None), slice(0, 12), slice(0, 12)), x[0]
    ),
    "setitem, slices": lambda c, x: c.__setitem__(
        (slice(None), slice(None), slice(2, 14), slice(4, 16)), x
    ),
    "copy_ into a view": lambda c, x: c[0, :, :12, :12].copy_(x[0]),
    "copy_ through ...": lambda c, x: c[..., 3:15, 1:13].copy_(x),
}


class Canvas(nn.Module):
    """A ``(1, 1, 12, 12)`` image written into a ``(1, 1, 16, 16)`` canvas, then a 3x3
    stride-2 conv."""

    def __init__(self, write: Write) -> None:
        super().__init__()
        self.write = write
        self.conv = nn.Conv2d(1, 2, 3, stride=2)
        nn.init.constant_(self.conv.weight, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        canvas = x.new_zeros(1, 1, 16, 16)
        self.write(canvas, x)
        return self.conv(canvas)


@pytest.mark.parametrize("case", list(WRITES))
def test_an_image_written_into_a_canvas_is_a_pad_of_it(case: str) -> None:
    model = Canvas(WRITES[case])
    summary = stridescope.summary(model, (1, 1, 12, 12))
    conv = next(r for r in summary.layers if r.kind == "conv")
    assert (conv.rf_size, conv.rf_jump) == ((3, 3), (2, 2))
    assert not any("unknown" in n or "upper bound" in n for n in summary.notes)
    counts = autograd_counts(model, 12, 12)
    assert summary.input_coverage == pytest.approx(float(np.mean(counts > 0)))
    assert (stridescope.coverage(model, (1, 1, 12, 12)).counts == counts).all()


def test_a_write_into_traced_values_stays_a_merge() -> None:
    class Overwrite(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = x * 2
            y[:, :, :4, :4] = x[:, :, 4:8, 4:8]  # (y holds the input already)
            return y

    graph = load_graph(Overwrite(), (1, 1, 8, 8))
    assert graph.nodes[-1].kind.value == "move" and len(graph.nodes[-1].parents) == 2


class Sampled(nn.Module):
    """A conv, then ``grid_sample`` at positions the features give."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.where = nn.Conv2d(3, 4, 3, stride=2), nn.Conv2d(4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.conv(x)
        grid = F.adaptive_avg_pool2d(self.where(f), 5).permute(0, 2, 3, 1).tanh()
        return F.grid_sample(f, grid, align_corners=False)


def test_positions_given_by_a_traced_tensor_give_the_whole_input() -> None:
    summary = stridescope.summary(Sampled(), (1, 3, 32, 32))
    sampled = summary.layers[-1]
    assert sampled.path == "grid_sample" and sampled.rf_note == "whole input"
    assert not any("receptive fields are unknown" in n for n in summary.notes)
