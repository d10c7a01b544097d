"""Ops torch has no meta kernel for (``F.ctc_loss``, ``torch.histogram``, ``torch.geqrf``,
``torch.cov``...) in a forward. Each stopped the whole summary with torch's
``NotImplementedError: ... attempted to run this operator with Meta tensors``; the op is now
an uncounted node whose shapes come from two runs on real tensors standing in for the traced
ones (zeros, then counting values), or, since the thirty-sixth session, counted where a
handler reads it (``ctc_loss``, ``histogram``, ``cov``: ``handlers/bindings.py``, its shapes
from the same runs). An op whose output is sized by the values (``bincount``) is refused, in
one line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import stridescope
from stridescope.errors import StridescopeError
from stridescope.frontends import load_graph
from stridescope.frontends.pytorch import meta_calls
from tests.frontends.pytorch.applied import AfterConv, traced_and_real


class Speech(nn.Module):
    """Frame features to log-probabilities, then the CTC loss against fixed targets."""

    def __init__(self, reduction: str) -> None:
        super().__init__()
        self.head = nn.Linear(8, 5)
        self.reduction = reduction

    def forward(self, x: Any) -> Any:
        log_probs = self.head(x).log_softmax(-1).transpose(0, 1)  # (T, N, C)
        targets = torch.tensor([[1, 2, 3], [2, 2, 4]])
        lengths = torch.full((2,), x.shape[1], dtype=torch.long)
        target_lengths = torch.full((2,), 3, dtype=torch.long)
        return F.ctc_loss(log_probs, targets, lengths, target_lengths, reduction=self.reduction)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_ctc_loss_is_counted_with_torch_s_shape(reduction: str) -> None:
    """Every score (10 steps x 2 samples x 5 classes) and target (2 x 3) read once, one value
    per sample, then the reduction."""
    model = Speech(reduction)
    graph = load_graph(model, (2, 10, 8))
    loss = graph.nodes[-1]
    assert loss.op == "F.ctc_loss" and loss.counted
    assert loss.output_shape == tuple(model(torch.randn(2, 10, 8)).shape)
    assert graph.params == 45
    per_sample = next(n for n in graph.nodes if n.op == "F.ctc_loss")
    assert per_sample.output_shape == (2,)
    assert per_sample.macs == 10 * 2 * 5 + 2 * 3 + 2 + 2  # (and the two lengths' elements)
    summary = stridescope.summary(model, input_shape=(2, 10, 8))
    assert summary.totals.uncounted == ()


OPS: dict[str, Callable[[Any], Any]] = {
    "geqrf": lambda y: torch.geqrf(y.flatten(2))[1],  # (a named tuple: a, tau)
    "lstsq": lambda y: torch.linalg.lstsq(y, y).solution,
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_an_op_without_a_meta_kernel_traces(name: str) -> None:
    graph, real = traced_and_real(AfterConv(OPS[name]), (2, 3, 4, 4))
    assert graph.nodes[-1].output_shape == tuple(real.shape)
    assert [n.op for n in graph.uncounted] and all(not n.counted for n in graph.uncounted)
    assert graph.params == 16


def test_an_output_sized_by_the_values_is_still_refused() -> None:
    model = AfterConv(lambda y: torch.bincount((y > 0).long().flatten()))
    with pytest.raises(
        StridescopeError, match="bincount returns as many counts as the largest"
    ) as error:
        load_graph(model, (2, 3, 4, 4))
    assert "\n" not in str(error.value)


def test_stand_ins_larger_than_the_limit_are_not_made(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(meta_calls, "_STAND_IN_LIMIT", 10)
    with pytest.raises(StridescopeError, match="Meta tensors"):
        load_graph(AfterConv(OPS["lstsq"]), (2, 3, 4, 4))


def test_a_stand_in_run_is_not_remembered_for_other_values() -> None:
    """``repeat_interleave`` with a real tensor of repeats sizes its output by their values
    (no meta kernel for that form): each call is run again, not taken from the memo."""

    def model(repeats: list[int]) -> AfterConv:
        return AfterConv(lambda y: torch.repeat_interleave(y, torch.tensor(repeats), dim=1))

    assert load_graph(model([1, 1, 1, 1]), (1, 3, 4, 4)).nodes[-1].output_shape == (1, 4, 4, 4)
    assert load_graph(model([2, 1, 0, 3]), (1, 3, 4, 4)).nodes[-1].output_shape == (1, 6, 4, 4)
