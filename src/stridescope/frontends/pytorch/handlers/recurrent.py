"""``nn.RNN``, ``nn.LSTM`` and ``nn.GRU`` read from their attributes: one product node for the
whole sequence (every gate's input and hidden products, at every step, layer and direction),
and free nodes for the final hidden (and cell) states.

MACs per layer and direction: ``steps * batch * gates * hidden * (inputs + outputs)``, plus an
LSTM's projection (``hidden * proj_size`` per step); biases and the gates' element-wise math
are not products. ``FlopCounterMode`` counts the same for ``nn.RNN`` and ``nn.GRU`` and 0 for
``nn.LSTM`` (a fused kernel it does not see). The cells (``nn.LSTMCell``, ``GRUCell``,
``RNNCell``), run one step at a time by a loop in the forward, are one product node a step
(:func:`cell_function`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from stridescope.frontends.pytorch.errors import NotHandled
from stridescope.frontends.pytorch.handlers import packed
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.tracer import Tracer
from stridescope.ir import Window, spatial_axes

__all__ = ["ROWS", "cell_function", "recurrent", "sequence_function", "sequence_window"]


def recurrent(t: Tracer, m: Any, name: str, x: Any) -> Any:
    """The output sequence and the final states, as the module returns them; on a
    ``PackedSequence`` (its rows and real batch sizes: see ``packed``), a packed output."""
    is_packed = isinstance(x, PackedSequence) and _sizes_known(x.batch_sizes)
    data = x.data if is_packed else x
    ranks = (2,) if is_packed else (2, 3)
    if type(data) is not ShapeProxy or data.ndim not in ranks or data.dims[-1] != m.input_size:
        return t.run_forward(m, name, (x,), {})  # torch's own error, or an uncounted op
    gates = 4 if isinstance(m, nn.LSTM) else 3 if isinstance(m, nn.GRU) else 1
    sizes = _Sizes(gates, m.input_size, m.hidden_size, getattr(m, "proj_size", 0))
    layout = (m.num_layers, 2 if m.bidirectional else 1, m.batch_first)
    batch = int(x.batch_sizes[0]) if is_packed else None
    own = t.take_own(m)
    out, states = _sequence(t, name, type(m).__name__, data, sizes, layout, own, batch)
    if is_packed:
        out = type(x)(out, x.batch_sizes, x.sorted_indices, x.unsorted_indices)
    return out, tuple(states) if gates == 4 else states[0]


def _sizes_known(batch_sizes: Any) -> bool:
    """Whether a packed sequence's batch sizes are a real (a traced tensor is not a
    ``torch.Tensor``), non-empty 1-D tensor."""
    return isinstance(batch_sizes, torch.Tensor) and batch_sizes.ndim == 1 and len(batch_sizes) > 0


def sequence_function(gates: int) -> Callable[..., Any]:
    """The handler of ``torch.lstm`` (``gates=4``), ``torch.gru`` (3), ``torch.rnn_tanh`` and
    ``torch.rnn_relu`` (1): what the modules run, and what a compiled graph calls
    (``aten::lstm(input, hx, params, has_biases, num_layers, dropout, train, bidirectional,
    batch_first)``), and the packed form the modules run on a ``PackedSequence``
    (``lstm(data, batch_sizes, hx, params, has_biases, num_layers, dropout, train,
    bidirectional)``, read where the batch sizes are real); sizes from the weights, every
    state returned flat, as the op does."""

    def handler(
        t: Tracer,
        name: str,
        op: str,
        input: Any,
        hx: Any,
        params: Any,
        has_biases: bool,
        num_layers: int,
        dropout: float,
        train: bool,
        bidirectional: bool,
        batch_first: bool,
    ) -> Any:
        batch = None
        if isinstance(has_biases, list | tuple) and _sizes_known(hx):  # the packed form:
            batch = int(hx[0])  # (data, batch_sizes, hx, params, ...): one place further on
            params, num_layers, bidirectional, batch_first = has_biases, dropout, batch_first, False
        if (
            not isinstance(input, ShapeProxy)
            or input.ndim not in ((2, 3) if batch is None else (2,))
            or not isinstance(params, list | tuple)
            or not params
        ):
            raise NotHandled  # (a packed sequence's overload: batch sizes in place of hx)
        w_ih, w_hh = params[0], params[1]
        hidden = w_ih.shape[0] // gates
        if input.dims[-1] != w_ih.shape[1]:
            raise NotHandled  # torch's own error, from meta
        proj = 0 if w_hh.shape[1] == hidden else w_hh.shape[1]
        sizes = _Sizes(gates, w_ih.shape[1], hidden, proj)
        layout = (num_layers, 2 if bidirectional else 1, batch_first)
        out, states = _sequence(t, name, op, input, sizes, layout, t.take_params(params), batch)
        return (out, *states)

    return handler


def cell_function(gates: int) -> Callable[..., Any]:
    """The handler of ``torch.lstm_cell`` (``gates=4``), ``torch.gru_cell`` (3),
    ``torch.rnn_tanh_cell`` and ``torch.rnn_relu_cell`` (1), what ``nn.LSTMCell`` and the
    other cells run for one step (a decoder's loop, an attention RNN): one product node,
    ``batch * gates * hidden * (inputs + hidden)`` MACs, with the input and the traced
    states as parents; an LSTM cell's new cell state a 0-MAC node beside it."""

    def handler(
        t: Tracer,
        name: str,
        op: str,
        input: Any,
        hx: Any,
        w_ih: Any,
        w_hh: Any,
        b_ih: Any = None,
        b_hh: Any = None,
    ) -> Any:
        states = list(hx) if isinstance(hx, list | tuple) else [hx]
        if (
            type(input) is not ShapeProxy
            or input.ndim != 2
            or not isinstance(w_ih, torch.Tensor)
            or w_ih.ndim != 2
            or input.dims[-1] != w_ih.shape[1]
            or len(states) != (2 if gates == 4 else 1)
        ):
            raise NotHandled  # torch's own error, from meta
        hidden = w_ih.shape[0] // gates
        shape = (input.dims[0], hidden)
        if any(tuple(s.shape) != shape for s in states if isinstance(s, ShapeProxy | torch.Tensor)):
            raise NotHandled
        parents = [input.node] + [s.node for s in states if type(s) is ShapeProxy]
        node = t.builder.matmul(
            parents,
            name,
            output_shape=shape,
            macs=input.dims[0] * gates * hidden * (input.dims[1] + hidden),
            params=t.take_params([w_ih, w_hh, b_ih, b_hh]),
            op=op,
        )
        out = t.proxy(node, input)
        if gates != 4:
            return out
        cell = t.builder.matmul([node], t.unique(f"{name}.c"), output_shape=shape, macs=0, op=op)
        return out, t.proxy(cell, input)

    return handler


class _Sizes(NamedTuple):
    gates: int
    inputs: int
    hidden: int
    proj: int


def _sequence(
    t: Tracer,
    name: str,
    op: str,
    x: ShapeProxy,
    sizes: _Sizes,
    layout: tuple[int, int, bool],
    params: int,
    packed: int | None = None,
) -> tuple[ShapeProxy, list[ShapeProxy]]:
    """The output node (every product of the sequence) and the final states' nodes.
    ``packed``: the largest batch of a packed sequence, whose rows ``x`` holds (one step of
    one sequence each: the products are those of an unbatched sequence of that many steps),
    and whose states are batched."""
    layers, directions, batch_first = layout
    batched = x.ndim == 3
    steps, batch = x.dims[:2] if batched and not batch_first else x.dims[1::-1]
    if not batched:
        steps, batch = x.dims[0], 1
    out = sizes.proj or sizes.hidden
    macs = 0
    for layer in range(layers):
        inputs = sizes.inputs if layer == 0 else directions * out
        step = sizes.gates * sizes.hidden * (inputs + out) + sizes.hidden * sizes.proj
        macs += directions * steps * batch * step
    node = t.builder.matmul(
        [x.node],
        name,
        output_shape=(*x.dims[:-1], directions * out),
        macs=macs,
        params=params,
        op=op,
        window=sequence_window(t, x, 1 if batched and batch_first else 0, steps, directions),
    )
    states = []
    for label, size in (("h_n", out), ("c_n", sizes.hidden))[: 2 if sizes.gates == 4 else 1]:
        shape: tuple[int, ...] = (layers * directions, size)
        if batched or packed is not None:
            shape = (layers * directions, batch if packed is None else packed, size)
        state = t.builder.matmul(
            [node], t.unique(f"{name}.{label}"), output_shape=shape, macs=0, op=op
        )
        states.append(t.proxy(state, x))
    return t.proxy(node, x), states


def sequence_window(
    t: Tracer, x: ShapeProxy, axis: int, steps: int, directions: int
) -> Window | None:
    """Where the sequence runs along a spatial axis (a conv's time axis permuted to the
    front, as speech and OCR models do; tokens): each output step reads every earlier step
    (and every later one, run backwards too, or attended to: ``directions=2``), a window of
    ``steps`` (``2 * steps - 1``) positions padded to keep the length, so the receptive field
    and the coverage see the positions mix; else ``None`` (the layer is a product on each
    position's features)."""
    builder = t.builder
    node = builder._nodes[x.node]
    at = node.spatial_at
    if at is None:
        at = spatial_axes(len(x.dims), builder.layout)
    if axis not in at or steps < 2:
        return None  # (spatial axes a reshape folded into others: as a product on features)
    rank, j = len(at), at.index(axis)
    after = steps - 1 if directions == 2 else 0
    kernel = tuple(steps + after if i == j else 1 for i in range(rank))
    padding = tuple((steps - 1, after) if i == j else (0, 0) for i in range(rank))
    return Window(kernel, (1,) * rank, (1,) * rank, padding)


# the ops the modules run (``torch.lstm``, ``torch.lstm_cell`` ...), and the packing around
# them (see ``packed``)
ROWS: list[tuple[Callable[..., Any] | None, str]] = [
    (sequence_function(4), "torch.lstm"),
    (sequence_function(3), "torch.gru"),
    (sequence_function(1), "torch.rnn_tanh torch.rnn_relu"),
    (cell_function(4), "torch.lstm_cell"),
    (cell_function(3), "torch.gru_cell"),
    (cell_function(1), "torch.rnn_tanh_cell torch.rnn_relu_cell"),
    (packed.pack, "torch._pack_padded_sequence"),
    (packed.pad, "torch._pad_packed_sequence"),
]
