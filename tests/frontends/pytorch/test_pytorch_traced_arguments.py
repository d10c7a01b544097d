"""Tensors a forward computes and passes to an op as its weight, its edges or its values,
where the op's handler looked at its first argument only (found by ``test_pytorch_opinfo``):

- a norm or activation whose weight the forward computed (a conditional norm's scale, a
  per-sample PReLU slope): the scale's producer was reported as work the forward discards,
  and the graph lost its dependence;
- a conv, a linear layer or a norm applied to a learned tensor with a computed weight: the
  op was uncounted;
- ``diff`` with ``prepend``/``append`` (a learned edge): uncounted, or, given by position,
  not read and with a negative MAC count;
- ``stft`` with a computed window;
- integer tensors whose values set the output's size (``repeat_interleave``'s repeats,
  ``tensor_split``'s indices) and a pool's empty ``stride=()`` (the kernel, as torch reads
  it): refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import stridescope
from stridescope.frontends import load_graph
from stridescope.ir import Graph


class _Fn(nn.Module):
    """``fn(self, x)`` as a forward, with a linear layer ``lin`` (8 -> 8), a learned
    ``(1, 8)`` tensor ``edge`` and a learned ``(1, 8, 4, 4)`` map ``query``."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.fn = fn
        self.lin = nn.Linear(8, 8)
        self.edge = nn.Parameter(torch.randn(1, 8))
        self.query = nn.Parameter(torch.randn(1, 8, 4, 4))

    def forward(self, x: Any) -> Any:
        return self.fn(self, x)


def _scale(m: _Fn, x: Any) -> Any:
    """A per-channel scale computed from ``x`` (N, 8, H, W): (8,)."""
    return m.lin(x.mean((2, 3)))[0]


def _reaches(graph: Graph, start: int) -> bool:
    seen, stack = set(), [graph.output.id]
    while stack:
        if (i := stack.pop()) not in seen:
            seen.add(i)
            stack.extend(graph.nodes[i].parents)
    return start in seen


def _summary(fn: Callable[..., Any], shape: tuple[int, ...] = (1, 8, 4, 4)) -> Any:
    model = _Fn(fn).eval()
    summary = stridescope.summary(model, input_shape=shape)
    with torch.no_grad():
        out = model(torch.randn(shape))
    assert summary.layers[-1].output_shape == tuple(out.shape)
    return model, summary


CONDITIONAL = {
    "layer_norm": lambda m, x: F.layer_norm(x.permute(0, 2, 3, 1), (8,), _scale(m, x)),
    "group_norm": lambda m, x: F.group_norm(x, 2, _scale(m, x), m.edge[0]),
    "instance_norm": lambda m, x: F.instance_norm(x, weight=_scale(m, x), bias=m.edge[0]),
    "batch_norm": lambda m, x: F.batch_norm(
        x, torch.zeros(8), torch.ones(8), _scale(m, x), m.edge[0]
    ),
    "rms_norm": lambda m, x: F.rms_norm(x.permute(0, 2, 3, 1), (8,), _scale(m, x)),
    "prelu": lambda m, x: F.prelu(x, _scale(m, x)),
}


@pytest.mark.parametrize("name", sorted(CONDITIONAL))
def test_a_computed_norm_weight_is_read_not_discarded(name: str) -> None:
    model, summary = _summary(CONDITIONAL[name])
    assert not [n for n in summary.notes if "discards" in n]
    used = model.lin.weight.numel() + model.lin.bias.numel()
    if name in ("group_norm", "instance_norm", "batch_norm"):
        used += model.edge.numel()
    assert summary.totals.params == used
    graph = load_graph(_Fn(CONDITIONAL[name]).eval(), (1, 8, 4, 4))
    linear = next(n.id for n in graph.nodes if n.name == "lin")
    assert _reaches(graph, linear) and _reaches(graph, 0)


LEARNED_INPUT = {
    # a learned map convolved with kernels made from the input (a dynamic filter)
    "conv2d": lambda m, x: F.conv2d(m.query, x[0, :, :3, :3].reshape(8, 1, 3, 3), groups=8),
    "conv_transpose2d": lambda m, x: F.conv_transpose2d(
        m.query, x[0, :, :3, :3].reshape(8, 1, 3, 3), groups=8
    ),
    "linear": lambda m, x: F.linear(m.edge, x.mean((2, 3)).expand(2, 8)),
    # a learned query normalised by a scale made from the input
    "layer_norm": lambda m, x: F.layer_norm(m.edge, (8,), _scale(m, x)) + x.mean((2, 3)),
}


