"""``nn.RNN``, ``nn.LSTM`` and ``nn.GRU`` read from their attributes: one product node for the
whole sequence (every gate's input and hidden products, at every step, layer and direction),
and free nodes for the final hidden (and cell) states.

MACs per layer and direction: ``steps * batch * gates * hidden * (inputs + outputs)``, plus an
LSTM's projection (``hidden * proj_size`` per step); biases and the gates' element-wise math
are not products. ``FlopCounterMode`` counts the same for ``nn.RNN`` and ``nn.GRU`` and 0 for
``nn.LSTM`` (a fused kernel it does not see).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.tracer import Tracer

__all__ = ["recurrent"]


def recurrent(t: Tracer, m: Any, name: str, x: ShapeProxy) -> Any:
    """The output sequence and the final states, as the module returns them."""
    if x.ndim not in (2, 3) or x.dims[-1] != m.input_size:
        return t.run_forward(m, name, (x,), {})  # torch's own error, or an uncounted op
    gates = 4 if isinstance(m, nn.LSTM) else 3 if isinstance(m, nn.GRU) else 1
    batched = x.ndim == 3
    steps, batch = x.dims[:2] if batched and not m.batch_first else x.dims[1::-1]
    if not batched:
        steps, batch = x.dims[0], 1
    directions = 2 if m.bidirectional else 1
    proj = getattr(m, "proj_size", 0)
    out = proj or m.hidden_size
    macs = 0
    for layer in range(m.num_layers):
        inputs = m.input_size if layer == 0 else directions * out
        step = gates * m.hidden_size * (inputs + out) + m.hidden_size * proj
        macs += directions * steps * batch * step
    op = type(m).__name__
    node = t.builder.matmul(
        [x.node],
        name,
        output_shape=(*x.dims[:-1], directions * out),
        macs=macs,
        params=t.take_own(m),
        op=op,
    )
    layers = directions * m.num_layers
    states = []
    for label, size in (("h_n", out), ("c_n", m.hidden_size))[: 2 if gates == 4 else 1]:
        shape = (layers, batch, size) if batched else (layers, size)
        state = t.builder.matmul(
            [node], t.unique(f"{name}.{label}"), output_shape=shape, macs=0, op=op
        )
        states.append(t.proxy(state, x))
    return t.proxy(node, x), tuple(states) if gates == 4 else states[0]
