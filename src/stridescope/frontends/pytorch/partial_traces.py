"""A forward that stops the trace part-way, summarised up to where it stopped, on request.

A trace reads shapes only, so a forward that reads tensor values (``int(box[2] - box[0])``
sizing a pasted mask, ``.item()`` in a keypoint decoder, ``if x.sum() > 0``) stops it, and
``trace_torch`` refuses with one line that says after which op. Within
:func:`partial_traces` (``stridescope.summary(..., partial=True)``, ``--partial`` on the
command line) the ops traced before the stop are the graph instead: every op that nothing
after it used is among what the graph returns, and a note says where the forward stopped
and that what follows is not traced. Only the exact run stops so (the fast run, on meta
parameters, may have branched otherwise; it runs again exactly first).

>>> import torch
>>> from torch import nn
>>> from stridescope.frontends.pytorch.trace import trace_torch
>>> class Decoded(nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.head = nn.Conv2d(3, 4, 3, padding=1)
...     def forward(self, x):
...         heat = self.head(x)
...         return heat[:, :, : int(heat.argmax())]
>>> with partial_traces():
...     g = trace_torch(Decoded(), (1, 3, 8, 8))
>>> g.nodes[-1].name, g.params
('argmax', 112)
>>> g.notes[-1][:60]
'partial summary: the forward reads tensor values (int(tensor'
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import chain

from stridescope.frontends.pytorch.arguments import read_input
from stridescope.frontends.pytorch.errors import TraceError
from stridescope.frontends.pytorch.tracer import Tracer

__all__ = ["partial_traces", "stopped"]

_WANTED = contextvars.ContextVar("stridescope_partial", default=False)
_BACKBONE = "a sub-module before it (a backbone) can be summarised on its own"
_PARTIAL = "or partial=True (--partial) summarises the ops before it"


@contextmanager
def partial_traces(wanted: bool = True) -> Iterator[None]:
    """Traces within summarise the ops before a stop instead of refusing (``wanted``)."""
    token = _WANTED.set(wanted)
    try:
        yield
    finally:
        _WANTED.reset(token)


def stopped(tracer: Tracer, error: TraceError) -> TraceError | None:
    """Where the forward stopped with ``error`` after at least one op: ``None`` where the ops
    before it stand as the graph (:func:`partial_traces`, the exact run), else the error,
    saying after which op it came and what to do."""
    nodes = tracer.builder._nodes
    where = f"after {len(nodes) - 1} traced ops, the last {nodes[-1].name!r}"
    if _WANTED.get() and tracer.exact:
        used = set(chain.from_iterable(n.parents for n in nodes))
        ends = [n.id for n in reversed(nodes) if n.id not in used and n.parents]
        tracer.builder.returns(ends)
        tracer.builder.note(
            f"partial summary: {error} ({where}); what the forward does after it is not "
            "traced, and its shapes, MACs and memory are not in the totals"
        )
        return None
    hint = read_input(nodes, error.node) or f"{_BACKBONE}; {_PARTIAL}"
    return TraceError(f"{error}; it came {where}: {hint}")
