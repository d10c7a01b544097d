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
``linear_cross_entropy`` (a fused output layer and loss) is its reference: ``linear``, then
``cross_entropy``.
The other losses (:data:`OTHER_LOSSES`: margins, embeddings, rankings, triplets, Poisson and
Gaussian likelihoods) read each element of each tensor they are given once (one MAC per
element), per element (the broadcast shape) or per sample (a row's classes or features
reduced), then reduce as above; their Python bodies, which may check values
(``gaussian_nll_loss``'s variance), are not run.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch.nn._reduction import legacy_get_string

from stridescope.frontends.pytorch.errors import NotHandled
from stridescope.frontends.pytorch.handlers.elementwise import arith
from stridescope.frontends.pytorch.handlers.products import broadcast_shapes
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.tracer import Tracer
from stridescope.ir import OpKind, Shape

__all__ = ["CLASS_LOSSES", "LOSSES", "OTHER_LOSSES", "class_loss", "histc", "other_loss"]
__all__ += ["pairwise_loss", "read_once", "reduced"]

LOSSES = (
    "F.mse_loss F.l1_loss F.smooth_l1_loss F.huber_loss F.soft_margin_loss "
    "F.binary_cross_entropy F.binary_cross_entropy_with_logits F.kl_div"
)
CLASS_LOSSES = "F.cross_entropy F.nll_loss F.linear_cross_entropy"
_PER_ELEMENT = "F.hinge_embedding_loss F.margin_ranking_loss F.poisson_nll_loss F.gaussian_nll_loss"
_PER_SAMPLE = (
    "F.multilabel_soft_margin_loss F.cosine_embedding_loss F.multi_margin_loss "
    "F.multilabel_margin_loss F.triplet_margin_loss F.triplet_margin_with_distance_loss"
)
OTHER_LOSSES = f"{_PER_ELEMENT} {_PER_SAMPLE}"
_ELEMENTWISE = frozenset(_PER_ELEMENT.split())
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
    return reduced(t, name, op, each, reduction)


def reduced(t: Tracer, name: str, op: str, each: ShapeProxy, reduction: str) -> Any:
    """``each`` (a loss per element or per sample) reduced as ``reduction`` says: the mean or
    sum over every axis (one MAC per element), or as it is (``'none'``)."""
    if reduction == "none":
        return each
    node = t.builder.reduce(
        each.node, t.unique(f"{name}.{reduction}"), mode="avg", axes=None, op=op
    )
    return t.proxy(node, each)


def class_loss(t: Tracer, name: str, op: str, *args: Any, **kw: Any) -> Any:
    """``F.cross_entropy(input, target, ...)`` and ``F.nll_loss``: see the module;
    ``F.linear_cross_entropy(input, linear_weight, target, ...)``: :func:`_linear_class_loss`."""
    if op.endswith("linear_cross_entropy"):
        return _linear_class_loss(t, *args, **kw)
    return _class_loss(t, name, op, *args, **kw)


def _class_loss(
    t: Tracer, name: str, op: str, input: Any, target: Any, weight: Any = None, **kw: Any
) -> Any:
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
    return reduced(t, name, op, t.proxy(node, input), reduction)


def _linear_class_loss(
    t: Tracer,
    input: Any,
    linear_weight: Any,
    target: Any,
    *,
    linear_bias: Any = None,
    options: Any = None,
    ignore_index: Any = None,
    **kw: Any,
) -> Any:
    """``F.linear_cross_entropy``: traced as its reference, ``F.linear`` then
    ``F.cross_entropy`` (the fused kernel computes the same products in chunks); a weight of
    more than two axes, which ``F.linear`` does not take, is left to the meta run."""
    if not isinstance(linear_weight, ShapeProxy | torch.Tensor) or linear_weight.dim() != 2:
        raise NotHandled
    logits = t.call_function(F.linear, (input, linear_weight, linear_bias), {})
    if ignore_index is not None:
        kw["ignore_index"] = ignore_index
    return t.call_function(F.cross_entropy, (logits, target), kw)


def other_loss(t: Tracer, name: str, op: str, *args: Any, **kw: Any) -> Any:
    """The losses of :data:`OTHER_LOSSES`: see the module."""
    reduction = _reduction(kw)
    tensors = [a for a in (*args, *kw.values()) if isinstance(a, ShapeProxy | torch.Tensor)]
    traced = [a for a in tensors if type(a) is ShapeProxy]
    if not traced or reduction not in ("mean", "sum", "none"):
        raise NotHandled
    dims = [tuple(a.shape) for a in tensors]
    each = op in _ELEMENTWISE
    if each:
        try:
            shape = tuple(broadcast_shapes(*dims))
        except RuntimeError:  # shapes torch refuses: its own error, from the meta run
            raise NotHandled from None
    else:
        shape = dims[0][:1] if len(dims[0]) > 1 else ()
    kind = OpKind.ADD if each else OpKind.REDUCE
    return reduced(t, name, op, read_once(t, name, op, tensors, shape, kind), reduction)


def read_once(
    t: Tracer, name: str, op: str, tensors: list[Any], shape: Shape, kind: OpKind
) -> ShapeProxy:
    """One node of ``shape`` that reads every element of each of ``tensors`` once (one MAC
    each): the traced ones (the first is one) its parents, the parameters among them counted
    there."""
    traced = [a for a in tensors if type(a) is ShapeProxy]
    node = t.builder.other(
        list(dict.fromkeys(a.node for a in traced)),
        name,
        kind=kind,
        output_shape=shape,
        macs=sum(math.prod(tuple(a.shape)) for a in tensors),
        params=t.take_params(tensors),
        op=op,
    )
    return t.proxy(node, traced[0])


def histc(t: Tracer, name: str, op: str, input: Any, bins: int = 100, *args: Any, **kw: Any) -> Any:
    """``torch.histc(input, bins)``: every element read into one of ``bins`` counts (one MAC
    per element, as a reduction)."""
    if not isinstance(input, ShapeProxy) or not isinstance(bins, int) or "out" in kw:
        raise NotHandled
    return read_once(t, name, op, [input], (bins,), OpKind.REDUCE)
