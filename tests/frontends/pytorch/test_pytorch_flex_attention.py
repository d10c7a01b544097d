"""``flex_attention`` (``torch.nn.attention.flex_attention``) on traced tensors: torch runs it
through ``torch.compile``, and Dynamo cannot trace a traced tensor, so the summary stopped
("Unsupported hasattr call ... flex_attention"). While a trace runs it is read as
``F.scaled_dot_product_attention`` with the same scale and head grouping, where the forward
calls it by its name or the module's attribute (a reference kept elsewhere, in a dict made at
import, is torch's function still). And a forward that
first loads Dynamo while the trace runs (``causal_lower_right``, ``flex_attention``) left
Dynamo's table of builtins holding the trace's ``isinstance``: a later ``torch.compile``, or
a real ``flex_attention``, refused Python's own (``Dynamo does not know how to trace the
builtin builtins.isinstance``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention.flex_attention import flex_attention

from stridescope.frontends.pytorch import trace_torch

Attend = Callable[[Any, Any, Any], Any]


class _Heads(nn.Module):
    """A projection to queries, keys and values of 2 heads (or 2 and 1: ``grouped``)."""

    def __init__(self, attend: Attend, grouped: bool = False) -> None:
        super().__init__()
        self.attend, self.grouped = attend, grouped
        self.qkv = nn.Linear(16, 48)

    def forward(self, x: torch.Tensor) -> Any:
        q, k, v = (t.unflatten(-1, (2, 8)).transpose(1, 2) for t in self.qkv(x).chunk(3, -1))
        if self.grouped:
            k, v = k[:, :1], v[:, :1]
        return self.attend(q, k, v)


CASES: dict[str, tuple[Attend, Attend, bool]] = {
    "plain": (lambda q, k, v: flex_attention(q, k, v), F.scaled_dot_product_attention, False),
    "by the module's attribute": (
        lambda q, k, v: torch.nn.attention.flex_attention.flex_attention(q, k, v),
        F.scaled_dot_product_attention,
        False,
    ),
    "scale": (
        lambda q, k, v: flex_attention(q, k, v, scale=0.5),
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, scale=0.5),
        False,
    ),
    "grouped heads": (
        lambda q, k, v: flex_attention(q, k, v, enable_gqa=True),
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, enable_gqa=True),
        True,
    ),
    "a score_mod": (
        lambda q, k, v: flex_attention(q, k, v, score_mod=lambda s, b, h, i, j: s + (i - j)),
        F.scaled_dot_product_attention,
        False,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_flex_attention_is_read_as_sdpa(name: str) -> None:
    flex, twin, grouped = CASES[name]
    model = _Heads(flex, grouped)
    with torch.no_grad():
        expected = tuple(model(torch.randn(1, 10, 16)).shape)
    graph = trace_torch(model, (1, 10, 16))
    reference = trace_torch(_Heads(twin, grouped), (1, 10, 16))
    assert not graph.uncounted
    assert graph.output.output_shape == expected
    assert (graph.macs, graph.params) == (reference.macs, reference.params)


def test_the_log_sum_exp_is_returned_and_counted() -> None:
    model = _Heads(lambda q, k, v: flex_attention(q, k, v, return_lse=True)[1])
    graph = trace_torch(model, (1, 10, 16))
    plain = trace_torch(_Heads(lambda q, k, v: flex_attention(q, k, v)), (1, 10, 16))
    assert graph.output.output_shape == (1, 2, 10)
    assert graph.macs > plain.macs and not graph.uncounted


def test_dynamo_loaded_during_a_trace_still_compiles_after_it() -> None:
    """In a fresh interpreter (Dynamo not loaded): a summary whose forward loads it first,
    then ``torch.compile`` of code that calls ``isinstance``."""
    script = textwrap.dedent(
        """
        import sys, torch, stridescope
        assert "torch._dynamo.trace_rules" not in sys.modules
        class M(torch.nn.Module):
            def forward(self, x):
                from torch.nn.attention.bias import causal_lower_right
                mask = causal_lower_right(x.shape[-2], x.shape[-2])
                return torch.nn.functional.scaled_dot_product_attention(x, x, x, attn_mask=mask)
        stridescope.summary(M(), input_shape=(1, 2, 6, 8))
        assert "torch._dynamo.trace_rules" in sys.modules
        f = torch.compile(lambda t: t + 1 if isinstance(t, torch.Tensor) else t, backend="eager",
                          fullgraph=True)
        print(f(torch.ones(2)).tolist())
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-800:]
    assert done.stdout.strip() == "[2.0, 2.0]"
