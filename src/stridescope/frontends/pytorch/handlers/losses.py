"""Handlers for what a forward computes on its activations for training alone: the
element-wise losses (a vector quantiser's commitment loss ``F.mse_loss(z.detach(), q)``) and
``torch.histc`` (its codebook's usage, for the perplexity).

A loss of input and target (``mse_loss``, ``l1_loss``, ``smooth_l1_loss``, ``huber_loss``,
``soft_margin_loss``, ``binary_cross_entropy`` and ``..._with_logits``, ``kl_div``) is an
element-wise op of the two (one MAC per element of their broadcast shape, as a subtraction),
then, unless ``reduction='none'``, the mean or sum over every axis (one MAC per element). A
``weight`` or ``pos_weight`` multiplies each element (one MAC per element, broadcast; a
parameter counted there); the deprecated ``size_average``/``reduce`` pick the reduction as
torch reads them.
``cross_entropy`` and ``nll_loss`` read the class axis (axis 1, or 0 for one sample) of the
scores at each position (one MAC per score: the log-softmax, the pick), then reduce as above;
their target (class indices, or probabilities of the scores' shape) is read there too.
"""

from __future__ import annotations

import math
from typing import Any

from torch.nn._reduction import legacy_get_string

from stridescope.frontends.pytorch.errors import NotHandled
from stridescope.frontends.pytorch.handlers.elementwise import arith
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.tracer import Tracer
from stridescope.ir import OpKind

__all__ = ["CLASS_LOSSES", "LOSSES", "class_loss", "histc", "pairwise_loss"]

LOSSES = (
    "F.mse_loss F.l1_loss F.smooth_l1_loss F.huber_loss F.soft_margin_loss "
    "F.binary_cross_entropy F.binary_cross_entropy_with_logits F.kl_div"
)
CLASS_LOSSES = "F.cross_entropy F.nll_loss"
_REDUCTIONS = ("mean", "sum", "none", "batchmean")  # (batchmean: kl_div's)


def _reduction(kw: dict[str, Any]) -> str:
    """The call's ``reduction``, or what the deprecated ``size_average`` and ``reduce`` say
    (taken out of ``kw``), as torch reads them."""
    size_average, reduce = kw.pop("size_average", None), kw.pop("reduce", None)
    reduction: str = kw.pop("reduction", "mean")
    if size_average is None and reduce is None:
        return reduction
    return legacy_get_string(size_average, reduce, emit_warning=False)


def pairwise_loss(t: Tracer, name: str, op: str, input: Any, target: Any, **kw: Any) -> Any:
    """``F.mse_loss(input, target, reduction=...)`` and the others of :data:`LOSSES`."""
    reduction = _reduction(kw)
    if reduction not in _REDUCTIONS:
        raise NotHandled
    if not isinstance(input, ShapeProxy) and not isinstance(target, ShapeProxy):
        raise NotHandled
    each: ShapeProxy = arith(OpKind.ADD)(t, name, op, input, target)
    for key in ("weight", "pos_weight"):  # each element weighed: a multiply, broadcast
        if (weight := kw.get(key)) is not None:
            each = arith(OpKind.MUL)(t, t.unique(f"{name}.{key}"), op, each, weight)
    return _reduced(t, name, op, each, reduction)


def _reduced(t: Tracer, name: str, op: str, each: ShapeProxy, reduction: str) -> Any:
    if reduction == "none":
        return each
    node = t.builder.reduce(
        each.node, t.unique(f"{name}.{reduction}"), mode="avg", axes=None, op=op
    )
    return t.proxy(node, each)


def class_loss(
    t: Tracer, name: str, op: str, input: Any, target: Any, weight: Any = None, **kw: Any
) -> Any:
    """``F.cross_entropy(input, target, ...)`` and ``F.nll_loss``: see the module."""
    reduction = _reduction(kw)
    if not isinstance(input, ShapeProxy) or reduction not in ("mean", "sum", "none"):
        raise NotHandled
    if isinstance(weight, ShapeProxy):
        raise NotHandled
    axis = 1 if len(input.dims) > 1 else 0
    shape = input.dims[:axis] + input.dims[axis + 1 :]
    parents = [input.node] + ([target.node] if isinstance(target, ShapeProxy) else [])
    node = t.builder.other(
        parents, name, kind=OpKind.REDUCE, output_shape=shape, macs=math.prod(input.dims), op=op
    )
    return _reduced(t, name, op, t.proxy(node, input), reduction)


def histc(t: Tracer, name: str, op: str, input: Any, bins: int = 100, *args: Any, **kw: Any) -> Any:
    """``torch.histc(input, bins)``: every element read into one of ``bins`` counts (one MAC
    per element, as a reduction)."""
    if not isinstance(input, ShapeProxy) or not isinstance(bins, int) or "out" in kw:
        raise NotHandled
    macs = math.prod(input.dims)
    node = t.builder.other(
        input.node, name, kind=OpKind.REDUCE, output_shape=(bins,), macs=macs, op=op
    )
    return t.proxy(node, input)
