"""Handlers for quantized layers (what ``torch.ao.quantization``'s ``convert`` and
``quantize_dynamic`` put in a model): each read from its attributes as the float layer it
replaces, so a quantized model has the nodes, MACs and parameter counts of the float model it
was converted from (after fusion: a fused ``ConvReLU2d`` is a conv node and a ReLU node).

Their weights are not ``nn.Parameter`` (a conv's or a linear layer's are packed into one
object, read by ``weight()`` and ``bias()``), so ``model.parameters()`` leaves them out; here
they count, once per layer, as a float layer's do. A quantized batch norm's weight and bias are
parameters: :func:`~stridescope.frontends.pytorch.handlers.modules.norm` reads it.
``Quantize`` and ``DeQuantize`` change the element type only: they make no node, and the
layers between them output 8-bit values, counted at one byte each (``value_sizes``). The
table is
:data:`~stridescope.frontends.pytorch.module_table.MODULES`.
"""

from __future__ import annotations

from typing import Any

import torch

from stridescope.frontends.pytorch.handler_specs import ModuleHandler, traced_only
from stridescope.frontends.pytorch.handlers import layer_calls, modules
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.quantized_ops import note_packed
from stridescope.frontends.pytorch.tracer import Tracer
from stridescope.frontends.pytorch.value_sizes import STORED
from stridescope.ir import OpKind

__all__ = ["conv", "conv_transpose", "dequantize", "fake_quantize", "fused", "linear", "prelu"]
__all__ += ["observer", "quantize"]


def _weights_once(t: Tracer, m: Any) -> int | None:
    """The ``params`` override of a layer whose packed weights count at its first call
    (``None``: the builder counts the weight and bias) and not again (0)."""
    if id(m) in t.counted:
        return 0
    t.counted[id(m)] = None
    note_packed(t.builder)
    return None


def _has_bias(m: Any) -> bool:
    return m.bias() is not None  # (unpacks the packed weights)


def conv(t: Tracer, m: Any, name: str, x: ShapeProxy) -> ShapeProxy:
    return modules.conv_layer(t, m, name, x, _has_bias(m), _weights_once(t, m))


def conv_transpose(t: Tracer, m: Any, name: str, x: ShapeProxy) -> ShapeProxy:
    return modules.conv_transpose_layer(t, m, name, x, _has_bias(m), _weights_once(t, m))


def linear(t: Tracer, m: Any, name: str, x: ShapeProxy) -> ShapeProxy:
    fin, fout, params = m.in_features, m.out_features, _weights_once(t, m)
    return layer_calls.dense_node(t, name, type(m).__name__, x, fin, fout, _has_bias(m), params)


def prelu(t: Tracer, m: Any, name: str, x: ShapeProxy) -> ShapeProxy:
    """A quantized PReLU: its slopes are a quantized tensor, not a parameter."""
    params = m.weight.numel() if _weights_once(t, m) is None else 0
    return layer_calls.pointwise_node(t, name, type(m).__name__, x, OpKind.ACTIVATION, params)


def fused(layer: ModuleHandler, activation: str) -> ModuleHandler:
    """A fused layer (``ConvReLU2d``, ``LinearReLU``, ``BNReLU2d``): ``layer``'s node, then the
    activation it applies, a node of its own (``<path>.relu``), as in the float model before
    fusion."""
    op = activation.lower()

    def handler(t: Tracer, m: Any, name: str, x: ShapeProxy) -> ShapeProxy:
        out = layer(t, m, name, x)
        fused = t.unique(f"{name}.{op}")
        return layer_calls.pointwise_node(t, fused, activation, out, OpKind.ACTIVATION, 0)

    return handler


def quantize(t: Tracer, m: Any, name: str, x: ShapeProxy) -> ShapeProxy:
    """``Quantize``: the same values, stored in its quantized type from here on (no node)."""
    return ShapeProxy(x.node, x.dims, STORED.get(m.dtype, torch.uint8))


def dequantize(t: Tracer, m: Any, name: str, x: ShapeProxy) -> ShapeProxy:
    """``DeQuantize``: the same values as float32 again (no node)."""
    return ShapeProxy(x.node, x.dims, torch.float32)


def observer(t: Tracer, m: Any, name: str, x: ShapeProxy) -> ShapeProxy:
    """An observer of ``torch.ao.quantization`` (``prepare`` puts one after each layer, to
    record the ranges of its outputs): it returns its input as it is, so it makes no node (the
    observed model has the float model's graph); what it records is not part of the model's
    function."""
    return x


@traced_only
def fake_quantize(t: Tracer, m: Any, name: str, x: ShapeProxy) -> ShapeProxy:
    """A fake quantizer of ``torch.ao.quantization`` (``prepare_qat``'s, on each layer's
    output): each element rounded to its quantized value and back, a position-wise node of
    0 MACs, as an activation; a learnable one's scale and zero point are its parameters. On a
    layer's weight it runs as torch runs it (:func:`~.handler_specs.traced_only`)."""
    params = t.take_own(m) if m._parameters else 0
    node = t.builder.pointwise(
        x.node, name, kind=OpKind.ACTIVATION, params=params, op=type(m).__name__
    )
    return t.proxy(node, x)
