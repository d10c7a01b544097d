"""Parameters a forward uses where autograd cannot see them are counted: ``p.detach()``,
``p.data``, a computation under ``torch.no_grad()`` or on frozen parameters. The trace finds
a tensor's parameters through its ``grad_fn`` only where the parameter mode is off; the
exact run (a forward that reads a parameter's value) now keeps the mode, on real kernels, and
a plain tensor that is a parameter's own memory counts that parameter. A parameter whose value
the forward reads is counted there, where it is first used."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from stridescope.frontends.pytorch import trace_torch

SHAPE = (2, 8)
Use = Callable[[nn.Parameter], torch.Tensor]


def _no_grad_double(w: nn.Parameter) -> torch.Tensor:
    with torch.no_grad():
        return w * 2


USES: dict[str, Use] = {
    "detach": lambda w: w.detach(),
    "data": lambda w: w.data,
    "no_grad": _no_grad_double,
    "detach_then_t": lambda w: w.detach().t().t(),
}


class _Head(nn.Module):
    """``x @ use(w)``; with ``reads``, the forward first branches on a parameter's value
    (which sends the trace down the exact run)."""

    def __init__(self, use: Use, reads: bool) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(8, 5))
        self.use, self.reads = use, reads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.reads and float(self.w.abs().max()) > 0:
            x = x * 2
        return x @ self.use(self.w)


@pytest.mark.parametrize("reads", [False, True], ids=["fast run", "exact run"])
@pytest.mark.parametrize("use", list(USES), ids=list(USES))
def test_a_parameter_used_out_of_autograd_sight_is_counted(use: str, reads: bool) -> None:
    graph = trace_torch(_Head(USES[use], reads), SHAPE)
    assert graph.params == 8 * 5 and not graph.notes
    # (counted where first used: the value read, in the exact run)
    assert graph.output.macs == 2 * 8 * 5 and graph.output.params == (0 if reads else 8 * 5)


@pytest.mark.parametrize("use", list(USES), ids=list(USES))
def test_frozen_parameters_in_the_exact_run_are_counted(use: str) -> None:
    module = _Head(USES[use], reads=True).requires_grad_(False)
    assert trace_torch(module, SHAPE).params == 8 * 5


class _Switch(nn.Module):
    """One class, two behaviours: the first instance computes nothing on its parameter
    alone (so the class is traced without the parameter mode from then on), the second
    multiplies by its parameter's ``.detach()``."""

    def __init__(self, detached: bool) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(8, 8))
        self.detached = detached

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ (self.w.detach() if self.detached else self.w)


def test_a_detached_parameter_in_a_class_traced_without_the_mode_is_counted() -> None:
    module = nn.Sequential(_Switch(False), _Switch(True), _Switch(True))
    graph = trace_torch(module, SHAPE)
    assert graph.params == 3 * 64 and not graph.notes


@pytest.mark.parametrize("frozen", [False, True], ids=["trained", "frozen"])
def test_a_parameter_read_for_its_value_is_counted_where_it_is_read(frozen: bool) -> None:
    """A gate that decides a branch is used by the forward (torch counts it): a node of
    its own where its value is read, no parents, no MACs. A parameter the forward never
    touches is still only named in the note."""

    class Gate(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.on = nn.Parameter(torch.ones(1))
            self.w = nn.Parameter(torch.randn(8, 5))
            self.spare = nn.Parameter(torch.zeros(3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x @ self.w.detach() if float(self.on.abs()) > 0 else x

    graph = trace_torch(Gate().requires_grad_(not frozen), SHAPE)
    (read,) = [n for n in graph.nodes if n.name == "float"]
    assert read.params == 1 and read.macs == 0 and read.parents == ()
    assert graph.params == 41 and graph.output.params == 40
    assert len(graph.notes) == 1 and graph.notes[0].endswith(": spare")


def test_questions_about_a_parameter_are_not_reads_of_its_values() -> None:
    """``w.data_ptr()``, ``w.element_size()``: the tensor itself, not its values; the
    parameter is counted at the op that uses it."""

    class Asks(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.on = nn.Parameter(torch.ones(1))
            self.w = nn.Parameter(torch.randn(8, 5))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            assert self.w.data_ptr() != 0 and self.w.element_size() == 4
            return x @ self.w if bool(self.on > 0) else x

    graph = trace_torch(Asks(), SHAPE)
    assert [n.name for n in graph.nodes if not n.parents] == ["input", "bool"]  # (on read)
    assert graph.params == 41 and graph.output.params == 40


class _Halved(nn.Module):
    """One class, two behaviours: the first instance multiplies by its weight (nothing
    computed on parameters alone, so the class then runs without the parameter mode), a
    later one computes its weight under ``torch.no_grad()`` (new memory, no autograd)."""

    def __init__(self, no_grad: bool) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(8, 8))
        self.no_grad = no_grad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.no_grad:
            return x @ self.w
        with torch.no_grad():
            w = self.w / 2
        return x @ w


def test_a_class_learned_without_the_mode_that_computes_under_no_grad_is_traced_again() -> None:
    module = nn.Sequential(_Halved(False), _Halved(True), _Halved(True))
    for _ in range(2):  # (the second trace: the class runs under the mode from the start)
        graph = trace_torch(module, SHAPE)
        assert graph.params == 3 * 64 and not graph.notes
        assert [n.params for n in graph.nodes[1:]] == [64, 64, 64]
