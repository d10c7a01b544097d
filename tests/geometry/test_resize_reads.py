"""``geometry.resize_reads`` against PyTorch: per output of a resize, the inputs its gradient
reaches, on thousands of random sizes, scale factors, modes and ranks (``F.interpolate``,
linear / bilinear / trilinear, bicubic, nearest, nearest-exact, area; corners aligned or
not). Never fewer than the gradient reaches; where kernels may round a coordinate either way
(a fused multiply-add or not, a cubic weight within ~1e-6 of a pixel) at most one more
input on a side; exact on the common cases below."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from stridescope.geometry import resize_reads

_MODES = {
    1: ["nearest", "nearest-exact", "linear", "area"],
    2: ["nearest", "nearest-exact", "bilinear", "bicubic", "area"],
    3: ["nearest", "nearest-exact", "trilinear", "area"],
}
_ALIGNED = ("linear", "bilinear", "trilinear", "bicubic")


def gradient_reads(
    n: int,
    out: int,
    mode: str,
    rank: int,
    align: bool,
    scale: float | None,
    antialias: bool = False,
) -> list[tuple[int, int]]:
    """Per output along the last axis (the others of size 1), the ``[first, end)`` inputs
    with a non-zero gradient."""
    x = (torch.rand((1, 1) + (1,) * (rank - 1) + (n,)) + 0.5).requires_grad_(True)
    if scale is None:
        sizes: dict[str, object] = {"size": (1,) * (rank - 1) + (out,)}
    else:
        sizes = {"scale_factor": (1.0,) * (rank - 1) + (scale,)}
    corners = align if mode in _ALIGNED else None
    y = F.interpolate(x, mode=mode, align_corners=corners, antialias=antialias, **sizes)
    assert y.shape[-1] == out
    reads = []
    for o in range(out):
        (grad,) = torch.autograd.grad(y[..., o].sum(), x, retain_graph=True)
        where = torch.nonzero(grad.flatten()).flatten()
        reads.append((int(where.min()), int(where.max()) + 1))
    return reads


@st.composite
def resizes(draw: st.DrawFn) -> tuple[int, int, str, int, bool, float | None]:
    rank = draw(st.sampled_from([1, 2, 3]))
    mode = draw(st.sampled_from(_MODES[rank]))
    n = draw(st.integers(1, 40))
    align = mode in _ALIGNED and draw(st.booleans())
    scale = None
    if mode != "area" and draw(st.booleans()):
        scale = draw(
            st.sampled_from(
                [0.125, 0.25, 0.3, 1 / 3, 0.5, 0.7, 0.9, 1.0, 1.3, 1.5, 2.0, 2.5, 3.0, 4.0]
            )
        )
        out = math.floor(n * scale)
    else:
        out = draw(st.integers(1, 60))
    return n, max(out, 1), mode, rank, align, scale


@settings(max_examples=300, deadline=None)
@given(resizes())
def test_every_output_reads_at_least_what_its_gradient_reaches(
    case: tuple[int, int, str, int, bool, float | None],
) -> None:
    n, out, mode, rank, align, scale = case
    if scale is not None and math.floor(n * scale) < 1:
        return
    ours = resize_reads(n, out, mode, align, scale)
    assert ours is not None
    for o, ((first, end), (a, b)) in enumerate(
        zip(ours, gradient_reads(n, out, mode, rank, align, scale), strict=True)
    ):
        assert first <= a and b <= end, (o, (first, end), (a, b))
        assert a - first <= 1 and end - b <= 1, (o, (first, end), (a, b))


@pytest.mark.parametrize(
    ("n", "out", "mode", "align", "scale"),
    [
        (240, 224, "bilinear", False, None),  # CrossViT's second branch
        (28, 224, "bilinear", True, None),  # a segmentation head back to the input
        (15, 7, "nearest", False, 0.5),  # the coordinates by 1/scale, not the sizes
        (16, 5, "nearest-exact", False, None),
        (16, 5, "area", False, None),
        (7, 224, "bicubic", False, None),
        (8, 16, "bilinear", True, None),  # nn.UpsamplingBilinear2d
        (12, 36, "bilinear", False, 3.0),  # 1/3 in float32: outputs a hair past an input
    ],
)
def test_common_resizes_read_exactly_what_their_gradient_reaches(
    n: int, out: int, mode: str, align: bool, scale: float | None
) -> None:
    ours = resize_reads(n, out, mode, align, scale)
    assert ours is not None
    assert list(ours) == gradient_reads(n, out, mode, 2, align, scale)


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 48),
    out=st.integers(1, 48),
    mode=st.sampled_from(["bilinear", "bicubic"]),
    align=st.booleans(),
    scale=st.none() | st.sampled_from([0.2, 0.25, 0.3, 0.45, 0.5, 0.7, 1.3, 2.0, 2.5]),
)
def test_antialiased_resizes_read_exactly_what_their_gradient_reaches(
    n: int, out: int, mode: str, align: bool, scale: float | None
) -> None:
    """With antialiasing (``F.interpolate(..., antialias=True)``, Keras's ``Resizing`` with
    ``antialias=True`` on the torch backend) each output reads its filter's support, the
    inputs whose weight is not 0 in float32: exactly the gradient's reach (until 2026-12-06
    such resizes kept only their shape)."""
    if scale is not None:
        out = math.floor(n * scale)
        if out < 1 or (align and n < 2):
            return
    given = None if align else scale  # (corners aligned: the sizes place the sources)
    ours = resize_reads(n, out, f"{mode}-antialias", align, given)
    assert ours is not None
    assert list(ours) == gradient_reads(n, out, mode, 2, align, scale, antialias=True)


def test_modes_not_modelled_have_no_reads() -> None:
    assert resize_reads(8, 5, "lanczos3") is None
    assert resize_reads(8, 5, "nearest-antialias") is None  # (torch refuses it)
    assert resize_reads(0, 5, "bilinear") is None
