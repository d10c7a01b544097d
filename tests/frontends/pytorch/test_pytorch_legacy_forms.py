"""Forms of code written for torch before 0.4, still in public model code: wrapping the
input in ``torch.autograd.Variable`` (``Variable(x)``, ``Variable(x.data)``, with
``requires_grad``) failed the trace ("Variable data has to be a tensor, but got
ShapeProxy"), and the legacy constructor ``x.new(*sizes)`` / ``x.new(size)`` /
``x.new(data)`` (a buffer made like the input, then filled) was uncounted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch.autograd import Variable

from tests.frontends.pytorch.applied import AfterConv, traced_and_real

FORMS: dict[str, Callable[[Any], Any]] = {
    "Variable(x)": lambda y: Variable(y) + 1,
    "Variable(x.data)": lambda y: Variable(y.data) * 2,
    "Variable(x, requires_grad=True)": lambda y: Variable(y, requires_grad=True).relu(),
    "x.new(*sizes).zero_()": lambda y: y + y.new(*y.shape).zero_(),
    "x.new(size).fill_(1)": lambda y: y * y.new(y.size()).fill_(1),
    "x.data.new(size)": lambda y: y + y.data.new(y.size()).zero_(),
    "x.new(data)": lambda y: y * y.new([1.0, 2.0, 3.0, 4.0])[None, :, None, None],
}


@pytest.mark.parametrize("label", sorted(FORMS))
def test_a_legacy_form_traces_counted(label: str) -> None:
    graph, real = traced_and_real(AfterConv(FORMS[label]), (2, 3, 4, 4))
    assert graph.output.output_shape == tuple(real.shape), label
    assert not graph.uncounted, label
    assert graph.params == 16


def test_variable_is_torch_s_own_after_the_trace() -> None:
    traced_and_real(AfterConv(FORMS["Variable(x)"]), (1, 3, 4, 4))
    assert "__new__" not in Variable.__dict__
    made = Variable(torch.ones(2), requires_grad=True)
    assert type(made) is torch.Tensor and made.requires_grad
