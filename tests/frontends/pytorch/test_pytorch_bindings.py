"""torch's own bindings of an operation are read as its functional form is: ``torch.batch_norm``,
``torch.layer_norm``, ``torch.dropout``, ``torch.t``, ``torch.abs_``, ``x.prelu(w)``,
``torch.permute_copy`` (each
bound to the ATen operation of its name, whose schema orders the arguments: ``torch.batch_norm``
puts the weight before the running statistics, ``F.batch_norm`` after them) were uncounted;
and keyword arguments spelled as torch spells them (``torch.permute(x, dims=...)``,
``torch.bmm(input=a, mat2=b)``, ``torch.swapaxes(x, axis0=1, axis1=3)``) failed where a
handler names them otherwise.

The bindings of ``F``'s losses (``torch.kl_div``, ``torch._C._nn.mse_loss``...: the reduction
torch's enum, 0 none, 1 mean, 2 sum) and norms (``torch.frobenius_norm``, ``norm_except_dim``,
``_weight_norm``) were uncounted too, as were ``torch.gradient``, ``cov``, ``corrcoef``,
``frexp``, ``resize_``/``resize_as_`` and ``F.ctc_loss``: each is read as what it stands for
(``handlers/bindings.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stridescope.errors import StridescopeError
from stridescope.frontends.pytorch import trace_torch

Fn = Callable[[nn.Module, torch.Tensor], Any]


class Apply(nn.Module):
    """A conv (8 channels), then ``fn(self, x)``; a norm's weights to hand to ``fn``."""

    def __init__(self, fn: Fn) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 1)
        self.bn = nn.BatchNorm2d(8)
        self.fn = fn

    def forward(self, x: torch.Tensor) -> Any:
        return self.fn(self, self.conv(x))


# each binding beside the call it binds, which the tracer already reads: (binding, twin)
TWINS: dict[str, tuple[Fn, Fn]] = {
    "torch.batch_norm": (
        lambda m, x: torch.batch_norm(
            x, m.bn.weight, m.bn.bias, m.bn.running_mean, m.bn.running_var, False, 0.1, 1e-5, False
        ),
        lambda m, x: F.batch_norm(x, m.bn.running_mean, m.bn.running_var, m.bn.weight, m.bn.bias),
    ),
    "torch.layer_norm": (
        lambda m, x: torch.layer_norm(x, (8, 8), None, None, 1e-5, False),
        lambda m, x: F.layer_norm(x, (8, 8)),
    ),
    "torch.group_norm": (
        lambda m, x: torch.group_norm(x, 2, m.bn.weight, m.bn.bias, 1e-5, False),
        lambda m, x: F.group_norm(x, 2, m.bn.weight, m.bn.bias),
    ),
    "torch.instance_norm": (
        lambda m, x: torch.instance_norm(x, None, None, None, None, True, 0.1, 1e-5, False),
        lambda m, x: F.instance_norm(x),
    ),
    "torch.rms_norm": (lambda m, x: torch.rms_norm(x, (8,)), lambda m, x: F.rms_norm(x, (8,))),
    "torch.dropout": (lambda m, x: torch.dropout(x, 0.5, False), lambda m, x: F.dropout(x)),
    "torch.t": (lambda m, x: torch.t(x[0, 0]), lambda m, x: x[0, 0].t()),
    "torch.unflatten": (
        lambda m, x: torch.unflatten(x, 1, (2, 4)),
        lambda m, x: x.unflatten(1, (2, 4)),
    ),
    "torch.abs_": (lambda m, x: torch.abs_(x * 1), lambda m, x: (x * 1).abs_()),
    "torch.zero_": (lambda m, x: torch.zero_(x * 1) + x, lambda m, x: (x * 1).zero_() + x),
    "Tensor.prelu": (
        lambda m, x: x.prelu(m.bn.weight),
        lambda m, x: F.prelu(x, m.bn.weight),
    ),
    "torch.adaptive_max_pool1d": (
        lambda m, x: torch.adaptive_max_pool1d(x.flatten(2), 4)[0],
        lambda m, x: F.adaptive_max_pool1d(x.flatten(2), 4),
    ),
    # the copying twins of views (``<view>_copy``): the view's node
    "torch.permute_copy": (
        lambda m, x: torch.permute_copy(x, (0, 2, 3, 1)),
        lambda m, x: x.permute(0, 2, 3, 1),
    ),
    "torch.view_copy": (lambda m, x: torch.view_copy(x, (1, 8, 64)), lambda m, x: x.view(1, 8, 64)),
    "torch.select_copy": (lambda m, x: torch.select_copy(x, 2, 0), lambda m, x: x.select(2, 0)),
    "torch.permute(dims=)": (
        lambda m, x: torch.permute(x, dims=(0, 2, 3, 1)),
        lambda m, x: x.permute(0, 2, 3, 1),
    ),
    "Tensor.permute(dims=)": (
        lambda m, x: x.permute(dims=(0, 2, 3, 1)),
        lambda m, x: x.permute(0, 2, 3, 1),
    ),
    "torch.bmm(input=, mat2=)": (
        lambda m, x: torch.bmm(input=x.flatten(2), mat2=x.flatten(2).transpose(1, 2)),
        lambda m, x: x.flatten(2) @ x.flatten(2).transpose(1, 2),
    ),
    "torch.swapaxes(axis0=, axis1=)": (
        lambda m, x: torch.swapaxes(x, axis0=1, axis1=3),
        lambda m, x: x.transpose(1, 3),
    ),
}

