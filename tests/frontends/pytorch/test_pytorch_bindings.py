"""torch's own bindings of an operation are read as its functional form is: ``torch.batch_norm``,
``torch.layer_norm``, ``torch.dropout``, ``torch.t``, ``torch.abs_``, ``x.prelu(w)``,
``torch.permute_copy`` (each
bound to the ATen operation of its name, whose schema orders the arguments: ``torch.batch_norm``
puts the weight before the running statistics, ``F.batch_norm`` after them) were uncounted;
and keyword arguments spelled as torch spells them (``torch.permute(x, dims=...)``,
``torch.bmm(input=a, mat2=b)``, ``torch.swapaxes(x, axis0=1, axis1=3)``) failed where a
handler names them otherwise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

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


@pytest.mark.parametrize("label", list(TWINS))
def test_a_binding_is_read_as_its_twin(label: str) -> None:
    binding, twin = TWINS[label]
    shape = (1, 3, 8, 8)
    model = Apply(binding).eval()
    with torch.no_grad():
        expected = tuple(model(torch.rand(shape)).shape)
    graph = trace_torch(model, shape)
    reference = trace_torch(Apply(twin).eval(), shape)
    assert not graph.uncounted, label
    assert graph.output.output_shape == expected, label
    assert (graph.macs, graph.params) == (reference.macs, reference.params), label


def test_a_loss_by_number_stays_uncounted_not_misread() -> None:
    """``torch.kl_div``'s reduction is a number where ``F.kl_div`` takes a name: left to a
    meta run (uncounted, torch's shape), not read as the other reduction."""
    model = Apply(lambda m, x: torch.kl_div(x.log_softmax(1), x.softmax(1))).eval()
    with torch.no_grad():
        expected = tuple(model(torch.rand(1, 3, 8, 8)).shape)
    graph = trace_torch(model, (1, 3, 8, 8))
    assert graph.output.output_shape == expected
    assert [n.op for n in graph.uncounted] == ["kl_div"]
