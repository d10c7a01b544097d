"""What a traced forward returns: the graph's output and the other tensors it returns.

The tensors are found wherever the forward puts them: in tuples, lists and dicts (a Hugging
Face ``ModelOutput`` is a dict), and in a dataclass or a ``types.SimpleNamespace`` of its own
(``return Out(logits, features)``), whose fields are its outputs as a tuple's items are. A
tensor computed from parameters alone (``self.scale.exp()``, CLIP's logit scale beside its
features; ``self.query.expand(n, -1)``, a model that returns its learned queries) is an
output too: a node with no parents that counts those parameters (they are used: the model
returns them). A forward that returns its input unchanged (``nn.Identity``) has an ``output``
node of that shape, so the summary has a row.

>>> import dataclasses
>>> import torch
>>> from torch import nn
>>> from stridescope.frontends.pytorch.trace import trace_torch
>>> @dataclasses.dataclass
... class Out:
...     logits: torch.Tensor
...     scale: torch.Tensor
>>> class Scored(nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.head, self.scale = nn.Linear(8, 4), nn.Parameter(torch.tensor(2.6))
...     def forward(self, x):
...         return Out(self.head(x), self.scale.exp())
>>> g = trace_torch(Scored(), (2, 8))
>>> [(n.name, n.output_shape) for n in g.nodes[1:]]
[('head', (2, 4)), ('returned', ()), ('output', (2, 4))]
>>> g.params
37
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from itertools import chain
from operator import attrgetter
from typing import Any

import torch

from stridescope.frontends.pytorch.meta_calls import walk_values
from stridescope.frontends.pytorch.module_tree import first_names
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.tracer import Tracer
from stridescope.frontends.pytorch.value_sizes import sized
from stridescope.frontends.pytorch.views import settle
from stridescope.ir import GraphBuilder, OpKind

__all__ = ["returned"]

_PARENTS = attrgetter("parents")


def returned(tracer: Tracer, out: Any) -> None:
    """Settle what the forward returns. The graph's output (its last node) is the first
    tensor returned: where the forward made nodes after it (work it discards, a second
    output such as a classification head beside a mask), an ``output`` node of its shape
    follows it (0 MACs, positions kept), so the output shape and field are of it; the other
    tensors returned are the graph's ``returned``, which the input coverage counts too."""
    values = _leaves(out)
    settle(tracer, values)
    proxies = [p for p in (_proxy_of(tracer, v) for v in values) if p is not None]
    nodes = [p.node for p in proxies]
    builder = tracer.builder
    if nodes and (nodes[0] != builder.size - 1 or builder._nodes[nodes[0]].kind is OpKind.INPUT):
        node = builder._nodes[nodes[0]]
        at = builder.reshape(
            node.id, tracer.unique("output"), output_shape=node.output_shape, op="output"
        )
        sized(tracer, proxies[0], at)
    if nodes:
        builder.returns(nodes)
    _note_discarded(builder, nodes, tracer.paths, tracer.known.reads)


def _leaves(out: Any) -> list[Any]:
    """The leaves of what a forward returns, through its containers, dataclasses and
    namespaces."""
    found: list[Any] = []
    for value in walk_values(out):
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = [getattr(value, f.name) for f in dataclasses.fields(value)]
            found.extend(_leaves(fields))
        elif isinstance(value, types.SimpleNamespace):
            found.extend(_leaves(list(vars(value).values())))
        else:
            found.append(value)
    return found


def _proxy_of(tracer: Tracer, value: Any) -> ShapeProxy | None:
    """A returned value as a traced tensor: itself, or a new node with no parents for a
    tensor computed from parameters alone (those not counted before counted there)."""
    if type(value) is ShapeProxy:
        return value
    if not isinstance(value, torch.Tensor) or not (params := tracer.take_params([value])):
        return None
    shape = tuple(value.shape)
    node = tracer.builder.other(
        [], tracer.unique("returned"), kind=OpKind.MOVE, output_shape=shape, params=params
    )
    made = ShapeProxy(node, shape, value.dtype)
    sized(tracer, made, node)
    return made


def _module_of(name: str, paths: set[str]) -> str | None:
    """The module path a node of that name was made by (a second call's ``path_1`` too)."""
    if name in paths:
        return name
    base, _, count = name.rpartition("_")
    return base if count.isdigit() and base in paths else None


def _note_discarded(
    builder: GraphBuilder, returned: list[int], paths: Mapping[int, str], read: set[int]
) -> None:
    """Ops on the input with parameters or MACs whose results reach nothing the forward
    returns (a deep-supervision head run in eval mode, an encoder stage whose feature is
    dropped; not products on weights alone, which the ops using them do not link) are named
    in a note: they are counted, as they run, and their parameters are why a model's
    count can exceed what a gradient of its outputs reaches. A module also called where
    the result is kept is named, but its parameters are not among those discarded. Ops whose
    values the forward ``read`` (``mask.all()`` deciding a branch) are not discarded."""
    nodes = builder._nodes
    if not returned:
        return
    used = set(chain.from_iterable(map(_PARENTS, nodes)))
    if used.union(returned, read).issuperset(range(len(nodes))):
        return  # every result feeds an op or is returned or read: none is discarded
    live: set[int] = set()
    stack = [*returned, *read]
    while stack:
        i = stack.pop()
        if i not in live:
            live.add(i)
            stack.extend(nodes[i].parents)
    dropped = [n for n in nodes if n.id not in live and n.parents and (n.params or n.macs)]
    if dropped:
        names = first_names([n.name for n in dropped])
        known = set(paths.values())
        kept = {_module_of(nodes[i].name, known) for i in live}
        params = sum(n.params for n in dropped if _module_of(n.name, known) not in kept - {None})
        macs = sum(n.macs for n in dropped)
        builder.note(
            f"{len(dropped)} ops ({params:,} parameters, {macs:,} MACs, counted) compute results "
            f"the forward discards: {names}"
        )
