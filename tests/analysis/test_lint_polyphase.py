"""Polyphase splits written with strided slices: pieces of one tensor at the same stride that
between them read every position of it (space-to-depth as YOLOv5's Focus writes it, a rotary
embedding's even and odd halves, a Haar wavelet's rows then columns) skip nothing and keep
every sample, as ``pixel_unshuffle`` does: no DS101, DS401 or DS301 on them. A slice whose
siblings leave positions unread is flagged as before."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from stridescope import api
from stridescope.analysis.lint_base import LintContext
from stridescope.analysis.lint_reads import polyphase, split_roots
from stridescope.ir import GraphBuilder, OpKind

PHASE_CODES = {"DS101", "DS301", "DS401"}


class Focus(nn.Module):
    """Space-to-depth by four strided slices, concatenated into channels, then a conv."""

    def __init__(self, phases: int = 4) -> None:
        super().__init__()
        self.phases = phases
        self.conv = nn.Conv2d(3 * phases, 16, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        starts = [(0, 0), (1, 0), (0, 1), (1, 1)][: self.phases]
        return self.conv(torch.cat([x[..., i::2, j::2] for i, j in starts], 1))


class Unshuffle(nn.Module):
    """Focus's twin: the same space-to-depth by ``pixel_unshuffle``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(12, 16, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(nn.functional.pixel_unshuffle(x, 2))


class Rotary(nn.Module):
    """Attention with a rotary embedding on interleaved pairs: ``x[..., ::2]`` and
    ``x[..., 1::2]`` of each head's features."""

    def __init__(self, dim: int = 32, heads: int = 2) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(2).transpose(1, 2)
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q = torch.stack([-q[..., 1::2], q[..., ::2]], -1).reshape(q.shape)
        k = torch.stack([-k[..., 1::2], k[..., ::2]], -1).reshape(k.shape)
        out = (q @ k.transpose(-2, -1)).softmax(-1) @ v
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Haar(nn.Module):
    """Haar wavelet downsampling: rows split in two phases, then each in two column phases;
    the four sub-bands are sums and differences of the pieces."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(12, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = x[:, :, 0::2, :] / 2, x[:, :, 1::2, :] / 2
        a, b = top[..., 0::2], bottom[..., 0::2]
        c, d = top[..., 1::2], bottom[..., 1::2]
        bands = [a + b + c + d, -a - b + c + d, -a + b - c + d, a - b - c + d]
        return self.conv(torch.cat(bands, 1))


class Unused(nn.Module):
    """All four phases made, two of them read: the other two read nothing."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]]
        return torch.cat(parts[:2], 1)


