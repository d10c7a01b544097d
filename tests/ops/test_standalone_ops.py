"""The pieces the fix policies put into models: a standalone blur at any stride and rank,
APS on its own, and space-to-depth without a bias. Each checked against torch and its IR."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from stridescope.errors import StridescopeError
from stridescope.ir import GraphBuilder
from stridescope.ops.blurpool import Blur, binomial_filter, binomial_kernel, blur_padding
from stridescope.ops.polyphase import AdaptivePolyphase, polyphase_select
from stridescope.ops.space_to_depth import SpaceToDepthConv


def _ir_shape(
    module: torch.nn.Module, shape: tuple[int, ...]
) -> tuple[tuple[int | None, ...], int]:
    builder = GraphBuilder(shape, "nchw")
    last = module.stridescope_ir(builder, builder.input, "m")  # type: ignore[operator]
    graph = builder.build()
    return graph.nodes[last].output_shape, graph.params


@settings(max_examples=150)
@given(
    rank=st.integers(1, 3),
    size=st.sampled_from((3, 4, 5)),
    stride=st.integers(1, 4),
    data=st.data(),
)
def test_blur_output_size_is_a_one_tap_windows_and_the_ir_agrees(
    rank: int, size: int, stride: int, data: st.DataObject
) -> None:
    before, after = blur_padding(size, "uneven")
    spatial = tuple(data.draw(st.integers(max(before, after) + 1, 9)) for _ in range(rank))
    blur = Blur(3, size=size, stride=stride, rank=rank)
    out = blur(torch.randn(2, 3, *spatial))
    expected = tuple((n - 1) // stride + 1 for n in spatial)
    assert tuple(out.shape) == (2, 3, *expected)
    assert _ir_shape(blur, (2, 3, *spatial)) == (tuple(out.shape), 0)


@pytest.mark.parametrize("size", [3, 4, 5])
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_blur_taps_are_the_binomial_filter(size: int, rank: int) -> None:
    """An impulse far from the border comes out as the filter itself (stride 1, centred by
    the padding's before side)."""
    n = 9
    x = torch.zeros(1, 2, *(n,) * rank)
    centre = (n // 2,) * rank
    x[(0, 1, *centre)] = 1.0
    out = Blur(2, size=size, stride=1, rank=rank)(x)[0, 1]
    before = blur_padding(size, "uneven")[0]
    window = tuple(slice(c - (size - 1 - before), c + before + 1) for c in centre)
    taps = torch.tensor(binomial_filter(size))
    expected = taps
    for _ in range(rank - 1):
        expected = expected.unsqueeze(-1) * taps
    assert torch.allclose(out[window].flip(list(range(rank))), expected.float())
    assert math.isclose(float(binomial_kernel(size, rank).sum()), 1.0, rel_tol=1e-6)
    assert float(out.sum()) == pytest.approx(1.0)


def test_blur_keeps_constants_and_has_no_saved_state() -> None:
    blur = Blur(5, size=4, stride=2, padding=((0, 3), (2, 1)))
    out = blur(torch.full((1, 5, 8, 9), 3.0))
    assert torch.allclose(out, torch.full_like(out, 3.0))
    assert tuple(out.shape) == (1, 5, 4, 5)
    assert list(blur.state_dict()) == [] and sum(p.numel() for p in blur.parameters()) == 0


def test_blur_follows_the_input_dtype_and_module_device() -> None:
    blur = Blur(2, stride=2).to(torch.float64)
    assert blur(torch.ones(1, 2, 6, 6, dtype=torch.float64)).dtype == torch.float64
    meta = Blur(2, stride=2).to("meta")
    assert meta(torch.ones(1, 2, 6, 6, device="meta")).shape == (1, 2, 3, 3)


@pytest.mark.parametrize(("size", "rank"), [(2, 2), (6, 2), (3, 4)])
def test_blur_refuses_unknown_sizes_and_ranks(size: int, rank: int) -> None:
    with pytest.raises(StridescopeError, match="received size"):
        Blur(2, size=size, rank=rank)


def test_adaptive_polyphase_is_polyphase_select_and_its_ir_agrees() -> None:
    x = torch.randn(3, 4, 7, 10)
    aps = AdaptivePolyphase()
    assert torch.equal(aps(x), polyphase_select(x))
    assert _ir_shape(aps, tuple(x.shape)) == ((3, 4, 4, 5), 0)


def test_space_to_depth_without_bias_counts_no_bias_and_equals_the_2x2_conv() -> None:
    torch.manual_seed(0)
    op = SpaceToDepthConv(3, 5, bias=False)
    x = torch.randn(2, 3, 7, 8)
    assert op.conv.bias is None
    expected = F.conv2d(F.pad(x, (0, 0, 0, 1)), op.conv.weight.view(5, 3, 2, 2), stride=2)
    assert torch.allclose(op(x), expected)
    assert _ir_shape(op, tuple(x.shape)) == ((2, 5, 4, 4), 4 * 3 * 5)
