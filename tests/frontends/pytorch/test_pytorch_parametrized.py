"""Layers parametrized by ``torch.nn.utils.parametrize``: the weight is computed from the
parametrization's own parameters on every forward. Where that computation takes a product (an
orthogonal map's matrix product or exponential, spectral norm's ``mv``), the product is a
node of its own with its MACs, as ``FlopCounterMode`` counts it; it was left out (the layer's
handler read the layer, not the computation: 27,648 MACs where a forward takes 29,376). The
parameters stay with the layer's node, its name stays its path, so ``lint`` and ``fix``
still name the layer."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrizations as P
from torch.utils.flop_counter import FlopCounterMode

import stridescope
from stridescope.frontends.pytorch import trace_torch
from stridescope.ir import OpKind


def _flop_macs(model: nn.Module, shape: tuple[int, ...]) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.randn(shape))
    return counter.get_total_flops() // 2


def _products(model: nn.Module, shape: tuple[int, ...]) -> int:
    kinds = (OpKind.CONV, OpKind.LINEAR, OpKind.MATMUL)
    return sum(n.macs for n in trace_torch(model, shape).nodes if n.kind in kinds)


_LAYERS: dict[str, Callable[[], nn.Module]] = {
    "orthogonal (matrix_exp)": lambda: P.orthogonal(nn.Linear(12, 12)),
    "orthogonal (cayley)": lambda: P.orthogonal(nn.Linear(12, 12), orthogonal_map="cayley"),
    "orthogonal (householder)": lambda: P.orthogonal(
        nn.Linear(12, 12), orthogonal_map="householder"
    ),
    "weight norm": lambda: P.weight_norm(nn.Conv2d(8, 4, 3, stride=2)),
}


@pytest.mark.parametrize("make", _LAYERS.values(), ids=_LAYERS.keys())
def test_the_products_a_parametrization_takes_are_counted_as_a_forward_takes_them(
    make: Callable[[], nn.Module],
) -> None:
    layer = make().eval()
    shape = (2, 8, 12, 12)
    graph = trace_torch(layer, shape)
    assert _products(layer, shape) == _flop_macs(layer, shape)
    assert graph.params == sum(p.numel() for p in layer.parameters())
    assert not graph.uncounted
    main = graph.nodes[-1]  # the layer: its parameters, its name (the model's root: its class)
    assert main.name == type(layer).__name__ and main.params == graph.params


def test_spectral_norm_counts_its_power_step_and_keeps_the_layers_name() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), P.spectral_norm(nn.Conv2d(8, 8, 1, stride=2))
    ).eval()
    graph = trace_torch(model, (1, 3, 16, 16))
    products = {n.name: n.macs for n in graph.nodes if n.kind is OpKind.MATMUL}
    assert products == {"1.parametrizations.weight.0.mv": 64, "1.parametrizations.weight.0.vdot": 8}
    layer = next(n for n in graph.nodes if n.name == "1")
    assert layer.kind is OpKind.CONV and layer.params == 8 * 8 + 8
    assert graph.params == sum(p.numel() for p in model.parameters())
    findings = stridescope.lint(model, (1, 3, 16, 16)).findings
    assert "1" in {f.layer for f in findings}  # the 1x1 stride-2 conv, named by its path


def test_a_training_forward_of_spectral_norm_leaves_its_vectors_as_they_were() -> None:
    """In training mode spectral norm updates its ``u`` and ``v`` in place on every forward;
    the trace computes on meta tensors and puts nothing back."""
    layer = P.spectral_norm(nn.Conv2d(3, 4, 3)).train()
    kept = {k: v.clone() for k, v in layer.state_dict().items()}
    graph = trace_torch(layer, (1, 3, 8, 8))
    assert graph.params == sum(p.numel() for p in layer.parameters())
    assert all(torch.equal(v, layer.state_dict()[k]) for k, v in kept.items())
