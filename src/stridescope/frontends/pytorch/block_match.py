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
# at all (hooks: a block whose modules inside have forward hooks is never copied: ``walk``)
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
# per layout of a module's attribute names (its ``__dict__`` keys, in order): the getter of
# its own attributes, those not in ``_INTERNAL`` (one per layout, not per module; bounded)
_GETTERS: dict[tuple[str, ...], Callable[[Any], tuple[Any, ...]]] = {}
_GETTERS_LIMIT = 4096
_PARAMETER = operator.attrgetter("shape", "dtype", "requires_grad")
_BUFFER = operator.attrgetter("shape", "dtype")


def _getter(keys: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The getter of a module's own attributes, for a module whose attribute names are
    ``keys``: ``operator.itemgetter`` of those not in ``_INTERNAL``, always giving a tuple."""
    get = _GETTERS.get(keys)
    if get is None:
        if len(_GETTERS) >= _GETTERS_LIMIT:
            _GETTERS.clear()
        names = tuple(k for k in keys if k not in _INTERNAL)
        get = _GETTERS[keys] = operator.itemgetter(*names) if len(names) > 1 else _one_getter(names)
    return get


def _layouts(
    values: tuple[Any, ...], layout: Callable[[Any], tuple[Any, ...]], none: bool
) -> tuple[Any, ...]:
    """``layout`` of each tensor in ``values``, ``None`` for ``None`` (``none``: whether the
    side compared with has a ``None``; without one, a ``None`` here fails the comparison
    anyway, so the layouts are read in one ``map``)."""
    if not none:
        try:
            return tuple(map(layout, values))
        except AttributeError:  # a None where the other side has a tensor
            return ()
    return tuple(None if v is None else layout(v) for v in values)


class Head:
    """What a recorded block's module can make its forward depend on besides its children
    and inputs, read once: class, attribute names (all, in order) and the values of those
    not internal to ``nn.Module`` with their types (plain values as they are; dicts, objects
    and nested tuples through :func:`_value`, then ``slow``), parameter and buffer names and
    layouts, its parameters, and its integer and boolean buffers (indices, masks, counters:
    values a forward may index or branch on; floating-point buffers such as running
    statistics only scale values, so their layouts are compared, not their values, which
    differ in every trained block), its children with their paths. :class:`Unlike` when it
    sits at another path than ``at`` (a module shared with another block) or holds an
    attribute :func:`_value` cannot compare."""

    __slots__ = (
        "blayouts",
        "bnames",
        "bnone",
        "children",
        "cls",
        "cnames",
        "get",
        "ints",
        "keys",
        "playouts",
        "pnames",
        "pnone",
        "pvalues",
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
        self.get = _getter(self.keys)
        values = self.get(own)
        self.types = tuple(map(type, values))
        self.slow = not _PLAIN.issuperset(self.types) or not all(
            ATOMS.issuperset(map(type, v)) for v in values if type(v) is tuple or type(v) is list
        )
        self.values = _slow_values(values, self.types, skip) if self.slow else values
        params, buffers = m._parameters, m._buffers
        self.pnames, self.pvalues = tuple(params), tuple(params.values())
        self.pnone = any(p is None for p in self.pvalues)  # (``in`` would run tensor ==)
        self.playouts = _layouts(self.pvalues, _PARAMETER, True)
        self.bnames, bvalues = tuple(buffers), tuple(buffers.values())
        self.bnone = any(b is None for b in bvalues)
        self.blayouts = _layouts(bvalues, _BUFFER, True)
        self.ints = tuple(
            (i, b, _small_value(b))
            for i, b in enumerate(bvalues)
            if b is not None and not b.is_floating_point()
        )
        self.cnames = tuple(m._modules)
        self.children = tuple((c, f"{at}.{k}") for k, c in m._modules.items())


def _slow_values(values: tuple[Any, ...], types: tuple[type, ...], skip: dict[int, Any]) -> Any:
    return tuple(v if t in ATOMS else _value(v, skip) for v, t in zip(values, types, strict=True))


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
    that would be a reference cycle, left for the garbage collector on every comparison).
    Each module is compared in place with its :class:`Head`, piece by piece, stopping at the
    first difference (this side's nested values compared by equality with the head's)."""

    __slots__ = ("back", "heads", "pairs", "paths", "skip")

    def __init__(
        self, heads: dict[int, Head], paths: Mapping[int, str], skip: dict[int, Any]
    ) -> None:
        self.heads, self.paths, self.skip = heads, paths, skip
        self.pairs: dict[int, nn.Parameter] = {}
        self.back: dict[int, int] = {}

    def walk(self, a: nn.Module, at: str, b: nn.Module, b_at: str) -> None:
        h = self.heads.get(id(b))
        if h is None:
            h = self.heads[id(b)] = Head(b, b_at, self.paths, self.skip)
        own = a.__dict__
        if type(a) is not h.cls or self.paths.get(id(a)) != at or tuple(own) != h.keys:
            raise Unlike(at)
        values = h.get(own)
        types = tuple(map(type, values))
        if types != h.types:
            raise Unlike(at)
        if h.slow:
            values = _slow_values(values, types, self.skip)
        try:
            differs = values != h.values
        except Exception:  # an attribute whose == does not answer a bool (an array)
            differs = True
        if differs:
            raise Unlike(at)
        if a._parameters or h.pnames:
            self._parameters(a, at, h)
        if a._buffers or h.bnames:
            self._buffers(a, at, h)
        children = a._modules
        if children or h.cnames:
            if tuple(children) != h.cnames:
                raise Unlike(at)  # other children
            for mine, (theirs, their_at), k in zip(
                children.values(), h.children, h.cnames, strict=True
            ):
                if mine is None or theirs is None:
                    if mine is not theirs:
                        raise Unlike(at)  # a child None on one side only
                    continue
                if mine._forward_hooks or mine._forward_pre_hooks:  # run where it is called
                    raise Unlike(at)
                self.walk(mine, f"{at}.{k}", theirs, their_at)

    def _parameters(self, a: nn.Module, at: str, h: Head) -> None:
        """Parameter names and layouts as the head's; each parameter paired with the head's
        (:attr:`pairs`), shared where the head's are shared and nowhere else."""
        params = a._parameters
        values: tuple[Any, ...] = tuple(params.values())
        if tuple(params) != h.pnames or _layouts(values, _PARAMETER, h.pnone) != h.playouts:
            raise Unlike(at)
        pairs, back = self.pairs, self.back
        for pa, pb in zip(values, h.pvalues, strict=True):
            if pb is not None and (
                pairs.setdefault(id(pb), pa) is not pa or back.setdefault(id(pa), id(pb)) != id(pb)
            ):
                raise Unlike(at)  # shared on one side, not on the other

    def _buffers(self, a: nn.Module, at: str, h: Head) -> None:
        """Buffer names and layouts as the head's, integer and boolean buffers equal in value
        (both on meta, where there are no values, also counts as equal)."""
        buffers = a._buffers
        values: tuple[Any, ...] = tuple(buffers.values())
        if tuple(buffers) != h.bnames or _layouts(values, _BUFFER, h.bnone) != h.blayouts:
            raise Unlike(at)
        for i, theirs, value in h.ints:
            mine = values[i]
            if mine is theirs:
                continue
            if mine.is_meta or theirs.is_meta:
                if not (mine.is_meta and theirs.is_meta):
                    raise Unlike(at)
            elif value is not None:  # (a counter: its value read, quicker than ``equal``)
                if mine.tolist() != value:
                    raise Unlike(at)
            elif not torch.equal(mine, theirs):
                raise Unlike(at)


def _small_value(buffer: torch.Tensor) -> Any:
    """The value of a one-element buffer on a device with values (a counter such as a batch
    norm's ``num_batches_tracked``), as Python reads it; ``None`` for any other (compared
    with ``torch.equal``)."""
    return None if buffer.is_meta or buffer.numel() != 1 else buffer.tolist()


def _one_getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """A getter like ``operator.itemgetter(*names)`` that returns a tuple for zero or one
    name too."""
    if not names:
        return lambda own: ()
    name = names[0]
    return lambda own: (own[name],)