_NN = torch._C._nn
_LABELS = torch.zeros(1, 8, 8, dtype=torch.long)


def _soft(x: torch.Tensor) -> torch.Tensor:
    return x.softmax(1)


# the losses' and norms' bindings: the reduction by number, beside F's by name
TWINS |= {
    "torch.kl_div, 0": (
        lambda m, x: torch.kl_div(x, _soft(x), 0),
        lambda m, x: F.kl_div(x, _soft(x), reduction="none"),
    ),
    "torch.kl_div, 2, log_target": (
        lambda m, x: torch.kl_div(x, x, 2, log_target=True),
        lambda m, x: F.kl_div(x, x, reduction="sum", log_target=True),
    ),
    "torch.binary_cross_entropy_with_logits": (
        lambda m, x: torch.binary_cross_entropy_with_logits(
            x, _soft(x), None, m.bn.weight[:, None, None], 1
        ),
        lambda m, x: F.binary_cross_entropy_with_logits(
            x, _soft(x), pos_weight=m.bn.weight[:, None, None]
        ),
    ),
    "torch.cosine_embedding_loss": (
        lambda m, x: torch.cosine_embedding_loss(x[0, 0], x[0, 0], torch.ones(8), 0.5, 0),
        lambda m, x: F.cosine_embedding_loss(
            x[0, 0], x[0, 0], torch.ones(8), 0.5, reduction="none"
        ),
    ),
    "torch.hinge_embedding_loss": (
        lambda m, x: torch.hinge_embedding_loss(x, torch.ones_like(x), 1.0, 2),
        lambda m, x: F.hinge_embedding_loss(x, torch.ones_like(x), reduction="sum"),
    ),
    "torch.margin_ranking_loss": (
        lambda m, x: torch.margin_ranking_loss(x, x.flip(1), torch.ones(8, 1, 1), 0.0, 0),
        lambda m, x: F.margin_ranking_loss(x, x.flip(1), torch.ones(8, 1, 1), reduction="none"),
    ),
    "torch.poisson_nll_loss": (
        lambda m, x: torch.poisson_nll_loss(x, x, True, False, 1e-8, 1),
        lambda m, x: F.poisson_nll_loss(x, x),
    ),
    "torch.triplet_margin_loss": (
        lambda m, x: torch.triplet_margin_loss(x[0, 0], x[0, 0], x[0, 0], 1.0, 2.0, 1e-6, False, 0),
        lambda m, x: F.triplet_margin_loss(x[0, 0], x[0, 0], x[0, 0], reduction="none"),
    ),
    "_C._nn.mse_loss": (
        lambda m, x: _NN.mse_loss(x, x, 2),
        lambda m, x: F.mse_loss(x, x, reduction="sum"),
    ),
    "_C._nn.huber_loss": (
        lambda m, x: _NN.huber_loss(x, x, 0, 0.5),
        lambda m, x: F.huber_loss(x, x, reduction="none", delta=0.5),
    ),
    "_C._nn.cross_entropy_loss": (
        lambda m, x: _NN.cross_entropy_loss(x, _LABELS, None, 0, -100, 0.1),
        lambda m, x: F.cross_entropy(x, _LABELS, reduction="none", label_smoothing=0.1),
    ),
    "_C._nn.nll_loss_nd": (
        lambda m, x: _NN.nll_loss_nd(x, _LABELS, m.bn.weight, 1, -100),
        lambda m, x: F.nll_loss(x, _LABELS, m.bn.weight),
    ),
    "_C._nn.multi_margin_loss": (
        lambda m, x: _NN.multi_margin_loss(
            x.flatten(1), torch.zeros(1, dtype=torch.long), 1, 1.0, None, 0
        ),
        lambda m, x: F.multi_margin_loss(
            x.flatten(1), torch.zeros(1, dtype=torch.long), reduction="none"
        ),
    ),
    "torch.frobenius_norm": (
        lambda m, x: torch.frobenius_norm(x, (2, 3), True),
        lambda m, x: torch.norm(x, "fro", (2, 3), True),
    ),
    "torch.norm_except_dim": (
        lambda m, x: torch.norm_except_dim(x, 2, 1),
        lambda m, x: torch.norm(x, 2, (0, 2, 3), True),
    ),
    "torch._weight_norm": (
        lambda m, x: torch._weight_norm(x, m.bn.weight[None, :, None, None], 1),
        lambda m, x: x * (m.bn.weight[None, :, None, None] / torch.norm(x, 2, (0, 2, 3), True)),
    ),
    "torch.frexp": (
        lambda m, x: torch.frexp(x).mantissa * torch.frexp(x)[1],
        lambda m, x: x.abs() * x.sign(),
    ),
    "Tensor.resize_": (lambda m, x: (x * 1).resize_(1, 512), lambda m, x: (x * 1).reshape(1, 512)),
    "Tensor.resize_as_": (
        lambda m, x: (x * 1).resize_as_(x.flatten(2)),
        lambda m, x: (x * 1).reshape(1, 8, 64),
    ),
    "Tensor.resize_as": (
        lambda m, x: (x * 1).resize_as(x.flatten(2)),
        lambda m, x: (x * 1).reshape(1, 8, 64),
    ),
    "torch.lu_solve": (
        lambda m, x: torch.lu_solve(x, *torch.linalg.lu_factor(x)),
        lambda m, x: torch.linalg.lu_solve(*torch.linalg.lu_factor(x), x),
    ),
    # functions torch composes of counted ones: the composition as torch defines it
    "torch.gradient": (
        lambda m, x: torch.gradient(x, spacing=0.5, dim=3)[0],
        lambda m, x: torch.cat(
            [
                (x[..., 1:2] - x[..., :1]) / 0.5,
                (x[..., 2:] - x[..., :-2]) / 1.0,
                (x[..., -1:] - x[..., -2:-1]) / 0.5,
            ],
            3,
        ),
    ),
    "torch.cov": (
        lambda m, x: torch.cov(x.flatten(1)),
        lambda m, x: (lambda c: c @ c.t() / 63)(x.flatten(1) - x.flatten(1).mean(1, True)),
    ),
}


