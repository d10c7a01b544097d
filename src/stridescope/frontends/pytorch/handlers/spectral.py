"""Handlers for Fourier transforms (``torch.fft.*``: global filters, FFT convolutions, AFNO
and FNet mixers), for distances and similarities between tensors (``torch.cdist``,
``F.cosine_similarity``, ``F.pairwise_distance``) and for the products ``torch.outer`` and
``torch.tensordot``.

A transform mixes every position of each axis it runs over: along a spatial axis its node
carries the window of a whole axis (:meth:`GraphBuilder.along`), so coverage and the
receptive field see it; it counts ``log2(n)`` MACs per element of the larger of its input and
output, ``n`` the number of positions transformed together (a radix-2 FFT's butterflies;
``FlopCounterMode`` counts none). Its output's dtype (complex, or real from a complex input)
comes from a meta run.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable
from typing import Any

import torch

from stridescope.frontends.pytorch.errors import NotHandled
from stridescope.frontends.pytorch.handlers.elementwise import arith
from stridescope.frontends.pytorch.handlers.layer_calls import joined
from stridescope.frontends.pytorch.handlers.products import broadcast, einsum, tensor_dims
from stridescope.frontends.pytorch.meta_calls import meta_call
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.tracer import Tracer
from stridescope.frontends.pytorch.views import is_int
from stridescope.ir import OpKind, fft_macs

__all__ = ["cdist", "distance", "fft", "istft", "outer", "stft", "tensordot"]

# the argument after the input that names the axes, and its default, per family
_FAMILY = {"1": (1, -1), "2": (1, (-2, -1)), "n": (1, None)}


def _fft_axes(family: str, rank: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[int]:
    at, default = _FAMILY[family]
    dim = kwargs.get("dim", args[at] if len(args) > at else default)
    if dim is None:  # n-D: the last len(s) axes, else all of them
        sizes = kwargs.get("s", args[0] if args else None)
        return list(range(rank - len(sizes), rank)) if sizes is not None else list(range(rank))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    if not all(isinstance(d, int) and -rank <= d < rank for d in dims):
        raise NotHandled
    return sorted({d % rank for d in dims})


def fft(family: str) -> Callable[[Any], Callable[..., Any]]:
    """The handler of ``torch.fft`` function ``func`` of ``family`` ``'1'`` (``fft``,
    ``rfft``...: ``n``, ``dim``), ``'2'`` (``fft2``...: ``s``, ``dim``) or ``'n'``
    (``fftn``...: ``s``, ``dim``)."""

    def for_function(func: Any) -> Callable[..., Any]:
        def handler(t: Tracer, name: str, op: str, input: Any, *args: Any, **kwargs: Any) -> Any:
            if not isinstance(input, ShapeProxy) or "out" in kwargs:
                raise NotHandled
            result = meta_call(func, (input, *args), kwargs)
            if not isinstance(result, torch.Tensor) or result.dim() != len(input.dims):
                raise NotHandled
            out = tuple(int(d) for d in result.shape)
            axes = _fft_axes(family, len(out), args, kwargs)
            node = t.builder.transform(input.node, name, axes=axes, output_shape=out, op=op)
            return ShapeProxy(node, out, result.dtype)

        return handler

    return for_function


def stft(t: Tracer, name: str, op: str, input: Any, n_fft: Any, *args: Any, **kwargs: Any) -> Any:
    """``torch.stft``: per frame, an FFT of ``n_fft`` points, ``log2(n_fft)`` MACs per point as
    a transform counts them; the frames come from a meta run (``center``, ``hop_length``)."""
    if not isinstance(input, ShapeProxy) or not is_int(n_fft):
        raise NotHandled
    result = meta_call(torch.stft, (input, n_fft, *args), kwargs)
    if not isinstance(result, torch.Tensor) or result.dim() < 2:
        raise NotHandled
    out = tuple(int(d) for d in result.shape)
    frames = out[-1] if result.is_complex() else out[-2]  # (.., freq, frames[, 2])
    signals = math.prod(input.dims[:-1])
    macs = fft_macs(signals * frames * n_fft, n_fft)
    extras = [*args, *kwargs.values()]
    params = t.take_params(extras)
    node = t.builder.other(
        input.node, name, kind=OpKind.MATMUL, output_shape=out, macs=macs, params=params, op=op
    )
    return joined(t, name, ShapeProxy(node, out, result.dtype), extras)  # a traced window


def istft(
    t: Tracer,
    name: str,
    op: str,
    input: Any,
    n_fft: Any,
    hop_length: Any = None,
    win_length: Any = None,
    window: Any = None,
    center: bool = True,
    *args: Any,
    **kwargs: Any,
) -> Any:
    """``torch.istft``: the inverse of :func:`stft`, an FFT of ``n_fft`` points per frame,
    overlapped and added; torch's meta kernel has none of its window check (``aten::equal``),
    so its length is torch's formula: ``n_fft + hop * (frames - 1)``, less ``n_fft // 2`` at
    both ends when ``center``, or ``length``."""
    length = kwargs.get("length", args[2] if len(args) > 2 else None)
    if not isinstance(input, ShapeProxy) or not is_int(n_fft) or len(input.dims) < 2:
        raise NotHandled
    frames = input.dims[-1] if input.dtype.is_complex else input.dims[-2]
    hop = n_fft // 4 if hop_length is None else int(hop_length)
    size = n_fft + hop * (frames - 1) - (2 * (n_fft // 2) if center else 0)
    signals = input.dims[:-2] if input.dtype.is_complex else input.dims[:-3]
    out = (*signals, int(length) if length is not None else size)
    macs = fft_macs(math.prod(signals) * frames * n_fft, n_fft)
    node = t.builder.other(input.node, name, kind=OpKind.MATMUL, output_shape=out, macs=macs, op=op)
    real = torch.empty((), dtype=input.dtype, device="meta").real.dtype
    return ShapeProxy(node, out, real)


def distance(per_element: int) -> Callable[[Any], Callable[..., Any]]:
    """The handler of ``func``, a distance or similarity of two broadcast tensors along an axis
    (``F.cosine_similarity``: 3 MACs per element, the dot product and both norms;
    ``F.pairwise_distance``: 1); ``torch.cdist`` is a product (see :func:`cdist`)."""

    def for_function(func: Any) -> Callable[..., Any]:
        def handler(t: Tracer, name: str, op: str, x1: Any, x2: Any, *args: Any, **kw: Any) -> Any:
            both = broadcast(tensor_dims(x1), tensor_dims(x2))
            proxies = [v for v in (x1, x2) if isinstance(v, ShapeProxy)]
            if both is None or not proxies:
                raise NotHandled
            result = meta_call(func, (x1, x2, *args), kw)
            out = tuple(int(d) for d in result.shape)
            node = t.builder.other(
                list(dict.fromkeys(p.node for p in proxies)),
                name,
                kind=OpKind.REDUCE,
                output_shape=out,
                macs=math.prod(both) * per_element,
                params=t.take_params([x1, x2]),
                op=op,
            )
            return ShapeProxy(node, out, result.dtype)

        return handler

    return for_function


def cdist(
    t: Tracer, name: str, op: str, x1: Any, x2: Any, p: Any = 2.0, compute_mode: Any = None
) -> Any:
    """``torch.cdist(a, b)``: ``(..., P, M)`` against ``(..., R, M)``, one MAC per output
    element per feature, as the product ``a @ b.T`` it is built on."""
    a, b = tensor_dims(x1), tensor_dims(x2)
    if len(a) < 2 or len(b) < 2 or a[-1] != b[-1] or not isinstance(p, int | float):
        raise NotHandled
    batch = broadcast(a[:-2], b[:-2])
    if batch is None:
        raise NotHandled
    out = (*batch, a[-2], b[-2])
    node = t.builder.matmul(
        list(dict.fromkeys(v.node for v in (x1, x2) if isinstance(v, ShapeProxy))),
        name,
        output_shape=out,
        macs=math.prod(out) * a[-1],
        params=t.take_params([x1, x2]),
        op=op,
    )
    first = x1 if isinstance(x1, ShapeProxy) else x2
    return ShapeProxy(node, out, first.dtype)


def outer(t: Tracer, name: str, op: str, input: Any, vec2: Any) -> Any:
    """``torch.outer(a, b)``: ``(n, m)``, one multiply per output element."""
    a, b = tensor_dims(input), tensor_dims(vec2)
    proxies = [v for v in (input, vec2) if isinstance(v, ShapeProxy)]
    if len(a) != 1 or len(b) != 1 or not proxies:
        raise NotHandled
    out = (a[0], b[0])
    node = t.builder.other(
        list(dict.fromkeys(p.node for p in proxies)),
        name,
        kind=OpKind.MUL,
        output_shape=out,
        macs=a[0] * b[0],
        params=t.take_params([input, vec2]),
        op=op,
    )
    return ShapeProxy(node, out, proxies[0].dtype)


def addr(t: Tracer, name: str, op: str, input: Any, vec1: Any, vec2: Any, **scales: Any) -> Any:
    """``torch.addr(x, a, b, beta=, alpha=)``: ``x`` plus the outer product of ``a`` and ``b``
    (one multiply-add per element of it), a product node then an add, as written out."""
    if any(isinstance(v, ShapeProxy | torch.Tensor) for v in scales.values()):
        raise NotHandled
    if isinstance(vec1, ShapeProxy) or isinstance(vec2, ShapeProxy):
        product: Any = outer(t, name, op, vec1, vec2)
    else:  # (constant vectors: their product a constant of its shape)
        product = torch.empty(tensor_dims(vec1) + tensor_dims(vec2), device="meta")
    return arith(OpKind.ADD)(t, t.unique(f"{name}.add"), op, input, product)


def tensordot(t: Tracer, name: str, op: str, a: Any, b: Any, dims: Any = 2, out: Any = None) -> Any:
    """``torch.tensordot(a, b, dims)``: the ``einsum`` it is, so it counts as one."""
    ra, rb = len(tensor_dims(a)), len(tensor_dims(b))
    if out is not None or ra + rb > len(string.ascii_letters):
        raise NotHandled
    if isinstance(dims, int):
        left, right = list(range(ra - dims, ra)), list(range(dims))
    elif isinstance(dims, list | tuple) and len(dims) == 2:
        left, right = [list(d) if isinstance(d, list | tuple) else [d] for d in dims]
        left, right = [d % ra for d in left], [d % rb for d in right]
    else:
        raise NotHandled
    if len(left) != len(right):
        raise NotHandled
    letters = iter(string.ascii_letters)
    sa = [next(letters) for _ in range(ra)]
    sb = [next(letters) for _ in range(rb)]
    for i, j in zip(left, right, strict=True):
        sb[j] = sa[i]
    free = [c for i, c in enumerate(sa) if i not in left] + [
        c for j, c in enumerate(sb) if j not in right
    ]
    equation = f"{''.join(sa)},{''.join(sb)}->{''.join(free)}"
    return einsum(t, name, op, equation, a, b)
