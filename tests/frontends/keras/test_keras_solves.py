"""Keras's linear systems and factorizations (``keras.ops.solve_triangular``, ``cholesky``,
``lu_factor``, ``solve``, ``inv``, ``det``, ``cholesky_inverse``; hand-written): each was an
uncounted node; now each is counted as the PyTorch tracer counts torch's, node for node."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
import torch

from stridescope.frontends.keras import read_keras
from stridescope.frontends.pytorch import trace_torch
from tests.frontends.pytorch.applied import Apply

N = 5
Op = Callable[[Any, Any], Any]
# keras.ops on an (N, N) input, and torch's same computation
CASES: dict[str, tuple[Op, Callable[[torch.Tensor], Any]]] = {
    "solve_triangular": (
        lambda o, x: o.solve_triangular(x, x[:, :, :2], lower=True),
        lambda x: torch.linalg.solve_triangular(x, x[:, :, :2], upper=False),
    ),
    "cholesky": (lambda o, x: o.cholesky(x), torch.linalg.cholesky),
    "cholesky_inverse": (lambda o, x: o.cholesky_inverse(x), torch.cholesky_inverse),
    "lu_factor": (lambda o, x: o.lu_factor(x)[0], lambda x: torch.linalg.lu_factor(x)[0]),
    "solve": (lambda o, x: o.solve(x, x[:, :, :3]), lambda x: torch.linalg.solve(x, x[:, :, :3])),
    "inv": (lambda o, x: o.inv(x), torch.linalg.inv),
    "det": (lambda o, x: o.det(x), torch.linalg.det),
    "qr": (lambda o, x: o.qr(x)[0], lambda x: torch.linalg.qr(x)[0]),
    "qr complete": (
        lambda o, x: o.qr(x[:, :, :2], mode="complete")[1],
        lambda x: torch.linalg.qr(x[:, :, :2], mode="complete")[1],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_is_counted_as_torchs(keras: ModuleType, case: str) -> None:
    op, twin = CASES[case]
    x = keras.Input((N, N), batch_size=2)
    graph = read_keras(keras.Model(x, op(keras.ops, x)), (2, N, N))
    torch_graph = trace_torch(Apply(twin), (2, N, N))
    assert graph.uncounted == () and torch_graph.uncounted == ()
    mine = [(n.kind, n.macs, n.output_shape) for n in graph.nodes[1:] if n.macs]
    theirs = [(n.kind, n.macs, n.output_shape) for n in torch_graph.nodes[1:] if n.macs]
    assert mine == theirs and mine
