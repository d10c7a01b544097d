"""Writes into tensors, one test per pattern (hand-written, not copied from a model): an
in-place op on a view writes into the tensor it views (``canvas[..., :h, :w].copy_(x)``,
``t.narrow(...).add_(y)``, a piece of ``split`` / ``unbind`` zeroed, ``t.view(...).mul_(s)``,
chains of views); a traced tensor written into one the forward made with ``torch.zeros``
makes that tensor traced from then on; the ops that write by index (``index_put``,
``scatter_add``, ``masked_scatter``...) are counted with torch's shapes; ops whose output
size is data are refused in one line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

import stridescope
from stridescope.errors import StridescopeError
from stridescope.frontends.pytorch import trace_torch
from tests.frontends.pytorch.applied import Apply
from tests.frontends.reach import ancestors

X = (1, 3, 8, 8)


class Canvas(nn.Module):
    """``write(x)`` returns a tensor the input was written into; a 1x1 conv reads it."""

    def __init__(self, write: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.write = write
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.write(x))


def _pad_copy(x: torch.Tensor) -> torch.Tensor:
    out = x.new_zeros(1, 3, 10, 10)
    out[:, :, 1:9, 1:9].copy_(x)
    return out


def _real_narrow(x: torch.Tensor) -> torch.Tensor:
    out = torch.zeros(1, 3, 8, 12)
    out.narrow(3, 2, 8).copy_(x)
    return out


def _real_setitem(x: torch.Tensor) -> torch.Tensor:
    out = torch.zeros(1, 3, 10, 10)
    out[:, :, :8, :8] = x
    return out


def _real_add_view(x: torch.Tensor) -> torch.Tensor:
    out = torch.ones(1, 3, 8, 8)
    out[:, :2].add_(x[:, :2])
    return out


def _real_then_view(x: torch.Tensor) -> torch.Tensor:
    out = torch.zeros(1, 3, 10, 10)
    out[:, :, :8, :8] = x
    return out[:, :, 1:]  # a view made after the write, on the real tensor


def _real_view_write_then_view(x: torch.Tensor) -> torch.Tensor:
    out = torch.zeros(1, 3, 10, 10)
    out[:, :, :8, :8].copy_(x)  # a write into a view of the real tensor
    return out[:, :, 1:9, 1:9]  # then a view of it made after that write


def _real_then_alone(x: torch.Tensor) -> torch.Tensor:
    out = torch.zeros(1, 3, 10, 10)
    out[:, :, :8, :8] = x
    return torch.relu(out) * 2.0  # calls that take the tensor and no traced one


def _real_view_then_method(x: torch.Tensor) -> torch.Tensor:
    out = torch.zeros(1, 3, 10, 10)
    out[:, :, 1:9, 1:9].copy_(x)
    return out.mT.softmax(-1)  # a property and a method of it alone


def _view_mul(x: torch.Tensor) -> torch.Tensor:
    out = x.clone()
    out.view(1, 3, 64).mul_(2.0)
    return out


def _split_piece(x: torch.Tensor) -> torch.Tensor:
    out = x.new_ones(1, 3, 8, 8)
    _, rest = out.split([1, 2], dim=1)
    rest.copy_(x[:, 1:])
    return out


def _unbind_piece(x: torch.Tensor) -> torch.Tensor:
    out = x.new_zeros(3, 1, 8, 8)
    out.unbind(0)[1].copy_(x[:, 0])
    return out.permute(1, 0, 2, 3)


def _chain(x: torch.Tensor) -> torch.Tensor:
    out = x.new_zeros(2, 3, 8, 8)
    out[0][:, :4].copy_(x[0, :, :4])  # a view of a view
    return out[1:] + out[:1]


def _select_iadd(x: torch.Tensor) -> torch.Tensor:
    out = x.new_zeros(1, 3, 8, 8)
    row = out.select(2, 3)
    row += x[:, :, 3]
    return out


WRITES = {
    "copy_ into a slice": _pad_copy,
    "real tensor, narrow copy_": _real_narrow,
    "real tensor, setitem": _real_setitem,
    "real tensor, view add_": _real_add_view,
    "real tensor, view after": _real_then_view,
    "real tensor, view after a view write": _real_view_write_then_view,
    "real tensor, then its own ops": _real_then_alone,
    "real tensor, view write, then its own ops": _real_view_then_method,
    "view mul_": _view_mul,
    "split piece": _split_piece,
    "unbind piece": _unbind_piece,
    "view of a view": _chain,
    "select +=": _select_iadd,
}


@pytest.mark.parametrize("write", list(WRITES.values()), ids=list(WRITES))
def test_a_write_through_a_view_reaches_what_reads_the_tensor(write: Any) -> None:
    model = Canvas(write).eval()
    graph = trace_torch(model, X)
    conv = next(n for n in graph.nodes if n.name == "conv")
    assert 0 in ancestors(graph, conv.id)  # the input's values reach the conv
    assert conv.input_shape == tuple(write(torch.zeros(X)).shape)
    summary = stridescope.summary(model, X)
    assert summary.totals.uncounted == ()
    assert summary.input_coverage is not None and summary.input_coverage > 0


def test_the_write_back_is_a_setitem_of_the_viewed_slice() -> None:
    graph = trace_torch(Canvas(_pad_copy), X)
    ops = [(n.op, n.output_shape) for n in graph.nodes[1:]]
    assert ops[:4] == [
        ("new_zeros", (1, 3, 10, 10)),
        ("getitem", (1, 3, 8, 8)),
        ("copy", (1, 3, 8, 8)),
        ("setitem", (1, 3, 10, 10)),
    ]
    copied, written = graph.nodes[3], graph.nodes[4]
    assert copied.parents == (0,)  # copy_ replaces every value: made of the source alone
    assert written.parents == (3,)  # into a fresh canvas: a pad of the slice written
    assert written.window is not None and written.window.padding == ((1, 1), (1, 1))


def test_an_in_place_op_on_a_copy_writes_nothing_back() -> None:
    def gather(x: torch.Tensor) -> torch.Tensor:
        out = x.new_zeros(1, 3, 8, 8)
        out[:, [0, 2]].copy_(x[:, :2])  # a list index: a copy, torch writes nothing back
        return out

    graph = trace_torch(Canvas(gather), X)
    conv = next(n for n in graph.nodes if n.name == "conv")
    assert 0 not in ancestors(graph, conv.id)


class Cache(nn.Module):
    """Writes the input into a buffer it keeps (as a key/value cache does), then reads it."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.register_buffer("cache", torch.zeros(1, 3, 8, 16))
        self.fail = fail

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.cache[..., 8:] = x
        if self.fail:
            raise ValueError("stop")
        return self.cache.sum(-1)


