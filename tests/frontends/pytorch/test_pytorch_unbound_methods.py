"""Tensor methods called unbound on a traced tensor (``torch.Tensor.view(x, 1, -1)``,
``map(torch.Tensor.contiguous, xs)``, ``torch.Tensor.__getitem__(x, i)``). Each stopped the
trace with torch's ``TypeError: descriptor 'view' for 'torch._C.TensorBase' objects doesn't
apply to a 'ShapeProxy' object``; the graph is now the one the bound call (``x.view(1, -1)``)
gives, and ``torch.Tensor`` is left as it was."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

import stridescope
from stridescope.errors import StridescopeError
from stridescope.frontends import load_graph
from stridescope.frontends.pytorch import proxy, unbound_methods
from tests.frontends.pytorch.applied import AfterConv, traced_and_real

T = torch.Tensor
# (unbound, bound): the same op written both ways
PAIRS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "contiguous": (lambda x: T.contiguous(x), lambda x: x.contiguous()),
    "view": (lambda x: T.view(x, 1, -1), lambda x: x.view(1, -1)),
    "permute": (lambda x: T.permute(x, 0, 2, 3, 1), lambda x: x.permute(0, 2, 3, 1)),
    "getitem": (lambda x: T.__getitem__(x, (slice(None), 0)), lambda x: x[:, 0]),
    "add dunder": (lambda x: T.__add__(x, 1), lambda x: x + 1),
    "matmul": (lambda x: T.matmul(x, x), lambda x: x.matmul(x)),
    "mean": (lambda x: T.mean(x, dim=(2, 3)), lambda x: x.mean(dim=(2, 3))),
    "in place": (lambda x: T.sigmoid_(x.clone()), lambda x: x.clone().sigmoid_()),
    "to": (lambda x: T.to(x, torch.float64), lambda x: x.to(torch.float64)),
    "mapped": (
        lambda x: torch.cat(list(map(T.contiguous, x.chunk(2, 1))), 1),
        lambda x: torch.cat([c.contiguous() for c in x.chunk(2, 1)], 1),
    ),
    "unfold": (lambda x: T.unfold(x, 2, 2, 2), lambda x: x.unfold(2, 2, 2)),
}


def _nodes(model: nn.Module) -> list[tuple[Any, ...]]:
    graph = load_graph(model, (1, 3, 8, 8))
    return [(n.name, n.kind, n.op, n.output_shape, n.params, n.macs) for n in graph.nodes]


def _untouched() -> None:
    assert not proxy.ROUTED
    assert not {"view", "matmul", "contiguous", "__getitem__"} & set(torch.Tensor.__dict__)
    assert torch.Tensor.view is torch._C.TensorBase.view


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_unbound_method_traces_as_the_bound_call(name: str) -> None:
    unbound, bound = PAIRS[name]
    graph, real = traced_and_real(AfterConv(unbound), (1, 3, 8, 8))
    nodes = _nodes(AfterConv(unbound))
    assert nodes == _nodes(AfterConv(bound))
    assert graph.nodes[-1].output_shape == tuple(real.shape)
    _untouched()


def test_a_later_trace_of_the_class_routes_the_method_from_the_start() -> None:
    class Once(AfterConv):
        pass

    model = Once(PAIRS["view"][0])
    assert unbound_methods.needed(Once) == frozenset()
    first = _nodes(model)
    assert unbound_methods.needed(Once) == {"view"}
    assert _nodes(model) == first
    _untouched()


def test_real_tensors_go_through_torch_while_routed() -> None:
    class Mixed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = nn.Parameter(torch.ones(4, 1, 1))

        def forward(self, x: Any) -> Any:
            flat = T.view(self.scale, -1)  # a real tensor: torch's method
            return T.mul(x, T.view(flat, 1, 4, 1, 1))

    graph = load_graph(Mixed(), (1, 4, 8, 8))
    assert graph.params == 4
    assert graph.nodes[-1].output_shape == (1, 4, 8, 8)
    _untouched()


def test_summary_of_unbound_calls() -> None:
    summary = stridescope.summary(AfterConv(PAIRS["matmul"][0]), input_shape=(1, 3, 8, 8))
    assert summary.totals.params == 16
    assert summary.totals.macs == 1 * 3 * 4 * 64 + 1 * 4 * 8 * 8 * 8
    _untouched()


def test_a_property_called_unbound_is_refused_in_one_line() -> None:
    model = AfterConv(lambda x: x.view(T.shape.__get__(x)[0], -1))
    with pytest.raises(StridescopeError, match="descriptor 'shape'") as error:
        load_graph(model, (1, 3, 8, 8))
    assert "\n" not in str(error.value)
    _untouched()


def test_a_method_bound_before_the_trace_is_refused_in_one_line() -> None:
    contiguous = T.contiguous  # torch's, taken before any trace

    with pytest.raises(StridescopeError, match="descriptor 'contiguous'"):
        load_graph(AfterConv(lambda x: contiguous(x)), (1, 3, 8, 8))
    _untouched()


def test_other_threads_keep_torch_methods_during_a_routed_trace() -> None:
    seen: list[Any] = []
    ready, done = threading.Event(), threading.Event()

    def other() -> None:
        ready.wait(10)
        seen.append(T.view(torch.arange(6), 2, 3).shape)
        done.set()

    class Slow(AfterConv):
        def forward(self, x: Any) -> Any:
            y = T.view(self.conv(x), 1, -1)
            ready.set()
            done.wait(10)
            return y

    thread = threading.Thread(target=other)
    thread.start()
    graph = load_graph(Slow(lambda x: x), (1, 3, 8, 8))
    thread.join()
    assert seen == [torch.Size([2, 3])]
    assert graph.nodes[-1].output_shape == (1, 256)
    _untouched()
