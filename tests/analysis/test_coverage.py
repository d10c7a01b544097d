"""Coverage maps against autograd: for every output position of the last spatial node, the
input pixels with a non-zero gradient (all-ones weights, positive inputs, so nothing cancels;
max pools are replaced by average pools with the same window in the reference)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from stridescope.analysis import coverage_map, read_grid
from stridescope.ir import Graph, GraphBuilder, OpKind
from tests.autograd_reference import autograd_counts
from tests.window_reference import BRANCHES, summed_branches

torch.set_num_threads(1)
Forward = Callable[[torch.Tensor], torch.Tensor]


def _ones_conv(x: torch.Tensor, kernel: tuple[int, int], **kw: object) -> torch.Tensor:
    return F.conv2d(x, torch.ones(1, 1, *kernel), **kw)  # type: ignore[arg-type]


def _chain() -> tuple[Graph, Forward, int, int]:
    b = GraphBuilder((1, 1, 16, 15), "nchw")
    x = b.conv(b.input, "c1", out_channels=1, kernel=3, padding=1)
    x = b.pointwise(x, "relu", kind=OpKind.ACTIVATION)
    x = b.pool(x, "mp", mode="max", kernel=2)
    x = b.conv(x, "c2", out_channels=1, kernel=1, stride=2)

    def forward(t: torch.Tensor) -> torch.Tensor:
        t = F.relu(_ones_conv(t, (3, 3), padding=1))
        t = F.avg_pool2d(t, 2)
        return _ones_conv(t, (1, 1), stride=2)

    return b.build(), forward, 16, 15


def _residual() -> tuple[Graph, Forward, int, int]:
    """A ResNet-style downsampling block: 3x3 s2 -> 3x3 on the main path, 1x1 s2 shortcut."""
    b = GraphBuilder((1, 1, 11, 12), "nchw")
    m = b.conv(b.input, "a", out_channels=1, kernel=3, stride=2, padding=1)
    m = b.conv(m, "b", out_channels=1, kernel=3, padding=1)
    s = b.conv(b.input, "down", out_channels=1, kernel=1, stride=2)
    b.merge([m, s], "add", kind=OpKind.ADD)

    def forward(t: torch.Tensor) -> torch.Tensor:
        main = _ones_conv(_ones_conv(t, (3, 3), stride=2, padding=1), (3, 3), padding=1)
        return main + _ones_conv(t, (1, 1), stride=2)

    return b.build(), forward, 11, 12


def _cross() -> tuple[Graph, Forward, int, int]:
    """Two branches whose union is not a product of per-axis sets (a cross), then a 1x1 s2
    stride and a concat: exercises the exact union of product terms."""
    b = GraphBuilder((1, 1, 13, 12), "nchw")
    h = b.conv(b.input, "h", out_channels=1, kernel=(1, 3), stride=2, padding=[(0, 0), (1, 1)])
    v = b.conv(b.input, "v", out_channels=1, kernel=(3, 1), stride=2, padding=[(1, 1), (0, 0)])
    x = b.merge([h, v], "add", kind=OpKind.ADD)
    y = b.conv(x, "s", out_channels=1, kernel=1, stride=2)
    z = b.conv(x, "t", out_channels=1, kernel=3, stride=2, padding=1)
    b.merge([y, z], "cat", kind=OpKind.CONCAT)

    def forward(t: torch.Tensor) -> torch.Tensor:
        x = _ones_conv(t, (1, 3), stride=2, padding=(0, 1)) + _ones_conv(
            t, (3, 1), stride=2, padding=(1, 0)
        )
        return torch.cat(
            [_ones_conv(x, (1, 1), stride=2), _ones_conv(x, (3, 3), stride=2, padding=1)], 1
        )

    return b.build(), forward, 13, 12


def _windows() -> tuple[Graph, Forward, int, int]:
    """Dilation, ceil-mode pooling with padding, an adaptive pool, pixel unshuffle, and a
    flatten + linear head after the last spatial node."""
    b = GraphBuilder((1, 1, 14, 18), "nchw")
    x = b.conv(b.input, "dil", out_channels=1, kernel=2, dilation=3)
    x = b.pool(x, "ceil", mode="avg", kernel=3, stride=2, padding=1, ceil_mode=True)
    x = b.adaptive_pool(x, "ada", mode="avg", output_size=(3, 4))
    x = b.flatten(x, "flat")
    b.linear(x, "fc", out_features=3)

    def forward(t: torch.Tensor) -> torch.Tensor:
        t = F.conv2d(t, torch.ones(1, 1, 2, 2), dilation=3)
        t = F.avg_pool2d(t, 3, 2, 1, ceil_mode=True)
        return F.adaptive_avg_pool2d(t, (3, 4))

    return b.build(), forward, 14, 18


def _unshuffle() -> tuple[Graph, Forward, int, int]:
    b = GraphBuilder((1, 1, 8, 12), "nchw")
    x = b.pixel_unshuffle(b.input, "s2d", factor=2)
    b.conv(x, "mix", out_channels=1, kernel=1, stride=2)

    def forward(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pixel_unshuffle(t, 2), torch.ones(1, 4, 1, 1), stride=2)

    return b.build(), forward, 8, 12


@pytest.mark.parametrize("case", [_chain, _residual, _cross, _windows, _unshuffle])
def test_coverage_counts_match_autograd(
    case: Callable[[], tuple[Graph, Forward, int, int]],
) -> None:
    graph, forward, h, w = case()
    cov = coverage_map(graph)
    expected = autograd_counts(forward, h, w)
    np.testing.assert_array_equal(cov.counts, expected)
    assert cov.fraction == pytest.approx((expected > 0).mean())
    assert cov.input_spatial == (h, w)
    assert cov.notes == ()


def test_one_by_one_stride_two_is_a_checkerboard() -> None:
    b = GraphBuilder((1, 32, 32, 3), "nhwc")
    b.conv(b.input, "conv", out_channels=16, kernel=1, stride=2, padding="same")
    cov = coverage_map(b.build())
    assert cov.fraction == 0.25
    expected = np.zeros((32, 32), dtype=np.int64)
    expected[::2, ::2] = 1
    np.testing.assert_array_equal(cov.counts, expected)
    grid = read_grid(cov)
    assert grid[0] == [True, False] * 4 and grid[1] == [False] * 8
    data = cov.to_dict()
    assert data["fraction"] == 0.25 and data["output_spatial"] == [16, 16]
    assert data["counts"][0][:4] == [1, 0, 1, 0]


def test_layout_does_not_change_the_map() -> None:
    maps = []
    for shape, layout in (((1, 2, 10, 9), "nchw"), ((1, 10, 9, 2), "nhwc")):
        b = GraphBuilder(shape, layout)  # type: ignore[arg-type]
        x = b.conv(b.input, "c", out_channels=4, kernel=3, stride=2)
        b.pool(x, "p", mode="max", kernel=2, stride=1)
        maps.append(coverage_map(b.build()).counts)
    np.testing.assert_array_equal(maps[0], maps[1])


def test_uncounted_ops_are_conservative_and_reported() -> None:
    b = GraphBuilder((1, 1, 8, 8), "nchw")
    x = b.conv(b.input, "c", out_channels=1, kernel=1, stride=2)
    b.other(x, "mystery", kind=OpKind.UNCOUNTED, output_shape=(1, 1, 4, 4), counted=False)
    cov = coverage_map(b.build())
    assert cov.fraction == 0.25  # the conv before it still skips 3 pixels in 4
    assert cov.counts.max() == 16  # every output position may read every pixel the conv reads
    assert any("mystery" in note for note in cov.notes)


@settings(max_examples=120)
@given(
    st.integers(3, 12),
    st.integers(3, 12),
    st.integers(1, 3),
    BRANCHES,
    st.integers(1, 3),
)
def test_random_branches_match_autograd(
    h: int, w: int, stride: int, branches: list[tuple[int, int, int]], pool: int
) -> None:
    """1-3 parallel 'same' convs (random kernel per axis and dilation, one stride) summed,
    then a pool: unions of per-axis products that are rarely products themselves."""
    b, nodes, x = summed_branches(h, w, stride, branches)
    out = b.shape(x)[2:]
    assume(all(n is not None and n >= pool for n in out))
    b.pool(x, "pool", mode="max", kernel=pool)
    graph = b.build()

    def forward(t: torch.Tensor) -> torch.Tensor:
        parts = []
        for i, (kh, kw, _d) in enumerate(branches):
            window = graph.nodes[nodes[i]].window
            assert window is not None
            (top, bottom), (left, right) = window.padding
            dil = window.dilation
            parts.append(
                F.conv2d(
                    F.pad(t, (left, right, top, bottom)),
                    torch.ones(1, 1, kh, kw),
                    stride=stride,
                    dilation=dil,
                )
            )
        total = sum(parts[1:], parts[0])
        return F.avg_pool2d(total, pool)

    np.testing.assert_array_equal(coverage_map(graph).counts, autograd_counts(forward, h, w))


def test_polyphase_reads_every_phase() -> None:
    """Adaptive polyphase sampling picks a phase from the norms of all of them, so every pixel
    can change the output, odd sizes included (ceil)."""
    b = GraphBuilder((1, 2, 9, 8), "nchw")
    x = b.polyphase(b.input, "aps", factor=2)
    b.conv(x, "c", out_channels=2, kernel=1)
    cov = coverage_map(b.build())
    assert cov.output_spatial == (5, 4)
    assert cov.fraction == 1.0 and cov.counts.max() == 1


def test_a_global_pool_at_the_end_is_mapped_at_its_input() -> None:
    """Conv -> global average pool -> ReLU -> flatten -> linear: the map is the conv's (the
    pool reads every position, so the coverage is the same), not a map of 1s."""
    b = GraphBuilder((1, 1, 10, 10), "nchw")
    conv = b.conv(b.input, "conv", out_channels=2, kernel=3, stride=2)
    pool = b.adaptive_pool(conv, "pool", mode="avg", output_size=[1, 1])
    relu = b.pointwise(pool, "relu", kind=OpKind.ACTIVATION)
    b.linear(b.flatten(relu, "flat"), "fc", out_features=3)
    pooled = coverage_map(b.build())
    alone = GraphBuilder((1, 1, 10, 10), "nchw")
    alone.conv(alone.input, "conv", out_channels=2, kernel=3, stride=2)
    direct = coverage_map(alone.build())
    assert pooled.output_node == "conv" and pooled.output_spatial == (4, 4)
    np.testing.assert_array_equal(pooled.counts, direct.counts)
    assert pooled.fraction == direct.fraction == 81 / 100  # 'valid' drops the last row/column
    # a 1x1 output that is not a global pool (a strided 1x1 conv) is kept as the output
    c = GraphBuilder((1, 1, 2, 2), "nchw")
    c.conv(c.input, "pick", out_channels=1, kernel=1, stride=2)
    assert coverage_map(c.build()).fraction == 0.25
