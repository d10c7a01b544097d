"""Writes through views: ``t[:, :3].copy_(x)``, ``t.narrow(2, 0, h).zero_()``,
``t[0] += y``, ``t.view(n, -1).mul_(s)``.

A slice, select, split, reshape or axis move of a tensor is a view of it: an in-place op on
the view writes into the tensor it views. A trace's proxies are not views, so the tracer
keeps, on each proxy a view op returned, the proxy it views and the call that made it
(:func:`record`: a tuple in a slot, nothing more, on the hot path); an in-place write on such
a proxy writes its new node back into the viewed tensor (:func:`write_back`; the node is made
when that tensor is next read, :func:`settle`), up the chain of views: a slice (``getitem``
with slices, ints, ``None`` and ``...``; ``select``, ``narrow``; a piece of ``unbind``,
``split``, ``chunk``, ``tensor_split``) as ``base[key] = view`` (the ``__setitem__`` node), a
reshape as the view reshaped back, any other view (an axis move, ``expand``, ``diagonal``,
``detach``) as a node made of the base and the view.

A traced tensor written into a tensor the forward made without the input (``canvas =
torch.zeros(...)`` then ``canvas[..., :h, :w] = x`` or ``canvas[:, :c].copy_(x)``) makes that
tensor traced from then on (:func:`promote`: a node for it, and for the view written, as
torch knows it from ``._base``); the torch calls and module calls that take it afterwards
take its proxy instead (:func:`substitute`). Such a tensor, and the view of it written, is a
:class:`Written` tensor until the trace ends (:func:`restore`), so that a call taking it and no
proxy (``canvas.sum()``, ``torch.relu(canvas)``) reaches the tracer as well.

>>> import torch
>>> from torch import nn
>>> from stridescope.frontends.pytorch.trace import trace_torch
>>> class Pad(nn.Module):
...     def forward(self, x):
...         out = x.new_zeros(1, 3, 6, 6)
...         out[:, :, :4, :4].copy_(x)  # the input, written into a larger canvas
...         return out
>>> g = trace_torch(Pad(), (1, 3, 4, 4))
>>> [(n.op, n.parents) for n in g.nodes[1:]]
[('new_zeros', ()), ('getitem', (1,)), ('copy', (0,)), ('setitem', (3,))]
>>> g.nodes[-1].kind.value, g.nodes[-1].window.padding  # (into a canvas: a pad of the copy)
('pad', ((0, 2), (0, 2)))
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch

from stridescope.frontends.pytorch.meta_calls import map_values, walk_values
from stridescope.frontends.pytorch.placements import placed
from stridescope.frontends.pytorch.proxy import ShapeProxy, in_place, is_int
from stridescope.frontends.pytorch.thread_state import STATE
from stridescope.ir import OpKind, Shape

if TYPE_CHECKING:
    from stridescope.frontends.pytorch.tracer import Tracer

__all__ = [
    "KEYS",
    "QUERIES",
    "Written",
    "current",
    "is_int",
    "promote",
    "record",
    "restore",
    "settle",
    "substitute",
    "write_back",
]

# what a view's write-back needs: the key of ``base[key] = view``, or how the view covers it
_RESHAPED = "reshaped"  # the view holds every element of the base, in another shape
_OTHER = "other"  # the view holds some or all elements, arranged otherwise
_COPY = "copy"  # not a view after all: indexing by a tensor or a list copies
# (viewed tensor, the call's arguments after it, its keywords, every piece's shape, this one's)
Key = Callable[[ShapeProxy, tuple[Any, ...], dict[str, Any], Sequence[Shape], int], Any]


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], at: int, name: str, default: Any) -> Any:
    return args[at] if len(args) > at else kwargs.get(name, default)


def _dim(base: ShapeProxy, dim: Any) -> int | None:
    rank = len(base.dims)
    return dim % rank if is_int(dim) and -rank <= dim < rank else None


def _getitem(base: ShapeProxy, args: Any, kwargs: Any, pieces: Any, at: int) -> Any:
    item = _arg(args, kwargs, 0, "item", None)
    items = item if isinstance(item, tuple) else (item,)
    basic = all([i is None or i is Ellipsis or isinstance(i, slice) or is_int(i) for i in items])
    return item if basic else _COPY


def _select(base: ShapeProxy, args: Any, kwargs: Any, pieces: Any, at: int) -> Any:
    dim = _dim(base, _arg(args, kwargs, 0, "dim", None))
    index = _arg(args, kwargs, 1, "index", None)
    return None if dim is None or not is_int(index) else (slice(None),) * dim + (index,)


def _narrow(base: ShapeProxy, args: Any, kwargs: Any, pieces: Any, at: int) -> Any:
    dim = _dim(base, _arg(args, kwargs, 0, "dim", None))
    start, length = _arg(args, kwargs, 1, "start", None), _arg(args, kwargs, 2, "length", None)
    if dim is None or not (is_int(start) and is_int(length)):
        return None
    start = start % base.dims[dim] if start < 0 else start
    return (slice(None),) * dim + (slice(start, start + length),)


def _piece(along: int) -> Key:
    """The key of piece ``at`` of a split along the dim at argument ``along`` (after the
    tensor; default 0): its rows start where the pieces before it end; ``unbind``'s pieces
    drop the axis."""

    def key(base: ShapeProxy, args: Any, kwargs: Any, pieces: Any, at: int) -> Any:
        dim = _dim(base, _arg(args, kwargs, along, "dim", 0))
        if dim is None or None in pieces:
            return None
        if len(pieces[at]) < len(base.dims):  # unbind
            return (slice(None),) * dim + (at,)
        start = sum(p[dim] for p in pieces[:at])
        return (slice(None),) * dim + (slice(start, start + pieces[at][dim]),)

    return key


def _reshaped(base: ShapeProxy, args: Any, kwargs: Any, pieces: Any, at: int) -> Any:
    return _RESHAPED


def _other(base: ShapeProxy, args: Any, kwargs: Any, pieces: Any, at: int) -> Any:
    return _OTHER


def _keys() -> dict[str, Key]:
    keys: dict[str, Key] = {"__getitem__": _getitem, "select": _select, "narrow": _narrow}
    keys.update(unbind=_piece(0), split=_piece(1), chunk=_piece(1), tensor_split=_piece(1))
    reshaped = "view reshape flatten unflatten ravel squeeze unsqueeze view_as reshape_as"
    keys.update(dict.fromkeys(reshaped.split(" "), _reshaped))
    moved = "permute transpose t swapaxes swapdims movedim moveaxis expand expand_as broadcast_to"
    keys.update(dict.fromkeys(f"{moved} diagonal detach as_strided unfold".split(" "), _other))
    return keys


KEYS = _keys()  # per method or function name: how a view it returns sits in its input


def record(t: Tracer, key: Key, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
    """Remember on each proxy in ``out`` that it views ``args[0]`` (made by the call ``args``,
    ``kwargs``; the key is worked out only if one of them is written): its ``viewing`` slot,
    which holds the viewed proxy as a torch view holds its ``_base``."""
    base = args[0] if args else None
    if type(base) is not ShapeProxy:
        return
    if type(out) is ShapeProxy:
        if out is not base:
            out.viewing = (key, args, kwargs, (), 0)
        return
    if isinstance(out, tuple | list):
        shapes = tuple(p.dims if type(p) is ShapeProxy else None for p in out)
        for at, piece in enumerate(out):
            if type(piece) is ShapeProxy:
                piece.viewing = (key, args, kwargs, shapes, at)


def _viewed(proxy: ShapeProxy) -> tuple[Any, ...] | None:
    """What ``proxy`` views and how (``None``: it is not a view)."""
    found: tuple[Any, ...] | None = getattr(proxy, "viewing", None)
    return found


# references to a viewed proxy that write_back holds itself when it asks: the arguments of
# the view's call (in its ``viewing``), the local name and getrefcount's argument
_OWN_REFERENCES = 3


def write_back(t: Tracer, written: ShapeProxy) -> None:
    """``written``, a proxy an in-place op just wrote, is a view (else nothing to do): the
    tensors up its chain of views now hold the write. Their nodes are made when they are next
    used (:func:`settle`), up to the last the forward can still reach: a tensor nothing but
    the views refers to (``return out[:, :c]``, then ``y += z`` on that: ``out`` is gone) can
    be read no more, so a write into it adds no node, and no check on the calls that follow."""
    viewed = _viewed(written)
    if viewed is None:  # (most in-place ops: on a tensor that views nothing)
        return
    chain: list[tuple[ShapeProxy, ShapeProxy]] = []
    reached = 0  # the chain's length up to the last tensor the forward can reach
    while viewed is not None:  # up the chain: a view of a view writes into both
        base = viewed[1][0]
        if sys.getrefcount(base) > _OWN_REFERENCES:
            reached = len(chain) + 1
        chain.append((written, base))
        written, viewed = base, _viewed(base)
    for written, base in chain[:reached]:
        found = t.pending.get(id(base))
        if found is None:
            t.pending[id(base)] = (base, [written])
        elif not any([w is written for w in found[1]]):
            found[1].append(written)


def settle(t: Tracer, values: Any) -> None:
    """Make the nodes of the writes through views pending on the proxies among ``values``
    (the arguments of a call about to be traced, or what a forward returns)."""
    pending = t.pending
    for value in walk_values(values):
        if type(value) is ShapeProxy and id(value) in pending:
            _settle(t, value)


def _settle(t: Tracer, base: ShapeProxy) -> None:
    """Write the views written since into ``base``, in order, and ``base`` into the tensor
    it views, should it be one."""
    for written in t.pending.pop(id(base))[1]:
        if id(written) in t.pending:  # views of the view, written before it is read
            _settle(t, written)
        key, args, kwargs, pieces, at = written.viewing
        where = key(base, args[1:], kwargs, pieces, at)
        if where is _COPY:
            continue
        if where is None:  # a slice this does not follow: the base is made of the view too
            where = _OTHER
        name = t.scoped("write")
        pad = (
            None
            if where in (_RESHAPED, _OTHER)
            else placed(t, name, "setitem", base, where, written)
        )
        if where is _RESHAPED:  # the view's values, in the base's shape
            node = t.builder.reshape(written.node, name, output_shape=base.dims, op="view write")
        elif pad is not None:  # into a canvas the forward made: a pad (``placements``)
            node = pad
        else:  # ``base[where] = written`` (as ``__setitem__`` makes it), or any other view
            parents = (base.node, written.node)
            op = "view write" if where is _OTHER else "setitem"
            node = t.builder.other(parents, name, kind=OpKind.MOVE, output_shape=base.dims, op=op)
        in_place(base, node, base.dims)


def promote(t: Tracer, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """``args`` with ``args[0]``, a real tensor an in-place op is writing a traced tensor
    into, replaced by its proxy (made here: a node for the tensor, or for the tensor it
    views and a view of it); as they were where nothing traced is written."""
    target = args[0]
    if not any([type(v) is ShapeProxy for v in walk_values((args[1:], kwargs))]):
        return args
    base = target if target._base is None else target._base
    found = t.promoted.get(id(base))
    proxy = found[1] if found is not None and found[0] is base else None
    if proxy is None:
        proxy = t.constant(base, ".".join(p for p in (t.scope[-1], "tensor") if p))
        t.promoted[id(base)] = (base, proxy)
        _mark(base)
    if base is not target:
        proxy = _view_of(t, proxy, tuple(target.shape))
        t.promoted[id(target)] = (target, proxy)
        _mark(target)
    return (proxy, *args[1:])


def _mark(tensor: torch.Tensor) -> None:
    if type(tensor) is torch.Tensor:  # (not a parameter, nor a user's subclass)
        tensor.__class__ = Written


def restore(t: Tracer) -> None:
    """Make the tensors traced tensors were written into plain tensors again."""
    for tensor, _ in t.promoted.values():
        if type(tensor) is Written:
            tensor.__class__ = torch.Tensor  # type: ignore[assignment]  # (narrowed to Written)


# what asks about a tensor without computing a new one: answered by the real tensor
QUERIES = frozenset(
    getattr(torch.Tensor, name)
    for name in ("size", "dim", "numel", "stride", "is_contiguous", "is_floating_point", "__len__")
)


class Written(torch.Tensor):
    """A tensor a traced tensor was written into (:func:`promote`), while the trace runs: a
    torch call that takes it reaches the tracer, which takes its proxy instead; what asks
    about it without computing (its shape, ``.device``) is answered by the tensor itself."""

    @classmethod
    def __torch_function__(
        cls,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kw = dict(kwargs) if kwargs else {}
        tracer = STATE.tracer
        getter = getattr(func, "__name__", "") == "__get__"
        if tracer is None or func in QUERIES or getter:
            with torch._C.DisableTorchFunctionSubclass():
                answer = func(*args, **kw)
            if tracer is None or not (getter and isinstance(answer, torch.Tensor)):
                return answer
            name = getattr(getattr(func, "__self__", None), "__name__", "")
            if not hasattr(ShapeProxy, name):
                return answer
            args, kw = substitute(tracer, args, kw)  # ``canvas.T``: the proxy's own
            return getattr(args[0], name)
        return tracer.call_function(func, args, kw)


def _view_of(t: Tracer, base: ShapeProxy, shape: tuple[int, ...]) -> ShapeProxy:
    node = t.builder.other(base.node, t.scoped("view"), kind=OpKind.MOVE, output_shape=shape)
    made = t.proxy(node, base)
    made.viewing = (_other, (base,), {}, (), 0)
    return made


def substitute(
    t: Tracer, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The call's arguments with each tensor a traced tensor was written into (or a view of
    one made since) replaced by its proxy."""
    promoted = t.promoted

    def swap(value: Any) -> Any:
        if not isinstance(value, torch.Tensor):
            return value
        found = promoted.get(id(value))
        if found is not None and found[0] is value:
            return found[1]
        base = value._base
        found = promoted.get(id(base)) if base is not None else None
        if found is None or found[0] is not base:
            return value
        if id(found[1]) in t.pending:  # the view is made of the base as it is now
            _settle(t, found[1])
        made = _view_of(t, found[1], tuple(value.shape))
        promoted[id(value)] = (value, made)
        return made

    return map_values(args, swap), map_values(kwargs, swap)


def current(
    t: Tracer, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """A call's arguments as the trace has them now: each tensor a traced one was written
    into replaced by its proxy (:func:`substitute`), the writes through views pending on
    them made (:func:`settle`)."""
    if t.promoted:
        args, kwargs = substitute(t, args, kwargs)
    if t.pending:
        settle(t, (args, kwargs))
    return args, kwargs
