"""Repeated blocks, traced once: the part of the tracer that records a block and copies it
where an equal block comes again on equal inputs (what "equal" takes: :mod:`block_replay`,
compared by :mod:`block_match`).

Copying pays where a block's forward makes many nodes per module (transformer blocks: torch
functions on tokens); comparing a ResNet bottleneck's ten layers costs what tracing them
does. So the time spent comparing and copying blocks of a class is set against the trace's
own time per traced node (``learn_blocks``), and a class that did not pay is left alone in
later traces of such a model in the process (``look_for_blocks``).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import islice
from time import perf_counter
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from stridescope.frontends.pytorch.block_match import match
from stridescope.frontends.pytorch.block_replay import Block, describe_inputs, rebuild, record
from stridescope.frontends.pytorch.proxy import ShapeProxy, in_place

if TYPE_CHECKING:
    from stridescope.ir import GraphBuilder

__all__ = ["BlockCopying"]

ON = True  # copy repeated blocks (off: every block is traced; the graph is the same)
# per (model class, block class): in how many traces of such a model in a row (in this
# process) copying blocks of that class did not pay (its blocks never repeat on equal inputs,
# or comparing and copying took more than _WORTH of what tracing the nodes copied takes, at the
# trace's own time per traced node); from _MISSES on the class is not looked at, except in
# every _EXPLORE-th trace of the model class. Bounded.
_COPIES: dict[tuple[type, type], int] = {}
_TRACES: dict[type, int] = {}
_COPIES_LIMIT = 4096
_MISSES = 1
_EXPLORE = 16
_WORTH = 0.8
_SMALLEST = 4  # fewer nodes than this: a block is traced each time (a copy would cost as much)
_KINDS = 3  # blocks recorded per (class, inputs): Swin alternates two, shifted and not
_NO: Any = object()  # a block that could not be copied
_NO_TORCH_FUNCTION = torch._C.DisableTorchFunction


class BlockCopying:
    """Block records and copies for one trace (a base of the tracer): :attr:`blocks` holds
    up to ``_KINDS`` blocks per (class, described inputs), ``None`` where one could not be
    recorded; :attr:`repeated` the classes looked at (more than one module in the model)."""

    builder: GraphBuilder
    paths: Mapping[int, str]
    names: dict[str, int]
    counted: dict[int, None]
    derived: dict[int, Any]
    mode_calls: int
    repeated: set[type]
    root: type
    small: dict[type, int]  # per class: its blocks found too small to copy
    # per class: seconds spent comparing and copying (failed comparisons too), nodes copied
    spent: dict[type, list[float]]
    blocks: dict[Any, list[Block | None]] | None  # ``None``: copying is off (``ON``)

    def _forward(
        self, module: nn.Module, path: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        raise NotImplementedError

    def run_forward(
        self, module: nn.Module, path: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Trace inside ``module.forward``: calls there are named under ``path``. A block equal
        to one traced before, on equal inputs, is copied from it (:mod:`block_replay`) where
        that costs less than tracing it did."""
        cls = type(module)
        blocks = self.blocks
        if blocks is None or cls not in self.repeated:
            return self._forward(module, path, args, kwargs)
        described = describe_inputs(args, kwargs, self.builder._nodes)
        if described is None:
            return self._forward(module, path, args, kwargs)
        key = (cls, described[0])
        proxies = described[1]
        kinds = blocks.setdefault(key, [])
        if kinds and (out := self._copy(kinds, module, path, proxies)) is not _NO:
            return out
        if len(kinds) >= _KINDS:  # as many kinds recorded as are kept: traced only
            return self._forward(module, path, args, kwargs)
        builder = self.builder
        start, edits, taken = builder.size, len(builder.edited), len(self.counted)
        named = len(self.names)
        calls, inputs = self.mode_calls, [p.node for p in proxies]
        out = self._forward(module, path, args, kwargs)
        nodes = builder._nodes[start:]
        if len(nodes) < _SMALLEST or any(e < start for e in builder.edited[edits:]):
            kinds.append(None)
            small = self.small[cls] = self.small.get(cls, 0) + 1
            if small >= _KINDS:  # blocks of this class are too small to copy: stop looking
                self.repeated.discard(cls)
            return out
        block = record(module, path, start, nodes, proxies, inputs, out, list(self.counted)[taken:])
        if block is not None:
            block.mode_calls = self.mode_calls - calls
            names = self.names
            added = list(islice(reversed(names), len(names) - named))[::-1]  # keys: in order
            block.registered = [(name, names[name]) for name in added]
        kinds.append(block)
        return out

    def _copy(
        self, kinds: list[Block | None], module: nn.Module, path: str, proxies: list[ShapeProxy]
    ) -> Any:
        """:meth:`_copied`, with its time (a failed comparison's too, and reading the recorded
        blocks) and the nodes it copied counted for the class (``learn_blocks``)."""
        began, size = perf_counter(), self.builder.size
        out = self._copied(kinds, module, path, proxies)
        spent = self.spent.setdefault(type(module), [0.0, 0])
        spent[0] += perf_counter() - began
        spent[1] += self.builder.size - size
        return out

    def _copied(
        self, kinds: list[Block | None], module: nn.Module, path: str, proxies: list[ShapeProxy]
    ) -> Any:
        """The nodes of the block among ``kinds`` that ``module`` equals, again for ``module``
        on ``proxies`` (and its result); ``_NO`` when it equals none of them, or its weights
        were counted before, or its names were taken."""
        for block in kinds:
            if block is None or (rests := block.names()) is None:
                continue
            try:
                with _NO_TORCH_FUNCTION():  # the parameter mode would see every p.shape
                    pairs = match(module, path, block, self.paths, self.derived)
            except Exception:  # Unlike, or a state the comparison cannot read: traced
                continue
            break
        else:
            return _NO
        mine = [pairs.get(t) for t in block.taken]
        counted = self.counted
        registered = {path + rest: seen for rest, seen in rests[1]}
        if any(p is None for p in mine):  # the block counted a parameter from outside itself
            block.usable = False
            return _NO
        if any(id(p) in counted for p in pairs.values()) or any(
            n in self.names for n in registered
        ):
            return _NO
        outside = dict(zip(block.inputs, [p.node for p in proxies], strict=True))
        shift = self.builder.repeat(block.nodes, outside, [path + rest for rest in rests[0]])
        self.names.update(registered)  # as tracing it would leave them, counters too
        for p in mine:
            counted[id(p)] = None
        self.mode_calls += block.mode_calls
        for i, node, dims in block.after:
            in_place(proxies[i], node + shift, dims)
        return rebuild(block.result, shift, proxies)

    def look_for_blocks(self, root: type, classes: frozenset[type]) -> None:
        """Copy repeated blocks of ``classes`` (those with more than one module in a model of
        class ``root``), except those earlier traces of such a model found not to pay."""
        self.root = root
        traces = _TRACES[root] = _TRACES.get(root, 0) + 1
        if traces % _EXPLORE == 0:
            self.repeated = set(classes)
        else:
            self.repeated = {c for c in classes if _COPIES.get((root, c), 0) < _MISSES}

    def learn_blocks(self, seconds: float) -> None:
        """Count, per block class looked at, whether copying paid in this trace (of
        ``seconds``): what comparing and copying took under _WORTH of what tracing the nodes it
        copied would have taken, at this trace's time per node it traced (the nodes of the
        first blocks alone cost more: they pay one-off costs of the trace)."""
        if not self.blocks:
            return
        if len(_COPIES) + len(self.blocks) > _COPIES_LIMIT or len(_TRACES) > _COPIES_LIMIT:
            _COPIES.clear()
            _TRACES.clear()
        copying = sum(s[0] for s in self.spent.values())
        copied = sum(s[1] for s in self.spent.values())
        per_node = (seconds - copying) / max(1.0, self.builder.size - copied)
        root = self.root
        for cls in {cls for cls, _ in self.blocks}:
            spent, nodes = self.spent.get(cls, (0.0, 0))
            paid = nodes > 0 and spent < _WORTH * nodes * per_node
            _COPIES[(root, cls)] = 0 if paid else _COPIES.get((root, cls), 0) + 1
