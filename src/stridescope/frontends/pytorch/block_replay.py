"""Repeated blocks traced once: a block equal to one traced before, on equal inputs, is copied.

Networks repeat a block: twelve equal encoder layers, a stage of equal residual blocks. Tracing
each costs ~10 µs per op, and what a forward produces depends only on what it is given and on
the module's state, so a block whose state equals an earlier block's (same classes, attributes,
parameter and buffer layouts, integer buffer values, module paths below it in the same places)
and whose inputs equal that block's inputs (shapes, dtypes, where the spatial axes are, plain
arguments) gets a copy of the earlier block's nodes: ids shifted, names under its own path,
parameters counted on its own weights (``block_copies`` decides when to try). Anything this
cannot vouch for is traced as usual: attributes that are not plain values or code, real tensors
or mutable containers among the arguments, a block that used nodes or parameters from outside
itself, wrote into nodes made before it, or whose forward changed its own state.

>>> from torch import nn
>>> from stridescope.frontends.pytorch.trace import trace_torch
>>> block = lambda: nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 1))
>>> net = nn.Sequential(block(), block(), block())
>>> g = trace_torch(net, (1, 8, 16, 16))
>>> [n.name for n in g.nodes[4:7]], g.params == sum(p.numel() for p in net.parameters())
(['1.0', '1.1', '1.2'], True)
"""

from __future__ import annotations

import operator
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import torch
from torch import nn

from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.ir import Node

__all__ = ["Block", "Unlike", "describe_inputs", "match", "rebuild", "record"]

# nn.Module's own attributes: compared through the parameters, buffers and children, or not
# at all (hooks: a trace never runs them)
_INTERNAL = frozenset(nn.Module().__dict__) - {"training"}
# attribute values compared by value (with their type: ``True`` is not ``1``)
_ATOMS = frozenset({int, float, bool, str, bytes, complex, type(None), torch.dtype, torch.device})
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
    if cls in _ATOMS:
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


_PLAIN = _ATOMS | {tuple, list}


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
            _ATOMS.issuperset(map(type, v)) for v in values if type(v) is tuple or type(v) is list
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
    return tuple(v if t in _ATOMS else _value(v, skip) for v, t in zip(values, types, strict=True))


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
    pairs: dict[int, nn.Parameter] = {}
    back: dict[int, int] = {}
    heads = block.heads

    def walk(a: nn.Module, a_at: str, b: nn.Module, b_at: str) -> None:
        h = heads.get(id(b))
        if h is None:
            h = heads[id(b)] = Head(b, b_at, paths, skip)
        _check(a, a_at, h, paths, skip)
        if h.plist:
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
                walk(children[k], f"{a_at}.{k}", theirs[k], f"{b_at}.{k}")  # type: ignore[arg-type]

    walk(mine, path, block.module, block.path)
    return pairs


def _one_getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """A getter like ``operator.itemgetter(*names)`` that returns a tuple for zero or one
    name too."""
    if not names:
        return lambda own: ()
    name = names[0]
    return lambda own: (own[name],)


def describe_inputs(
    args: tuple[Any, ...], kwargs: dict[str, Any], nodes: list[Node]
) -> tuple[tuple[Any, ...], list[ShapeProxy]] | None:
    """What a forward's result can depend on among its arguments: per proxy its shape, dtype
    and where its node keeps the spatial axes (and which earlier argument shares its node),
    plain values as they are; with the proxies in order. ``None`` for a real tensor, a
    mutable container or any other object (the block is then traced)."""
    proxies: list[ShapeProxy] = []
    seen: dict[int, int] = {}

    def d(value: Any) -> Any:
        cls = type(value)
        if cls is ShapeProxy:
            node = nodes[value.node]
            same = seen.setdefault(value.node, len(proxies))
            proxies.append(value)
            return (value.dims, value.dtype, node.output_shape, node.spatial_at, same)
        if cls in _ATOMS:
            return (cls, value)
        if cls is tuple:
            return (tuple, tuple(d(v) for v in value))
        raise Unlike(cls.__name__)

    try:
        described = (
            tuple(d(a) for a in args),
            tuple((k, d(v)) for k, v in kwargs.items()) if kwargs else (),
        )
    except Unlike:
        return None
    return described, proxies


