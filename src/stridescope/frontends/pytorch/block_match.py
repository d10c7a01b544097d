"""When two blocks are equal: a module compared side by side with a recorded block's module
(classes, attributes, parameter and buffer layouts, integer buffer values, parameter sharing,
relative paths, children), stopping at the first difference. Used by :mod:`block_replay` to
copy repeated blocks; what equal takes is described there."""

from __future__ import annotations

import operator
import types
from collections.abc import Callable, Mapping
from enum import Enum
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from stridescope.frontends.pytorch.block_replay import Block

__all__ = ["ATOMS", "Head", "Unlike", "match"]

# nn.Module's own attributes: compared through the parameters, buffers and children, or not
# at all (hooks: a trace never runs them)
_INTERNAL = frozenset(nn.Module().__dict__) - {"training"}
# attribute values compared by value (with their type: ``True`` is not ``1``)
ATOMS = frozenset({int, float, bool, str, bytes, complex, type(None), torch.dtype, torch.device})
# values compared by identity: code and classes (what a forward calls)
_BY_ID = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodDescriptorType,
    types.WrapperDescriptorType,
    type,
    Enum,
)


class Unlike(Exception):
    """A block that differs from the one it is compared with, or holds what the comparison
    cannot vouch for: it is traced, not copied."""


def _value(value: Any, skip: dict[int, Any]) -> Any:
    """A hashable stand-in for an attribute value; :class:`Unlike` for what it cannot
    compare. Tensors in a dict are left out (a cache the forward fills, such as LeViT's
    ``attention_bias_cache``: from weights, no node of the trace depends on whether it was
    filled), as are list entries in ``skip`` (meta tensors the parameter mode made, cached by
    the forward and taken out again when the trace ends)."""
    cls = type(value)
    if cls in ATOMS:
        return (cls, value)
    if cls is tuple or cls is list or cls is torch.Size:
        return (cls, tuple(_value(v, skip) for v in value if id(v) not in skip))
    if cls is dict:
        return (
            dict,
            tuple(
                (_value(k, skip), _value(v, skip))
                for k, v in value.items()
                if not isinstance(v, torch.Tensor)
            ),
        )
    if cls is frozenset or cls is set:
        return (cls, frozenset(_value(v, skip) for v in value))
    if isinstance(value, _BY_ID):
        return ("id", id(value))
    raise Unlike(cls.__name__)


_PLAIN = ATOMS | {tuple, list}


class Head:
    """What a recorded block's module can make its forward depend on besides its children
    and inputs, read once: class, attribute names (all, in order) and the non-internal ones
    with a getter, their types and values (plain values as they are; dicts, objects and
    nested tuples through :func:`_value`, then ``slow``), parameter and buffer layouts, its
    parameters, and its integer and boolean buffers (indices, masks, counters: values a
    forward may index or branch on; floating-point buffers such as running statistics only
    scale values, so their layouts are compared, not their values, which differ in every
    trained block). :class:`Unlike` when it sits at another path than ``at`` (a module shared
    with another block) or holds an attribute :func:`_value` cannot compare."""

    __slots__ = (
        "buffers",
        "children",
        "cls",
        "get",
        "ints",
        "keys",
        "params",
        "plist",
        "slow",
        "types",
        "values",
    )

    def __init__(
        self, m: nn.Module, at: str, paths: Mapping[int, str], skip: dict[int, Any]
    ) -> None:
        own = m.__dict__
        if paths.get(id(m)) != at:
            raise Unlike(at)
        self.cls = type(m)
        self.keys = tuple(own)
        names = tuple(k for k in self.keys if k not in _INTERNAL)
        self.get = operator.itemgetter(*names) if len(names) > 1 else _one_getter(names)
        values = self.get(own)
        self.types = tuple(map(type, values))
        self.slow = not _PLAIN.issuperset(self.types) or not all(
            ATOMS.issuperset(map(type, v)) for v in values if type(v) is tuple or type(v) is list
        )
        self.values = _slow_values(values, self.types, skip) if self.slow else values
        self.params = tuple(
            k if p is None else (k, p.shape, p.dtype, p.requires_grad)
            for k, p in m._parameters.items()
        )
        self.plist = [p for p in m._parameters.values() if p is not None]
        self.buffers = tuple(
            k if b is None else (k, b.shape, b.dtype) for k, b in m._buffers.items()
        )
        self.ints = _int_buffers(m)
        self.children = tuple((k, c is None) for k, c in m._modules.items())


def _int_buffers(m: nn.Module) -> list[torch.Tensor]:
    """A module's integer and boolean buffers with values to compare (not on meta)."""
    return [
        b
        for b in m._buffers.values()
        if b is not None and not b.is_floating_point() and not b.is_meta
    ]


