"""An input without its batch axis, read as torch reads it: a batch of one. A layer that torch
lets take ``(C, *spatial)`` (convolutions, pools, instance norms, pixel shuffles) given the
model's input that way, or a forward that batches the input itself (``x[None]``,
``torch.stack([x])``, torchvision's detectors' ``image[None]``), is read with the input as
``(1, *shape)`` and a first node that drops that axis (until 2026-12-07 the first was refused
with "expects a 4-D input", the second read as ``(N, C, L)``: fields along the last axis only,
or ``?``). The fields, coverage and counts are then those of the batched model; a shape
without the axis that the model cannot take as a batch of one (a batch norm after the conv)
still gets the first layer's error."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import stridescope
from stridescope.errors import StridescopeError
from stridescope.frontends import load_graph

LAYERS: dict[str, tuple[nn.Module, tuple[int, ...]]] = {
    "Conv1d": (nn.Conv1d(3, 4, 3, stride=2), (3, 20)),
    "Conv2d": (nn.Conv2d(3, 4, 3, stride=2), (3, 20, 20)),
    "Conv3d": (nn.Conv3d(3, 4, 3, stride=2), (3, 8, 8, 8)),
    "ConvTranspose2d": (nn.ConvTranspose2d(3, 4, 2, stride=2), (3, 10, 10)),
    "MaxPool2d": (nn.MaxPool2d(2), (3, 20, 20)),
    "AvgPool1d": (nn.AvgPool1d(2), (3, 20)),
    "AdaptiveAvgPool2d": (nn.AdaptiveAvgPool2d(2), (3, 20, 20)),
    "LPPool2d": (nn.LPPool2d(2, 2), (3, 20, 20)),
    "InstanceNorm2d": (nn.InstanceNorm2d(3, affine=True), (3, 20, 20)),
    "PixelShuffle": (nn.PixelShuffle(2), (8, 10, 10)),
    "PixelUnshuffle": (nn.PixelUnshuffle(2), (2, 10, 10)),
    "ZeroPad2d, Conv2d": (nn.Sequential(nn.ZeroPad2d(1), nn.Conv2d(3, 4, 3, 2)), (3, 20, 20)),
    "a stack": (
        nn.Sequential(
            nn.Conv2d(3, 8, 3, 2, 1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 8, 3, 2, 1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(0),
            nn.Linear(8, 2),
        ),
        (3, 32, 32),
    ),
}


def _fields(summary: Any) -> list[Any]:
    """Each layer row's kind, receptive field and jump, reshapes aside."""
    return [(r.kind, r.rf_size, r.rf_jump) for r in summary.layers if r.kind != "reshape"]


@pytest.mark.parametrize("case", list(LAYERS))
def test_a_layer_reads_the_model_s_input_as_a_batch_of_one(case: str) -> None:
    model, shape = LAYERS[case]
    model.eval()
    real = model(torch.randn(shape))
    summary = stridescope.summary(model, shape)
    assert summary.layers[-1].output_shape == tuple(real.shape)
    assert summary.input_shape == (1, *shape)
    assert any("without a batch axis: read as a batch of one" in n for n in summary.notes)
    assert summary.totals.params == sum(p.numel() for p in model.parameters())
    batched = stridescope.summary(model, (1, *shape))  # the same model, given the axis
    assert _fields(summary) == _fields(batched)
    assert (summary.totals.macs, summary.input_coverage) == (
        batched.totals.macs,
        batched.input_coverage,
    )


class Batches(nn.Module):
    """A forward that gives its ``(C, H, W)`` input the batch axis: normalized, then
    ``x[None]`` (or ``torch.stack([x])``), then a strided conv."""

    def __init__(self, stack: bool) -> None:
        super().__init__()
        self.conv, self.stack = nn.Conv2d(3, 4, 3, stride=2), stack
        self.register_buffer("mean", torch.tensor([0.5, 0.4, 0.3]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x - self.mean[:, None, None]
        return self.conv(torch.stack([x]) if self.stack else x[None])


@pytest.mark.parametrize("stack", [False, True])
def test_a_forward_that_batches_its_input_is_read_on_the_image(stack: bool) -> None:
    summary = stridescope.summary(Batches(stack), (3, 16, 16))
    conv = next(r for r in summary.layers if r.kind == "conv")
    assert (conv.rf_size, conv.rf_jump) == ((3, 3), (2, 2))  # (was (3,) along the columns)
    assert summary.input_shape == (1, 3, 16, 16)
    assert summary.input_coverage == pytest.approx(15 * 15 / 16**2)


def test_a_list_of_one_image_is_read_as_a_batch_of_one() -> None:
    class Images(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, stride=2)

        def forward(self, images: list[torch.Tensor]) -> torch.Tensor:
            return self.conv(images[0][None])

    summary = stridescope.summary(Images(), [[(3, 16, 16)]])
    conv = next(r for r in summary.layers if r.kind == "conv")
    assert (conv.rf_size, conv.rf_jump) == ((3, 3), (2, 2))


def test_a_shape_the_model_cannot_take_unbatched_gets_the_first_layer_s_error() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))  # (BatchNorm2d: 4-D only)
    with pytest.raises(StridescopeError) as caught:
        load_graph(model, (3, 16, 16))
    assert "layer '0' (Conv2d) expects a 4-D input (N, C, H, W) with C=3" in str(caught.value)
    assert "received shape (3, 16, 16)" in str(caught.value)


def test_a_batched_signal_is_read_as_given() -> None:
    model = nn.Conv1d(3, 4, 3, stride=2)
    summary = stridescope.summary(model, (2, 3, 20))
    assert summary.input_shape == (2, 3, 20) and not summary.notes


def test_a_layer_called_twice_on_a_tensor_without_its_batch_axis_is_counted_twice() -> None:
    """A layer configuration's node is remembered for its next call; a call on ``(C, H, W)``
    made three nodes (a reshape, the conv, a reshape) and its last, a reshape, was made
    again for the next such call: a conv without MACs."""

    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = nn.Conv2d(3, 4, 1)
            self.a, self.b = nn.Conv2d(4, 4, 3), nn.Conv2d(4, 4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            s = self.head(x)[0]  # (4, 8, 8)
            return self.a(s) + self.b(s)

    for _ in range(2):  # (the second summary finds the first one's configurations)
        graph = load_graph(Twice(), (1, 3, 8, 8))
        convs = [n for n in graph.nodes if n.kind.value == "conv"]
        assert len(convs) == 3 and convs[1].macs == convs[2].macs == 4 * 4 * 9 * 36


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        (nn.PixelShuffle(2), (2, 3, 8, 6, 6)),
        (nn.PixelUnshuffle(2), (2, 3, 2, 6, 6)),
        (nn.PixelShuffle(3), (1, 2, 2, 9, 4, 5)),
    ],
    ids=["shuffle", "unshuffle", "shuffle, three leading axes"],
)
def test_pixel_shuffles_take_several_leading_axes_as_torch_does(
    layer: nn.Module, shape: tuple[int, ...]
) -> None:
    model = nn.Sequential(nn.Identity(), layer)
    summary = stridescope.summary(model, shape)
    assert summary.layers[-1].output_shape == tuple(model(torch.randn(shape)).shape)
    assert summary.totals.uncounted == ()
