"""Coverage of models that turn a map into tokens: the input positions read are those the
map's layers read, wherever the walk starts. Where every later node reads only the tokens
(LeViT, XCiT: the last tensor of the input's rank is a token tensor of four axes, hundreds
of nodes on), the fraction walk starts at the map the tokens are made of
(``coverage_ranks.token_entry``); it gives the fraction the walk from the last such tensor
(the count map's) gives, and autograd's."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stridescope.analysis.coverage import coverage_fraction, coverage_map
from stridescope.analysis.coverage_ranks import token_entry
from stridescope.analysis.node_facts import node_facts
from stridescope.frontends.pytorch import trace_torch
from tests.autograd_reference import autograd_share

torch.set_num_threads(1)


class Tokens(nn.Module):
    """A 1x1 stride-2 stem (a quarter of the pixels), tokens, attention with heads as a
    four-axis tensor, a mean; ``around``: the stem's map also added to the result (a path
    that does not pass through the tokens)."""

    def __init__(self, around: bool) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 1, stride=2)
        self.qkv = nn.Linear(8, 24)
        self.around = around

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.stem(x)
        t = m.flatten(2).transpose(1, 2)  # (B, N, 8)
        q, k, v = self.qkv(t).reshape(1, -1, 3, 2, 4).permute(2, 0, 3, 1, 4)  # (B, 2, N, 4)
        a = (q @ k.transpose(-2, -1)).softmax(-1) @ v
        out = a.transpose(1, 2).reshape(1, -1, 8).mean(1)
        return out + m.mean((2, 3)) if self.around else out


@pytest.mark.parametrize("around", [False, True], ids=["through tokens", "a path around"])
def test_token_models_cover_what_their_stem_reads(around: bool) -> None:
    model, shape = Tokens(around).eval(), (1, 3, 12, 10)
    graph = trace_torch(model, shape)
    known = node_facts(graph).sizes
    stem = next(n.id for n in graph.nodes if n.name == "stem")
    last = max(i for i, s in enumerate(known) if s is not None and len(s) == 2)
    assert last > stem  # the heads' tensor (B, 2, N, 4): four axes, as a map has
    # the walk starts at the stem only where every path to the output passes the tokens
    assert token_entry(graph, known, last, 2) == (None if around else stem)
    assert autograd_share(model, shape) == pytest.approx(0.25)
    assert coverage_fraction(graph) == pytest.approx(0.25)
    assert coverage_map(graph).fraction == pytest.approx(0.25)
