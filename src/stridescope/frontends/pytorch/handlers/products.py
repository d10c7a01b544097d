"""Handlers for products of tensors: ``@`` / ``matmul`` / ``mm`` / ``bmm``,
``F.scaled_dot_product_attention``, ``nn.MultiheadAttention``, ``einsum`` and ``F.bilinear``.
The output shape comes from a meta run of the call itself; the MACs from the contraction (one
multiply-add per output element per contracted element, as a dense layer), equal to
``FlopCounterMode`` / 2."""

from __future__ import annotations

import math
import string
from collections.abc import Callable
from typing import Any

import torch

from stridescope.frontends.pytorch.errors import NotHandled
from stridescope.frontends.pytorch.meta_calls import meta_call
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.tracer import Tracer
from stridescope.frontends.pytorch.views import is_int
from stridescope.ir import OpKind
from stridescope.ir.einsum import einsum_macs

__all__ = [
    "add_product",
    "attention",
    "attention_macs",
    "bilinear",
    "broadcast",
    "broadcast_shapes",
    "einsum",
    "matmul",
    "rmatmul",
    "tensor_dims",
]


def product(
    t: Tracer,
    name: str,
    op: str,
    func: Any,
    args: tuple[Any, ...],
    macs: Callable[[tuple[int, ...]], int],
    kw: dict[str, Any] | None = None,
    shape: tuple[int, ...] | None = None,
    kind: OpKind = OpKind.MATMUL,
) -> Any:
    """The output shape from torch's shape rule (``shape``) or, where none was given, a meta
    run of ``func(*args, **kw)``; ``macs(output_shape)`` counts; a node of ``kind``."""
    flat = args if len(args) != 1 or type(args[0]) not in (list, tuple) else args[0]  # multi_dot
    operands = [a for a in flat if isinstance(a, ShapeProxy | torch.Tensor)]
    proxies = [a for a in operands if isinstance(a, ShapeProxy)]
    if not proxies:
        raise NotHandled
    out = shape
    if out is None:
        result = meta_call(func, args, kw or {})
        if not isinstance(result, torch.Tensor):
            raise NotHandled
        out = tuple(int(d) for d in result.shape)
    node = t.builder.other(
        list(dict.fromkeys(p.node for p in proxies)),
        name,
        kind=kind,
        output_shape=out,
        macs=macs(out),
        params=t.take_params(operands),
        op=op,
    )
    return t.proxy(node, proxies[0])


# torch's broadcast of any number of shapes, raising its own error where they clash
broadcast_shapes: Callable[..., torch.Size] = torch.broadcast_shapes  # (untyped in torch)


def broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    """Torch's broadcast of two shapes (aligned at the right), ``None`` where they clash.

    >>> broadcast((2, 1, 4), (3, 1)), broadcast((2,), (3,))
    ((2, 3, 4), None)
    """
    rank = max(len(a), len(b))
    a, b = (1,) * (rank - len(a)) + a, (1,) * (rank - len(b)) + b
    out = []
    for x, y in zip(a, b, strict=True):
        if x != y and 1 not in (x, y):
            return None
        out.append(y if x == 1 else x)
    return tuple(out)


