"""Activation bytes of the nodes whose output is not of the model's dtype.

A node's ``activation_bytes`` is its output's elements times the graph's bytes per value (the
dtype of the model's first floating-point parameter). An op whose output has another dtype is
counted at that dtype's size instead, as torch stores it: ``argmax``'s int64 indices (8 bytes
a value in a float32 model), a comparison's bool mask (1), the half-precision values after
``x.half()`` (2), a quantized layer's 8-bit output (1), token ids given as an int64 input.

The dtype is the one of the proxy the call that made the node returns for it; a cast makes no
node (``x.half()`` returns ``x``'s node with another dtype), so it resizes none.

>>> import torch
>>> from torch import nn
>>> from stridescope.frontends import load_graph
>>> class Pick(nn.Module):
...     def forward(self, x):
...         return x.argmax(dim=1)
>>> [n.activation_bytes for n in load_graph(Pick(), (1, 10, 4, 4)).nodes]
[640, 128]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from stridescope.frontends.pytorch.meta_calls import walk_values
from stridescope.frontends.pytorch.proxy import ShapeProxy

if TYPE_CHECKING:
    from stridescope.frontends.pytorch.meta_fallback import MetaFallback

__all__ = ["STORED", "sized", "stored"]

# quantized dtypes as the proxies carry them: the plain dtype of the same size, which meta
# tensors and type promotion take (a quint8 meta tensor cannot even be made)
STORED = {
    torch.quint8: torch.uint8,
    torch.qint8: torch.int8,
    torch.qint32: torch.int32,
    torch.quint4x2: torch.uint8,
    torch.quint2x4: torch.uint8,
}

# the same by ScalarType code, as a TorchScript graph hands a dtype (c10's ScalarType order)
_CODES = {12: torch.int8, 13: torch.uint8, 14: torch.int32, 16: torch.uint8, 17: torch.uint8}


def stored(dtype: Any) -> torch.dtype | None:
    """The dtype a proxy carries for ``dtype`` (a dtype, or a TorchScript ScalarType code).

    >>> stored(torch.quint8), stored(13), stored(torch.half), stored(None)
    (torch.uint8, torch.uint8, torch.float16, None)
    """
    if isinstance(dtype, torch.dtype):
        return STORED.get(dtype, dtype)
    return _CODES.get(dtype) if type(dtype) is int else None


def sized(tracer: MetaFallback, out: Any, first: int) -> None:
    """Count the nodes a call made (ids from ``first`` on) at the size of the dtype it
    returns them with (:meth:`GraphBuilder.values_made`): where it returns one tensor, every
    node it made; else each node it returns (``max``'s values and int64 indices)."""
    proxies = (out,) if type(out) is ShapeProxy else walk_values(out)
    outputs = [(p.node, p.dtype.itemsize) for p in proxies if type(p) is ShapeProxy]
    tracer.builder.values_made(first, outputs, every=type(out) is ShapeProxy)
