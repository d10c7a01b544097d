"""Output sizes from stridescope.geometry against PyTorch itself, on random configurations.

Every test feeds a tiny CPU tensor through the torch functional op with the same window and
compares shapes; a configuration that torch rejects because the output would be empty must
raise GeometryError here too.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from stridescope.geometry import GeometryError, output_shape, output_size, resolve_padding
from tests.geometry.geometry_strategies import Axis, conv_axes, torch_pool_axes

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")


def _torch_conv1d_size(a: Axis) -> int | None:
    """Output length of F.conv1d, or None when torch rejects the configuration."""
    x = torch.zeros(1, 1, a.n)
    w = torch.zeros(1, 1, a.kernel)
    padding: str | int = 0
    if a.padding == "torch-same":
        padding = "same"
    elif a.padding == "valid" or isinstance(a.padding, int):
        padding = a.padding  # type: ignore[assignment]
    elif isinstance(a.padding, tuple):
        x = F.pad(x, a.padding)
    try:
        return int(F.conv1d(x, w, stride=a.stride, padding=padding, dilation=a.dilation).shape[-1])
    except RuntimeError:
        return None


def _ours(a: Axis, ceil_mode: bool = False) -> int | None:
    try:
        return output_size(a.n, a.kernel, a.stride, a.dilation, a.padding, ceil_mode)
    except GeometryError:
        return None


@settings(max_examples=3000)
@given(conv_axes(modes=("valid", "torch-same")))
def test_conv1d_output_size_matches_torch(a: Axis) -> None:
    assert _ours(a) == _torch_conv1d_size(a)


@settings(max_examples=1200)
@given(conv_axes(modes=("valid", "torch-same")), conv_axes(modes=("valid",)), st.booleans())
def test_conv2d_output_shape_matches_torch(h: Axis, w: Axis, torch_same: bool) -> None:
    """Per-axis kernel, stride, dilation and padding through F.conv2d (explicit pairs via F.pad)."""
    if torch_same:
        h, w = (
            Axis(h.n, h.kernel, 1, h.dilation, "torch-same"),
            Axis(w.n, w.kernel, 1, w.dilation, "torch-same"),
        )
    pads = [resolve_padding(a.n, a.kernel, a.stride, a.dilation, a.padding) for a in (h, w)]
    x = F.pad(torch.zeros(1, 1, h.n, w.n), (*pads[1], *pads[0]))
    kernel = torch.zeros(1, 1, h.kernel, w.kernel)
    try:
        y = F.conv2d(x, kernel, stride=(h.stride, w.stride), dilation=(h.dilation, w.dilation))
        expected: tuple[int, ...] | None = tuple(y.shape[-2:])
    except RuntimeError:
        expected = None
    assert _ours_2d(h, w) == expected
    if torch_same and expected is not None:  # torch's own 'same' keeps the size
        assert expected == (h.n, w.n)


def _ours_2d(h: Axis, w: Axis, ceil_mode: bool = False) -> tuple[int | None, ...] | None:
    """Our 2-D output shape, or ``None`` where geometry refuses the configuration."""
    try:
        return output_shape(
            (h.n, w.n),
            (h.kernel, w.kernel),
            (h.stride, w.stride),
            (h.dilation, w.dilation),
            [h.padding, w.padding],
            ceil_mode=ceil_mode,
        )
    except GeometryError:
        return None


def _pool_case(h: Axis, w: Axis, ceil_mode: bool) -> tuple[tuple[int | None, ...] | None, dict]:
    args = {
        "kernel_size": (h.kernel, w.kernel),
        "stride": (h.stride, w.stride),
        "padding": (h.padding, w.padding),
        "ceil_mode": ceil_mode,
    }
    return _ours_2d(h, w, ceil_mode), args


@settings(max_examples=1700)
@given(torch_pool_axes(), torch_pool_axes(), st.booleans())
def test_max_pool2d_output_shape_matches_torch(h: Axis, w: Axis, ceil_mode: bool) -> None:
    ours, args = _pool_case(h, w, ceil_mode)
    x = torch.zeros(1, 1, h.n, w.n)
    try:
        expected = tuple(F.max_pool2d(x, dilation=(h.dilation, w.dilation), **args).shape[-2:])
    except RuntimeError:
        expected = None
    assert ours == expected


@settings(max_examples=1500)
@given(torch_pool_axes(dilate=False), torch_pool_axes(dilate=False), st.booleans())
def test_avg_pool2d_output_shape_matches_torch(h: Axis, w: Axis, ceil_mode: bool) -> None:
    ours, args = _pool_case(h, w, ceil_mode)
    x = torch.zeros(1, 1, h.n, w.n)
    try:
        expected = tuple(F.avg_pool2d(x, **args).shape[-2:])
    except RuntimeError:
        expected = None
    assert ours == expected


@pytest.mark.parametrize(
    ("n", "kernel", "stride", "padding", "expected"),
    [
        (5, 2, 2, 0, 3),  # the last window starts inside the input: kept
        (4, 2, 2, 1, 3),  # starts in the left padding + input: kept
        (6, 3, 2, 1, 4),  # would start in the right padding: dropped (floor gives 3)
        (2, 1, 2, 0, 1),
    ],
)
def test_ceil_mode_examples_match_torch(
    n: int, kernel: int, stride: int, padding: int, expected: int
) -> None:
    x = torch.zeros(1, 1, n)
    torch_out = F.max_pool1d(x, kernel, stride, padding, ceil_mode=True).shape[-1]
    assert torch_out == expected
    assert output_size(n, kernel, stride, padding=padding, ceil_mode=True) == expected
