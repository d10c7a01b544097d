"""Data movement whose output shapes follow from the arguments: integer indexing
(``qkv[0]``, ``x[:, 0]``, ``x[..., None]``), ``unsqueeze``, ``squeeze``, ``unbind`` and
``roll``.

Each makes the nodes :func:`~stridescope.frontends.pytorch.handlers.reshaping.by_meta` makes
(kind ``MOVE``, counted, the op spelled as the meta run spells it, one node per output named
``name``, ``name[1]``, ...), with the shapes worked out here instead of by a meta-tensor run,
which costs ~30-50 µs a call (Swin Transformer indexes and unsqueezes its window attention's
tensors ~40 times a forward). Anything beyond the plain cases (a tensor index, a boolean, an
index out of range, a step that is not positive, a parameter among the arguments) is left to
the meta run, so its error or result is torch's own. An ``unsqueeze``, a ``squeeze`` and an
index that only adds or drops axes of size 1 (``x[:, None]``, ``x[..., None, :]``) keep every
element where it was: they are reshapes (kind ``RESHAPE``), so the spatial axes stay known
through them (a waveform ``(batch, samples)`` made ``(batch, 1, samples)`` for a ``Conv1d``;
a ``(N, C, L)`` signal made ``(N, C, 1, L)`` for a ``Conv2d`` with ``(1, k)`` kernels).

>>> import torch
>>> from torch import nn
>>> from stridescope.frontends.pytorch.trace import trace_torch
>>> class Heads(nn.Module):
...     def forward(self, x):
...         q, k, v = x.unsqueeze(0).expand(3, -1, -1, -1).unbind(0)
...         return q[:, 0] + k[0, :, None].sum() + v[..., -1:].sum()
>>> g = trace_torch(Heads(), (2, 5, 4))
>>> [(n.op, n.output_shape) for n in g.nodes[1:5]]
[('unsqueeze', (1, 2, 5, 4)), ('expand', (3, 2, 5, 4)), ('unbind', (2, 5, 4)), ('unbind', (2, 5, 4))]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from stridescope.frontends.pytorch.errors import NotHandled, data_sized_error
from stridescope.frontends.pytorch.handlers.products import broadcast_shapes
from stridescope.frontends.pytorch.handlers.reshaping import by_meta, view
from stridescope.frontends.pytorch.handlers.slicing import is_int
from stridescope.frontends.pytorch.meta_calls import meta_call, walk_values
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.thread_state import active_tracer
from stridescope.frontends.pytorch.tracer import Tracer, spelling
from stridescope.ir import OpKind
from stridescope.ir.reshaped_axes import sized_alike

__all__ = ["index", "known_selection", "roll", "selected", "squeeze", "unbind", "unsqueeze"]

_MASKS = (torch.bool, torch.uint8)
_SELECTING = frozenset({"nonzero", "argwhere", "masked_select", "where"})
_BY_MASK = "indexing by a boolean mask (x[mask])"
_SPELLED = {"where": "torch.where(condition)"}
ON = True  # work the shapes out here (off: every call takes the meta run; the graph is the same)
_MOVE = OpKind.MOVE
Rule = Callable[..., "list[tuple[int, ...]] | None"]


def _handler(
    func: Any, rule: Rule, several: bool = False, reshapes: bool = False
) -> Callable[..., Any]:
    """A handler of ``func`` that makes :func:`by_meta`'s nodes with the shapes ``rule``
    gives for ``(x, *args, **kwargs)`` (a list, one per output; ``several``: ``func`` returns
    a tuple of them), and leaves the call to the meta run where it gives ``None``.
    ``reshapes``: an output that only adds or drops axes of size 1 is a reshape node."""
    meta = by_meta(func)
    op = spelling(func)

    def handler(t: Tracer, name: str, _op: str, *args: Any, **kwargs: Any) -> Any:
        x: Any = args[0] if args else None
        try:
            shapes = rule(x, *args[1:], **kwargs) if type(x) is ShapeProxy and ON else None
        except TypeError:  # arguments the op does not take: torch's error, from the meta run
            shapes = None
        if shapes is None:
            if not (reshapes and type(x) is ShapeProxy and _plain(args, kwargs)):
                return meta(t, name, _op, *args, **kwargs)
            result = meta_call(func, args, kwargs)  # (torch's error, where it raises)
            if not isinstance(result, torch.Tensor) or not sized_alike(x.dims, result.shape):
                run = lambda: result  # noqa: E731
                return t.fallback(func, args, kwargs, name=name, kind=_MOVE, counted=True, run=run)
            shapes = [tuple(result.shape)]
        elif (
            reshapes
            and sized_alike(x.dims, shapes[0])
            and not _plain(args, kwargs)
            and not _traced_key(args)  # (a traced mask selecting all: a reshape, below)
        ):
            return meta(t, name, _op, *args, **kwargs)  # (a mask selecting all: as before)
        if reshapes and sized_alike(x.dims, shapes[0]):
            node = t.builder.reshape(x.node, name, output_shape=shapes[0], op=op)
            return ShapeProxy(node, shapes[0], x.dtype)
        made: list[ShapeProxy] = []
        for shape in shapes:
            node = t.builder.other(
                (x.node,),
                t.unique(f"{name}[{len(made)}]") if made else name,
                kind=_MOVE,
                output_shape=shape,
                counted=True,
                op=op,
            )
            made.append(ShapeProxy(node, shape, x.dtype))
        return tuple(made) if several else made[0]

    return handler


def _traced_key(args: tuple[Any, ...]) -> bool:
    """Whether ``x[key]``'s key holds a traced tensor."""
    return any([type(v) is ShapeProxy for v in walk_values(args[1:])])