def _traced(call: Fn, shape: tuple[int, ...] = (1, 3, 8, 8)) -> tuple[Any, tuple[int, ...]]:
    """The graph of ``Apply(call)`` and the shape torch's own forward gives."""
    model = Apply(call).eval()
    with torch.no_grad():
        expected = tuple(model(torch.rand(shape)).shape)
    return trace_torch(model, shape), expected


@pytest.mark.parametrize("label", list(TWINS))
def test_a_binding_is_read_as_its_twin(label: str) -> None:
    binding, twin = TWINS[label]
    shape = (1, 3, 8, 8)
    graph, expected = _traced(binding, shape)
    reference = trace_torch(Apply(twin).eval(), shape)
    assert not graph.uncounted, label
    assert graph.output.output_shape == expected, label
    assert (graph.macs, graph.params) == (reference.macs, reference.params), label


def test_gradient_edges_of_order_two_and_corrcoef_match_torch() -> None:
    """The three-point edges of ``edge_order=2`` and every axis at once, and ``corrcoef``:
    torch's shapes, counted, with the products of their definitions."""
    calls = {
        "gradient": lambda m, x: torch.stack(torch.gradient(x, dim=(1, 2, 3), edge_order=2)),
        "corrcoef": lambda m, x: torch.corrcoef(x[0].flatten(1)),
    }
    for label, call in calls.items():
        graph, expected = _traced(call)
        assert not graph.uncounted, label
        assert graph.output.output_shape == expected, label
    # corrcoef's one product: the (8, 64) @ (64, 8) of the centred rows, beside the conv
    conv = 8 * 3 * 64
    assert graph.macs - conv >= 8 * 64 * 8


