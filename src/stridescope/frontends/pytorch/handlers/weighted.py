"""Handlers for the torch functions with a weight tensor: ``F.conv1d/2d/3d``,
``F.conv_transpose1d/2d/3d`` and ``F.linear``.

Each has the torch function's own signature (after the tracer, the node name and the torch
spelling). A weight or bias the forward computed from the input (a conditionally parameterised
convolution: one weight per sample, from routing weights) is traced: the layer's node is made
with its shape, then joined with them (:func:`~.layer_calls.joined`); an input the forward
made without the traced one (a parameter) then stands as a node
(:func:`~.layer_calls.standing_in`). A weight that is not a tensor raises
:class:`NotHandled`: the call then runs on meta tensors and is marked uncounted.
"""

from __future__ import annotations

from typing import Any

import torch

from stridescope.frontends.pytorch.errors import LayerInputError, NotHandled
from stridescope.frontends.pytorch.handlers.layer_calls import (
    conv_node,
    conv_transpose_node,
    dense_node,
    joined,
    standing_in,
)
from stridescope.frontends.pytorch.handlers.products import matmul
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.tracer import Tracer

__all__ = ["conv", "conv_transpose", "linear"]


def _weight(weight: Any) -> bool:
    return isinstance(weight, torch.Tensor | ShapeProxy)


def conv(
    t: Tracer,
    name: str,
    op: str,
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> ShapeProxy:
    if not _weight(weight):
        raise NotHandled
    input = standing_in(t, name, input, (weight, bias))
    out = conv_node(
        t,
        name,
        op,
        input,
        tuple(weight.shape),
        groups=groups,
        stride=stride,
        padding=padding,
        dilation=dilation,
        bias=bias is not None,
        params=t.weight_params(weight, bias),
    )
    return joined(t, name, out, (weight, bias))


def conv_transpose(
    t: Tracer,
    name: str,
    op: str,
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
) -> ShapeProxy:
    if not _weight(weight):
        raise NotHandled
    input = standing_in(t, name, input, (weight, bias))
    out = conv_transpose_node(
        t,
        name,
        op,
        input,
        tuple(weight.shape),
        groups=groups,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        dilation=dilation,
        bias=bias is not None,
        params=t.weight_params(weight, bias),
    )
    return joined(t, name, out, (weight, bias))


def convolution(
    t: Tracer,
    name: str,
    op: str,
    input: Any,
    weight: Any,
    bias: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    transposed: bool,
    output_padding: Any,
    groups: int,
    *backend: Any,
) -> ShapeProxy:
    """``torch.convolution`` and ``torch._convolution`` (what ``F.conv*`` and
    ``F.conv_transpose*`` run, and what a graph made by ``torch.jit.trace`` calls): either
    kind, by ``transposed``; ``backend``: ``_convolution``'s cuDNN switches."""
    if transposed:
        return conv_transpose(
            t, name, op, input, weight, bias, stride, padding, output_padding, groups, dilation
        )
    return conv(t, name, op, input, weight, bias, stride, padding, dilation, groups)


def linear(t: Tracer, name: str, op: str, input: Any, weight: Any, bias: Any = None) -> Any:
    input = standing_in(t, name, input, (weight, bias))
    if not isinstance(input, ShapeProxy) or not _weight(weight):
        raise NotHandled
    if weight.dim() == 1 and bias is None:  # F.linear(x, w) with w of (K,): x @ w
        return matmul(t, name, op, input, weight)
    if weight.dim() != 2:
        raise LayerInputError(name, op, f"a last axis of {weight.shape[-1]}", input.dims)
    in_features, out_features = weight.shape[1], weight.shape[0]
    params = t.weight_params(weight, bias)
    out = dense_node(t, name, op, input, in_features, out_features, bias is not None, params)
    return joined(t, name, out, (weight, bias))