def matmul_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    """``torch.matmul``'s output shape: a 1-D operand gains an axis that the result drops,
    batch axes broadcast, ``(n, m) @ (m, p)`` is ``(n, p)``; ``None`` where torch refuses
    (then torch itself is asked, for its own error).

    >>> matmul_shape((2, 1, 5, 3), (4, 3, 7)), matmul_shape((3,), (3,)), matmul_shape((5, 3), (3,))
    ((2, 4, 5, 7), (), (5,))
    """
    if not a or not b:
        return None
    x = (1, *a) if len(a) == 1 else a
    y = (*b, 1) if len(b) == 1 else b
    batch = broadcast(x[:-2], y[:-2])
    if x[-1] != y[-2] or batch is None:
        return None
    out = (*batch, x[-2], y[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    return out[:-1] if len(b) == 1 else out


def attention_shape(
    q: tuple[int, ...], k: tuple[int, ...], v: tuple[int, ...], args: tuple[Any, ...], kw: Any
) -> tuple[int, ...] | None:
    """``F.scaled_dot_product_attention``'s output ``(*q[:-1], v[-1])`` for equal batch axes,
    matching key sizes and an optional mask that broadcasts to the scores; ``None`` for
    anything else (then torch itself is asked)."""
    if args or set(kw) - {"attn_mask", "dropout_p", "is_causal", "scale"}:
        return None
    if not (len(q) == len(k) == len(v) and q[:-2] == k[:-2] == v[:-2]):
        return None
    if q[-1] != k[-1] or k[-2] != v[-2]:
        return None
    mask = kw.get("attn_mask")
    if mask is not None:
        scores = (*q[:-1], k[-2])
        if kw.get("is_causal") or not isinstance(mask, ShapeProxy | torch.Tensor):
            return None
        if broadcast(tensor_dims(mask), scores) != scores:
            return None
    return (*q[:-1], v[-1])


def tensor_dims(value: Any) -> tuple[int, ...]:
    """The shape of a proxy or a tensor; :class:`NotHandled` for anything else."""
    if isinstance(value, ShapeProxy):
        return value.dims
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    raise NotHandled


def matmul(t: Tracer, name: str, op: str, input: Any, other: Any, **kw: Any) -> Any:
    """``a @ b``, ``torch.matmul``, ``mm``, ``bmm``: contracts ``a``'s last axis."""
    dims = tensor_dims(input)
    tensor_dims(other)
    if kw or not dims:
        raise NotHandled
    return product(
        t,
        name,
        op,
        torch.matmul,
        (input, other),
        lambda out: math.prod(out) * dims[-1],
        shape=matmul_shape(dims, tensor_dims(other)),
    )


def add_product(t: Tracer, name: str, op: str, input: Any, *operands: Any, **kw: Any) -> Any:
    """``torch.addmm(bias, a, b)`` / ``baddbmm`` / ``addmv``: the product of ``a`` and ``b`` (as
    :func:`matmul`), added to ``input``; ``beta`` / ``alpha`` scale without MACs. ``a`` and
    ``b`` by position or by torch's names (``alibi.baddbmm(batch1=q, batch2=k)``, BLOOM's)."""
    named = [k for k in _OPERANDS if k in kw]
    if named:
        operands = (*operands, *[kw.pop(k) for k in named])
    if len(operands) != 2:
        raise NotHandled
    mat1, mat2 = operands
    dims = tensor_dims(mat1)
    tensor_dims(input), tensor_dims(mat2)
    if not dims or any(isinstance(v, ShapeProxy) for v in kw.values()):
        raise NotHandled
    func = {"baddbmm": torch.baddbmm, "addmv": torch.addmv}.get(op, torch.addmm)
    contracted = dims[-1]
    return product(
        t, name, op, func, (input, mat1, mat2), lambda out: math.prod(out) * contracted, kw
    )


_OPERANDS = ("mat1", "mat2", "batch1", "batch2", "mat", "vec")  # (addmm, baddbmm, addmv)


def grouped_mm(t: Tracer, name: str, op: str, mat_a: Any, mat_b: Any, **kw: Any) -> Any:
    """``F.grouped_mm`` / ``torch._grouped_mm`` (a mixture of experts' layer in Hugging Face's
    ``grouped_mm`` experts): ``(S, K)`` rows in groups that ``offs`` bounds, each group times
    its expert's ``(K, N)`` of ``(E, K, N)``, so ``(S, N)`` and ``S * K * N`` MACs; ``(E, S, K)``
    times ``(E, K, N)`` is a batched product. torch's meta kernel takes bfloat16 only, so the
    shape is worked out here; other forms go to the meta run."""
    a, b = tensor_dims(mat_a), tensor_dims(mat_b)
    offs = kw.get("offs")
    if kw.get("bias") is not None or len(b) != 3 or a[-1] != b[1]:
        raise NotHandled
    shape: tuple[int, ...]
    if len(a) == 2 and isinstance(offs, ShapeProxy | torch.Tensor):
        shape = (a[0], b[2])
    elif len(a) == 3 and a[0] == b[0] and offs is None:
        shape = (a[0], a[1], b[2])
    else:
        raise NotHandled
    operands = (mat_a, mat_b) if offs is None else (mat_a, mat_b, offs)
    out = product(t, name, op, None, operands, lambda out: math.prod(out) * a[-1], shape=shape)
    dtype = kw.get("out_dtype")
    return out if dtype is None else ShapeProxy(out.node, out.dims, dtype)


def bilinear(
    t: Tracer, name: str, op: str, input1: Any, input2: Any, weight: Any, bias: Any = None
) -> Any:
    """``F.bilinear`` (``nn.Bilinear``): ``x1ᵀ A_k x2`` for each output feature ``k``, so
    ``in1 × in2`` MACs per output element; the weight and bias counted here."""
    w = tensor_dims(weight)
    if len(w) != 3 or isinstance(weight, ShapeProxy) or isinstance(bias, ShapeProxy):
        raise NotHandled
    func = torch.nn.functional.bilinear
    args = (input1, input2, weight) if bias is None else (input1, input2, weight, bias)
    return product(t, name, op, func, args, lambda out: math.prod(out) * w[1] * w[2])


def rmatmul(t: Tracer, name: str, op: str, input: Any, other: Any) -> Any:
    """``tensor @ proxy`` reaches the proxy's ``__rmatmul__``: the operands swap."""
    return matmul(t, name, op, other, input)


def attention_macs(q: tuple[int, ...], k: tuple[int, ...], v: tuple[int, ...]) -> int:
    """MACs of scaled dot-product attention on query, key and value shapes: every query row
    meets ``S`` keys of ``E`` elements and ``S`` values of ``Ev`` elements.

    >>> attention_macs((2, 4, 8, 16), (2, 4, 10, 16), (2, 4, 10, 32))  # 64 rows x 10 x 48
    30720
    """
    return math.prod(q[:-1]) * k[-2] * (q[-1] + v[-1])


def attention(
    t: Tracer, name: str, op: str, query: Any, key: Any, value: Any, *args: Any, **kw: Any
) -> Any:
    """``F.scaled_dot_product_attention``: every query row meets ``S`` keys of ``E`` elements
    (``q @ k^T``) and ``S`` values of ``Ev`` elements; the mask (traced or not), dropout and
    softmax add no MACs."""
    q, k, v = tensor_dims(query), tensor_dims(key), tensor_dims(value)
    if len(q) < 2 or len(k) < 2 or len(v) < 2:
        raise NotHandled
    shape = attention_shape(q, k, v, args, kw)  # before the mask moves into args
    if not args and "attn_mask" in kw:  # a traced mask is a parent, so positional
        args = (kw.pop("attn_mask"),)
    if any(isinstance(a, ShapeProxy) for a in (*args[1:], *kw.values())):
        raise NotHandled  # only the mask may be traced
    macs = attention_macs(q, k, v)
    func = torch.nn.functional.scaled_dot_product_attention
    return product(t, name, op, func, (query, key, value, *args), lambda out: macs, kw, shape)


def einsum(t: Tracer, name: str, op: str, equation: Any, *operands: Any) -> Any:
    """``torch.einsum`` with any valid equation (spaces, capitals, ``...``, an implicit
    output) and any number of operands: MACs from :func:`~stridescope.ir.einsum.einsum_macs`."""
    if len(operands) == 1 and isinstance(operands[0], list | tuple):
        operands = tuple(operands[0])
    if not isinstance(equation, str) and operands:  # einsum(a, [0, 1], b, [1, 2], [0, 2])
        equation, operands = _sublist_form(equation, *operands)
    if not isinstance(equation, str) or not operands:
        raise NotHandled
    try:
        every = einsum_macs(equation, [tensor_dims(o) for o in operands])
    except ValueError:  # an equation that does not fit: torch's own error, from meta
        raise NotHandled from None
    return product(t, name, op, torch.einsum, (equation, *operands), lambda out: every)


_LETTERS = string.ascii_uppercase + string.ascii_lowercase  # torch's labels: 0 is A


def _sublist_form(*args: Any) -> tuple[Any, tuple[Any, ...]]:
    """``einsum``'s sublist form (each operand followed by its axes as ints, then the
    output's axes if given) as an equation and its operands; as it was if it is not one."""
    pairs = args[: len(args) - len(args) % 2]
    try:
        equation = ",".join(_subscript(axes) for axes in pairs[1::2])
        if len(args) % 2:
            equation += "->" + _subscript(args[-1])
    except ValueError:
        return args[0], args[1:]
    return equation, pairs[0::2]


def _subscript(axes: Any) -> str:
    if not isinstance(axes, list | tuple):
        raise ValueError(axes)
    chars = []
    for a in axes:
        if a is not Ellipsis and not (is_int(a) and 0 <= a < len(_LETTERS)):
            raise ValueError(a)
        chars.append("..." if a is Ellipsis else _LETTERS[a])
    return "".join(chars)