def selected(tracer: Tracer | None, mask: ShapeProxy, what: str) -> int | None:
    """How many elements a traced mask selects where every element's value is known (a mask
    given as an input, taken as all ones: all of them; ids compared with a padding id: none);
    where unknown, all of them, noted as an upper bound (``Tracer.bounded``; ``what``: the op
    that selects). The read is noted as the forward's (see :mod:`.known_values`); ``None``
    outside a trace."""
    if tracer is None:
        return None
    value = tracer.known.read(mask.node)
    if value is None:
        tracer.bounded(mask.node, what)
        tracer.known.reads.add(mask.node)  # (its values are read: not discarded work)
    return math.prod(mask.dims) if value is None or value else 0


def known_selection(
    t: Tracer, spelled: str, name: str, op: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``nonzero`` / ``argwhere`` / ``masked_select`` (and ``torch.where(condition)``) of a
    traced mask: every position selected where its every element is known true (a mask given
    as an input, taken as all ones), none where known false, else every one (an upper bound,
    noted: see :func:`selected`); ``None`` for other ops and arguments."""
    given = {**dict(zip(("input", "mask"), args, strict=False)), **kwargs}
    picker = given.get("mask") if spelled == "masked_select" else given.get("input")
    if spelled not in _SELECTING or not isinstance(picker, ShapeProxy | torch.Tensor):
        return None
    if type(picker) is ShapeProxy:
        count = selected(t, picker, _SPELLED.get(spelled, spelled))
    elif spelled == "masked_select" and not picker.is_meta:  # a mask the forward made
        count = int(picker.count_nonzero())  # (not from a traced tensor: its count known)
    else:
        return None
    if count is None:
        return None
    parents = list(dict.fromkeys(v.node for v in (given["input"], picker) if type(v) is ShapeProxy))
    if spelled == "masked_select":
        dims = broadcast_shapes(tuple(given["input"].shape), tuple(picker.shape))
        out = (count * math.prod(dims) // max(math.prod(picker.shape), 1),)
        node = t.builder.other(parents, name, kind=OpKind.MOVE, output_shape=out, op=op)
        return ShapeProxy(node, out, given["input"].dtype)
    rank = len(picker.shape)
    if spelled == "where" or given.get("as_tuple"):  # one index tensor per axis
        made = [
            t.builder.other(
                parents,
                t.unique(f"{name}[{i}]") if i else name,
                kind=OpKind.MOVE,
                output_shape=(count,),
                op=op,
            )
            for i in range(rank)
        ]
        t.data_sized.update(made)
        return tuple(ShapeProxy(n, (count,), torch.int64) for n in made)
    node = t.builder.other(parents, name, kind=OpKind.MOVE, output_shape=(count, rank), op=op)
    t.data_sized.add(node)
    return ShapeProxy(node, (count, rank), torch.int64)


def _unsqueeze(x: ShapeProxy, dim: Any) -> list[tuple[int, ...]] | None:
    rank = len(x.dims) + 1
    if not is_int(dim) or not -rank <= dim < rank:
        return None
    at = dim % rank
    return [(*x.dims[:at], 1, *x.dims[at:])]


def _squeeze(x: ShapeProxy, dim: Any = None) -> list[tuple[int, ...]] | None:
    rank = len(x.dims)
    axes = range(rank) if dim is None else _ints(dim)
    if axes is None or not rank or not all([-rank <= a < rank for a in axes]):
        return None  # (a scalar's: the meta run)
    dropped = {a % rank for a in axes if x.dims[a] == 1}
    return [tuple(d for a, d in enumerate(x.dims) if a not in dropped)]


def _plain(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """No tensor besides the first argument, real or traced (an index by a mask or a tensor
    selects: a traced index is a parent of the pick, its values choose the positions)."""
    rest = walk_values((args[1:], kwargs))
    return not any([isinstance(v, torch.Tensor | ShapeProxy) for v in rest])


def _unbind(x: ShapeProxy, dim: Any = 0) -> list[tuple[int, ...]] | None:
    rank = len(x.dims)
    if not is_int(dim) or not -rank <= dim < rank or x.dims[dim] == 0:
        return None
    at = dim % rank
    return [(*x.dims[:at], *x.dims[at + 1 :])] * x.dims[at]


def _ints(value: Any) -> tuple[int, ...] | None:
    """An int or a tuple / list of ints as a tuple; ``None`` for anything else."""
    if is_int(value):
        return (value,)
    if type(value) in (tuple, list) and all([is_int(v) for v in value]):
        return tuple(value)
    return None


def _roll(x: ShapeProxy, shifts: Any, dims: Any = None) -> list[tuple[int, ...]] | None:
    rank = len(x.dims)
    moves, axes = _ints(shifts), () if dims is None else _ints(dims)
    if moves is None or axes is None or not moves:
        return None
    if axes and (len(axes) != len(moves) or not all([-rank <= a < rank for a in axes])):
        return None
    if not axes and len(moves) != 1:
        return None
    return [x.dims]


def _index(x: ShapeProxy, item: Any) -> list[tuple[int, ...]] | None:
    """``x[item]`` for ints, slices with int bounds and a positive step, ``None`` and one
    ``...``: the basic indexing every framework shares; and one boolean mask the forward made
    of its own (``x[is_image]``), whose count of selected positions is known."""
    items: Sequence[Any] = item if type(item) is tuple else (item,)
    taken = sum(1 for i in items if i is not None and i is not Ellipsis)
    dots = sum(1 for i in items if i is Ellipsis)
    dims = x.dims
    if taken > len(dims) or dots > 1:
        return None
    out: list[int] = []
    axis = 0
    for i in items:
        if i is None:
            out.append(1)
        elif i is Ellipsis:
            rest = len(dims) - taken
            out.extend(dims[axis : axis + rest])
            axis += rest
        elif is_int(i):
            if not -dims[axis] <= i < dims[axis]:
                return None  # torch's IndexError, from the meta run
            axis += 1
        elif type(i) is slice and all([v is None or is_int(v) for v in (i.start, i.stop, i.step)]):
            if i.step is not None and i.step < 1:
                return None
            out.append(len(range(*i.indices(dims[axis]))))
            axis += 1
        elif type(i) is ShapeProxy and i.dtype in _MASKS:  # (the meta run's error would say
            # only that ``nonzero`` has no meta kernel): a mask of a known value selects all
            if (count := selected(active_tracer(), i, _BY_MASK)) is None:  # (outside a trace)
                raise data_sized_error(_BY_MASK)
            out.append(count)
            axis += len(i.dims)
        elif _known_mask(i, dims[axis:]) and sum(isinstance(j, torch.Tensor) for j in items) == 1:
            out.append(int(i.sum()))  # a mask the forward made (not from x): its count known
            axis += i.dim()
        else:
            return None  # a tensor, a bool, a list: advanced indexing
    return [(*out, *dims[axis:])]


def _known_mask(item: Any, dims: tuple[int, ...]) -> bool:
    """A real boolean tensor (made in the forward from sizes, not from a traced tensor) that
    fits the axes it indexes: the positions it selects are known."""
    return (
        isinstance(item, torch.Tensor)
        and item.dtype is torch.bool
        and not item.is_meta
        and 0 < item.dim() <= len(dims)
        and tuple(item.shape) == dims[: item.dim()]
    )


def unsqueeze(func: Any) -> Callable[..., Any]:
    return _handler(func, _unsqueeze, reshapes=True)


def squeeze(func: Any) -> Callable[..., Any]:
    return _handler(func, _squeeze, reshapes=True)


def unbind(func: Any) -> Callable[..., Any]:
    return _handler(func, _unbind, several=True)


def roll(func: Any) -> Callable[..., Any]:
    return _handler(func, _roll)


def index(func: Any) -> Callable[..., Any]:
    """``x[key]`` (see :func:`_index`); a tensor the forward made (class labels from
    ``arange``) indexed by a traced mask is that tensor's constant node, indexed."""
    handler = _handler(func, _index, reshapes=True)

    def indexed(t: Tracer, name: str, op: str, *args: Any, **kwargs: Any) -> Any:
        x, key = args if len(args) == 2 else (None, None)
        if isinstance(x, torch.Tensor) and type(key) is ShapeProxy and key.dtype in _MASKS:
            args = (x if x.is_meta else t.constant(x, t.unique(f"{name}.tensor")), key)
        return handler(t, name, op, *args, **kwargs)

    return indexed


def unflatten(t: Tracer, name: str, op: str, input: Any, dim: Any, sizes: Any) -> Any:
    """``x.unflatten(dim, sizes)``: a view (:func:`~.reshaping.view`), so the positions stay
    known where it keeps them or splits them into blocks, as ``x.view(...)`` does; named
    dimensions and anything else: the meta run."""
    dims = input.dims if type(input) is ShapeProxy else None
    if dims is None or not is_int(dim) or not -len(dims) <= dim < len(dims):
        raise NotHandled
    split = _ints(sizes)
    if split is None:
        raise NotHandled
    at = dim % len(dims)
    return view(t, name, op, input, *dims[:at], *split, *dims[at + 1 :])
