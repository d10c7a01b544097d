"""Quantized operations (``quantized::add``, ``quantized::conv2d_relu``...) as the float
functions they compute, their output's scale and zero point aside: what a quantized model's
``QFunctional`` calls in Python, and what its compiled graph (TorchScript) holds in place of
each layer. :mod:`~stridescope.frontends.pytorch.aten_calls` reads them with these.

A conv's or linear layer's weights are packed into one object (``Conv2dPackedParamsBase``):
they are unpacked, and marked as parameters the first time a trace meets that object, so they
count once, as the layer's do in Python. An operation with a fused ReLU (``add_relu``,
``conv2d_relu``) is the operation's node, then a ReLU node, as the float model before fusion
has them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from stridescope.frontends.pytorch.thread_state import active_tracer

__all__ = ["PACKED_NOTE", "QUANTIZED", "note_packed"]

Named = dict[str, Any]
Arguments = tuple[tuple[Any, ...], dict[str, Any]]


def _weights(packed: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The weight and bias packed into ``packed``, marked as parameters the first time the
    running trace meets it (:func:`_counted_once`)."""
    weight, bias = packed.unpack()  # (new tensors at each call)
    _counted_once(packed, weight, bias)
    return weight, bias


def _counted_once(packed: Any, *tensors: torch.Tensor | None) -> None:
    """Mark ``tensors``, unpacked from ``packed``, as parameters the first time the running
    trace meets ``packed`` (and not after: counted once); all are held while the trace runs,
    as the autograd nodes it walked are, so an id counted is not reused."""
    tracer = active_tracer()
    if tracer is None:
        return
    for held in (packed, *tensors):
        tracer.walked[id(held)] = held
    if id(packed) not in tracer.counted:
        tracer.counted[id(packed)] = None
        for tensor in tensors:
            if tensor is not None:
                tensor._is_param = True
        note_packed(tracer.builder)


#: what a summary of a quantized model says of its parameters
PACKED_NOTE = (
    "parameters include the weights packed into quantized layers (counted once each), which "
    "model.parameters() does not list"
)


def note_packed(builder: Any) -> None:
    """Say (once) that the parameters count weights packed into quantized layers."""
    if PACKED_NOTE not in builder._notes:
        builder.note(PACKED_NOTE)


def _named(*names: str) -> Callable[[Named], Arguments]:
    return lambda named: (tuple([named[n] for n in names]), {})


def _conv(named: Named) -> Arguments:
    packed: Any = named["packed_weight" if "packed_weight" in named else "weight"]
    weight, bias = _weights(packed)
    if packed.transpose():
        position = (packed.stride(), packed.padding(), packed.output_padding())
        return (named["qx"], weight, bias, *position, packed.groups(), packed.dilation()), {}
    position = (packed.stride(), packed.padding(), packed.dilation())
    return (named["qx"], weight, bias, *position, packed.groups()), {}


def _linear(named: Named) -> Arguments:
    return (named["X"], *_weights(named["W_prepack"])), {}


def _conv_add(named: Named) -> Arguments:
    """``conv2d_add(qx, qaccum, ...)``: the conv's output added to ``qaccum`` (``ConvAdd2d``,
    a conv and the residual add after it fused)."""
    args, kwargs = _conv(named)
    return (F.conv2d(*args, **kwargs), named["qaccum"]), {}


def _linear_relu(named: Named) -> Arguments:
    """``linear_relu_dynamic``: a linear layer's output through a ReLU."""
    args, kwargs = _linear(named)
    return (F.linear(*args, **kwargs),), {}


def _embedding(named: Named) -> Arguments:
    """``embedding_byte(weight, indices)``: the table's rows at ``indices``; the 8- or 4-bit
    table read back as floats (quantized meta tensors cannot be made), counted once."""
    packed = named["weight"]
    table = packed.unpack() if hasattr(packed, "unpack") else packed
    table = table.dequantize() if table.is_quantized else table
    _counted_once(packed, table)
    return (named["indices"], table), {}


# per operation name (without a fused ``_relu``): the float function, its arguments
QUANTIZED: dict[str, tuple[Any, Callable[[Named], Arguments]]] = {
    "add": (torch.add, _named("qa", "qb")),
    "mul": (torch.mul, _named("qa", "qb")),
    "add_scalar": (torch.add, _named("qa", "b")),
    "mul_scalar": (torch.mul, _named("qa", "b")),
    "cat": (torch.cat, _named("qx", "dim")),
    "matmul": (torch.matmul, _named("qa", "qb")),
    "hardswish": (F.hardswish, _named("input")),
    "conv2d": (F.conv2d, _conv),
    "conv3d": (F.conv3d, _conv),
    "conv_transpose2d": (F.conv_transpose2d, _conv),
    "conv_transpose3d": (F.conv_transpose3d, _conv),
    "linear": (F.linear, _linear),
    "linear_dynamic": (F.linear, _linear),
    "linear_relu_dynamic": (torch.relu, _linear_relu),
    "conv2d_add": (torch.add, _conv_add),
    "embedding_byte": (F.embedding, _embedding),
    "embedding_4bit": (F.embedding, _embedding),
}
