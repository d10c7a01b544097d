"""Integer indexing, ``unsqueeze``, ``unbind`` and ``roll`` on traced tensors: the shapes the
tracer works out make the graph the meta run makes, node for node, on random arguments, and
the errors torch raises stay torch's."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from stridescope.errors import StridescopeError
from stridescope.frontends.pytorch import meta_fallback
from stridescope.frontends.pytorch.handlers import movement
from stridescope.frontends.pytorch.trace import trace_torch


class Call(nn.Module):
    """``forward(x)``: ``how(x)``, each output summed with the first (so all are used)."""

    def __init__(self, how: Any) -> None:
        super().__init__()
        self.how = how

    def forward(self, x: torch.Tensor) -> Any:
        return self.how(x)


def outcome(model: nn.Module, shape: tuple[int, ...], shapes: bool) -> tuple[Any, int]:
    """The traced nodes and notes, or the error's message, with the shape rules on or off;
    and how many calls took a meta run."""
    runs = []
    with pytest.MonkeyPatch.context() as m:
        m.setattr(movement, "ON", shapes)
        real = meta_fallback.meta_call
        m.setattr(meta_fallback, "meta_call", lambda *a: runs.append(a) or real(*a))
        m.setattr(movement, "meta_call", lambda *a: runs.append(a) or real(*a))
        try:
            g = trace_torch(model, shape)
        except StridescopeError as e:
            return str(e), len(runs)
    return (g.nodes, g.notes), len(runs)


def same(how: Any, shape: tuple[int, ...]) -> tuple[Any, int]:
    """Checks the graph (or error) with shape rules equals the meta run's; returns it, with
    the number of meta runs the shape rules left."""
    model = Call(how)
    mine, runs = outcome(model, shape, True)
    assert mine == outcome(model, shape, False)[0]
    return mine, runs


def _item(rank: int) -> st.SearchStrategy[Any]:
    bound = st.integers(-6, 6) | st.none()
    parts = st.one_of(
        st.integers(-6, 6),
        st.builds(slice, bound, bound, st.sampled_from([None, 1, 2, 3, -1, 0])),
        st.none(),
        st.just(Ellipsis),
        st.just(True),
    )
    return st.lists(parts, max_size=rank + 2).map(tuple) | parts


@settings(max_examples=300, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=2, max_size=4), data=st.data())
def test_indexing_makes_the_meta_runs_graph(shape: list[int], data: st.DataObject) -> None:
    item = data.draw(_item(len(shape)))
    found, runs = same(lambda x: x[item], tuple(shape))
    try:
        expected = tuple(torch.zeros(shape)[item].shape)
    except (IndexError, ValueError):
        assert isinstance(found, str)  # torch's error, from the meta run
        return
    assert found[0][-1].output_shape == expected
    parts = item if isinstance(item, tuple) else (item,)
    steps = [p.step for p in parts if isinstance(p, slice)]
    if True not in parts and all(s is None or s > 0 for s in steps):
        assert runs == 0  # worked out without a meta run


@settings(max_examples=200, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=2, max_size=4),
    dim=st.integers(-6, 6),
    shifts=st.integers(-3, 3) | st.lists(st.integers(-3, 3), max_size=3),
    dims=st.none() | st.integers(-5, 5) | st.lists(st.integers(-5, 5), max_size=3),
)
def test_unsqueeze_unbind_and_roll_make_the_meta_runs_graph(
    shape: list[int], dim: int, shifts: Any, dims: Any
) -> None:
    s = tuple(shape)
    _, runs = same(lambda x: x.unsqueeze(dim), s)
    assert (runs == 0) == (-len(s) - 1 <= dim <= len(s))  # else torch's error, from meta
    same(lambda x: torch.unsqueeze(x, dim=dim), s)
    _, runs = same(lambda x: x.unbind(dim), s)
    assert (runs == 0) == (-len(s) <= dim < len(s))
    same(lambda x: torch.unbind(x), s)
    same(lambda x: x.roll(shifts, dims) if dims is not None else x.roll(shifts), s)


def test_several_outputs_are_named_as_the_meta_run_names_them() -> None:
    (nodes, _), runs = same(lambda x: [v + 1 for v in x.unbind(1)], (2, 3, 4))
    assert runs == 0
    assert [n.name for n in nodes[1:4]] == ["unbind", "unbind[1]", "unbind[2]"]
    assert [n.op for n in nodes[1:4]] == ["unbind"] * 3


def test_an_index_out_of_range_is_torchs_error() -> None:
    message, _ = same(lambda x: x[:, 7], (2, 3, 4))
    assert "index 7 is out of bounds" in message


def test_a_tensor_index_goes_to_the_meta_run() -> None:
    # (a traced index on a spatial axis: one of constants there is a pick of positions,
    # handlers/position_picks.py; one on the channels keeps the positions and a progression
    # is a slice, handlers/selection.py)
    (nodes, _), runs = same(lambda x: x[:, :, x[0, 0, :2].long()], (2, 3, 4))
    assert runs == 1  # (the index's alone: looking for a pick compares no traced key)
    assert (nodes[-1].op, nodes[-1].output_shape) == ("__getitem__", (2, 3, 2))


class Attend(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.mha = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x: torch.Tensor) -> Any:
        return self.mha(x, x, x, need_weights=False)[0]


def test_what_a_forward_asks_of_a_dense_tensor_needs_no_meta_run() -> None:
    (nodes, _), runs = outcome(Attend(), (2, 5, 8), True)
    assert runs == 0  # nn.MultiheadAttention asks query.is_nested on every call
    assert nodes[-1].output_shape == (2, 5, 8)
