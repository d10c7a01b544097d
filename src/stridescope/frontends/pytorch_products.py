"""Products of tensors in the PyTorch tracer: ``@`` / ``matmul`` / ``mm`` / ``bmm``,
``F.scaled_dot_product_attention`` and two-operand ``einsum``. The output shape comes from a
meta run of the call itself; the MACs from the contraction (one multiply-add per output
element per contracted element, as a dense layer), equal to ``FlopCounterMode`` / 2."""

from __future__ import annotations

import math
import re
from typing import Any

import torch

from stridescope.frontends.pytorch_proxy import NotHandled, ShapeProxy
from stridescope.frontends.pytorch_tracer import Tracer, _map, _to_meta

__all__ = ["attention", "einsum", "matmul", "rmatmul"]


def _product(
    t: Tracer, name: str, op: str, func: Any, args: tuple[Any, ...], per_output: int, **kw: Any
) -> Any:
    """Meta-run ``func`` for the output shape; MACs are output elements x ``per_output``
    (``None``: the caller passes the total as ``macs`` in ``kw``)."""
    macs = kw.pop("_macs", None)
    operands = [a for a in args if isinstance(a, ShapeProxy | torch.Tensor)]
    proxies = [a for a in operands if isinstance(a, ShapeProxy)]
    if not proxies:
        raise NotHandled
    result = func(*_map(args, _to_meta), **_map(kw, _to_meta))
    if not isinstance(result, torch.Tensor):
        raise NotHandled
    out = tuple(result.shape)
    node = t.builder.matmul(
        list(dict.fromkeys(p.node for p in proxies)),
        name,
        output_shape=out,
        macs=math.prod(out) * per_output if macs is None else macs,
        params=t.take_params(operands),
        op=op,
    )
    return t.proxy(node, proxies[0])


def _dims(value: Any) -> tuple[int, ...]:
    if isinstance(value, ShapeProxy):
        return value.dims
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    raise NotHandled


def matmul(t: Tracer, name: str, op: str, input: Any, other: Any, **kw: Any) -> Any:
    """``a @ b``, ``torch.matmul``, ``mm``, ``bmm``: contracts ``a``'s last axis."""
    dims = _dims(input)
    _dims(other)
    if kw or not dims:
        raise NotHandled
    return _product(t, name, op, torch.matmul, (input, other), dims[-1])


def rmatmul(t: Tracer, name: str, op: str, input: Any, other: Any) -> Any:
    """``tensor @ proxy`` reaches the proxy's ``__rmatmul__``: the operands swap."""
    return matmul(t, name, op, other, input)


def attention(
    t: Tracer, name: str, op: str, query: Any, key: Any, value: Any, *args: Any, **kw: Any
) -> Any:
    """``F.scaled_dot_product_attention``: every query row meets ``S`` keys of ``E`` elements
    (``q @ k^T``) and ``S`` values of ``Ev`` elements; the mask, dropout and softmax add no
    MACs."""
    q, k, v = _dims(query), _dims(key), _dims(value)
    if len(q) < 2 or len(k) < 2 or len(v) < 2:
        raise NotHandled
    if any(isinstance(a, ShapeProxy) for a in (*args, *kw.values())):
        raise NotHandled  # a traced mask: its own branch is not modelled
    macs = math.prod(q[:-1]) * k[-2] * (q[-1] + v[-1])
    func = torch.nn.functional.scaled_dot_product_attention
    return _product(t, name, op, func, (query, key, value, *args), 0, _macs=macs, **kw)


_EINSUM = re.compile(r"^\s*([a-zA-Z]+)\s*,\s*([a-zA-Z]+)\s*->\s*([a-zA-Z]*)\s*$")


def einsum(t: Tracer, name: str, op: str, equation: Any, *operands: Any) -> Any:
    """Two-operand ``einsum`` without ``...``: MACs are the product of every index's size."""
    if len(operands) == 1 and isinstance(operands[0], list | tuple):
        operands = tuple(operands[0])
    match = _EINSUM.match(equation) if isinstance(equation, str) else None
    if match is None or len(operands) != 2:
        raise NotHandled
    left, right, out = match.groups()
    sizes: dict[str, int] = {}
    for letters, dims in ((left, _dims(operands[0])), (right, _dims(operands[1]))):
        if len(letters) != len(dims):
            raise NotHandled
        for letter, size in zip(letters, dims, strict=True):
            if sizes.setdefault(letter, size) != size and 1 not in (size, sizes[letter]):
                raise NotHandled
            sizes[letter] = max(sizes[letter], size)
    kept = math.prod(sizes[c] for c in out) if out else 1
    contracted = math.prod(sizes.values()) // max(kept, 1)
    return _product(t, name, op, torch.einsum, (equation, *operands), contracted)
