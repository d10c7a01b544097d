"""Spellings of known ops that were left uncounted or traced wrong: numpy's ``keepdims``, the
function form of ``split_with_sizes``, ``x.data`` and ``x.set_()``, class losses
(``cross_entropy``, ``nll_loss``, ``kl_div``), a complex scalar (``1j * x``), ``trapezoid``,
``torch.cat`` with a legacy empty tensor (a key/value cache's start),
``torch._check_tensor_all`` on a traced condition, ``torch.istft``, a real tensor given a
traced one's shape (``window.expand_as(x)``: its values stay known); and a value read
refused in one line (``np.asarray(x)``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import stridescope
from stridescope.errors import StridescopeError
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


def _overlap_checked(y: torch.Tensor) -> torch.Tensor:
    window = torch.hann_window(6) ** 2  # a window's squares, checked before they divide
    weights = window.expand_as(y)
    if (weights.abs() < 1e-11).any():  # known values: a real check
        y = y * 2
    return y / (weights + 1.0)


def _resynthesised(y: torch.Tensor) -> torch.Tensor:
    spec = torch.stft(
        y.flatten(1), 16, hop_length=4, window=torch.hann_window(16), return_complex=True
    )
    return torch.istft(spec, 16, hop_length=4, window=torch.hann_window(16))


CASES: dict[str, Fn] = {
    "istft": _resynthesised,
    "torch.complex": lambda y: torch.view_as_real(torch.complex(y, y * 2)),
    "pad_sequence": lambda y: nn.utils.rnn.pad_sequence([y[0, :, 0], y[0, :4, 1]], True),
    "expand_as of a real window": _overlap_checked,
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


def test_istft_has_torchs_length_and_the_fft_cost() -> None:
    graph, real = _traced(_resynthesised)
    assert real.shape == (1, 288)
    (node,) = [n for n in graph.nodes if n.op == "istft"]
    assert node.macs == 73 * 16 * 4  # 73 frames of a 16-point FFT, log2(16) MACs a point


class ValueReads(nn.Module):
    def forward(self, x: torch.Tensor) -> Any:
        return torch.as_tensor(np.asarray(x, dtype=np.float64))


def test_reading_values_through_numpy_is_one_line() -> None:
    """(``pack_padded_sequence`` by traced lengths was refused here too until 2026-12-05; it
    is traced now: ``test_pytorch_packed_sequences.py``.)"""
    with pytest.raises(
        StridescopeError, match=re.escape("reads tensor values (np.asarray(tensor))")
    ):
        load_graph(ValueReads(), "2x20x8")


class _NumpyAxis(nn.Module):
    """A layer norm written with numpy's names (ImageGPT's, I-BERT's): ``axis=`` for ``dim``,
    ``keepdims=`` for ``keepdim``, which torch takes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(axis=-1, keepdim=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return (x - mean) / var.sqrt() + x.sum(axis=1, keepdim=True)


def test_numpy_s_axis_keyword_is_torch_s_dim() -> None:
    """``x.mean(axis=-1)`` was an uncounted node (the reduction read ``dim`` only); now the
    reduction it is, as with ``dim=``."""
    graph = load_graph(_NumpyAxis(), (1, 8, 32))
    assert graph.uncounted == ()
    reductions = [(n.name, n.output_shape) for n in graph.nodes if n.op in ("mean", "sum")]
    assert reductions == [("mean", (1, 8, 1)), ("mean_1", (1, 8, 1)), ("sum", (1, 1, 32))]


def test_linear_cross_entropy_is_its_reference() -> None:
    """``F.linear_cross_entropy`` (a fused output layer and loss; uncounted before): traced
    as ``F.linear`` then ``F.cross_entropy``, its weight and bias counted once."""

    class Head(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.randn(10, 16))
            self.b = nn.Parameter(torch.randn(10))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            target = torch.zeros(4, dtype=torch.long)
            return F.linear_cross_entropy(x, self.w, target, linear_bias=self.b, ignore_index=3)

    summary = stridescope.summary(Head(), (4, 16))
    assert summary.totals.uncounted == () and summary.totals.params == 170
    assert [(r.kind, r.macs) for r in summary.layers[:2]] == [
        ("linear", 4 * 16 * 10),
        ("reduce", 40),
    ]
    assert summary.layers[-1].output_shape == tuple(Head()(torch.randn(4, 16)).shape)
