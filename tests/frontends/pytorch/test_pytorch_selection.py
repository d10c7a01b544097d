"""Index tensors on axes that are not spatial keep every position: adaptive polyphase sampling
written by hand (the phase of largest norm picked by advanced indexing, ``gather`` or
``take_along_dim``), a
channel permutation by a constant index, ``index_select`` of channels. The field after them
was ``?`` for every later layer; it is now the field of what they pick from, as for the
equal max pool, and the shapes are torch's. Index tensors on a spatial axis, or on tokens,
stay data movement."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

import stridescope
from stridescope.errors import StridescopeError
from stridescope.frontends import load_graph
from stridescope.ir import OpKind
from tests.autograd_reference import autograd_counts


def _phases(x: torch.Tensor) -> torch.Tensor:
    return torch.stack([x[:, :, i::2, j::2] for i in (0, 1) for j in (0, 1)], dim=1)


def _by_index(x: torch.Tensor) -> torch.Tensor:
    stacked = _phases(x)  # (N, 4, C, H/2, W/2)
    best = stacked.flatten(2).norm(dim=2).argmax(dim=1)
    return stacked[torch.arange(x.shape[0]), best]


def _by_gather(x: torch.Tensor) -> torch.Tensor:
    stacked = _phases(x)
    n, _, c, h, w = stacked.shape
    best = stacked.pow(2).sum((2, 3, 4)).argmax(1).view(n, 1, 1, 1, 1).expand(n, 1, c, h, w)
    return torch.gather(stacked, 1, best).squeeze(1)


def _by_take(x: torch.Tensor) -> torch.Tensor:
    stacked = _phases(x)
    best = stacked.abs().amax((2, 3, 4)).argmax(1).view(-1, 1, 1, 1, 1)
    return torch.take_along_dim(stacked, best, 1).squeeze(1)


def _permuted(x: torch.Tensor) -> torch.Tensor:
    return x[:, torch.tensor([3, 2, 1, 0])]


def _selected(x: torch.Tensor) -> torch.Tensor:
    return x.index_select(1, torch.tensor([0, 2]))[:, [1, 0, 1, 0]]


class _Net(nn.Module):
    def __init__(self, middle: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.middle = middle
        self.first, self.last = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last(self.middle(self.first(x)))


_TWINS = [  # (what it picks with, the op with the same field)
    ("polyphase by index", _by_index, nn.MaxPool2d(2)),
    ("polyphase by gather", _by_gather, nn.MaxPool2d(2)),
    ("polyphase by take_along_dim", _by_take, nn.MaxPool2d(2)),
    ("channels permuted", _permuted, nn.Identity()),
    ("channels selected", _selected, nn.Identity()),
]


@pytest.mark.parametrize(("label", "middle", "twin"), _TWINS, ids=[c[0] for c in _TWINS])
def test_a_pick_along_other_axes_keeps_the_field(
    label: str, middle: Callable[[torch.Tensor], torch.Tensor], twin: nn.Module
) -> None:
    shape = (1, 1, 16, 16)
    model = _Net(middle).eval()
    ours = stridescope.summary(model, input_shape=shape)
    theirs = stridescope.summary(_Net(twin).eval(), input_shape=shape)
    assert ours.layers[-1].rf_size == theirs.layers[-1].rf_size is not None, label
    assert ours.layers[-1].rf_jump == theirs.layers[-1].rf_jump, label
    assert ours.layers[-1].output_shape == tuple(model(torch.rand(shape)).shape), label
    counts = autograd_counts(model, *shape[2:])
    assert ours.input_coverage == pytest.approx(np.mean(counts > 0)), label


@pytest.mark.parametrize("pick", [_by_index, _by_gather, _by_take])
def test_polyphase_reads_every_phase_as_the_choice_does(
    pick: Callable[[torch.Tensor], torch.Tensor],
) -> None:
    # the argmax reads every phase: coverage counts it (autograd, which sees only the phase
    # picked, says 25%), as stridescope's own polyphase op and a max pool read them all
    class Alone(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return pick(x)

    summary = stridescope.summary(Alone(), input_shape=(1, 2, 8, 8))
    assert summary.input_coverage == 1.0
    assert summary.layers[-1].rf_size == (2, 2) and summary.layers[-1].rf_jump == (2, 2)


@pytest.mark.parametrize(
    "key",
    [
        lambda s: s[torch.arange(2), torch.tensor([1, 3])],
        lambda s: s[torch.tensor([[1], [0]]), :, torch.tensor([0, 2])],  # apart: in front
        lambda s: s[:, torch.tensor([2, 0, 1])],
        lambda s: s[..., [1, 0], :, :],
    ],
)
def test_the_shapes_are_torchs(key: Callable[[torch.Tensor], torch.Tensor]) -> None:
    class Pick(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 12, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return key(self.conv(x).view(2, 4, 3, 8, 8))  # (N, K, C, H, W)

    model = Pick().eval()
    graph = load_graph(model, (2, 3, 8, 8))
    assert graph.output.output_shape == tuple(model(torch.rand(2, 3, 8, 8)).shape)
    assert graph.output.kind is OpKind.MOVE and graph.output.spatial_at is not None


def test_a_spatial_index_or_tokens_stay_data_movement() -> None:
    # (not arithmetic progressions: those are the slices they equal, below)
    class Rows(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)
            tokens = y.flatten(2).transpose(1, 2)  # (N, T, C)
            return y[:, :, torch.tensor([4, 0, 2])], tokens[:, torch.tensor([1, 0])]

    graph = load_graph(Rows(), (1, 1, 8, 8))
    picks = [n for n in graph.nodes if n.op == "getitem" or n.name.endswith("getitem_1")]
    assert picks and all(n.kind is OpKind.MOVE and n.spatial_at is None for n in picks)


class _Progression(nn.Module):
    """A conv, then its map indexed by an arithmetic progression (``how``), then a conv."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.first = nn.Conv2d(1, 4, 1)
        self.last = nn.Conv2d(2 if how == "channels" else 4, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.first(x)
        h, w = y.shape[2:]
        if self.how == "rows":
            y = y[:, :, torch.arange(0, h, 2)]
        elif self.how == "columns":
            y = y.index_select(3, torch.arange(1, w, 2))
        elif self.how == "list":
            y = y[..., [1, 4, 7], :]
        else:  # channels
            y = y[:, torch.arange(0, 4, 2)]
        return self.last(y)


@pytest.mark.parametrize("how", ["rows", "columns", "list", "channels"])
def test_an_arithmetic_progression_is_the_slice_it_equals(how: str) -> None:
    """``x[:, :, torch.arange(0, h, 2)]``, ``index_select`` of ``arange(1, w, 2)`` and a list
    ``[1, 4, 7]`` read what ``x[:, :, ::2]``, ``x[..., 1::2]`` and ``x[..., 1:8:3, :]`` read:
    a slice node, its coverage autograd's (it was data movement, read whole)."""
    model = _Progression(how).eval()
    for p in model.parameters():
        nn.init.constant_(p, 0.1)
    shape = (1, 1, 12, 10)
    graph = load_graph(model, shape)
    assert [n.kind for n in graph.nodes].count(OpKind.SLICE) == 1, how
    assert graph.output.output_shape == tuple(model(torch.rand(shape)).shape)
    summary = stridescope.summary(model, input_shape=shape)
    counts = autograd_counts(model, *shape[2:])
    assert summary.input_coverage == pytest.approx(np.mean(counts > 0)), how
    assert summary.layers[-1].rf_size is not None


def test_a_progression_out_of_range_is_torchs_index_error() -> None:
    class Past(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, :, torch.arange(0, 20, 2)]

    with pytest.raises(IndexError):
        Past()(torch.rand(1, 1, 8, 8))
    with pytest.raises(StridescopeError, match="is out of bounds for dimension 2 with size 8"):
        load_graph(Past(), (1, 1, 8, 8))


class _Lookup(nn.Module):
    """A buffer and a parameter looked up at positions the forward computes (fewer than 32,
    and more), and the model's own pick of the first position after."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("table", torch.randn(50, 4))
        self.pos = nn.Parameter(torch.randn(50, 4))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        ids = x.argmax(-1)
        return self.table[ids], self.pos[ids], ids[0]


@pytest.mark.parametrize("rows", [3, 40])
def test_a_real_tensor_indexed_by_a_traced_one_is_one_node(rows: int) -> None:
    """torch's indexing reads an index of fewer than 32 items as a sequence before it hands
    the call on (its first item, then all of them, with a deprecation warning), unless a
    torch function mode is on (a first trace of the class, which may compute on its
    parameters): that traced a pick and an ``unbind`` of the index per lookup, in the table
    as ``getitem``, ``unbind``, ``unbind[1]``... rows, and printed torch's warning. Now one
    node per lookup, no warning, the parameter counted, at every trace."""
    for _ in range(2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            graph = load_graph(_Lookup(), (rows, 5))
        assert not [w for w in caught if "non-tuple sequence" in str(w.message)]
        named = [(n.name, n.output_shape) for n in graph.nodes[1:5]]
        assert named == [
            ("argmax", (rows,)),
            ("getitem", (rows, 4)),
            ("getitem_1", (rows, 4)),
            ("getitem_2", ()),
        ]
        assert graph.params == 200 and graph.nodes[3].params == 200
    silenced = [w for w in warnings.filters if w[1] is not None and "non-tuple" in w[1].pattern]
    assert silenced == []  # (only while a trace runs)
