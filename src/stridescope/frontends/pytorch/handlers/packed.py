"""Packed sequences (:mod:`torch.nn.utils.rnn`): ``pack_padded_sequence``, a recurrent layer
run on the packed rows, ``pad_packed_sequence``.

A packed batch holds each sequence's first ``lengths[b]`` steps, time-major, so its rows are
sized by the lengths' values. Lengths with values (a list, a tensor made from shapes or
constants) are read: torch's own ops pack and pad a stand-in of one value per position, so
the batch sizes, the lengths and the errors are torch's. Lengths the trace computed (an input
of lengths, a mask's sum) have no values: every sequence is taken at the padded length, the
most the layers after it can do, and the graph says so in a note.

The packed rows are a reshape of the padded batch where no step is dropped (a batch of one
keeps its time axis, so the receptive field and the coverage follow it), else data movement.

>>> import torch
>>> from torch import nn
>>> from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
>>> from stridescope.frontends.pytorch.trace import trace_torch
>>> class Tagger(nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.lstm = nn.LSTM(8, 16, batch_first=True)
...     def forward(self, x):
...         packed = pack_padded_sequence(x, [5, 3], batch_first=True)
...         return pad_packed_sequence(self.lstm(packed)[0], batch_first=True)[0]
>>> g = trace_torch(Tagger(), (2, 5, 8))
>>> [(n.name, n.output_shape, n.macs) for n in g.nodes[1:]]  # (steps 5 and 3: 8 rows)
[('_pack_padded_sequence', (8, 8), 0), ('lstm', (8, 16), 12288), ('lstm.h_n', (1, 2, 16), 0), ('lstm.c_n', (1, 2, 16), 0), ('_pad_packed_sequence', (2, 5, 16), 0)]
"""

from __future__ import annotations

import math
from typing import Any

import torch

from stridescope.frontends.pytorch.errors import NotHandled
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.tracer import Tracer
from stridescope.ir import OpKind

__all__ = ["pack", "pad"]

_LIMIT = 1 << 24  # positions of a stand-in (as meta_calls' stand-ins)
_TAKEN_WHOLE = (
    "the lengths of pack_padded_sequence are computed by the forward, so their values are not "
    "known: every sequence is taken at the padded length ({steps} steps), the most work the "
    "layers after it can do"
)


def pack(t: Tracer, name: str, op: str, input: Any, lengths: Any, batch_first: bool) -> Any:
    """``torch._pack_padded_sequence``: the packed rows and the batch sizes (a real tensor, as
    torch's)."""
    if type(input) is not ShapeProxy or input.ndim < 2:
        raise NotHandled
    steps, batch = input.dims[1::-1] if batch_first else input.dims[:2]
    if type(lengths) is ShapeProxy:
        note = _TAKEN_WHOLE.format(steps=steps)
        if note not in t.builder._notes:
            t.builder.note(note)
        lengths = torch.full(lengths.dims, steps, dtype=torch.int64)
    if steps * batch > _LIMIT or not isinstance(lengths, torch.Tensor):
        raise NotHandled
    with torch._C.DisableTorchFunction():  # (torch's own checks of the lengths)
        batch_sizes = torch._pack_padded_sequence(
            torch.zeros(*input.dims[:2], 1), lengths, batch_first
        )[1]
    rows = int(batch_sizes.sum())
    data = _moved(t, input, name, (rows, *input.dims[2:]), op, whole=rows == steps * batch)
    return data, batch_sizes


def pad(
    t: Tracer,
    name: str,
    op: str,
    data: Any,
    batch_sizes: Any,
    batch_first: bool,
    padding_value: float,
    total_length: int,
) -> Any:
    """``torch._pad_packed_sequence``: the padded batch and its lengths (a real tensor)."""
    if (
        type(data) is not ShapeProxy
        or data.ndim < 1
        or not isinstance(batch_sizes, torch.Tensor)  # (real: a traced one is not a Tensor)
        or batch_sizes.ndim != 1
    ):
        raise NotHandled
    steps = max(len(batch_sizes), total_length if isinstance(total_length, int) else 0)
    if steps * (int(batch_sizes[0]) if len(batch_sizes) else 0) > _LIMIT:
        raise NotHandled
    with torch._C.DisableTorchFunction():  # (torch's own checks of the sizes)
        padded, lengths = torch._pad_packed_sequence(
            torch.zeros(data.dims[0], 1), batch_sizes, batch_first, padding_value, total_length
        )
    shape = (*padded.shape[:2], *data.dims[1:])
    out = _moved(t, data, name, shape, op, whole=data.dims[0] == math.prod(shape[:2]))
    return out, lengths


def _moved(
    t: Tracer, x: ShapeProxy, name: str, shape: tuple[int, ...], op: str, whole: bool
) -> ShapeProxy:
    """The packed or padded tensor: a reshape of ``x`` where every step is kept (``whole``),
    else data movement."""
    builder = t.builder
    if whole:
        node = builder.reshape(x.node, name, output_shape=shape, op=op)
    else:
        node = builder.other(x.node, name, kind=OpKind.MOVE, output_shape=shape, op=op)
    return ShapeProxy(node, shape, x.dtype)
