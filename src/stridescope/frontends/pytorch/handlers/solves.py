"""Linear systems and the factorizations that solve them, counted: triangular solves,
Cholesky, LU, QR, ``solve``, ``inv``, ``det`` and their spellings (``torch.linalg.*``, the older
``torch.*`` names, the ``Tensor`` methods, the ``_ex`` forms).

Each is one node per output (shapes from a meta run), of kind ``matmul``: every output
position may read every position of the operands, as a product's does. Their MACs, on the
first node, are those of :data:`stridescope.ir.solves.SOLVES` (the direct method each
names; ``qr``: Householder's, in its ``mode``). ``eigh``, ``svd``, ``pinv``, ``lstsq`` and
``matrix_exp`` stay uncounted, with their shapes (see there).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from stridescope.frontends.pytorch.errors import NotHandled
from stridescope.frontends.pytorch.handlers.products import tensor_dims
from stridescope.frontends.pytorch.meta_calls import meta_call
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.tracer import Tracer
from stridescope.ir import OpKind
from stridescope.ir.solves import SOLVES

__all__ = ["PER_FUNCTION"]


How = str | Callable[[tuple[Any, ...], dict[str, Any]], str]  # a SOLVES key, or its choice


def _qr(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """``linalg.qr``'s ``mode`` (``'reduced'`` by default), or the older ``qr``'s ``some``."""
    given = args[1] if len(args) > 1 else kwargs.get("mode", kwargs.get("some", "reduced"))
    if isinstance(given, bool):
        given = "reduced" if given else "complete"
    return f"qr_{given}"


def _solved(how: How, at: int, names: tuple[str, ...]) -> Callable[[Any], Callable[..., Any]]:
    """A handler factory: ``func`` run on meta for its outputs, counted as ``SOLVES[how]``
    (``how``: the key, or what picks it from the arguments) of the matrix (the argument at
    position ``at``, or keyword ``names``) and the first output."""

    def factory(func: Any) -> Callable[..., Any]:
        def handler(t: Tracer, name: str, op: str, *args: Any, **kwargs: Any) -> Any:
            matrix = (
                args[at]
                if len(args) > at
                else next((kwargs[k] for k in names if k in kwargs), None)
            )
            count = SOLVES.get(how if isinstance(how, str) else how(args, kwargs))
            if (
                "out" in kwargs
                or count is None
                or not isinstance(matrix, ShapeProxy | torch.Tensor)
            ):
                raise NotHandled
            result = meta_call(func, args, kwargs)
            first = result[0] if isinstance(result, tuple) else result
            dims = tensor_dims(matrix)
            macs = count(dims, math.prod(first.shape)) if len(dims) >= 2 else 0
            return t.fallback(
                func,
                args,
                kwargs,
                name=name,
                kind=OpKind.MATMUL,
                counted=True,
                op=op,
                run=lambda: result,
                macs=macs,
            )

        return handler

    return factory


_A, _INPUT = ("A",), ("input",)

PER_FUNCTION = [
    (_solved("triangular", 0, _A), "torch.linalg.solve_triangular"),
    (_solved("triangular", 1, _A), "torch.triangular_solve Tensor.triangular_solve"),
    (_solved("cholesky", 0, _A), "torch.linalg.cholesky torch.linalg.cholesky_ex"),
    (_solved("cholesky", 0, _INPUT), "torch.cholesky Tensor.cholesky"),
    (_solved("cholesky_solve", 1, ("input2",)), "torch.cholesky_solve Tensor.cholesky_solve"),
    (_solved("cholesky_inverse", 0, _INPUT), "torch.cholesky_inverse Tensor.cholesky_inverse"),
    (_solved("lu", 0, _A), "torch.linalg.lu_factor torch.linalg.lu_factor_ex torch.linalg.lu"),
    (_solved("lu_solve", 0, ("LU",)), "torch.linalg.lu_solve"),
    (_solved("solve", 0, _A), "torch.linalg.solve torch.linalg.solve_ex"),
    (_solved("inv", 0, _A), "torch.linalg.inv torch.linalg.inv_ex"),
    (_solved("inv", 0, _INPUT), "torch.inverse Tensor.inverse"),
    (_solved("det", 0, _A), "torch.linalg.det torch.linalg.slogdet"),
    (_solved("det", 0, _INPUT), "torch.det Tensor.det torch.logdet Tensor.logdet"),
    (_solved("det", 0, _INPUT), "torch.slogdet Tensor.slogdet"),
    (_solved(_qr, 0, _A), "torch.linalg.qr"),
    (_solved(_qr, 0, _INPUT), "torch.qr Tensor.qr"),
]
