"""Linear systems and their factorizations (hand-written): a linear-attention layer's
``solve_triangular``, a Gaussian-process head's ``cholesky`` and ``cholesky_solve``, a flow's
``slogdet``... Each was an uncounted node; now each is counted with torch's output shapes and
the MACs of :data:`stridescope.ir.solves.SOLVES`, whose closed forms are checked here against
the textbook algorithms run step by step, counting their multiplications, divisions and
square roots."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import stridescope
from stridescope.frontends.pytorch import trace_torch
from stridescope.frontends.pytorch.handlers.solves import PER_FUNCTION
from stridescope.ir.solves import SOLVES, lu_macs, qr_macs
from tests.frontends.pytorch.applied import Apply

pytestmark = pytest.mark.filterwarnings("ignore:torch.triangular_solve is deprecated")


def _lu_steps(m: int, n: int) -> int:
    """LU with partial pivoting, as written in a textbook: per step, a division per entry
    below the pivot and a multiplication per entry of the trailing block."""
    ops = 0
    for k in range(min(m, n)):
        for _row in range(k + 1, m):
            ops += 1  # the multiplier l = a[i, k] / a[k, k]
            ops += n - 1 - k  # a[i, j] -= l * a[k, j]
    return ops


def _cholesky_steps(n: int) -> int:
    ops = 0
    for j in range(n):
        ops += j + 1  # the diagonal: j products, one square root
        ops += (n - 1 - j) * (j + 1)  # below it: j products and a division per entry
    return ops


def _householder_steps(m: int, n: int, q_columns: int) -> int:
    """Householder QR: per reflector, its norm (``r`` products), a square root and ``r``
    divisions, then two products per entry it updates, of R's columns and (accumulated
    backward) of ``q_columns`` columns of Q (none for R alone)."""
    ops = 0
    for j in range(min(m, n)):
        r = m - j
        ops += 2 * r + 1 + 2 * r * (n - 1 - j)
        ops += 2 * r * max(q_columns - j, 0)
    return ops


def _triangular_steps(n: int) -> int:
    return sum(i + 1 for i in range(n))  # row i: i products and a division


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 40), st.integers(0, 40))
def test_the_closed_forms_count_the_algorithms_steps(m: int, n: int) -> None:
    assert lu_macs(m, n) == _lu_steps(m, n)
    assert SOLVES["cholesky"]((n, n), n * n) == _cholesky_steps(n)
    assert SOLVES["triangular"]((n, n), n * 3) == 3 * _triangular_steps(n)
    assert SOLVES["det"]((2, n, n), 2) == 2 * (_lu_steps(n, n) + n)
    assert qr_macs(m, n, "r") == _householder_steps(m, n, 0)
    assert qr_macs(m, n, "reduced") == _householder_steps(m, n, min(m, n))
    assert qr_macs(m, n, "complete") == _householder_steps(m, n, m)


A = (2, 5, 5)  # a batch of two 5x5 matrices
N, K = 5, 3  # order, right-hand columns


def _spd(x: torch.Tensor) -> torch.Tensor:
    """A symmetric positive definite matrix made from ``x`` (whose factorizations exist)."""
    return x @ x.transpose(-1, -2) + N * torch.eye(N)


def _lower(x: torch.Tensor) -> torch.Tensor:
    return torch.tril(x) + N * torch.eye(N)


Case = tuple[Callable[[torch.Tensor], Any], int]
LU, B = lu_macs(N, N), 2 * N * K  # one factorization; the elements of a (2, 5, 3) solution
CASES: dict[str, Case] = {
    "solve_triangular": (
        lambda x: torch.linalg.solve_triangular(_lower(x), x[..., :K], upper=False),
        B // N * (N * (N + 1) // 2),
    ),
    "solve_triangular right": (
        lambda x: torch.linalg.solve_triangular(_lower(x), x[..., :K, :], upper=False, left=False),
        B // N * (N * (N + 1) // 2),
    ),
    "triangular_solve": (
        lambda x: torch.triangular_solve(x[..., :K], _lower(x), upper=False)[0],
        B // N * (N * (N + 1) // 2),
    ),
    "cholesky": (lambda x: torch.linalg.cholesky(_spd(x)), 2 * N * (N + 1) * (N + 2) // 6),
    "cholesky_ex": (lambda x: torch.linalg.cholesky_ex(_spd(x))[0], 2 * 35),
    "cholesky_solve": (
        lambda x: torch.cholesky_solve(x[..., :K], torch.linalg.cholesky(_spd(x))),
        2 * 35 + B // N * N * (N + 1),
    ),
    "cholesky_inverse": (
        lambda x: torch.cholesky_inverse(torch.linalg.cholesky(_spd(x))),
        2 * 35 + 2 * 2 * 35,
    ),
    "lu_factor": (lambda x: torch.linalg.lu_factor(x)[0], 2 * LU),
    "lu": (lambda x: torch.linalg.lu(x)[2], 2 * LU),
    "lu_solve": (
        lambda x: torch.linalg.lu_solve(*torch.linalg.lu_factor(x), x[..., :K]),
        2 * LU + B // N * N * N,
    ),
    "solve": (lambda x: torch.linalg.solve(x, x[..., :K]), 2 * LU + B // N * N * N),
    "solve vector": (lambda x: torch.linalg.solve(x, x[..., 0]), 2 * LU + 2 * N * N),
    "inv": (lambda x: torch.linalg.inv(x), 2 * N**3),
    "inverse method": (lambda x: x.inverse(), 2 * N**3),
    "det": (lambda x: torch.det(x), 2 * (LU + N)),
    "slogdet": (lambda x: torch.linalg.slogdet(x)[1], 2 * (LU + N)),
    "logdet method": (lambda x: _spd(x).logdet(), 2 * (LU + N)),
    "qr": (lambda x: torch.linalg.qr(x[..., :K])[0], 2 * qr_macs(N, K, "reduced")),
    "qr complete": (lambda x: torch.linalg.qr(x, "complete")[1], 2 * qr_macs(N, N, "complete")),
    "qr r": (lambda x: torch.linalg.qr(x[..., :K, :], mode="r")[1], 2 * qr_macs(K, N, "r")),
    "qr some": (lambda x: torch.qr(x[..., :K], some=False)[0], 2 * qr_macs(N, K, "complete")),
}
_SOLVES = {s.rsplit(".", 1)[-1] for _, spelled in PER_FUNCTION for s in spelled.split()}


@pytest.mark.parametrize("case", list(CASES))
def test_each_is_counted_with_torchs_shapes(case: str) -> None:
    fn, macs = CASES[case]
    model = Apply(fn)
    graph = trace_torch(model, A)
    assert graph.uncounted == ()
    solved = [n for n in graph.nodes if n.op.rsplit(".", 1)[-1] in _SOLVES]
    assert solved and all(n.kind.value == "matmul" for n in solved)
    assert sum(n.macs for n in solved) == macs
    with torch.no_grad():
        out = model(torch.randn(A) + 3 * torch.eye(N))
    assert graph.nodes[-1].output_shape == tuple(out.shape)


def test_a_weight_solved_against_is_counted_once() -> None:
    """A learned triangular matrix (a normalizing flow's) is a parameter used outside a
    module call: counted where the solve takes it."""

    class Flow(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.eye(N))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.linalg.solve_triangular(self.w, x, upper=True)

    summary = stridescope.summary(Flow(), (1, 3, N, 4))
    assert summary.totals.params == N * N
    assert summary.totals.macs == math.prod((1, 3, 4)) * N * (N + 1) // 2
    assert summary.totals.uncounted == ()
