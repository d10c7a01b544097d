"""The operations a graph in core ATen holds where the model called a ``torch.nn.functional``
function (what ``torch.export``'s ``run_decompositions`` leaves, and what code calling the
``torch.native_*`` bindings runs): norms that return their statistics beside their output
(``native_layer_norm``, ``native_batch_norm``, ``_native_batch_norm_legit_no_training``,
``native_group_norm``: ``(out, mean, rstd)``), the softmax kernels (``_softmax``,
``_log_softmax``, ``_safe_softmax``: activations, see ``elementwise_names``),
``native_dropout`` (``(out, mask)``: a model exported in training mode) and
``constant_pad_nd``. Each is read as the function it stands for, so an exported and
decomposed model is counted as the model it came from.

A native norm is the norm's node (its weight and bias counted there, as ``F.layer_norm``
counts them), then one node per statistic, of the shape a meta run gives (a reduction of the
input: 0 MACs, the indices beside a max pool are made the same way).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from stridescope.frontends.pytorch.errors import NotHandled
from stridescope.frontends.pytorch.handler_specs import counts_all
from stridescope.frontends.pytorch.handlers.elementwise import pointwise
from stridescope.frontends.pytorch.handlers.layer_calls import pad_node
from stridescope.frontends.pytorch.meta_calls import meta_call
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.tracer import Tracer
from stridescope.ir import OpKind

__all__ = ["PER_FUNCTION", "constant_pad_nd", "native_dropout", "native_norm"]

NATIVE_NORMS = (
    "torch.native_layer_norm torch.native_batch_norm torch._native_batch_norm_legit "
    "torch._native_batch_norm_legit_no_training torch.native_group_norm "
    "aten._batch_norm_with_update aten._batch_norm_no_update "
    "aten._native_batch_norm_legit_functional"
)

# what each output after the first holds (a norm in training updates its running statistics:
# a graph in core ATen returns them, and copies them into the buffers)
_STATISTICS = ("mean", "rstd", "reserve")
_FUNCTIONAL = ("mean", "rstd", "running_mean", "running_var")
_NORM = pointwise(OpKind.NORM)
_DROPOUT = pointwise(OpKind.DROPOUT)


def native_norm(func: Any) -> Callable[..., Any]:
    """The handler of one native norm ``func``: the norm's node, then its statistics."""

    @counts_all
    def handler(t: Tracer, name: str, op: str, input: Any, *args: Any, **kwargs: Any) -> Any:
        if type(input) is not ShapeProxy or "out" in kwargs:
            raise NotHandled
        outputs = meta_call(func, (input, *args), kwargs)
        out = _NORM(t, name, op, input, *args, **kwargs)
        labels = _FUNCTIONAL if len(outputs) == 5 else _STATISTICS
        statistics = [
            _statistic(t, input, f"{name}.{label}", op, made)
            for label, made in zip(labels, outputs[1:], strict=False)
        ]
        return (out, *statistics)

    return handler


def _statistic(t: Tracer, input: ShapeProxy, name: str, op: str, made: torch.Tensor) -> Any:
    """A statistic a native norm returns of ``input`` (its mean, its reciprocal standard
    deviation; empty where torch keeps none): a node of its shape read from the input."""
    shape = tuple(made.shape)
    node = t.builder.other(
        input.node, t.unique(name), kind=OpKind.REDUCE, output_shape=shape, op=op
    )
    return ShapeProxy(node, shape, made.dtype)


def native_dropout(t: Tracer, name: str, op: str, input: Any, *args: Any, **kwargs: Any) -> Any:
    """``torch.native_dropout(x, p, train)``: ``F.dropout``'s node, then the mask it kept
    (a bool tensor of the input's shape, position by position)."""
    if type(input) is not ShapeProxy:
        raise NotHandled
    out = _DROPOUT(t, name, op, input, *args, **kwargs)
    node = t.builder.pointwise(out.node, t.unique(f"{name}.mask"), kind=OpKind.DROPOUT, op=op)
    return out, ShapeProxy(node, input.dims, torch.bool)


def constant_pad_nd(
    t: Tracer, name: str, op: str, input: Any, pad: Sequence[int], value: float = 0.0
) -> Any:
    """``torch.constant_pad_nd(x, pad, value)``: ``F.pad(x, pad, value=value)``."""
    return pad_node(t, name, op, input, pad, "constant", value)


PER_FUNCTION: list[tuple[Callable[[Any], Callable[..., Any]], str]] = [
    (native_norm, NATIVE_NORMS),
    (lambda func: constant_pad_nd, "torch.constant_pad_nd"),
    (lambda func: native_dropout, "torch.native_dropout"),
]
"""Handler factories (each given the function it reads) and the spellings they read."""
