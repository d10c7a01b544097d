"""DS301 on merges of an upsampled map with the map it came from (HRNet's fusion, an FPN's
top-down path, a U-Net's skip): the upsampled grid sits where its phases' fields sit on
average. A 2x2 average pool puts coarse position ``k`` on the fine pixels ``2k`` and
``2k + 1``, where a nearest (or bilinear, half-pixel) 2x upsampling puts it back: aligned. A
3x3 stride-2 pad-1 conv centres position ``k`` on fine pixel ``2k``: the upsampled map is half
a fine pixel off (outputs ``2k`` and ``2k + 1`` both hold what was centred on ``2k``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import stridescope


class _Fuse(nn.Module):
    def __init__(self, down: nn.Module, up: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.down, self.up = down, up

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fine = self.stem(x)
        return fine + self.up(self.down(fine))


def _misalignment(model: nn.Module) -> list[float] | None:
    report = stridescope.lint(model, (1, 3, 32, 32), select=["DS301"])
    found = [f for f in report.findings if f.code == "DS301"]
    assert len(found) <= 1
    return found[0].evidence["misalignment"] if found else None


def _nearest(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2)


def _bilinear(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear")


@pytest.mark.parametrize("up", [_nearest, _bilinear, nn.ConvTranspose2d(4, 4, 2, stride=2)])
def test_an_average_pool_and_an_upsampling_by_two_align(up: Callable[..., torch.Tensor]) -> None:
    assert _misalignment(_Fuse(nn.AvgPool2d(2), up)) is None


@pytest.mark.parametrize("up", [_nearest, _bilinear])
def test_a_stride_two_pad_one_conv_and_an_upsampling_are_half_a_pixel_apart(
    up: Callable[..., torch.Tensor],
) -> None:
    down = nn.Conv2d(4, 4, 3, stride=2, padding=1)
    assert _misalignment(_Fuse(down, up)) == [0.5, 0.5]


def test_the_unet_example_as_docs_summary_shows_it() -> None:
    """examples/unet_decoder.py, as docs/summary.md shows it: fields through the decoder, a
    DS301 at each sum (3.5 px of the input at the last), none where it goes down by
    average pools and up by bilinear interpolation."""
    built = stridescope.summary("examples/unet_decoder.py:build", "1x3x64x64")
    rows = {r.path: r for r in built.layers}
    assert (rows["ups.0"].rf_size, rows["ups.0"].rf_jump) == ((45, 45), (4, 4))
    assert (rows["decoders.0.0"].rf_size, rows["add_2"].rf_size) == ((53, 53), (61, 61))
    assert (rows["head"].rf_size, rows["head"].rf_jump) == ((61, 61), (1, 1))
    assert [p for p, r in rows.items() if "DS301" in r.flags] == ["add", "add_1", "add_2"]
    report = stridescope.lint("examples/unet_decoder.py:build", "1x3x64x64", select=["DS301"])
    assert [f.evidence["misalignment_input"] for f in report.findings][-1] == [3.5, 3.5]
    aligned = stridescope.lint("examples/unet_decoder.py:aligned", "1x3x64x64", select=["DS301"])
    assert not aligned.findings
