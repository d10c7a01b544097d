"""Repeated blocks traced once: a block equal to one traced before, on equal inputs, is copied.

Networks repeat a block: twelve equal encoder layers, a stage of equal residual blocks. Tracing
each costs ~10 µs per op, and what a forward produces depends only on what it is given and on
the module's state, so a block whose state equals an earlier block's (same classes, attributes,
parameter and buffer shapes, buffer values, module paths below it in the same places) and whose
inputs equal that block's inputs (shapes, dtypes, where the spatial axes are, plain arguments)
gets a copy of the earlier block's nodes: ids shifted, names under its own path, parameters
counted on its own weights. Anything this cannot vouch for is traced as usual: attributes that
are not plain values, hooks, real tensors or mutable containers among the arguments, a block
that used nodes or parameters from outside itself, wrote into its arguments' nodes, or whose
forward changed its own state.

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
from time import perf_counter
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


Head = tuple[tuple[Any, ...], list[nn.Parameter], list[torch.Tensor]]


def _head(
    m: nn.Module, at: str, paths: Mapping[int, str], skip: dict[int, Any], strict: bool = True
) -> Head:
    """What a module's forward can depend on besides its children and inputs: a hashable
    part (class, attributes, parameter and buffer layouts), its parameters, and its integer
    and boolean buffers (indices, masks, counters: values a forward may index or branch on,
    compared apart; floating-point buffers such as running statistics only scale values, so
    their layouts are compared, not their values, which differ in every trained block).
    :class:`Unlike` when it sits at another path than ``at`` (a module shared with another
    block)."""
    own = m.__dict__
    if paths.get(id(m)) != at:
        raise Unlike(at)
    ps: list[Any] = []
    params: list[nn.Parameter] = []
    for k, p in m._parameters.items():
        if p is None:
            ps.append(k)
        else:
            ps.append((k, p.shape, p.dtype, p.requires_grad))
            params.append(p)
    bs: list[Any] = []
    ints: list[torch.Tensor] = []
    for k, b in m._buffers.items():
        if b is None:
            bs.append(k)
        else:
            bs.append((k, b.shape, b.dtype))
            if not b.is_floating_point() and not b.is_meta:
                ints.append(b)
    return (_attributes(m, own, skip, strict), tuple(ps), tuple(bs)), params, ints


def match(
    mine: nn.Module,
    path: str,
    block: Block,
    paths: Mapping[int, str],
    skip: dict[int, Any],
) -> dict[int, nn.Parameter]:
    """Whether ``mine`` (at ``path``) equals ``block``'s module: walked side by side in the
    same order, stopping at the first module that differs (:class:`Unlike`), the block's
    side remembered in ``block.heads``. Returns my parameter for each of the block's (by id),
    the sharing of parameters the same on both sides."""
    pairs: dict[int, nn.Parameter] = {}
    back: dict[int, int] = {}
    heads = block.heads

    def walk(a: nn.Module, a_at: str, b: nn.Module, b_at: str) -> None:
        theirs = heads.get(id(b))
        if theirs is None:
            began = perf_counter()
            theirs = heads[id(b)] = _head(b, b_at, paths, skip)
            block.reading += perf_counter() - began
        ours = _head(a, a_at, paths, skip, strict=False)
        try:
            differs = ours[0] != theirs[0]
        except Exception:  # an attribute whose == does not answer a bool (an array)
            differs = True
        if differs:
            raise Unlike(a_at)
        for pa, pb in zip(ours[1], theirs[1], strict=True):
            if pairs.setdefault(id(pb), pa) is not pa or back.setdefault(id(pa), id(pb)) != id(pb):
                raise Unlike(a_at)  # shared on one side, not on the other
        for xa, xb in zip(ours[2], theirs[2], strict=True):
            if xa is not xb and not torch.equal(xa, xb):
                raise Unlike(a_at)
        ca, cb = a._modules, b._modules
        if len(ca) != len(cb):
            raise Unlike(a_at)
        for (ka, ma), (kb, mb) in zip(ca.items(), cb.items(), strict=True):
            if ka != kb or (ma is None) != (mb is None):
                raise Unlike(a_at)
            if ma is not None and mb is not None:
                walk(ma, f"{a_at}.{ka}", mb, f"{b_at}.{kb}")

    walk(mine, path, block.module, block.path)
    return pairs


# per class: the attribute names of the last instance seen, in order, the non-internal ones,
# and a getter of their values
_LAYOUTS: dict[type, tuple[tuple[str, ...], tuple[str, ...], Callable[[Any], Any]]] = {}
_PLAIN = _ATOMS | {tuple, list}


def _attributes(
    m: nn.Module, own: dict[str, Any], skip: dict[int, Any], strict: bool
) -> tuple[Any, ...]:
    """The class, attribute names, their values' types and the values (plain ones as they
    are, others through :func:`_value`) of a module, without a Python loop over the
    attributes when they are plain values and flat tuples or lists of them (most layers;
    compared, never hashed, so a list may stand as it is). ``strict``: also check that those
    tuples and lists hold plain values only (the side of a comparison that was checked so
    compares the other side's by equality)."""
    cls = type(m)
    keys = tuple(own)
    layout = _LAYOUTS.get(cls)
    if layout is None or keys != layout[0]:
        names = tuple(k for k in keys if k not in _INTERNAL)
        get = operator.itemgetter(*names) if len(names) > 1 else _one_getter(names)
        layout = _LAYOUTS[cls] = (keys, names, get)
    names, get = layout[1], layout[2]
    values = get(own)
    types = tuple(map(type, values))
    if not _PLAIN.issuperset(types) or (
        strict
        and (tuple in types or list in types)
        and not all(
            _ATOMS.issuperset(map(type, v)) for v in values if type(v) is tuple or type(v) is list
        )
    ):  # a dict, an object, a nested tuple: those values through _value, the rest as they are
        values = tuple(
            v if t in _ATOMS else _value(v, skip) for v, t in zip(values, types, strict=True)
        )
    return (cls, names, types, values)


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
    """A traced block, as later equal blocks copy it: nodes ``start``..``stop`` (as they were
    when its forward returned), the ids of its input nodes, its result with proxies as
    ``("node", id, dims, dtype)`` or ``("arg", i)``, where its input proxies point after it
    (in-place writes), the parameters it counted (by id) and the parameter-mode calls it
    made."""

    module: nn.Module
    path: str
    start: int
    nodes: list[Node]
    inputs: list[int]
    result: Any
    after: list[tuple[int, int, tuple[int, ...]]]  # (argument, node, dims)
    taken: list[int]
    mode_calls: int = 0
    reading: float = 0.0  # seconds ``match`` spent reading this block's own modules (once)
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
    return Block(module, path, start, nodes, inputs, shape, after, taken)


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
