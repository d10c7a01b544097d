"""Spellings of known ops that were left uncounted or traced wrong: numpy's ``keepdims``, the
function form of ``split_with_sizes``, ``x.data`` and ``x.set_()``, class losses
(``cross_entropy``, ``nll_loss``, ``kl_div``), a complex scalar (``1j * x``), ``trapezoid``,
``torch.cat`` with a legacy empty tensor (a key/value cache's start), and
``torch._check_tensor_all`` on a traced condition."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stridescope.frontends import load_graph
from stridescope.ir import Graph

Fn = Callable[..., torch.Tensor]


class Head(nn.Module):
    """A conv, then what the case computes on its (1, 8, 6, 6) output."""

    def __init__(self, then: Fn) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.then = then

    def forward(self, x: torch.Tensor) -> Any:
        return self.then(self.conv(x))


def _traced(then: Fn, shape: tuple[int, ...] = (1, 3, 6, 6)) -> tuple[Graph, Any]:
    model = Head(then).eval()
    with torch.no_grad():
        real = model(torch.randn(shape))
    graph = load_graph(model, shape)
    assert not graph.uncounted, [(n.op, n.name) for n in graph.uncounted]
    first = real if isinstance(real, torch.Tensor) else real[0]
    assert graph.nodes[-1].output_shape == tuple(first.shape)
    return graph, real


def _released(y: torch.Tensor) -> torch.Tensor:
    a = y[:, :4].contiguous()
    out = torch.cat([a * 2, y.data[:, 4:]], 1)
    a.set_()  # frees a's storage (a reversible block's backward recomputes it)
    return out


def _cache(y: torch.Tensor) -> torch.Tensor:
    keys = torch.tensor([])  # a cache's start: torch skips the empty 1-D operand
    keys = torch.cat([keys, y.flatten(2).transpose(1, 2)], dim=-2)
    return keys * keys.shape[2]


def _checked(y: torch.Tensor) -> torch.Tensor:
    torch._check_tensor_all((y.abs() >= 0).all(), lambda: "negative magnitude")
    torch._check_tensor_all_with(ValueError, y.isfinite(), lambda: "not finite")
    return y + 1


CASES: dict[str, Fn] = {
    "sum keepdims": lambda y: y.sum((2, 3), keepdims=True),
    "max keepdims": lambda y: torch.max(y, -1, keepdims=True)[0],
    "amin keepdims": lambda y: y.amin(1, keepdims=True),
    "torch.split_with_sizes": lambda y: torch.split_with_sizes(y, [3, 5], 1)[1],
    "data and set_": _released,
    "cat of an empty cache": _cache,
    "check_tensor_all": _checked,
    "trapezoid": lambda y: torch.trapezoid(y, dim=-1),
    "trapz with x": lambda y: torch.trapz(y, torch.linspace(0, 1, 6)),
}


@pytest.mark.parametrize("case", CASES)
def test_spellings_trace_with_torch_shapes_and_nothing_uncounted(case: str) -> None:
    _traced(CASES[case])


def test_numpy_keepdims_is_torch_keepdim() -> None:
    graph, _ = _traced(CASES["sum keepdims"])
    assert graph.nodes[-1].output_shape == (1, 8, 1, 1)


def test_a_complex_scalar_makes_a_complex_tensor() -> None:
    graph, real = _traced(lambda y: torch.view_as_real((1j * y).exp()))
    assert real.shape == (1, 8, 6, 6, 2)
    products = [n for n in graph.nodes if n.op == "mul"]
    assert products and products[0].macs == 8 * 6 * 6


LOSSES: dict[str, Fn] = {
    "cross_entropy": lambda y: F.cross_entropy(y, torch.zeros(1, 6, 6, dtype=torch.long)),
    "cross_entropy none": lambda y: F.cross_entropy(
        y, torch.zeros(1, 6, 6, dtype=torch.long), reduction="none"
    ),
    "cross_entropy soft": lambda y: nn.CrossEntropyLoss(label_smoothing=0.1)(y, y.softmax(1)),
    "nll_loss": lambda y: F.nll_loss(y.log_softmax(1), torch.zeros(1, 6, 6, dtype=torch.long)),
    "kl_div": lambda y: nn.KLDivLoss(reduction="batchmean")(y.log_softmax(1), y.softmax(1)),
}


@pytest.mark.parametrize("case", LOSSES)
def test_class_losses_are_counted(case: str) -> None:
    graph, real = _traced(LOSSES[case])
    loss = [n for n in graph.nodes if n.op.startswith("F.")]
    assert loss and loss[0].macs == 8 * 6 * 6  # one MAC per score
    if case == "cross_entropy none":
        assert real.shape == graph.nodes[-1].output_shape == (1, 6, 6)
    if case == "cross_entropy soft":  # the target traced too: not work the forward discards
        assert not any("discards" in note for note in graph.notes)