def _slow_values(values: tuple[Any, ...], types: tuple[type, ...], skip: dict[int, Any]) -> Any:
    return tuple(v if t in ATOMS else _value(v, skip) for v, t in zip(values, types, strict=True))


def _check(a: nn.Module, at: str, h: Head, paths: Mapping[int, str], skip: dict[int, Any]) -> None:
    """:class:`Unlike` unless module ``a`` at ``at`` is what :class:`Head` ``h`` read of the
    recorded block's module: compared in place, piece by piece, stopping at the first
    difference (this side's nested values compared by equality with the checked side's)."""
    own = a.__dict__
    if type(a) is not h.cls or paths.get(id(a)) != at or tuple(own) != h.keys:
        raise Unlike(at)
    values = h.get(own)
    types = tuple(map(type, values))
    if types != h.types:
        raise Unlike(at)
    if h.slow:
        values = _slow_values(values, types, skip)
    try:
        differs = values != h.values
    except Exception:  # an attribute whose == does not answer a bool (an array)
        differs = True
    if differs:
        raise Unlike(at)
    params = a._parameters
    if len(params) != len(h.params):
        raise Unlike(at)
    for (k, p), want in zip(params.items(), h.params, strict=True):
        if p is None:
            if want != k:
                raise Unlike(at)
        elif (
            type(want) is str
            or want[0] != k
            or want[1] != p.shape
            or want[2] != p.dtype
            or want[3] != p.requires_grad
        ):
            raise Unlike(at)
    buffers = a._buffers
    if buffers or h.buffers:
        if len(buffers) != len(h.buffers):
            raise Unlike(at)
        for (k, b), layout in zip(buffers.items(), h.buffers, strict=True):
            if (layout != k) if b is None else layout != (k, b.shape, b.dtype):
                raise Unlike(at)


def match(
    mine: nn.Module,
    path: str,
    block: Block,
    paths: Mapping[int, str],
    skip: dict[int, Any],
) -> dict[int, nn.Parameter]:
    """Whether ``mine`` (at ``path``) equals ``block``'s module: walked side by side in the
    same order, stopping at the first module that differs (:class:`Unlike`), the block's
    side read once into ``block.heads``. Returns my parameter for each of the block's (by
    id), the sharing of parameters the same on both sides."""
    walk = _Walk(block.heads, paths, skip)
    walk.walk(mine, path, block.module, block.path)
    return walk.pairs


class _Walk:
    """:func:`match`'s side-by-side walk (a class, not a nested function that calls itself:
    that would be a reference cycle, left for the garbage collector on every comparison)."""

    __slots__ = ("back", "heads", "pairs", "paths", "skip")

    def __init__(
        self, heads: dict[int, Head], paths: Mapping[int, str], skip: dict[int, Any]
    ) -> None:
        self.heads, self.paths, self.skip = heads, paths, skip
        self.pairs: dict[int, nn.Parameter] = {}
        self.back: dict[int, int] = {}

    def walk(self, a: nn.Module, a_at: str, b: nn.Module, b_at: str) -> None:
        heads, paths, skip = self.heads, self.paths, self.skip
        h = heads.get(id(b))
        if h is None:
            h = heads[id(b)] = Head(b, b_at, paths, skip)
        _check(a, a_at, h, paths, skip)
        if h.plist:
            pairs, back = self.pairs, self.back
            mine = [p for p in a._parameters.values() if p is not None]
            for pa, pb in zip(mine, h.plist, strict=True):
                if pairs.setdefault(id(pb), pa) is not pa or back.setdefault(id(pa), id(pb)) != id(
                    pb
                ):
                    raise Unlike(a_at)  # shared on one side, not on the other
        if h.ints:
            ints = _int_buffers(a)
            if len(ints) != len(h.ints) or not all(
                x is y or torch.equal(x, y) for x, y in zip(ints, h.ints, strict=True)
            ):
                raise Unlike(a_at)
        children = a._modules
        if tuple((k, c is None) for k, c in children.items()) != h.children:
            raise Unlike(a_at)  # other children, or a child None on one side only
        theirs = b._modules
        for k, none in h.children:
            if not none:
                self.walk(children[k], f"{a_at}.{k}", theirs[k], f"{b_at}.{k}")  # type: ignore[arg-type]


def _one_getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """A getter like ``operator.itemgetter(*names)`` that returns a tuple for zero or one
    name too."""
    if not names:
        return lambda own: ()
    name = names[0]
    return lambda own: (own[name],)
