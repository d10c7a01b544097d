"""``torch.vmap`` (``torch.func.vmap``) over a traced tensor: the function once per element.

``vmap(f, in_dims, out_dims)(*args)`` is, by its definition, ``f`` applied to each element
along the mapped axes, the results stacked along ``out_dims``. torch's own ``vmap`` needs real
tensors to batch (handed a traced one, it says it cannot map over a non-tensor), so while a
trace runs, a call of a vmapped function with a traced tensor among its arguments runs ``f``
on each element (``x.select(dim, i)``; arguments whose ``in_dims`` is ``None``, and keyword
arguments, as they are) and stacks the results: every element's work is traced and counted,
as a loop over the batch would be, and the parameters ``f`` uses count once. At most
:data:`MOST` elements (a trace of ``f`` each); more is refused in one line. Calls without a
traced tensor, and calls of other threads, run torch's own ``vmap``.

The vmapped function looks torch's implementation up when it is called
(``torch._functorch.apis.vmap_impl``), so a function vmapped before the trace (in
``__init__``, or at import) is read too: :func:`route` sets that name while traces run.

>>> import torch
>>> from torch import nn
>>> from stridescope.frontends.pytorch.trace import trace_torch
>>> class Ensemble(nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.head = nn.Linear(4, 3)
...     def forward(self, x):
...         return torch.vmap(self.head)(x)
>>> g = trace_torch(Ensemble(), (2, 4))
>>> [(n.op, n.output_shape, n.macs) for n in g.nodes[1:]]  # (a select: a slice, a reshape)
[('select', (1, 4), 0), ('select', (4,), 0), ('Linear', (3,), 12), ('select', (1, 4), 0), ('select', (4,), 0), ('Linear', (3,), 12), ('stack', (2, 3), 0)]
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
import torch._functorch.apis as _apis
from torch.utils._pytree import tree_flatten, tree_map

from stridescope.frontends.pytorch.errors import TraceError
from stridescope.frontends.pytorch.meta_calls import walk_values
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.thread_state import STATE

__all__ = ["MOST", "route", "unroute"]

MOST = 64  # elements a traced vmap runs its function on, at most
_TORCH: Callable[..., Any] = _apis.vmap_impl  # type: ignore[attr-defined]


def _vmap_impl(
    func: Callable[..., Any],
    in_dims: Any,
    out_dims: Any,
    randomness: str,
    chunk_size: int | None,
    *args: Any,
    **kwargs: Any,
) -> Any:
    """What a vmapped function runs while routed: :func:`_each` where this thread traces and
    a traced tensor is among the arguments, else torch's own."""
    if STATE.tracer is None or not any(type(v) is ShapeProxy for v in walk_values((args, kwargs))):
        return _TORCH(func, in_dims, out_dims, randomness, chunk_size, *args, **kwargs)
    return _each(func, in_dims, out_dims, args, kwargs)


def _each(
    func: Callable[..., Any], in_dims: Any, out_dims: Any, args: tuple[Any, ...], kwargs: Any
) -> Any:
    """``func`` on each element of the mapped arguments, the results stacked."""
    dims = in_dims if isinstance(in_dims, tuple | list) else (in_dims,) * len(args)
    if len(dims) != len(args) or not all(d is None or isinstance(d, int) for d in dims):
        raise TraceError(
            f"torch.vmap with in_dims={in_dims!r} for {len(args)} arguments: a trace maps "
            "an int or None per argument"
        )
    sizes = {
        leaf.shape[d]
        for a, d in zip(args, dims, strict=True)
        if d is not None
        for leaf in tree_flatten(a)[0]
        if isinstance(leaf, ShapeProxy | torch.Tensor)
    }
    if len(sizes) != 1:
        raise ValueError(
            f"vmap: Expected all tensors to have the same size in the mapped dimension, got "
            f"sizes {sorted(sizes)} for the mapped dimension"
        )
    (size,) = sizes
    if size > MOST:
        raise TraceError(
            f"torch.vmap over {size} elements of a traced tensor: a trace runs the function "
            f"once per element, at most {MOST} (map fewer, or summarise the function's "
            "module on one element)"
        )
    results = []
    for i in range(size):
        picked = [
            a if d is None else tree_map(functools.partial(_select, dim=d, i=i), a)
            for a, d in zip(args, dims, strict=True)
        ]
        results.append(func(*picked, **kwargs))
    return _stacked(results, out_dims)


def _select(leaf: Any, dim: int, i: int) -> Any:
    return leaf.select(dim, i) if isinstance(leaf, ShapeProxy | torch.Tensor) else leaf


def _stacked(results: list[Any], out_dims: Any) -> Any:
    """The results stacked along ``out_dims`` (an int, or one per output of a tuple)."""
    first = results[0]
    if isinstance(first, tuple | list):
        dims = out_dims if isinstance(out_dims, tuple | list) else (out_dims,) * len(first)
        return type(first)(_stacked([r[k] for r in results], dims[k]) for k in range(len(first)))
    if out_dims is None or not isinstance(first, ShapeProxy | torch.Tensor):
        return first  # (an output not mapped: the same for every element)
    return torch.stack(results, dim=out_dims)


def route() -> None:
    """Set :func:`_vmap_impl` where vmapped functions look torch's up (the caller holds the
    patch lock; one :func:`unroute` per call)."""
    _apis.vmap_impl = _vmap_impl  # type: ignore[attr-defined]


def unroute() -> None:
    """Undo :func:`route`: torch's own ``vmap`` again."""
    _apis.vmap_impl = _TORCH  # type: ignore[attr-defined]
