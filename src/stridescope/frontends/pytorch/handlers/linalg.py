"""Products beyond ``matmul`` and ``einsum``: ``torch.linalg.multi_dot`` and
``torch.chain_matmul`` (in the order of fewest multiplies, as torch computes them),
``addbmm``, ``inner``, ``linalg.vecdot``, ``pdist``, ``conv_tbc``, ``matrix_power``, ``kron``,
``cross`` / ``linalg.cross`` and ``trace``: each one node, its output shape from a meta run,
its MACs from the operands' shapes. :data:`PER_FUNCTION` also holds the linear systems and
factorizations of :mod:`~stridescope.frontends.pytorch.handlers.solves` and the norms of
``torch.linalg`` (:func:`~stridescope.frontends.pytorch.handlers.reduction.linalg_norm`).

>>> from stridescope.frontends.pytorch.handlers.linalg import chain_macs
>>> chain_macs([(10, 100), (100, 5), (5, 50)])  # (AB)C: 5,000 + 2,500; A(BC): 25,000 + 50,000
7500
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from stridescope.frontends.pytorch.errors import NotHandled
from stridescope.frontends.pytorch.handlers import reduction, solves
from stridescope.frontends.pytorch.handlers.products import product, tensor_dims
from stridescope.frontends.pytorch.meta_calls import walk_values
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.tracer import Tracer
from stridescope.ir import OpKind

__all__ = ["PER_FUNCTION", "chain_macs"]

Shapes = list[tuple[int, ...]]
Macs = Callable[[Shapes, tuple[int, ...], dict[str, Any]], int]


def chain_macs(shapes: Shapes) -> int:
    """Multiplies of a chain of matrix products in its cheapest order (a first 1-D operand
    is a row, a last one a column, as ``multi_dot`` takes them)."""
    if len(shapes) < 2:
        return 0
    sizes = [shapes[0][0] if len(shapes[0]) == 2 else 1]
    sizes += [s[-1] if len(s) == 2 else 1 for s in shapes[:-1]]
    sizes.append(shapes[-1][-1] if len(shapes[-1]) == 2 else 1)
    n = len(shapes)
    cost = [[0] * n for _ in range(n)]
    for span in range(1, n):
        for i in range(n - span):
            j = i + span
            cost[i][j] = min(
                cost[i][k] + cost[k + 1][j] + sizes[i] * sizes[k + 1] * sizes[j + 1]
                for k in range(i, j)
            )
    return cost[0][n - 1]


def _contracted(shapes: Shapes, out: tuple[int, ...], kwargs: dict[str, Any]) -> int:
    """One MAC per output element and element of the contracted axis of the first operand
    (its last, or ``vecdot``'s ``dim``)."""
    first = shapes[0]
    return math.prod(out) * (first[kwargs.get("dim", -1)] if first else 1)


def _measured(kind: OpKind, macs: Macs) -> Callable[[Any], Callable[..., Any]]:
    """A handler factory: ``func`` run on meta for its output, ``macs`` counted."""

    def factory(func: Any) -> Callable[..., Any]:
        def handler(t: Tracer, name: str, op: str, *args: Any, **kwargs: Any) -> Any:
            if "out" in kwargs:
                raise NotHandled
            tensors = [v for v in walk_values(args) if isinstance(v, ShapeProxy | torch.Tensor)]
            shapes = [tensor_dims(v) for v in tensors]

            def count(out: tuple[int, ...]) -> int:
                return macs(shapes, out, kwargs)

            return product(t, name, op, func, args, count, kwargs, kind=kind)

        return handler

    return factory


def _matrix_power(func: Any) -> Callable[..., Any]:
    """``matrix_power(x, n)`` for ``n >= 0``: the matrix products of torch's squaring
    (``n.bit_length() - 1`` squares, one more product per further 1 bit), each ``k ** 3``
    MACs per matrix of the batch."""

    def handler(t: Tracer, name: str, op: str, input: Any, n: Any, **kwargs: Any) -> Any:
        if kwargs or not isinstance(n, int) or n < 0 or not isinstance(input, ShapeProxy):
            raise NotHandled
        k = input.dims[-1]
        products = max(n.bit_length() - 1, 0) + max(bin(n).count("1") - 1, 0)

        def count(out: tuple[int, ...]) -> int:
            return math.prod(out[:-2]) * k**3 * products

        return product(t, name, op, func, (input, n), count, {}, kind=OpKind.MATMUL)

    return handler


PER_FUNCTION = [
    (
        _measured(OpKind.MATMUL, lambda shapes, out, kw: chain_macs(shapes)),
        "torch.linalg.multi_dot torch.chain_matmul",
    ),
    (
        _measured(OpKind.MATMUL, lambda s, out, kw: math.prod(s[1]) * s[2][-1]),
        "torch.addbmm Tensor.addbmm",
    ),
    (_measured(OpKind.MATMUL, _contracted), "torch.inner Tensor.inner torch.linalg.vecdot"),
    (_measured(OpKind.MATMUL, _contracted), "F.pdist torch.pdist"),  # (a row pair's distance)
    (  # fairseq's convolution over (time, batch, channels), weight (width, in, out)
        _measured(OpKind.MATMUL, lambda s, out, kw: math.prod(out) * s[1][0] * s[1][1]),
        "torch.conv_tbc",
    ),
    (_measured(OpKind.MUL, lambda s, out, kw: math.prod(out)), "torch.kron Tensor.kron"),
    (
        _measured(OpKind.MUL, lambda s, out, kw: 2 * math.prod(out)),
        "torch.cross Tensor.cross torch.linalg.cross",
    ),
    (_measured(OpKind.ADD, lambda s, out, kw: min(s[0])), "torch.trace Tensor.trace"),
    (lambda func: reduction.linalg_norm, "torch.linalg.norm torch.linalg.matrix_norm"),
    (_matrix_power, "torch.linalg.matrix_power torch.matrix_power Tensor.matrix_power"),
    *solves.PER_FUNCTION,
]
