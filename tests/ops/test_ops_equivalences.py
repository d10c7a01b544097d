"""Reference tests: each operator against the plain PyTorch expression it must equal."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from stridescope.ops import create_op
from stridescope.ops.blurpool import binomial_filter, blur_padding


def _conv(op: torch.nn.Module) -> torch.nn.Conv2d:
    conv = op.conv  # type: ignore[union-attr]
    assert isinstance(conv, torch.nn.Conv2d)
    return conv


@pytest.mark.parametrize("size", [(8, 8), (7, 9)])
def test_conv1x1_s2_is_slicing_then_1x1(size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    op = create_op("conv1x1_s2", 3, 16)
    conv = _conv(op)
    x = torch.randn(2, 3, *size)
    expected = F.conv2d(x[:, :, ::2, ::2], conv.weight, conv.bias)
    torch.testing.assert_close(op(x), expected)


@pytest.mark.parametrize("size", [(10, 12), (9, 12), (7, 7)])
def test_avgpool_conv1x1_is_pool_then_1x1_and_tied_2x2_stride2_conv(size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    op = create_op("avgpool_conv1x1", 3, 16)
    conv = _conv(op)
    x = torch.randn(2, 3, *size)
    pooled = F.avg_pool2d(x, 2, 2, ceil_mode=True, count_include_pad=False)
    torch.testing.assert_close(op(x), F.conv2d(pooled, conv.weight, conv.bias))
    if size[0] % 2 == 0 and size[1] % 2 == 0:
        tied = conv.weight.expand(-1, -1, 2, 2) / 4  # (16, 3, 2, 2), all four taps equal
        torch.testing.assert_close(op(x), F.conv2d(x, tied, conv.bias, stride=2))


@pytest.mark.parametrize("size", [(8, 8), (7, 10)])
def test_s2d_conv1x1_is_2x2_stride2_conv_up_to_channel_order(size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    op = create_op("s2d_conv1x1", 3, 16)
    conv = _conv(op)
    x = torch.randn(2, 3, *size)
    padded = F.pad(x, (0, size[1] % 2, 0, size[0] % 2))
    # the definition: pixel unshuffle then 1x1
    torch.testing.assert_close(
        op(x), F.conv2d(F.pixel_unshuffle(padded, 2), conv.weight, conv.bias)
    )
    # a 2x2 stride-2 conv with the weight's input channels reordered (c, i, j)
    perm = torch.randperm(16)
    w2 = conv.weight.view(16, 3, 2, 2)[perm]
    torch.testing.assert_close(op(x)[:, perm], F.conv2d(padded, w2, conv.bias[perm], stride=2))


@pytest.mark.parametrize(
    ("k", "padding", "cin", "cout"),
    [
        (3, "uneven", 3, 8),
        (4, "uneven", 3, 8),
        (4, "even", 8, 3),
        (5, "even", 3, 8),
        (5, "uneven", 8, 3),
    ],
)
def test_blurpool_equals_blur_then_1x1(k: int, padding: str, cin: int, cout: int) -> None:
    torch.manual_seed(0)
    op = create_op("blurpool_conv1x1", cin, cout, filter_size=k, padding=padding)
    conv = _conv(op)
    taps = torch.tensor(binomial_filter(k))
    kernel = torch.outer(taps, taps).expand(cin, 1, k, k)
    before, after = blur_padding(k, padding)
    x = torch.randn(2, cin, 11, 12)
    blurred = F.conv2d(
        F.pad(x, (before, after, before, after), mode="reflect"), kernel, stride=2, groups=cin
    )
    torch.testing.assert_close(op(x), F.conv2d(blurred, conv.weight, conv.bias))


def test_binomial_filters() -> None:
    assert binomial_filter(4) == (0.125, 0.375, 0.375, 0.125)
    assert binomial_filter(5) == (1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16)


def test_dwsep_is_depthwise_then_pointwise() -> None:
    torch.manual_seed(0)
    op = create_op("dwsep_s2", 4, 8)
    dw, pw = op.depthwise, op.pointwise  # type: ignore[union-attr]
    x = torch.randn(1, 4, 9, 9)
    expected = F.conv2d(F.conv2d(x, dw.weight, stride=2, padding=1, groups=4), pw.weight, pw.bias)
    torch.testing.assert_close(op(x), expected)


@pytest.mark.parametrize("shift", [(1, 0), (0, 1), (1, 1), (3, 2), (2, 2), (5, 7)])
def test_aps_is_exactly_invariant_to_circular_shifts(shift: tuple[int, int]) -> None:
    torch.manual_seed(0)
    op = create_op("aps_conv1x1", 3, 16)
    x = torch.randn(1, 3, 16, 16)
    out = op(x)
    shifted = op(torch.roll(x, shift, dims=(2, 3)))
    matches = [
        (dy, dx)
        for dy in range(8)
        for dx in range(8)
        if torch.equal(torch.roll(out, (dy, dx), dims=(2, 3)), shifted)
    ]
    assert len(matches) == 1
    dy, dx = matches[0]
    # the output moves by floor or ceil of half the input shift
    assert dy in (shift[0] // 2, -(-shift[0] // 2)) and dx in (shift[1] // 2, -(-shift[1] // 2))


def test_strided_conv_is_not_invariant_to_odd_circular_shift() -> None:
    torch.manual_seed(0)
    op = create_op("conv1x1_s2", 3, 16)
    x = torch.randn(1, 3, 16, 16)
    shifted = op(torch.roll(x, (1, 0), dims=(2, 3)))
    assert not any(
        torch.allclose(torch.roll(op(x), (dy, 0), dims=(2, 3)), shifted) for dy in range(8)
    )


@pytest.mark.parametrize(("cin", "cout", "k"), [(8, 16, 3), (64, 32, 3), (48, 32, 5)])
def test_blurpool_order_changes_neither_numbers_nor_ir(cin: int, cout: int, k: int) -> None:
    from stridescope.analysis.compare import op_graph
    from stridescope.ops.blurpool import blur_first

    torch.manual_seed(0)
    op = create_op("blurpool_conv1x1", cin, cout, filter_size=k)
    assert op.blur_first == blur_first(cin, cout, k) == (cout >= cin or (cin, k) == (48, 3))
    x = torch.randn(1, cin, 10, 9, dtype=torch.float64)
    op64 = op.double()
    conv = _conv(op64)
    before, after = blur_padding(k, "uneven")
    taps = torch.tensor(binomial_filter(k), dtype=torch.float64)
    kernel = torch.outer(taps, taps).expand(cin, 1, k, k)
    blurred = F.conv2d(
        F.pad(x, (before, after, before, after), mode="reflect"), kernel, stride=2, groups=cin
    )
    torch.testing.assert_close(op64(x), F.conv2d(blurred, conv.weight, conv.bias))
    graph = op_graph(op, (1, cin, 10, 9))
    # the definition: blur (depthwise, C_in channels) then the 1x1, whichever order runs
    assert [n.name for n in graph.nodes[1:]] == ["op.blur", "op.conv"]
    assert graph.macs == 5 * 5 * cin * k * k + 5 * 5 * cin * cout
