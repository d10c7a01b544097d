"""Index tensors that point outside the axis they index, found before a meta run hides them.

A meta kernel works out shapes without reading values, so ``table[index]`` on a meta table
(a relative-position bias table, indexed under the parameter mode) or on a traced tensor
takes any index. A model whose index buffer does not fit the input size (MViT v2's
relative-position lookup at 257 x 193: PyTorch raises ``IndexError: index 111 is out of
bounds for dimension 0 with size 111``) was summarised as if it ran. :func:`check_indices`
reads the least and the greatest value of each real integer index tensor of an indexing call
(``x[...]``, ``index_select``, ``gather``, ``take_along_dim`` without a dim (along one,
torch wraps any index: 5 of 4 takes 1), ``F.embedding``) and raises
torch's ``IndexError`` where one is out of range; a tensor seen before, unchanged, is not read
again (a buffer indexed in every block).

>>> import torch
>>> check_indices(torch.Tensor.__getitem__, (torch.empty(4, 5, device="meta"),
...     (slice(None), torch.tensor([0, 4]))), {})
>>> check_indices(torch.Tensor.__getitem__, (torch.empty(4, 5, device="meta"),
...     (torch.tensor([1, 4]),)), {})
Traceback (most recent call last):
...
stridescope.frontends.pytorch.index_bounds.IndexOutOfBounds: index 4 is out of bounds for dimension 0 with size 4
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from stridescope.frontends.pytorch.versions import version

__all__ = ["INDEXING", "IndexOutOfBounds", "check_indices"]

# per index tensor id: the tensor (held, so the id stays its own), its version, its least and
# greatest value (bounded)
_SEEN: dict[int, tuple[torch.Tensor, int, int, int]] = {}
_SEEN_LIMIT = 1024
_ALONG_DIM = frozenset(
    {
        torch.index_select,
        torch.Tensor.index_select,
        torch.gather,
        torch.Tensor.gather,
        torch.take_along_dim,
        torch.Tensor.take_along_dim,
    }
)
_TAKE_ALONG = frozenset({torch.take_along_dim, torch.Tensor.take_along_dim})
_EMBEDDING = frozenset({F.embedding})
#: the indexing functions :func:`check_indices` reads
INDEXING = frozenset({torch.Tensor.__getitem__}) | _ALONG_DIM | _EMBEDDING


def _range(index: torch.Tensor) -> tuple[int, int] | None:
    """The least and greatest value of a real integer tensor with values, else ``None``."""
    if (
        type(index) is not torch.Tensor  # (not a proxy, a subclass or a parameter)
        or index.is_meta
        or index.is_floating_point()
        or index.dtype in (torch.bool, torch.uint8)
        or index.numel() == 0
    ):
        return None
    seen = _SEEN.get(id(index))
    if seen is not None and seen[0] is index and seen[1] == version(index):
        return seen[2], seen[3]
    with torch._C.DisableTorchFunction():
        low, high = (int(v) for v in torch.aminmax(index.detach()))
    if len(_SEEN) >= _SEEN_LIMIT:
        _SEEN.clear()
    _SEEN[id(index)] = (index, version(index), low, high)
    return low, high


class IndexOutOfBounds(IndexError):
    """An index tensor's value outside its axis: torch's ``IndexError``, found on real index
    values, so it stands whatever else the trace does (on CUDA, the real kernel's error would
    come later, from an assert on the device)."""


def _fits(index: Any, size: int, dim: int, negative: bool = False) -> None:
    """:class:`_OutOfBounds` where ``index`` (a real integer tensor) leaves ``[0, size)``
    (``negative``: ``[-size, size)``, as ``x[index]`` takes)."""
    found = _range(index)
    if found is None:
        return
    for value in found:
        if not (-size if negative else 0) <= value < size:
            raise IndexOutOfBounds(
                f"index {value} is out of bounds for dimension {dim} with size {size}"
            )


def _items(shape: tuple[int, ...], item: Any) -> None:
    """``x[item]``: each integer tensor of ``item`` against the axis it indexes."""
    items = item if type(item) is tuple else (item,)
    taken = sum(1 for i in items if i is not None and i is not Ellipsis and not isinstance(i, bool))
    axis = 0
    for i in items:
        if i is None or isinstance(i, bool):
            continue
        if i is Ellipsis:
            axis += max(len(shape) - taken, 0)
            continue
        if axis >= len(shape):
            return  # too many indices: torch's own error, from the meta run
        if isinstance(i, torch.Tensor) and i.dtype in (torch.bool, torch.uint8):
            axis += max(i.dim(), 1)
            continue
        _fits(i, shape[axis], axis, negative=True)
        axis += 1


def check_indices(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Raise torch's ``IndexError`` where a real integer index tensor of an indexing call
    (one of :data:`INDEXING`) points outside the axis it indexes."""
    try:
        if func is torch.Tensor.__getitem__:
            _items(tuple(args[0].shape), args[1])
        elif func in _ALONG_DIM:  # (x, dim, index); take_along_dim's is (x, indices, dim)
            order = ("indices", "dim") if func in _TAKE_ALONG else ("dim", "index")
            given = {**dict(zip(order, args[1:3], strict=False)), **kwargs}
            dim, index = given.get("dim"), given.get("indices", given.get("index"))
            shape = tuple(args[0].shape)
            if func in _TAKE_ALONG:  # torch wraps each index along a dim (5 of 4 takes 1)
                if dim is None:  # flattened, it gathers
                    _fits(index, math.prod(shape), 0)
            elif isinstance(dim, int) and -len(shape) <= dim < len(shape):
                _fits(index, shape[dim], dim % len(shape))
        else:  # F.embedding(input, weight)
            ids = kwargs.get("input", args[0] if args else None)
            weight = kwargs.get("weight", args[1] if len(args) > 1 else None)
            if weight is not None:
                _fits(ids, int(weight.shape[0]), 0)
    except IndexOutOfBounds:
        raise
    except Exception:  # arguments torch would refuse: its own error, from the meta run
        return
