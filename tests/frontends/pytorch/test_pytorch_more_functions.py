"""Splits, stacks, flips and element-wise math beyond the common ones (``tensor_split``,
``hstack``, ``rot90``, ``floor``, ``atan2``...): each is traced as a counted node with the
shapes torch gives (never uncounted), and ``tensor_split`` cuts exact slices, as ``split``
does (torchvision's MViT splits its class token off with it); ``nn.Bilinear`` is a product."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from stridescope.analysis.coverage import coverage_map
from stridescope.frontends.pytorch import trace_torch
from stridescope.ir import OpKind
from tests.frontends.pytorch.applied import Apply

torch.set_num_threads(1)


def _flat(out: Any) -> list[torch.Tensor]:
    return list(out) if isinstance(out, tuple | list) else [out]


CALLS: list[tuple[str, Callable[[torch.Tensor], Any]]] = [
    ("tensor_split sections", lambda x: torch.tensor_split(x, 3, dim=2)),
    ("tensor_split indices", lambda x: torch.tensor_split(x, indices=(1,), dim=2)),
    ("Tensor.tensor_split", lambda x: x.tensor_split([2, 5], -1)),
    ("hsplit", lambda x: torch.hsplit(x, 2)),
    ("vsplit", lambda x: x.vsplit(2)),
    ("dsplit", lambda x: torch.dsplit(x, [3])),
    ("split_with_sizes", lambda x: x.split_with_sizes([1, 3], 1)),
    ("hstack", lambda x: torch.hstack([x, x])),
    ("vstack", lambda x: torch.vstack([x, x])),
    ("dstack", lambda x: torch.dstack([x, x])),
    ("column_stack", lambda x: torch.column_stack([x.flatten(1), x.flatten(1)])),
    ("atleast_3d", lambda x: torch.atleast_3d(x)),
    ("diagonal", lambda x: x.diagonal(0, 2, 3)),
    ("diag_embed", lambda x: torch.diag_embed(x)),
    ("rot90", lambda x: torch.rot90(x, 1, (2, 3))),
    ("fliplr", lambda x: x.fliplr()),
    ("take", lambda x: torch.take(x, torch.tensor([0, 5, 7]))),
    ("swapdims", lambda x: x.swapdims(1, 3)),
    ("ravel", lambda x: torch.ravel(x)),
    ("floor", lambda x: torch.floor(x)),
    ("round", lambda x: x.round()),
    ("frac", lambda x: x.frac()),
    ("log2", lambda x: torch.log2(x.abs() + 1)),
    ("atan", lambda x: x.atan()),
    ("clamp_min", lambda x: x.clamp_min(0.0)),
    ("nan_to_num", lambda x: torch.nan_to_num(x)),
    ("atan2", lambda x: torch.atan2(x, x[:, :1])),
    ("hypot", lambda x: x.hypot(x)),
    ("fmax", lambda x: torch.fmax(x, torch.zeros(8))),
    ("logaddexp", lambda x: torch.logaddexp(x, x)),
]


@pytest.mark.parametrize(("label", "fn"), CALLS, ids=[c[0] for c in CALLS])
def test_each_is_a_counted_node_with_torchs_shapes(label: str, fn: Any) -> None:
    shape = (2, 4, 6, 8)
    graph = trace_torch(Apply(fn), shape)
    assert not graph.uncounted, label
    expected = [tuple(t.shape) for t in _flat(fn(torch.randn(shape)))]
    pieces = [n for n in graph.nodes if n.op != "output"]  # the first returned, again
    made = [n.output_shape for n in pieces[-len(expected) :]]
    assert made == expected, label


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 9),
    how=st.integers(1, 5) | st.lists(st.integers(0, 9), min_size=1, max_size=3),
    dim=st.sampled_from([1, 2, 3, -1]),
)
def test_tensor_split_cuts_the_slices_torch_cuts(n: int, how: Any, dim: int) -> None:
    """Sections or split points, empty pieces too: torch's shapes; where every piece holds
    something and the cut runs along a spatial axis, each piece reads exactly its own rows."""
    shape = (1, 3, n, 4) if dim == 2 else (1, 3, 4, n)
    fn = lambda x: torch.tensor_split(x, how, dim=dim)  # noqa: E731
    pieces = fn(torch.zeros(shape))
    graph = trace_torch(Apply(fn), shape)
    assert not graph.uncounted
    made = [n for n in graph.nodes if n.op != "output"]  # the first piece, again
    assert [n.output_shape for n in made[-len(pieces) :]] == [p.shape for p in pieces]
    if dim in (2, 3, -1) and all(p.numel() for p in pieces):
        assert all(n.kind is OpKind.SLICE for n in made[1:])
        first = trace_torch(Apply(lambda x: fn(x)[0] * 2), shape)  # (its last node)
        reads = coverage_map(first).counts > 0
        axis = 0 if dim == 2 else 1
        kept = np.zeros(n, dtype=bool)
        kept[: pieces[0].shape[dim]] = True
        assert (reads.any(axis=1 - axis) == kept).all()


class _Pair(nn.Module):
    """``nn.Bilinear`` on the tokens and on their flipped copy."""

    def __init__(self) -> None:
        super().__init__()
        self.mix = nn.Bilinear(8, 8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mix(x, x.flip(1))


def test_bilinear_is_a_product_of_in1_by_in2_macs_per_output() -> None:
    model = _Pair()
    graph = trace_torch(model, (3, 5, 8))
    node = graph.nodes[-1]
    assert not graph.uncounted and graph.params == sum(p.numel() for p in model.parameters())
    assert (node.kind, node.output_shape) == (OpKind.MATMUL, (3, 5, 4))
    assert node.macs == 3 * 5 * 4 * 8 * 8 and node.params == 8 * 8 * 4 + 4
