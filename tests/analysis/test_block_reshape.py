"""A reshape that splits the rows and columns of a map into blocks, ``(N, C, H, W)`` viewed as
``(N, C, H/b, b, W/b, b)``, reads as a pixel unshuffle: space-to-depth written with ``view``
and ``permute`` (TResNet's stem, einops' channel order, channels-last), a pool written as a
block reshape and a reduction. Fields after it were ``whole input``; each is now checked
against the gradient's extent, and the coverage against autograd. Halves of the rows folded
into the channels and the heads of tokens stay plain reshapes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

import stridescope
from stridescope.frontends import load_graph
from stridescope.ir import GraphBuilder, OpKind
from tests.autograd_reference import autograd_counts, centre_extent, field_checked


class _SpaceToDepth(nn.Module):
    """``view``, ``permute`` to ``order``, ``view`` (space-to-depth by ``block``), a conv."""

    def __init__(self, block: int, order: tuple[int, ...], kernel: int, stride: int) -> None:
        super().__init__()
        self.block, self.order = block, order
        self.conv = nn.Conv2d(block * block, 2, kernel, stride, padding=kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        b = self.block
        x = x.view(n, c, h // b, b, w // b, b).permute(*self.order).contiguous()
        return self.conv(x.view(n, c * b * b, h // b, w // b))


class _ChannelsLast(nn.Module):
    """Space-to-depth by 2 on a channels-last map, back to channels-first, a 3x3 conv."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        y = x.permute(0, 2, 3, 1).reshape(n, h // 2, 2, w // 2, 2, c)
        y = y.permute(0, 1, 3, 2, 4, 5).reshape(n, h // 2, w // 2, 4 * c)
        return self.conv(y.permute(0, 3, 1, 2))


class _BlockPool(nn.Module):
    """A 2x2 pool written as a block reshape and a reduction, then a 3x3 conv."""

    def __init__(self, reduce: str) -> None:
        super().__init__()
        self.reduce = reduce
        self.conv = nn.Conv2d(1, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        blocks = x.view(n, c, h // 2, 2, w // 2, 2)
        pooled = blocks.mean((3, 5)) if self.reduce == "mean" else blocks.amax((3, 5))
        return self.conv(pooled)


TRESNET, EINOPS = (0, 3, 5, 1, 2, 4), (0, 1, 3, 5, 2, 4)
_CASES: list[tuple[str, Callable[[], nn.Module], tuple[int, ...], tuple[int, int]]] = [
    ("tresnet stem", lambda: _SpaceToDepth(4, TRESNET, 3, 1), (1, 1, 24, 24), (12, 12)),
    ("einops order", lambda: _SpaceToDepth(2, EINOPS, 3, 1), (1, 1, 16, 12), (6, 6)),
    ("then a 1x1 stride 2", lambda: _SpaceToDepth(2, EINOPS, 1, 2), (1, 1, 16, 16), (2, 2)),
    ("channels last", _ChannelsLast, (1, 1, 16, 16), (6, 6)),
    ("block mean", lambda: _BlockPool("mean"), (1, 1, 16, 16), (6, 6)),
]


@pytest.mark.parametrize(("label", "build", "shape", "field"), _CASES, ids=[c[0] for c in _CASES])
def test_a_block_reshape_keeps_the_field_and_the_coverage(
    label: str, build: Callable[[], nn.Module], shape: tuple[int, ...], field: tuple[int, int]
) -> None:
    model = build().eval()
    for p in model.parameters():  # positive weights: nothing cancels in the gradient
        nn.init.constant_(p, 0.1)
    summary = stridescope.summary(model, input_shape=shape)
    last = summary.layers[-1]
    assert last.rf_size == field, (label, last)
    assert centre_extent(model, shape) == field, label
    counts = autograd_counts(model, *shape[2:])
    assert summary.input_coverage == pytest.approx(np.mean(counts > 0)), label
    kinds = [n.kind for n in load_graph(model, shape).nodes]
    assert OpKind.PIXEL_UNSHUFFLE in kinds and OpKind.RESHAPE not in kinds[:2], label


def test_a_block_max_reads_as_the_max_pool_it_computes() -> None:
    # (its gradient reaches one pixel of each block: the argmax, not what it reads)
    twin = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(1, 2, 3))
    ours, theirs = (
        stridescope.summary(m, input_shape=(1, 1, 16, 16)) for m in (_BlockPool("max"), twin)
    )
    assert ours.layers[-1].rf_size == theirs.layers[-1].rf_size == (6, 6)
    assert ours.layers[-1].rf_jump == theirs.layers[-1].rf_jump == (2, 2)
    assert ours.input_coverage == theirs.input_coverage == 1.0


def test_the_block_reshape_is_a_window_of_the_block_on_the_outer_axes() -> None:
    b = GraphBuilder((1, 3, 8, 6), "nchw")
    split = b.reshape(b.input, "view", output_shape=(1, 3, 4, 2, 3, 2))
    rows = b.reshape(b.input, "rows", output_shape=(1, 3, 8, 3, 2))  # W alone in blocks
    halves = b.reshape(b.input, "halves", output_shape=(1, 6, 4, 6))  # into the channels
    nodes = b.build().nodes
    assert nodes[split].kind is OpKind.PIXEL_UNSHUFFLE and nodes[split].spatial_at == (2, 4)
    assert nodes[split].window is not None and nodes[split].window.stride == (2, 2)
    assert nodes[rows].window is not None and nodes[rows].window.kernel == (1, 2)
    assert nodes[halves].kind is OpKind.RESHAPE and nodes[halves].window is None


def test_heads_split_off_tokens_stay_a_reshape() -> None:
    class Heads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Conv2d(3, 8, 4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            tokens = self.embed(x).flatten(2).transpose(1, 2)  # (N, T, C)
            n, t, c = tokens.shape
            return tokens.reshape(n, t, 2, c // 2).transpose(1, 2)

    kinds = [n.kind for n in load_graph(Heads(), (1, 3, 16, 16)).nodes]
    assert OpKind.PIXEL_UNSHUFFLE not in kinds and kinds.count(OpKind.RESHAPE) == 1


def test_keras_space_to_depth_by_reshape_keeps_the_field() -> None:
    keras = pytest.importorskip("keras")
    from keras import layers

    x = keras.Input((16, 16, 1))
    y = layers.Reshape((8, 2, 8, 2, 1))(x)
    y = layers.Permute((1, 3, 2, 4, 5))(y)
    y = layers.Conv2D(2, 3)(layers.Reshape((8, 8, 4))(y))
    rows = stridescope.summary(keras.Model(x, y)).layers
    assert rows[0].kind == "pixel_unshuffle" and rows[-1].rf_size == (6, 6), rows


class _RandomSpaceToDepth(nn.Module):
    """A conv, space-to-depth by ``block`` with the block and channel axes in ``order``
    (a permutation of C, the rows' block and the columns' block), a conv."""

    def __init__(self, block: int, order: tuple[int, ...], first: tuple[int, int, int]) -> None:
        super().__init__()
        self.block, self.order = block, order
        kernel, stride, pad = first
        self.first = nn.Conv2d(1, 2, kernel, stride, pad)
        self.last = nn.Conv2d(2 * block * block, 2, 3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.first(x)
        n, c, h, w = y.shape
        b = self.block
        inner = [1, 3, 5]  # C, the rows' block, the columns' block of (N, C, H/b, b, W/b, b)
        dims = (0, *[inner[i] for i in self.order], 2, 4)
        y = y.view(n, c, h // b, b, w // b, b).permute(*dims).reshape(n, c * b * b, h // b, w // b)
        return self.last(y)


@settings(max_examples=25, deadline=None)
@given(
    block=st.sampled_from([2, 3]),
    order=st.permutations([0, 1, 2]),
    first=st.tuples(st.integers(1, 3), st.integers(1, 2), st.integers(0, 1)),
    blocks=st.tuples(st.integers(2, 4), st.integers(2, 4)),
)
def test_random_space_to_depth_matches_autograd(
    block: int, order: list[int], first: tuple[int, int, int], blocks: tuple[int, int]
) -> None:
    kernel, stride, pad = first
    assume(pad < kernel)
    # an input whose first conv's output divides into whole blocks
    sizes = tuple((b * block - 1) * stride + kernel - 2 * pad for b in blocks)
    assume(all(n >= kernel for n in sizes))
    model = _RandomSpaceToDepth(block, tuple(order), first).eval()
    shape = (1, 1, *sizes)
    field = field_checked(model, shape)
    assert field is not None
    reached = centre_extent(model, shape)
    if all(f <= n // 2 for f, n in zip(field, sizes, strict=True)):  # the centre's, whole
        assert reached == field


def test_a_block_mean_down_to_one_position_then_a_conv() -> None:
    """Found by a random probe: a block mean of a 2x2 map (``view(1, 9, 1, 2, 1, 2)``, kept
    axes of size 2 behind axes of size 1) leaves one position and records no spatial axis;
    a 1x1 conv after it read its window on no axis, and the coverage walk stopped with a
    ``ValueError``. The window is read on the layout's axes, all of size 1."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(9, 2, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = x.view(1, 1, 6, 2, 6, 2).mean((3, 5))  # (1, 1, 6, 6)
            y = y.view(1, 1, 2, 3, 2, 3).permute(0, 3, 5, 1, 2, 4).reshape(1, 9, 2, 2)
            return self.conv(y.view(1, 9, 1, 2, 1, 2).mean((3, 5)))

    model = Net().eval()
    for p in model.parameters():
        nn.init.constant_(p, 0.1)
    summary = stridescope.summary(model, input_shape=(1, 1, 12, 12))
    counts = autograd_counts(model, 12, 12)
    assert summary.input_coverage == pytest.approx(np.mean(counts > 0)) == 1.0
    assert summary.layers[-1].rf_note == "whole input"
