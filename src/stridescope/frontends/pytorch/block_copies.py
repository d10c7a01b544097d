"""Repeated blocks, traced once: the part of the tracer that records a block and copies it
where an equal block comes again on equal inputs (what "equal" takes: :mod:`block_replay`,
compared by :mod:`block_match`).

Copying pays where a block's forward makes many nodes per module (transformer blocks: torch
functions on tokens); comparing a ResNet bottleneck's ten layers costs what tracing them
does. So, per block class, the time spent comparing and copying per node copied is set
against the time per node of tracing the blocks recorded, each the least seen over the traces
of such a model in the process (``learn_blocks``), and a class whose copies do not pay is
left alone in later traces (``look_for_blocks``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import islice
from time import perf_counter
from typing import TYPE_CHECKING, Any

from torch import nn

from stridescope.frontends.pytorch.block_match import match
from stridescope.frontends.pytorch.block_replay import Block, describe_inputs, rebuild, record
from stridescope.frontends.pytorch.proxy import NO_TORCH_FUNCTION, ShapeProxy, in_place

if TYPE_CHECKING:
    from stridescope.ir import GraphBuilder

__all__ = ["BlockCopying"]

ON = True  # copy repeated blocks (off: every block is traced; the graph is the same)
# per (model class, block class), over the traces of such a model in this process: the least
# time seen per node copied (all that copying costs: comparisons, failed ones too, describing
# the inputs, recording the blocks compared with; ``inf`` for a trace that copied nothing) and
# per node traced in the blocks recorded (a recorded block is traced, and timed). Timings on a
# busy machine only come out longer than the work takes, so the least of each converges to it,
# where one slow trace would flip a verdict on its own. A class is looked at in the first
# _SAMPLES traces that look at it, then while its copies cost under _WORTH of tracing, and in
# every _EXPLORE-th trace of the model class in any case. One sample is enough to start from:
# the first trace's one-off costs fall on the blocks it traces, so a class whose copies only
# looked cheap then is looked at again, and its least times drop it in the next trace; looking
# at every class in more traces cost ShuffleNetV2 and LeViT ~20% more in their second to
# fourth traces. Bounded.
_COSTS: dict[tuple[type, type], tuple[float, float, int]] = {}
_TRACES: dict[type, int] = {}
_COSTS_LIMIT = 4096
_EXPLORE = 16
# a margin: the least times per node miss part of what copying costs the whole trace (what,
# not found; a block compared inside a trace takes 2.3x its time in a warm loop): LeViT's
# blocks, copied at 0.87-0.91 of a traced node's time, made its trace 3-7% slower than
# tracing them (30 interleaved pairs), at 0.74 2-3% faster; Swin's, XCiT's and MaxViT's
# attention blocks (0.24-0.56) stay copied
_WORTH = 0.75
_SAMPLES = 1
_SMALLEST = 4  # fewer nodes than this: a block is traced each time (a copy would cost as much)
_KINDS = 3  # blocks recorded per (class, inputs): Swin alternates two, shifted and not
_NO: Any = object()  # a block that could not be copied


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
    hook_calls: int  # calls of modules with forward hooks (see ``hooks``)
    repeated: set[type]
    root: type
    small: dict[type, int]  # per class: its blocks found too small to copy
    # per class: seconds spent comparing and copying (failed comparisons too), nodes copied
    spent: dict[type, list[float]]
    traced: dict[type, list[float]]  # per class: seconds tracing its recorded blocks, nodes
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
        began = perf_counter()  # what looking for a copy costs is charged to copying
        described = describe_inputs(args, kwargs, self.builder._nodes)
        if described is None:
            self._charge(cls, perf_counter() - began)
            return self._forward(module, path, args, kwargs)
        key = (cls, described[0])
        proxies, lists = described[1], described[2]
        kinds = blocks.setdefault(key, [])
        if kinds:  # (a comparison that failed is charged with the recording below)
            size = self.builder.size
            if (out := self._copy(kinds, module, path, proxies)) is not _NO:
                self._charge(cls, perf_counter() - began, self.builder.size - size)
                return out
        if len(kinds) >= _KINDS:  # as many kinds recorded as are kept: traced only
            self._charge(cls, perf_counter() - began)
            return self._forward(module, path, args, kwargs)
        builder = self.builder
        start, edits, taken = builder.size, len(builder.edited), len(self.counted)
        named = len(self.names)
        calls, inputs, hooks = self.mode_calls, [p.node for p in proxies], self.hook_calls
        forward = perf_counter()
        out = self._forward(module, path, args, kwargs)
        done = perf_counter()
        nodes = builder._nodes[start:]
        work = len(nodes) + self.mode_calls - calls  # (a computation on weights: as a node)
        if work < _SMALLEST or any(e < start for e in builder.edited[edits:]):
            kinds.append(None)
            small = self.small[cls] = self.small.get(cls, 0) + 1
            if small >= _KINDS:  # blocks of this class are too small to copy: stop looking
                self.repeated.discard(cls)
            self._charge(cls, forward - began + perf_counter() - done)
            return out
        traced = self.traced.setdefault(cls, [0.0, 0])
        traced[0] += done - forward
        traced[1] += len(nodes)
        taken_here = list(self.counted)[taken:]
        block = record(module, path, start, nodes, proxies, inputs, out, taken_here, lists)
        if block is not None and self.hook_calls != hooks:  # a module in it ran forward hooks
            block = None
        if block is not None:
            block.mode_calls = self.mode_calls - calls
            names = self.names
            added = list(islice(reversed(names), len(names) - named))[::-1]  # keys: in order
            block.registered = [(name, names[name]) for name in added]
        kinds.append(block)
        self._charge(cls, forward - began + perf_counter() - done)
        return out

    def _charge(self, cls: type, seconds: float, copied: int = 0) -> None:
        """Add ``seconds`` spent on copying blocks of ``cls`` (comparing, recording, looking
        up), and the nodes ``copied``, to what :meth:`learn_blocks` weighs."""
        spent = self.spent.get(cls)
        if spent is None:
            spent = self.spent[cls] = [0.0, 0]
        spent[0] += seconds
        spent[1] += copied

    def _copy(
        self, kinds: list[Block | None], module: nn.Module, path: str, proxies: list[ShapeProxy]
    ) -> Any:
        """The nodes of the block among ``kinds`` that ``module`` equals, again for ``module``
        on ``proxies`` (and its result); ``_NO`` when it equals none of them, or its weights
        were counted before, or its names were taken."""
        for block in kinds:
            if block is None or (rests := block.names()) is None:
                continue
            try:
                with NO_TORCH_FUNCTION():  # the parameter mode would see every p.shape
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
            self.repeated = {c for c in classes if pays(_COSTS.get((root, c)))}

    def learn_blocks(self) -> None:
        """Add this trace's times per node copied and per node traced, per block class
        looked at, to what traces of such a model have seen (:func:`seen`)."""
        if not self.blocks:
            return
        if len(_COSTS) + len(self.blocks) > _COSTS_LIMIT or len(_TRACES) > _COSTS_LIMIT:
            _COSTS.clear()
            _TRACES.clear()
        root = self.root
        for cls in {cls for cls, _ in self.blocks}:
            key = (root, cls)
            _COSTS[key] = seen(_COSTS.get(key), self.spent.get(cls), self.traced.get(cls))


def seen(
    before: tuple[float, float, int] | None,
    copies: list[float] | None,
    traces: list[float] | None,
) -> tuple[float, float, int]:
    """The least time per node copied and per node traced, with one more trace's
    ``copies`` and ``traces`` (seconds, nodes), and the number of traces seen; copying that
    copied nothing costs ``inf``.

    >>> seen(None, [3e-6, 2], [40e-6, 4])  # 1.5 us per node copied, 10 us per node traced
    (1.5e-06, 1e-05, 1)
    >>> seen((1.5e-6, 1e-5, 1), [9e-6, 2], None)  # a slow trace does not undo the first
    (1.5e-06, 1e-05, 2)
    >>> seen(None, [2e-6, 0], [40e-6, 4])  # comparisons that all failed
    (inf, 1e-05, 1)
    """
    copy, trace, traces_seen = before if before is not None else (math.inf, math.inf, 0)
    if copies is not None:
        copy = min(copy, copies[0] / copies[1] if copies[1] else math.inf)
    if traces is not None and traces[1]:
        trace = min(trace, traces[0] / traces[1])
    return copy, trace, traces_seen + 1


def pays(costs: tuple[float, float, int] | None) -> bool:
    """Whether to look at a block class, by what :func:`seen` gathered: yes in its first
    ``_SAMPLES`` traces, then while a node copied costs under ``_WORTH`` of a node traced.

    >>> pays(None), pays((1.5e-6, 1e-5, 1)), pays((9e-6, 1e-5, 1)), pays((1.5e-6, 1e-5, 3))
    (True, True, False, True)
    >>> pays((math.inf, 1e-5, 1))  # its blocks never repeated equal
    False
    """
    return costs is None or costs[2] < _SAMPLES or costs[0] < _WORTH * costs[1]
