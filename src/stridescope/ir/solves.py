"""Multiply-adds of linear systems and the factorizations that solve them: shared by the
PyTorch tracer (``torch.linalg.solve_triangular``, ``cholesky``, ``lu_factor``...) and the
Keras reader (``keras.ops.solve_triangular``, ``cholesky``, ``lu_factor``...).

Each count is the multiplications and divisions (and Cholesky's square roots) of the direct
method it names, per matrix of the batch, for an ``n x n`` matrix (``m x n`` for LU) and
``k`` right-hand columns (all the solution's elements over ``n``: a vector, a matrix or a
batch of them):

====================  ==============================================================
``triangular``        ``k·n(n+1)/2``
``cholesky``          ``n(n+1)(n+2)/6`` (about n³/6)
``cholesky_solve``    ``k·n(n+1)``: two triangular solves
``cholesky_inverse``  ``n(n+1)(n+2)/3``: a triangular inverse and its product with its
                      transpose, each about n³/6
``lu``                partial pivoting: ``Σ_{j<min(m,n)} (m-1-j)(n-j)``; ``n(n²-1)/3`` for
                      a square matrix
``lu_solve``          ``k·n²``: a unit-lower and an upper triangular solve
``solve``             ``lu`` plus ``lu_solve``
``inv``               ``n³``, as LAPACK's ``getrf`` then ``getri`` take
``det``               ``lu`` plus ``n`` (the product of the diagonal)
``qr_r``              Householder: per reflector ``j < min(m,n)`` of ``r = m-j`` entries,
                      its norm, a square root and a scaling (``2r+1``), then two
                      multiplications per entry of the ``n-1-j`` columns it updates
``qr_reduced``        ``qr_r`` plus the thin ``Q`` (``m x min(m,n)``) accumulated backward:
                      ``2r`` per entry of the columns each reflector updates
``qr_complete``       ``qr_r`` plus the full ``Q`` (``m x m``), accumulated so
====================  ==============================================================

Eigenvalues and singular values are computed by iteration, whose steps depend on the values,
so ``eigh``, ``svd`` and what is built on them (``pinv``, ``lstsq``'s drivers) have no such
count; neither has ``matrix_exp`` (a series). The frontends leave them uncounted.

>>> lu_macs(3, 3), lu_macs(4, 2)  # square: n(n²-1)/3; a tall 4x2 matrix: 3·2 + 2·1
(8, 8)
>>> SOLVES["triangular"]((4, 4), 4 * 2)  # two right-hand columns of 4·5/2
20
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

__all__ = ["SOLVES", "lu_macs", "qr_macs"]


def lu_macs(m: int, n: int) -> int:
    """Multiplications and divisions of LU with partial pivoting on an ``m x n`` matrix:
    step ``j`` scales ``m-1-j`` entries and updates ``(m-1-j)(n-1-j)``."""
    return _steps(m - 1, n, min(m, n))


def _steps(a: int, b: int, p: int) -> int:
    """``Σ_{j<p} (a-j)(b-j)``, in closed form."""
    return p * a * b - (a + b) * p * (p - 1) // 2 + (p - 1) * p * (2 * p - 1) // 6


def qr_macs(m: int, n: int, mode: str) -> int:
    """Multiplications, divisions and square roots of Householder QR on an ``m x n`` matrix
    (``mode``: ``'r'``, ``'reduced'`` or ``'complete'``, as ``torch.linalg.qr`` takes it)."""
    p = min(m, n)
    r_only = 2 * _steps(m, n, p) + p
    if mode == "r":
        return r_only
    return r_only + 2 * _steps(m, p if mode == "reduced" else m, p)


def _columns(matrix: tuple[int, ...], solved: int) -> tuple[int, int]:
    """The matrix's order ``n`` and the right-hand columns of a solution of ``solved``
    elements."""
    n = matrix[-1]
    return n, (solved // n if n else 0)


def _batch(matrix: tuple[int, ...]) -> int:
    return math.prod(matrix[:-2])


def _triangular(matrix: tuple[int, ...], solved: int) -> int:
    n, k = _columns(matrix, solved)
    return k * (n * (n + 1) // 2)


def _cholesky(matrix: tuple[int, ...], solved: int) -> int:
    n = matrix[-1]
    return _batch(matrix) * (n * (n + 1) * (n + 2) // 6)


def _cholesky_solve(matrix: tuple[int, ...], solved: int) -> int:
    n, k = _columns(matrix, solved)
    return k * n * (n + 1)


def _lu(matrix: tuple[int, ...], solved: int) -> int:
    return _batch(matrix) * lu_macs(matrix[-2], matrix[-1])


def _lu_solve(matrix: tuple[int, ...], solved: int) -> int:
    n, k = _columns(matrix, solved)
    return k * n * n


def _qr(mode: str, matrix: tuple[int, ...], solved: int) -> int:
    return _batch(matrix) * qr_macs(matrix[-2], matrix[-1], mode)


# (the matrix's shape (..., m, n), the elements of the first output) -> MACs
SOLVES: dict[str, Callable[[tuple[int, ...], int], int]] = {
    "triangular": _triangular,
    "cholesky": _cholesky,
    "cholesky_solve": _cholesky_solve,
    "cholesky_inverse": lambda matrix, solved: 2 * _cholesky(matrix, solved),
    "lu": _lu,
    "lu_solve": _lu_solve,
    "solve": lambda matrix, solved: _lu(matrix, solved) + _lu_solve(matrix, solved),
    "inv": lambda matrix, solved: _batch(matrix) * matrix[-1] ** 3,
    "det": lambda matrix, solved: _lu(matrix, solved) + _batch(matrix) * matrix[-1],
    **{f"qr_{mode}": partial(_qr, mode) for mode in ("r", "reduced", "complete")},
}
