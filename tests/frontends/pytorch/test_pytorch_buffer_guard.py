"""A summary leaves the model's buffers as they were: writes in place that no reading of the
forward's code sees (through a helper, ``getattr``, a loop over ``self.modules()``) ran on the
real buffers until 2026-12-06, so each summary moved a counter the model keeps."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from stridescope.frontends.pytorch import trace_torch
from stridescope.frontends.pytorch.buffer_guard import BufferGuard
from stridescope.frontends.pytorch.module_tree import module_tree

SHAPE = (1, 3, 8, 8)
COUNT = "count"  # (a buffer named by a value: no reading of the code sees which)


def _bump(t: torch.Tensor) -> None:
    t.add_(1)


def _by_helper(m: nn.Module) -> None:
    _bump(m.get_buffer("count"))


def _by_name(m: nn.Module) -> None:
    getattr(m, COUNT).mul_(2).add_(1)


def _every_module(m: nn.Module) -> None:
    for each in m.modules():
        if hasattr(each, "hits"):
            each.hits += 1


class _Writes(nn.Module):
    def __init__(self, write: Callable[[nn.Module], None]) -> None:
        super().__init__()
        self.write = write
        self.register_buffer("count", torch.arange(3.0))
        self.conv = nn.Conv2d(3, 4, 1)
        self.conv.register_buffer("hits", torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.write(self)
        return self.conv(x)


@pytest.mark.parametrize("write", [_by_helper, _by_name, _every_module])
def test_buffers_written_where_the_code_does_not_say_are_put_back(
    write: Callable[[nn.Module], None],
) -> None:
    model = _Writes(write)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for _ in range(3):  # (the first trace of the class, and those after)
        graph = trace_torch(model, SHAPE)
        assert graph.params == 16 and not graph.notes
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    model(torch.rand(SHAPE))  # (run for real, it writes them)
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


class _Quiet(nn.Module):
    """Writes its counter only once told to (after its class is known not to write)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("count", torch.zeros(()))
        self.conv = nn.Conv2d(3, 4, 1)
        self.loud = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.loud:
            getattr(self, COUNT).add_(1)
        return self.conv(x)


def test_a_class_whose_traces_write_nothing_is_not_copied_and_a_write_then_is_said() -> None:
    model = _Quiet()
    trace_torch(model, SHAPE)  # (the first trace: copied, nothing moved)
    assert BufferGuard(module_tree(model), _Quiet).copies is None
    model.loud = True
    graph = trace_torch(model, SHAPE)
    assert graph.notes == (
        "its forward wrote count in place while traced; their values may have changed",
    )
    assert BufferGuard(module_tree(model), _Quiet).copies is not None  # (copied again)
    before = model.count.clone()
    trace_torch(model, SHAPE)
    assert torch.equal(model.count, before)