def test_a_tensor_written_into_is_a_plain_tensor_again_after_the_trace() -> None:
    model = Cache()
    graph = trace_torch(model, X)
    assert graph.nodes[-1].op == "sum" and 0 in ancestors(graph, graph.nodes[-1].id)
    assert type(model.cache) is torch.Tensor and not model.cache.any()  # values untouched
    failing = Cache(fail=True)
    with pytest.raises(StridescopeError, match="stop"):
        trace_torch(failing, X)
    assert type(failing.cache) is torch.Tensor


_ONE = torch.tensor([1])
# torch's out-of-place writes by index: (call, MACs: one per element they add)
INDEXED: dict[str, tuple[Callable[[torch.Tensor], Any], int]] = {
    "index_put": (lambda x: x.index_put((torch.tensor([0]),), x[0] * 2), 0),
    "index_put accumulate": (lambda x: x.index_put((torch.tensor([0]),), x[0], True), 192),
    "index_put_": (lambda x: x.clone().index_put_((torch.tensor([0]),), x[0]), 0),
    "index_copy": (lambda x: x.index_copy(1, torch.tensor([2]), x[:, :1]), 0),
    "index_fill": (lambda x: x.index_fill(1, torch.tensor([0]), 0.0), 0),
    "index_add": (lambda x: x.index_add(1, torch.tensor([0]), x[:, :1]), 64),
    "scatter": (lambda x: x.scatter(1, torch.zeros(1, 1, 8, 8, dtype=torch.long), x[:, :1]), 0),
    "scatter_add": (
        lambda x: x.scatter_add(3, torch.zeros(1, 3, 8, 2, dtype=torch.long), x[..., :2]),
        48,
    ),
    "scatter_reduce": (
        lambda x: torch.scatter_reduce(x, 2, torch.ones(1, 3, 1, 8, dtype=torch.long), x, "amax"),
        192,
    ),
    "masked_scatter": (lambda x: x.masked_scatter(x > 0, x * 2), 0),
    "put_": (lambda x: x.clone().put_(torch.tensor([0, 5]), x[0, 0, 0, :2]), 0),
    # into a tensor the forward made, not from the input: the traced values still land
    "index_add into zeros": (lambda x: torch.zeros(1, 3, 8, 8).index_add(1, _ONE, x[:, :1]), 64),
    "scatter into ones": (
        lambda x: torch.ones(1, 3, 8, 8).scatter(1, torch.zeros(1, 1, 8, 8, dtype=torch.long), x),
        0,
    ),
    "index_put into zeros": (lambda x: torch.zeros(2, 3, 8, 8).index_put((_ONE,), x[0]), 0),
    # the functional forms of a write through a view (torch.export's, functionalization's)
    "slice_scatter": (lambda x: torch.slice_scatter(x, x[:, :, :4] * 2, 2, 0, 4), 0),
    "select_scatter": (lambda x: torch.select_scatter(x, x[:, :, 0], 2, 0), 0),
    "diagonal_scatter": (lambda x: x.diagonal_scatter(x.diagonal(0, 2, 3), 0, 2, 3), 0),
}


@pytest.mark.parametrize("case", list(INDEXED.values()), ids=list(INDEXED))
def test_writes_by_index_are_counted_with_torch_shapes(case: Any) -> None:
    call, macs = case
    graph = trace_torch(Apply(call), X)
    last = graph.nodes[-1]
    assert last.counted
    assert last.output_shape == tuple(call(torch.randn(X)).shape)
    assert last.macs == macs
    assert 0 in ancestors(graph, last.id)


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda x: x[x > 0], "indexing by a boolean mask"),
        (lambda x: torch.where(x > 0)[0], "torch.where(condition)"),
        (lambda x: x.nonzero(), "nonzero"),
    ],
    ids=["mask index", "where one argument", "nonzero"],
)
def test_outputs_sized_by_data_are_taken_at_their_largest(call: Any, named: str) -> None:
    summary = stridescope.summary(Apply(call), X)
    assert any(named in n and "taken at their largest" in n for n in summary.notes)
