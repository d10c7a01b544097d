"""Random small nets of the ops whose positions the summary follows, against autograd:
convolutions (kernel, stride, padding), average pools, space-to-depth written with ``view``
and ``permute`` (any order of its channel and block axes), a pool written as a block reshape
and a mean, channels reversed by an index tensor, strided phases ``x[:, :, i::2, j::2]``, and
resizes by 2 up and by 2, 3 or 4 down (``F.interpolate``: nearest, bilinear, bicubic, area;
a transposed conv of stride 2), resizes to any size (corners aligned or not: fields with a
fractional jump) and adaptive average pools to any size; flips, rolls and rows picked by an index of
constants, positions repeated (``repeat_interleave``, ``repeat``).
The coverage is autograd's and the last field is never smaller than the gradient's extent.
(Max pools are left out: autograd reaches only their argmax. A pick of some channels of a
space-to-depth reads some phases only, where the summary counts every phase: too high, a
known limit, so channel picks here keep every channel. So is a space-to-depth of an axis
into a single block, ``view(n, c, 1, h, ...)``: read as the axis kept whole, as an
``unsqueeze`` is, and coverage taken as every position after the permute. And so is a
block reshape, space-to-depth or a block mean written with ``view``, after a flip, a roll or
rows picked by index: the positions a pick moved are a guess to the reshape, read whole.) The probe that found a block mean
of a 2x2 map followed by a conv stopping the coverage walk drew nets like these."""

from __future__ import annotations

from typing import Any

import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from tests.autograd_reference import field_checked