def test_ctc_loss_reads_every_score_once_per_sample() -> None:
    """``F.ctc_loss`` on (time, batch, classes) scores: one value per sample (axis 1), every
    element of the scores and the targets read once, then the mean."""

    def ctc(m: nn.Module, x: torch.Tensor) -> Any:
        scores = x.flatten(2).permute(2, 0, 1).log_softmax(2)  # (64, 1, 8)
        targets = torch.ones(1, 5, dtype=torch.long)
        return F.ctc_loss(scores, targets, (64,), (5,), reduction="none")

    graph = trace_torch(Apply(ctc).eval(), (1, 3, 8, 8))
    assert not graph.uncounted
    assert graph.output.output_shape == (1,)
    assert graph.output.macs == 64 * 8 + 5


def test_an_unknown_reduction_number_is_left_to_torch() -> None:
    """A reduction number torch has no name for is not guessed at: the call is left to a
    meta run (uncounted, the shape torch gives)."""
    graph, expected = _traced(lambda m, x: torch.kl_div(x, x, 7))
    assert graph.output.output_shape == expected
    assert [n.op for n in graph.uncounted] == ["kl_div"]


def test_histograms_vander_and_index_products_are_counted() -> None:
    """``histogram`` and ``histogramdd`` read each element once (their counts and edges of
    torch's shapes), ``vander`` one MAC per output element, ``cartesian_prod`` and
    ``combinations`` move data."""
    calls: dict[str, tuple[Fn, int]] = {
        "histogram": (lambda m, x: torch.histogram(x, 5)[1], 8 * 64),
        "histogramdd": (lambda m, x: torch.histogramdd(x.reshape(-1, 2), [3, 4])[0], 8 * 64),
        "vander": (lambda m, x: torch.vander(x[0, 0, 0], 5), 8 * 5),
        "cartesian_prod": (lambda m, x: torch.cartesian_prod(x[0, 0, 0], x[0, 1, 0]), 0),
        "combinations": (lambda m, x: torch.combinations(x[0, 0, 0], 3), 0),
    }
    conv = 8 * 3 * 64
    for label, (call, macs) in calls.items():
        graph, expected = _traced(call)
        assert not graph.uncounted, label
        assert graph.output.output_shape == expected, label
        assert graph.macs - conv == macs, label


def test_bincount_says_its_size_depends_on_the_values() -> None:
    """``bincount`` has no meta kernel and returns as many bins as the largest value: the
    one-line error of the other data-sized ops, not the meta kernel's."""
    model = Apply(lambda m, x: torch.bincount((x.flatten() > 0).long())).eval()
    with pytest.raises(StridescopeError, match="bincount returns as many counts as the largest"):
        trace_torch(model, (1, 3, 8, 8))
