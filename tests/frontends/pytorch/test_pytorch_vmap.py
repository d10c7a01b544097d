"""``torch.vmap`` over a traced tensor: until 2026-12-05 the trace stopped with torch's
"Got in_dim=0 for an input but the input is of type ShapeProxy"; now the function runs once
per element and the results are stacked, as ``vmap`` is defined."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from torch import nn
from torch.func import functional_call, stack_module_state
from torch.utils.flop_counter import FlopCounterMode

from stridescope.errors import StridescopeError
from stridescope.frontends import load_graph


class _Heads(nn.Module):
    """A head vmapped over the batch (made in ``__init__``), a pairwise score vmapped over
    both arguments with one of them not mapped, and a tuple output stacked on axis 1."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(8, 4)
        self.mapped = torch.vmap(self.head)

    def forward(self, x: torch.Tensor) -> Any:
        scores = torch.func.vmap(lambda a, b: a @ b, in_dims=(0, None))(x, x[0])
        pair = torch.vmap(lambda a: (a.sum(), a * 2), out_dims=(0, 1))(x)
        return self.mapped(x), scores, pair[1]


def test_vmap_runs_the_function_per_element() -> None:
    model = _Heads()
    graph = load_graph(model, (3, 8))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        real = model(torch.randn(3, 8))
    heads = [n for n in graph.nodes if n.op == "Linear"]
    assert [n.macs for n in heads] == [32] * 3 and graph.params == 36
    assert 2 * sum(n.macs for n in heads) == counter.get_total_flops()  # (it counts no dot)
    outputs = [n for n in graph.nodes if n.op == "stack"]
    assert [tuple(r.shape) for r in real] == [(3, 4), (3,), (8, 3)]  # (pair[1] on axis 1)
    assert {n.output_shape for n in outputs} >= {tuple(r.shape) for r in real}
    assert graph.uncounted == ()


class _Ensemble(nn.Module):
    """An ensemble of five small MLPs run at once: ``stack_module_state`` and
    ``functional_call`` under ``vmap`` (an RL critic's ensemble)."""

    def __init__(self) -> None:
        super().__init__()
        members = [nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 1)) for _ in range(5)]
        params, buffers = stack_module_state(members)  # type: ignore[arg-type]
        self.params = nn.ParameterDict(
            {k.replace(".", "_"): nn.Parameter(v) for k, v in params.items()}
        )
        self.names = list(params)
        self.base = [copy.deepcopy(members[0]).to("meta")]  # (not a sub-module: no weights)
        self.buffers_ = buffers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        params = {k: self.params[k.replace(".", "_")] for k in self.names}

        def one(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], x: torch.Tensor) -> Any:
            return functional_call(self.base[0], (p, b), (x,))

        return torch.vmap(one, in_dims=(0, 0, None))(params, self.buffers_, x)


def test_an_ensemble_of_stacked_parameters() -> None:
    """Five members on one batch: five times one member's products, every stacked parameter
    counted once, torch's shape."""
    model = _Ensemble()
    graph = load_graph(model, (4, 6))
    with torch.no_grad():
        real = model(torch.randn(4, 6))
    assert graph.nodes[-1].output_shape == tuple(real.shape) == (5, 4, 1)
    assert graph.macs >= 5 * 4 * (6 * 16 + 16)
    assert graph.params == sum(p.numel() for p in model.parameters()) == 5 * (6 * 16 + 16 + 16 + 1)


def test_too_many_elements_are_refused_in_one_line() -> None:
    class Wide(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.vmap(torch.sin)(x)

    with pytest.raises(StridescopeError, match=r"torch\.vmap over 100 elements") as error:
        load_graph(Wide(), (100, 3))
    assert "\n" not in str(error.value)


def test_vmap_of_real_tensors_is_torch_s_own() -> None:
    """A vmap the forward runs on tensors it made (no traced one) is torch's."""

    class Made(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            table = torch.vmap(torch.outer)(torch.ones(2, 3), torch.ones(2, 3))
            return x + table.sum()

    graph = load_graph(Made(), (1, 3))
    assert graph.nodes[-1].output_shape == (1, 3)
