"""A reshape keeps a spatial axis exactly when every element keeps its coordinate on it, and
splits it into blocks exactly when an axis holds each element's block:
``GraphBuilder.reshape`` against a brute-force check on index arrays, and the receptive
field and coverage through ShuffleNet's channel shuffle (view, transpose, reshape)."""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from stridescope.analysis.coverage import coverage_map
from stridescope.analysis.summary_rf import WHOLE, receptive_fields
from stridescope.frontends.pytorch import trace_torch
from stridescope.ir import GraphBuilder, OpKind
from stridescope.ir.reshaped_axes import folded_axes
from tests.autograd_reference import autograd_counts


def _factorisations(n: int) -> list[tuple[int, ...]]:
    """Ways to write ``n`` as a product of up to three factors > 1 (and ``(n,)``)."""
    out: list[tuple[int, ...]] = [(n,)]
    for a in range(2, n):
        if n % a == 0:
            out.append((a, n // a))
            for b in range(2, n // a):
                if (n // a) % b == 0:
                    out.append((a, b, n // a // b))
    return out


@st.composite
def reshapes(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """An (N, C, H, W) shape and a reshape of it: runs of axes merged, then split again."""
    shape = tuple(draw(st.integers(1, 6)) for _ in range(4))
    runs = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    out: list[int] = []
    axis = 0
    for size in runs:
        run = shape[axis : axis + size]
        if not run:
            break
        merged = math.prod(run)
        out.extend(draw(st.sampled_from(_factorisations(merged))) if merged > 1 else (1,))
        axis += size
    out.extend(shape[axis:])
    return shape, tuple(out)


@settings(max_examples=400, deadline=None)
@given(reshapes())
def test_kept_axes_match_a_brute_force_check(case: tuple[tuple[int, ...], tuple[int, ...]]) -> None:
    shape, out = case
    b = GraphBuilder(shape, "nchw")
    r = b.reshape(b.input, "r", output_shape=out)
    node = b.build().nodes[r]
    kept = node.spatial_at
    coords = np.indices(shape)  # coords[a]: each element's coordinate on axis a
    if node.kind is OpKind.PIXEL_UNSHUFFLE:  # blocks: the outer axis holds coordinate // b
        assert node.window is not None and kept is not None and node.window.kernel != (1, 1)
        for a, q, block in zip((2, 3), kept, node.window.kernel, strict=True):
            assert np.array_equal(coords[a].reshape(out) // block, np.indices(out)[q])
        return
    carriers = [
        [q for q in range(len(out)) if np.array_equal(coords[a].reshape(out), np.indices(out)[q])]
        for a in (2, 3)
    ]
    if kept is None:  # an axis nothing carries, a changed rank, or one place for two axes
        distinct = {q for c in carriers for q in c}
        assert not all(carriers) or len(out) != len(shape) or len(distinct) < 2
    else:
        assert all(q in c for q, c in zip(kept, carriers, strict=True))


def _read_from(values: np.ndarray, at: np.ndarray, q: int) -> bool:
    """Whether ``values`` (one coordinate per element of ``out``) is a function of the
    coordinate on axis ``q`` alone."""
    table: dict[int, int] = {}
    for v, k in zip(values.ravel(), at[q].ravel(), strict=True):
        if table.setdefault(int(k), int(v)) != int(v):
            return False
    return True


def _reads_part(values: np.ndarray, at: np.ndarray, q: int) -> bool:
    """Whether coordinate ``values`` changes along axis ``q`` (that axis holds part of it)."""
    return bool((np.diff(values, axis=q) != 0).any()) if values.shape[q] > 1 else False


class _Shuffle(nn.Module):
    """A conv, a channel shuffle by view / transpose / reshape, a 3x3 conv."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Conv2d(1, 4, 3, stride=2)
        self.second = nn.Conv2d(4, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.first(x)
        b, c, h, w = y.shape
        y = y.view(b, 2, c // 2, h, w).transpose(1, 2).reshape(b, c, h, w)
        return self.second(y)


def test_channel_shuffle_by_view_keeps_the_field_and_the_coverage() -> None:
    torch.manual_seed(0)
    net = _Shuffle()
    graph = trace_torch(net, (1, 1, 11, 9))
    fields = receptive_fields(graph)
    assert isinstance(fields[-1], tuple) and fields[-1][0].size == 3 + 2 * 2  # not 'whole'
    cov = coverage_map(graph)
    assert not cov.notes
    np.testing.assert_array_equal(cov.counts, autograd_counts(net, 11, 9))


def test_merging_the_spatial_axes_mixes_positions() -> None:
    class Tokens(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.reshape(x.shape[0], x.shape[1], -1)

    graph = trace_torch(Tokens(), (1, 2, 4, 4))
    assert graph.output.spatial_at is None and receptive_fields(graph)[-1] == WHOLE


@st.composite
def folds(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """An (N, C, H, W) shape, a permutation of its last three axes and adjacent axes of the
    permuted shape merged (a fold of H or W into the channels among them)."""
    shape = tuple(draw(st.integers(1, 5)) for _ in range(4))
    dims = (0, *draw(st.permutations((1, 2, 3))))
    moved = [shape[d] for d in dims]
    start = draw(st.integers(1, 2))
    out = (*moved[:start], moved[start] * moved[start + 1], *moved[start + 2 :])
    return shape, dims, tuple(out)


@settings(max_examples=300, deadline=None)
@given(folds())
def test_folds_match_a_brute_force_check(
    case: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]],
) -> None:
    """``folded_axes`` keeps one spatial axis of a reshape (after a permute) and folds the
    other exactly where a brute-force check on index arrays finds the one carried whole and
    the other's coordinate read from one axis past the batch made of whole axes."""
    shape, dims, out = case
    moved = tuple(shape[d] for d in dims)
    at = (dims.index(2), dims.index(3))
    found = folded_axes(moved, at, out)
    coords = np.indices(shape).transpose(0, *(d + 1 for d in dims))  # (axis, *permuted)
    index = np.indices(out)
    values = [coords[a].reshape(out) for a in range(4)]
    carried = [[q for q in range(len(out)) if np.array_equal(values[a], index[q])] for a in (2, 3)]
    expected = None
    if shape[2] > 1 and shape[3] > 1 and sum(bool(c) for c in carried) == 1:
        keep = 0 if carried[0] else 1
        other = values[3 - keep]
        into = [
            q
            for q in range(1, len(out))
            if q != carried[keep][0]
            and _read_from(other, index, q)
            and all(_read_from(v, index, q) or not _reads_part(v, index, q) for v in values)
        ]
        if into:
            expected = (carried[keep][0], None) if keep == 0 else (None, carried[keep][0])
    assert found == expected
