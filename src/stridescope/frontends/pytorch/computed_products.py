"""Products computed on parameters alone: a position table looked up by ``one_hot @ table``
(Gemma 4's vision encoder), two weights multiplied. The parameter mode runs them on meta
tensors, so no traced op sees them; their MACs are counted here, by the rule the traced
product's handler counts with (one multiply-add per output element per contracted element),
on a node of their own that also counts the parameters they use.

>>> import torch
>>> from stridescope.frontends.pytorch.handlers import products
>>> a, b = torch.empty(2, 5, 7), torch.empty(7, 3)
>>> product_macs(products.matmul, (a, b), {}, (2, 5, 3))  # 30 outputs, 7 each
210
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from stridescope.frontends.pytorch.errors import NotHandled
from stridescope.frontends.pytorch.handlers import products, weighted
from stridescope.ir.einsum import einsum_macs

__all__ = ["product_macs"]

Shape = tuple[int, ...]


def _shape(value: Any) -> Shape:
    if not isinstance(value, torch.Tensor):
        raise NotHandled
    return tuple(int(d) for d in value.shape)


def _tail(args: tuple[Any, ...], kw: dict[str, Any], i: int, key: str) -> Shape:
    """The shape of argument ``i`` (or keyword ``key``)."""
    return _shape(args[i] if len(args) > i else kw.get(key))


def _matmul(args: tuple[Any, ...], kw: dict[str, Any], out: Shape) -> int:
    return math.prod(out) * _tail(args, kw, 0, "input")[-1]


def _rmatmul(args: tuple[Any, ...], kw: dict[str, Any], out: Shape) -> int:
    return math.prod(out) * _tail(args, kw, 1, "other")[-1]  # other @ self


def _add_product(args: tuple[Any, ...], kw: dict[str, Any], out: Shape) -> int:
    return math.prod(out) * _tail(args, kw, 1, "mat1")[-1]


def _einsum(args: tuple[Any, ...], kw: dict[str, Any], out: Shape) -> int:
    if not args or not isinstance(args[0], str):
        raise NotHandled
    operands = args[1:]
    if len(operands) == 1 and isinstance(operands[0], list | tuple):
        operands = tuple(operands[0])
    return einsum_macs(args[0], [_shape(o) for o in operands])


def _attention(args: tuple[Any, ...], kw: dict[str, Any], out: Shape) -> int:
    q, k, v = (_tail(args, kw, i, key) for i, key in enumerate(("query", "key", "value")))
    return products.attention_macs(q, k, v)


def _linear(args: tuple[Any, ...], kw: dict[str, Any], out: Shape) -> int:
    return math.prod(out) * _tail(args, kw, 1, "weight")[-1]


def _conv(args: tuple[Any, ...], kw: dict[str, Any], out: Shape) -> int:
    return math.prod(out) * math.prod(_tail(args, kw, 1, "weight")[1:])


def _conv_transpose(args: tuple[Any, ...], kw: dict[str, Any], out: Shape) -> int:
    x, w = _tail(args, kw, 0, "input"), _tail(args, kw, 1, "weight")
    return math.prod(x) * math.prod(w[1:])  # each input element meets out/groups x kernel


def _convolution(args: tuple[Any, ...], kw: dict[str, Any], out: Shape) -> int:
    """``torch.convolution`` (what ``F.conv*`` and ``F.conv_transpose*`` run, and what a
    decomposed exported graph calls): ``transposed`` is its seventh argument."""
    transposed = args[6] if len(args) > 6 else kw.get("transposed", False)
    return (_conv_transpose if transposed else _conv)(args, kw, out)


_RULES: dict[Any, Callable[[tuple[Any, ...], dict[str, Any], Shape], int]] = {
    products.matmul: _matmul,
    products.rmatmul: _rmatmul,
    products.add_product: _add_product,
    products.einsum: _einsum,
    products.attention: _attention,
    weighted.linear: _linear,
    weighted.conv: _conv,
    weighted.conv_transpose: _conv_transpose,
    weighted.convolution: _convolution,
}


def product_macs(handler: Any, args: tuple[Any, ...], kw: dict[str, Any], out: Any) -> int | None:
    """The MACs of a product whose traced form ``handler`` handles, computed here on
    ``args`` (tensors, not proxies) with output shape ``out``; ``None`` for anything else
    (not a product, or arguments the rule cannot read)."""
    rule = _RULES.get(handler)
    if rule is None:
        return None
    try:
        return rule(args, kw, tuple(int(d) for d in out))
    except (NotHandled, IndexError, TypeError, ValueError):
        return None
