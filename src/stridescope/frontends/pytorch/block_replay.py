"""Repeated blocks traced once: a block equal to one traced before, on equal inputs, is copied.

Networks repeat a block: twelve equal encoder layers, a stage of equal residual blocks. Tracing
each costs ~10 µs per op, and what a forward produces depends only on what it is given and on
the module's state, so a block whose state equals an earlier block's (same classes, attributes,
parameter and buffer layouts, integer buffer values, module paths below it in the same places)
and whose inputs equal that block's inputs (shapes, dtypes, where the spatial axes are, plain
arguments, lists and sizes by what they hold, the very same real tensor unchanged since: a
rotary embedding or a mask every block is given) gets a copy of the earlier block's nodes: ids
shifted, names under its own path, parameters counted on its own weights (``block_copies``
decides when to try). Anything this cannot vouch for is traced as usual: attributes that are
not plain values or code, dicts or other objects among the arguments, a block that used nodes
or parameters from outside itself, wrote into nodes made before it, changed or returned a
list it was given, or whose forward changed its own state.

>>> from torch import nn
>>> from stridescope.frontends.pytorch.trace import trace_torch
>>> block = lambda: nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 1))
>>> net = nn.Sequential(block(), block(), block())
>>> g = trace_torch(net, (1, 8, 16, 16))
>>> [n.name for n in g.nodes[4:7]], g.params == sum(p.numel() for p in net.parameters())
(['1.0', '1.1', '1.2'], True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from stridescope.frontends.pytorch.block_match import ATOMS, Head, Unlike
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.versions import version
from stridescope.ir import Node

__all__ = ["Block", "describe_inputs", "rebuild", "record"]


Lists = list[tuple[list[Any], list[Any]]]  # argument lists, each with what it held


def describe_inputs(
    args: tuple[Any, ...], kwargs: dict[str, Any], nodes: list[Node]
) -> tuple[tuple[Any, ...], list[ShapeProxy], Lists] | None:
    """What a forward's result can depend on among its arguments: per proxy its shape, dtype
    and where its node keeps the spatial axes (and which earlier argument shares its node),
    plain values as they are, a real tensor as itself (:class:`_Same`), tuples, lists and
    ``torch.Size`` by what they hold; with the proxies in order, and the lists with what they
    held (a block that changes one is not recorded: :func:`unchanged`). ``None`` for a dict
    or any other object (the block is then traced)."""
    d = _Describe(nodes)
    try:
        described = (
            tuple(d.of(a) for a in args),
            tuple((k, d.of(v)) for k, v in kwargs.items()) if kwargs else (),
        )
    except Unlike:
        return None
    return described, d.proxies, d.lists


def unchanged(lists: Lists) -> bool:
    """Whether each argument list still holds what it held (the same objects, in order)."""
    return all(
        len(now) == len(then) and all(a is b for a, b in zip(now, then, strict=True))
        for now, then in lists
    )


class _Describe:
    """:func:`describe_inputs`' recursion (a class: a nested function calling itself would be
    a reference cycle, left for the garbage collector on every call)."""

    __slots__ = ("lists", "nodes", "proxies", "seen")

    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = nodes
        self.proxies: list[ShapeProxy] = []
        self.seen: dict[int, int] = {}
        self.lists: Lists = []

    def of(self, value: Any) -> Any:
        cls = type(value)
        if cls is ShapeProxy:
            node = self.nodes[value.node]
            same = self.seen.setdefault(value.node, len(self.proxies))
            self.proxies.append(value)
            return (value.dims, value.dtype, node.output_shape, node.spatial_at, same)
        if cls in ATOMS:
            return (cls, value)
        if cls is tuple:
            return (tuple, tuple(self.of(v) for v in value))
        if cls is list:
            self.lists.append((value, list(value)))
            return (list, tuple(self.of(v) for v in value))
        if cls is torch.Size:
            return (torch.Size, tuple(value))
        if cls is torch.Tensor:
            return _Same(value)
        raise Unlike(cls.__name__)


class _Same:
    """A real tensor among a block's arguments (a rotary embedding, a mask, a position bias
    every block is given): equal only to the same tensor at the same version, so a copy is
    only made for a block given the very values the recorded one had (views share their
    base's version, so an in-place write through one is seen). Holding the tensor keeps its
    id from being reused while the description is kept."""

    __slots__ = ("tensor", "version")

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor = tensor
        try:
            self.version = version(tensor)
        except RuntimeError as error:  # an inference tensor keeps no version
            raise Unlike("a tensor without a version") from error

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is _Same and other.tensor is self.tensor and other.version == self.version
        )

    def __hash__(self) -> int:
        return hash((id(self.tensor), self.version))


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
    lists: Lists,
) -> Block | None:
    """The :class:`Block` of a forward on ``proxies`` (at nodes ``inputs`` when it was
    called) and on ``lists`` that just returned ``result``, having added ``nodes`` (from id
    ``start``) and counted the parameters ``taken``; ``None`` when it used a node from
    outside other than its inputs, changed a list it was given or returned one (a copy would
    do neither), or returned something not rebuilt as it is."""
    stop = start + len(nodes)
    outside = set(inputs)
    for n in nodes:
        for p in n.parents:
            if p < start and p not in outside:
                return None
    if not unchanged(lists):
        return None
    index = {id(p): i for i, p in enumerate(proxies)}
    try:
        shape = _Template(index, start, stop, {id(given) for given, _ in lists}).of(result)
    except Unlike:
        return None
    after = []
    for i, proxy in enumerate(proxies):
        if proxy.node != inputs[i]:  # written in place inside the block
            if not start <= proxy.node < stop:
                return None
            after.append((i, proxy.node, proxy.dims))
    return Block(module, path, nodes, inputs, shape, after, taken)


class _Template:
    """:func:`record`'s recursion over a result (a class, as :class:`_Describe`)."""

    __slots__ = ("given", "index", "made", "start", "stop")

    def __init__(self, index: dict[int, int], start: int, stop: int, given: set[int]) -> None:
        self.index, self.start, self.stop, self.given = index, start, stop, given
        self.made: dict[int, Any] = {}

    def of(self, value: Any) -> Any:
        cls = type(value)
        if cls is ShapeProxy:
            if id(value) in self.index:
                return ("arg", self.index[id(value)])
            if not self.start <= value.node < self.stop:
                raise Unlike("a proxy from outside the block")
            return self.made.setdefault(id(value), ("node", value.node, value.dims, value.dtype))
        if cls in ATOMS:
            return ("value", value)
        if cls is tuple or cls is list:
            if id(value) in self.given:
                raise Unlike("a list the block was given")
            return (cls, [self.of(v) for v in value])
        if cls is dict:
            return (dict, [(k, self.of(v)) for k, v in value.items()])
        raise Unlike(cls.__name__)


def rebuild(template: Any, shift: int, args: list[ShapeProxy]) -> Any:
    """The copied block's result: :func:`record`'s template with its nodes ``shift`` ids
    on and its arguments ``args``."""
    return _Build(shift, args).of(template)


class _Build:
    """:func:`rebuild`'s recursion (a class, as :class:`_Describe`)."""

    __slots__ = ("args", "made", "shift")

    def __init__(self, shift: int, args: list[ShapeProxy]) -> None:
        self.shift, self.args = shift, args
        self.made: dict[int, ShapeProxy] = {}

    def of(self, t: Any) -> Any:
        tag = t[0]
        if tag == "node":
            made = self.made
            if id(t) not in made:
                made[id(t)] = ShapeProxy(t[1] + self.shift, t[2], t[3])
            return made[id(t)]
        if tag == "arg":
            return self.args[t[1]]
        if tag == "value":
            return t[1]
        if tag is dict:
            return {k: self.of(v) for k, v in t[1]}
        return tag(self.of(v) for v in t[1])