@dataclass
class Block:
    """A traced block, as later equal blocks copy it: its nodes (as they were when its
    forward returned), the ids of its input nodes, its result with proxies as
    ``("node", id, dims, dtype)`` or ``("arg", i)``, where its input proxies point after it
    (in-place writes), the parameters it counted (by id) and the parameter-mode calls it
    made."""

    module: nn.Module
    path: str
    nodes: list[Node]
    inputs: list[int]
    result: Any
    after: list[tuple[int, int, tuple[int, ...]]]  # (argument, node, dims)
    taken: list[int]
    mode_calls: int = 0
    heads: dict[int, Head] = field(default_factory=dict)  # see ``match``
    # the names its trace registered (the tracer's ``unique``), each with its suffix counter,
    # in order: node names and names of layers that made no node (an ``nn.Identity``)
    registered: list[tuple[str, int]] = field(default_factory=list)
    rests: tuple[list[str], list[tuple[str, int]]] | None = None  # the above, after the path
    usable: bool = True

    def names(self) -> tuple[list[str], list[tuple[str, int]]] | None:
        """Node names and registered names after the block's path (checked once); ``None``
        when one is outside the path, or a node took a name registered before the block (a
        module called before), so the block cannot be copied."""
        if self.rests is None and self.usable:
            cut, path = len(self.path), self.path
            mine = {name for name, _ in self.registered}
            if all(n.name in mine for n in self.nodes) and all(
                name.startswith(path) and (len(name) == cut or name[cut] in "./[@") for name in mine
            ):
                self.rests = (
                    [n.name[cut:] for n in self.nodes],
                    [(name[cut:], seen) for name, seen in self.registered],
                )
            else:
                self.usable = False
        return self.rests if self.usable else None


def record(
    module: nn.Module,
    path: str,
    start: int,
    nodes: list[Node],
    proxies: list[ShapeProxy],
    inputs: list[int],
    result: Any,
    taken: list[int],
) -> Block | None:
    """The :class:`Block` of a forward on ``proxies`` (at nodes ``inputs`` when it was
    called) that just returned ``result``, having added ``nodes`` (from id ``start``) and
    counted the parameters ``taken``; ``None`` when it used a node from outside other than its
    inputs, or returned something not rebuilt as it is."""
    stop = start + len(nodes)
    outside = set(inputs)
    for n in nodes:
        for p in n.parents:
            if p < start and p not in outside:
                return None
    index = {id(p): i for i, p in enumerate(proxies)}
    made: dict[int, Any] = {}

    def template(value: Any) -> Any:
        cls = type(value)
        if cls is ShapeProxy:
            if id(value) in index:
                return ("arg", index[id(value)])
            if not start <= value.node < stop:
                raise Unlike("a proxy from outside the block")
            return made.setdefault(id(value), ("node", value.node, value.dims, value.dtype))
        if cls in _ATOMS:
            return ("value", value)
        if cls is tuple or cls is list:
            return (cls, [template(v) for v in value])
        if cls is dict:
            return (dict, [(k, template(v)) for k, v in value.items()])
        raise Unlike(cls.__name__)

    try:
        shape = template(result)
    except Unlike:
        return None
    after = []
    for i, proxy in enumerate(proxies):
        if proxy.node != inputs[i]:  # written in place inside the block
            if not start <= proxy.node < stop:
                return None
            after.append((i, proxy.node, proxy.dims))
    return Block(module, path, nodes, inputs, shape, after, taken)


def rebuild(template: Any, shift: int, args: list[ShapeProxy]) -> Any:
    """The copied block's result: :func:`record`'s template with its nodes ``shift`` ids
    on and its arguments ``args``."""
    made: dict[int, ShapeProxy] = {}

    def build(t: Any) -> Any:
        tag = t[0]
        if tag == "node":
            if id(t) not in made:
                made[id(t)] = ShapeProxy(t[1] + shift, t[2], t[3])
            return made[id(t)]
        if tag == "arg":
            return args[t[1]]
        if tag == "value":
            return t[1]
        if tag is dict:
            return {k: build(v) for k, v in t[1]}
        return tag(build(v) for v in t[1])

    return build(template)