class Incomplete(nn.Module):
    """Slices that leave positions unread: two diagonal phases, and a phase of a phase."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        diagonal = x[:, :, ::2, ::2] + x[:, :, 1::2, 1::2]
        return diagonal + x[:, :, ::2][..., ::2]


def _codes(model: nn.Module, shape: tuple[int, ...]) -> list[tuple[str, str | None]]:
    return [(f.code, f.layer) for f in api.lint(model, shape).findings]


@pytest.mark.parametrize("size", [32, 16])
def test_focus_is_linted_as_its_pixel_unshuffle_twin(size: int) -> None:
    codes = _codes(Focus(), (1, 3, size, size))
    assert not {c for c, _ in codes} & PHASE_CODES, codes
    assert {c for c, _ in codes} == {c for c, _ in _codes(Unshuffle(), (1, 3, size, size))}
    rows = api.summary(Focus(), (1, 3, size, size)).layers
    slices = [r for r in rows if r.kind == "slice"]
    assert len(slices) == 4 and all(r.flags == () for r in slices)
    assert all(r.read_fraction == pytest.approx(0.25) for r in slices)  # each, on its own


class ViewRotary(nn.Module):
    """The same pairs on heads made by ``view(B, T, heads, d).transpose(1, 2)`` of a
    projection (whose axes the slices are not placed on: their reads are not known)."""

    def __init__(self) -> None:
        super().__init__()
        self.q = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.flatten(2).transpose(1, 2)  # (N, T, C)
        q = self.q(t).view(1, t.shape[1], 4, 4).transpose(1, 2)
        return torch.stack((-q[..., 1::2], q[..., ::2]), -1).flatten(-2)


@pytest.mark.parametrize(("model", "shape"), [(Rotary, (1, 32, 8, 8)), (ViewRotary, (1, 16, 8, 8))])
def test_a_rotary_embedding_on_interleaved_pairs_skips_nothing(
    model: type[nn.Module], shape: tuple[int, ...]
) -> None:
    assert not {c for c, _ in _codes(model(), shape)} & PHASE_CODES


def test_a_haar_wavelet_of_pieces_of_pieces_is_not_misaligned() -> None:
    codes = _codes(Haar(), (1, 3, 32, 32))
    assert not {c for c, _ in codes} & PHASE_CODES, codes


def test_slices_that_leave_positions_unread_are_still_flagged() -> None:
    codes = _codes(Incomplete(), (1, 3, 16, 16))
    assert [layer for c, layer in codes if c == "DS101"] == [
        f"getitem{s}" for s in ("", "_1", "_2", "_3")
    ]
    assert ("DS301", "add") in codes  # two diagonal phases sampled half a pixel apart
    two_of_four = _codes(Focus(phases=2), (1, 3, 16, 16))
    assert sum(c == "DS101" for c, _ in two_of_four) == 2
    assert ("DS301", "cat") in two_of_four
    unused = _codes(Unused(), (1, 3, 16, 16))
    assert {"getitem", "getitem_1"} <= {layer for c, layer in unused if c == "DS101"}


def test_a_keras_space_to_depth_by_slicing_is_not_flagged() -> None:
    keras = pytest.importorskip("keras")
    x = keras.Input((32, 32, 3))
    phases = [x[:, ::2, ::2], x[:, 1::2, ::2], x[:, ::2, 1::2], x[:, 1::2, 1::2]]
    for used, flagged in ((phases, False), (phases[:2], True)):
        y = keras.layers.Conv2D(8, 3, padding="same")(keras.layers.Concatenate()(used))
        codes = {f.code for f in api.lint(keras.Model(x, y)).findings}
        assert bool(codes & PHASE_CODES) is flagged, codes


_PHASE = st.tuples(st.integers(0, 3), st.integers(0, 3))


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    starts=st.lists(_PHASE, min_size=1, max_size=6, unique=True),
)
def test_pieces_are_exactly_the_slices_whose_union_reads_every_position(
    sizes: tuple[int, int], stride: tuple[int, int], starts: list[tuple[int, int]]
) -> None:
    """Against a brute-force union of the positions each slice reads."""
    b = GraphBuilder((1, 2, *sizes), "nchw")
    made, read = [], np.zeros(sizes, dtype=bool)
    for k, start in enumerate(starts):
        ranges = [(min(s, n - 1), n, step) for s, n, step in zip(start, sizes, stride, strict=True)]
        out = tuple(len(range(*r)) for r in ranges)
        made.append(b.slice(b.input, f"s{k}", spatial=ranges, output_shape=(1, 2, *out)))
        b.pointwise(made[-1], f"relu{k}", kind=OpKind.ACTIVATION)  # (each piece is read)
        read[np.ix_(*[list(range(*r)) for r in ranges])] = True
    found = polyphase(LintContext(b.build()))
    expected = read.all() and len(made) > 1 and max(stride) > 1
    assert found == (dict.fromkeys(made, 0) if expected else {})


def test_split_roots_follow_pieces_of_pieces_and_their_merges() -> None:
    b = GraphBuilder((1, 1, 4, 4), "nchw")
    rows = [
        b.slice(b.input, f"r{i}", spatial=[(i, 4, 2), (0, 4, 1)], output_shape=(1, 1, 2, 4))
        for i in range(2)
    ]
    cells = [
        b.slice(r, f"c{i}{j}", spatial=[(0, 2, 1), (j, 4, 2)], output_shape=(1, 1, 2, 2))
        for (i, r), j in itertools.product(enumerate(rows), range(2))
    ]
    total = b.merge(cells, "sum", kind=OpKind.ADD)
    other = b.conv(b.input, "conv", out_channels=1, kernel=2, stride=2)
    mixed = b.merge([total, other], "mixed", kind=OpKind.ADD)
    roots = split_roots(LintContext(b.build()))
    assert [roots[i] for i in (*rows, *cells, total)] == [0] * 7
    assert roots[other] is None and roots[mixed] is None