@pytest.mark.parametrize("name", sorted(LEARNED_INPUT))
def test_a_layer_on_a_learned_tensor_with_a_computed_weight_is_counted(name: str) -> None:
    model, summary = _summary(LEARNED_INPUT[name])
    assert [r.path for r in summary.layers if r.kind == "uncounted"] == []
    learned = model.query if "conv" in name else model.edge
    lin = 72 if name == "layer_norm" else 0
    assert summary.totals.params == learned.numel() + lin
    assert summary.totals.macs > 0


@pytest.mark.parametrize("by_position", [True, False])
def test_diff_reads_its_edges(by_position: bool) -> None:
    def fn(m: _Fn, x: Any) -> Any:
        tokens = x.mean((2, 3))  # (1, 8)
        if by_position:
            return torch.diff(tokens, 2, 0, m.edge, tokens)
        return tokens.diff(n=2, dim=0, prepend=m.edge, append=tokens)

    model, summary = _summary(fn)
    assert summary.totals.params == model.edge.numel()
    diff = next(r for r in summary.layers if r.path.startswith("diff"))
    assert diff.kind != "uncounted" and diff.output_shape == (1, 8)
    assert diff.macs == 1 * 8 * 2  # per output element and order


def test_diff_of_order_zero_ignores_its_edges_as_torch_does() -> None:
    _, summary = _summary(lambda m, x: torch.diff(x.mean((2, 3)), 0, 0, m.edge))
    assert summary.layers[-1].output_shape == (1, 8)


def test_stft_reads_a_computed_window() -> None:
    def fn(m: _Fn, x: Any) -> Any:
        window = torch.sigmoid(m.lin(x.mean((2, 3)))[0])  # 8 samples
        return torch.stft(x.flatten(1), 8, window=window, return_complex=True)

    graph = load_graph(_Fn(fn).eval(), (1, 8, 4, 4))
    assert _reaches(graph, next(n.id for n in graph.nodes if n.name == "lin"))


def test_integer_tensors_whose_values_are_the_output_size() -> None:
    class Repeats(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("repeats", torch.tensor([1, 2, 0, 3]))

        def forward(self, x: torch.Tensor) -> Any:
            a = x.repeat_interleave(self.repeats, dim=1)
            parts = torch.tensor_split(x, torch.tensor([1, 3]), dim=2)
            return a, parts[1], torch.repeat_interleave(x, torch.tensor([2, 1, 1, 0]), dim=1)

    model = Repeats()
    shapes = [tuple(o.shape) for o in model(torch.zeros(1, 4, 5, 5))]
    summary = stridescope.summary(model, input_shape=(1, 4, 5, 5))
    made = {r.path: r.output_shape for r in summary.layers}
    assert made["repeat_interleave"] == shapes[0] == (1, 6, 5, 5)
    assert made["tensor_split[1]"] == shapes[1] == (1, 4, 2, 5)
    assert made["repeat_interleave_1"] == shapes[2] == (1, 4, 5, 5)


@pytest.mark.parametrize("stride", [(), []])
def test_a_pool_with_an_empty_stride_strides_by_its_kernel(stride: Any) -> None:
    for pool in (nn.AvgPool2d(2, stride=stride), nn.MaxPool2d(2, stride=stride)):
        summary = stridescope.summary(pool, input_shape=(1, 3, 8, 8))
        assert summary.layers[0].output_shape == tuple(pool(torch.zeros(1, 3, 8, 8)).shape)
    functional = _Fn(lambda m, x: F.avg_pool2d(x, 2, stride=stride))
    assert stridescope.summary(functional, input_shape=(1, 8, 4, 4)).layers[-1].output_shape == (
        1,
        8,
        2,
        2,
    )


class _NormAct(nn.BatchNorm2d):
    """timm's ``BatchNormAct2d`` pattern: ``F.batch_norm`` on its own weights and running
    statistics in its forward; the layer called twice, its weight scaled by a parameter
    the forward computes from (``gain * weight``) and a learned map normalised by it."""

    def __init__(self) -> None:
        super().__init__(8)
        self.gain = nn.Parameter(torch.ones(8))
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stats = (self.running_mean, self.running_var)
        y = F.batch_norm(x, *stats, self.weight, self.bias, False, 0.1, self.eps)
        y = F.batch_norm(y, *stats, self.gain * self.weight, self.bias, False, 0.1, self.eps)
        return self.act(y)


def test_a_norm_handed_its_weights_counts_each_parameter_once() -> None:
    """A functional norm's handler counts the parameters among its arguments itself (the
    tracer skips its walk for what a handler left): each once, where first used, also one a
    weight was computed from; the running statistics (buffers) none."""
    model = _NormAct().eval()
    graph = load_graph(model, (1, 8, 4, 4))
    norms = [n for n in graph.nodes if n.op == "F.batch_norm"]
    assert [n.params for n in norms] == [16, 8]  # weight and bias, then gain
    assert graph.params == sum(p.numel() for p in model.parameters()) == 24
    assert not any("not used" in note for note in graph.notes)
