"""Forward hooks and pre-hooks run during a trace as ``nn.Module.__call__`` runs them: a
pre-hook's arguments and a hook's output are what the trace follows, and what a hook collects
is what the forward reads back (as Hugging Face ``transformers`` collects hidden states). They
were skipped before 2026-12-03: a hook that crops an output left no node, and a forward that
read collected states back failed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import nn

from stridescope.errors import StridescopeError
from stridescope.frontends.pytorch.trace import trace_torch


def _net() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1))


def _ops(net: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(n.op, n.output_shape) for n in trace_torch(net, (2, 3, 8, 8)).nodes[1:]]


def test_a_forward_hook_replaces_the_output_the_trace_follows() -> None:
    net = _net()
    net[0].register_forward_hook(lambda module, args, out: out[:, :4].repeat(1, 2, 1, 1))
    assert [op for op, _ in _ops(net)] == ["Conv2d", "getitem", "repeat", "ReLU", "Conv2d"]
    with torch.no_grad():
        assert net(torch.rand(2, 3, 8, 8)).shape == _ops(net)[-1][1]


def test_pre_hooks_with_and_without_keywords_replace_the_arguments() -> None:
    net = _net()
    net[2].register_forward_pre_hook(lambda module, args: args[0][..., :4, :4])
    net[1].register_forward_pre_hook(
        lambda module, args, kw: ((args[0] * 2,), kw), with_kwargs=True
    )
    assert _ops(net) == [
        ("Conv2d", (2, 8, 8, 8)),
        ("mul", (2, 8, 8, 8)),
        ("ReLU", (2, 8, 8, 8)),
        ("getitem", (2, 8, 4, 4)),
        ("Conv2d", (2, 4, 4, 4)),
    ]


class Collects(nn.Module):
    """Collects its layers' outputs with hooks and returns their sum (as a model that reads
    back hidden states its hooks collected)."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Conv2d(3, 3, 1) for _ in range(3)])
        self.seen: list[Any] = []
        for layer in self.layers:
            layer.register_forward_hook(lambda module, args, out: self.seen.append(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.clear()
        for layer in self.layers:
            x = layer(x)
        collected, self.seen = self.seen, []
        return torch.stack(collected, 1).sum(1)


def test_what_hooks_collect_is_what_the_forward_reads_back() -> None:
    graph = trace_torch(Collects(), (2, 3, 8, 8))
    stack = next(n for n in graph.nodes if n.op == "stack")
    assert len(stack.parents) == 3 and graph.output.output_shape == (2, 3, 8, 8)


def test_a_hook_reading_tensor_values_is_named_in_the_one_line_error() -> None:
    net = _net()
    net[0].register_forward_hook(lambda module, args, out: print(out.mean().item()))
    with pytest.raises(
        StridescopeError, match=r"reads tensor values.*forward hook of Conv2d; it came after "
    ):
        trace_torch(net, (2, 3, 8, 8))


@pytest.fixture
def global_hook() -> Iterator[list[str]]:
    called: list[str] = []
    hook = nn.modules.module.register_module_forward_hook(
        lambda module, args, out: called.append(type(module).__name__)
    )
    yield called
    hook.remove()


def test_global_forward_hooks_run_for_every_module_call(global_hook: list[str]) -> None:
    _ops(_net())
    assert global_hook == ["Conv2d", "ReLU", "Conv2d", "Sequential"]