class _SpaceToDepth(nn.Module):
    def __init__(self, block: int, order: tuple[int, ...]) -> None:
        super().__init__()
        self.block, self.order = block, order

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        n, c, h, w = y.shape
        b, inner = self.block, (1, 3, 5)
        dims = (0, *[inner[i] for i in self.order], 2, 4)
        blocks = y.view(n, c, h // b, b, w // b, b).permute(*dims)
        return blocks.reshape(n, c * b * b, h // b, w // b)


class _BlockMean(nn.Module):
    def forward(self, y: torch.Tensor) -> torch.Tensor:
        n, c, h, w = y.shape
        return y.view(n, c, h // 2, 2, w // 2, 2).mean((3, 5))


class _Reversed(nn.Module):
    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return y[:, torch.arange(y.shape[1] - 1, -1, -1)]


class _Resize(nn.Module):
    def __init__(self, mode: str, scale: float) -> None:
        super().__init__()
        self.mode, self.scale = mode, scale

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.interpolate(y, scale_factor=self.scale, mode=self.mode)


class _ResizeTo(nn.Module):
    def __init__(self, mode: str, size: tuple[int, int], corners: bool) -> None:
        super().__init__()
        self.mode, self.size, self.corners = mode, size, corners

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        corners = self.corners if self.mode in ("bilinear", "bicubic") else None
        return nn.functional.interpolate(y, size=self.size, mode=self.mode, align_corners=corners)


class _Moved(nn.Module):
    """Positions put elsewhere along their own axes: a flip, a roll, rows picked by an index
    of constants (repeats and any order)."""

    def __init__(self, kind: str, arg: Any) -> None:
        super().__init__()
        self.kind, self.arg = kind, arg

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if self.kind == "flip":
            return y.flip(self.arg)
        if self.kind == "roll":
            return torch.roll(y, self.arg, dims=(2, 3))
        if self.kind == "interleave":
            return y.repeat_interleave(self.arg[1], dim=self.arg[0])
        if self.kind == "tile":
            return y.repeat(1, 1, *self.arg)
        return y[:, :, torch.tensor(self.arg)]


class _Phase(nn.Module):
    def __init__(self, i: int, j: int) -> None:
        super().__init__()
        self.i, self.j = i, j

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return y[:, :, self.i :: 2, self.j :: 2]


_OPS = st.one_of(
    st.tuples(st.just("conv"), st.integers(1, 3), st.integers(1, 2), st.integers(0, 1)),
    st.tuples(st.just("pool")),
    st.tuples(st.just("s2d"), st.sampled_from([2, 3]), st.permutations([0, 1, 2])),
    st.tuples(st.just("mean")),
    st.tuples(st.just("reversed")),
    st.tuples(st.just("phase"), st.integers(0, 1), st.integers(0, 1)),
    st.tuples(st.just("up"), st.sampled_from(["nearest", "bilinear", "bicubic", "area", "conv"])),
    st.tuples(
        st.just("down"),
        st.sampled_from(["nearest", "nearest-exact", "bilinear", "bicubic", "area"]),
        st.integers(2, 4),
    ),
    st.tuples(
        st.just("to"),
        st.sampled_from(["nearest", "nearest-exact", "bilinear", "bicubic", "area"]),
        st.integers(3, 20),
        st.integers(3, 20),
        st.booleans(),
    ),
    st.tuples(st.just("adaptive"), st.integers(1, 9), st.integers(1, 9)),
    st.tuples(st.just("flip"), st.sampled_from([(2,), (3,), (2, 3), (1,)])),
    st.tuples(st.just("roll"), st.tuples(st.integers(-5, 5), st.integers(-5, 5))),
    st.tuples(st.just("rows"), st.lists(st.floats(0, 0.999), min_size=1, max_size=6)),
    st.tuples(st.just("interleave"), st.tuples(st.sampled_from([2, 3]), st.integers(2, 3))),
    st.tuples(st.just("tile"), st.tuples(st.integers(1, 2), st.integers(1, 2))),
)


def _net(ops: list[tuple[Any, ...]], size: tuple[int, int]) -> nn.Module | None:
    """The net of ``ops`` on a ``(1, 1, *size)`` input, ``None`` where a size does not fit."""
    (h, w), c, layers = size, 1, []
    moved = False  # (positions picked out of order before: a block reshape after, see above)
    for op in ops:
        if op[0] in ("s2d", "mean") and moved:
            return None
        moved = moved or op[0] in ("flip", "roll", "rows", "interleave", "tile")
        if op[0] == "conv":
            _, k, s, p = op
            if p >= k or min(h, w) + 2 * p < k:
                return None
            layers.append(nn.Conv2d(c, 2, k, s, p))
            c, h, w = 2, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        elif op[0] in ("pool", "mean"):
            if h % 2 or w % 2:
                return None
            layers.append(nn.AvgPool2d(2) if op[0] == "pool" else _BlockMean())
            h, w = h // 2, w // 2
        elif op[0] == "s2d":
            _, b, order = op
            if h % b or w % b or h == b or w == b:  # (one block of an axis: see above)
                return None
            layers.append(_SpaceToDepth(b, tuple(order)))
            c, h, w = c * b * b, h // b, w // b
        elif op[0] == "reversed":
            layers.append(_Reversed())
        elif op[0] == "up":
            if max(h, w) > 24:
                return None
            up = nn.ConvTranspose2d(c, 2, 2, 2) if op[1] == "conv" else _Resize(op[1], 2)
            layers.append(up)
            c, h, w = (2 if op[1] == "conv" else c), 2 * h, 2 * w
        elif op[0] == "to":
            _, mode, to_h, to_w, corners = op
            layers.append(_ResizeTo(mode, (to_h, to_w), corners))
            h, w = to_h, to_w
        elif op[0] == "adaptive":
            _, to_h, to_w = op
            if to_h > h or to_w > w:
                return None
            layers.append(nn.AdaptiveAvgPool2d((to_h, to_w)))
            h, w = to_h, to_w
        elif op[0] in ("flip", "roll"):
            layers.append(_Moved(*op))
        elif op[0] in ("interleave", "tile"):
            if op[0] == "interleave":
                axis, r = op[1]
                th, tw = (r, 1) if axis == 2 else (1, r)
            else:
                th, tw = op[1]
            if h * th > 24 or w * tw > 24:
                return None
            layers.append(_Moved(*op))
            h, w = h * th, w * tw
        elif op[0] == "rows":
            rows = [int(f * h) for f in op[1]]
            layers.append(_Moved("rows", rows))
            h = len(rows)
        elif op[0] == "down":
            _, mode, by = op
            if h % by or w % by:
                return None
            layers.append(_Resize(mode, 1 / by))
            h, w = h // by, w // by
        else:
            _, i, j = op
            if min(h, w) < 2:
                return None
            layers.append(_Phase(i, j))
            h, w = len(range(i, h, 2)), len(range(j, w, 2))
    layers.append(nn.Conv2d(c, 2, 1))
    return nn.Sequential(*layers).eval()


@settings(max_examples=40, deadline=None)
@given(
    ops=st.lists(_OPS, min_size=1, max_size=4),
    size=st.tuples(st.sampled_from([12, 16, 18]), st.sampled_from([12, 16, 18])),
)
def test_random_nets_match_autograd(ops: list[tuple[Any, ...]], size: tuple[int, int]) -> None:
    model = _net(ops, size)
    assume(model is not None)
    assert model is not None
    field_checked(model, (1, 1, *size))
