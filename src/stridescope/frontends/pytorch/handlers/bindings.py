"""Handlers for torch's own bindings of what ``torch.nn.functional`` computes, called directly,
and for functions torch composes of counted ones.

**Bindings.** ``torch.kl_div``, ``torch.binary_cross_entropy_with_logits``,
``torch._C._nn.mse_loss`` and the other losses ``F`` calls for you take their arguments by
position in the binding's own order and their ``reduction`` as torch's enum (0 ``'none'``,
1 ``'mean'``, 2 ``'sum'``); each is read as the ``F`` function it stands for, called with its
arguments by name (:data:`LOSS_BINDINGS`). ``torch.frobenius_norm(x, dim, keepdim)`` is
``torch.norm(x, 'fro', dim, keepdim)``; ``torch.norm_except_dim(v, pow, dim)`` the norm over
every axis but ``dim`` (kept, size 1), or over all of them where ``dim`` is -1;
``torch._weight_norm(v, g, dim)`` is ``v * (g / norm_except_dim(v, 2, dim))``, as torch
defines it.

**Compositions**, traced as the counted calls torch's own definition makes, so their products,
receptive fields and coverage are those calls':

- ``torch.gradient(x, spacing=h, dim=..., edge_order=1|2)``: per axis, central differences
  ``(x[i+1] - x[i-1]) / 2h`` inside and one-sided ones at the two ends (two points for edge
  order 1, three for 2), joined along the axis; a spacing given as coordinates (tensors) is
  left to the meta run.
- ``torch.cov(x, correction=c)``: ``(x - mean) @ (x - mean)ᵀ / (n - c)`` over the
  observations (the columns), squeezed as torch squeezes it; ``torch.corrcoef(x)``: that divided by the outer product of its
  diagonal's square roots, clamped to [-1, 1]. Weights per observation are left to the meta
  run.
- ``torch.frexp(x)``: the mantissa and the exponent, each one node read element-wise from
  ``x`` (0 MACs, as ``abs``).
- ``torch.lu_solve(b, LU, pivots)`` (deprecated): ``torch.linalg.lu_solve(LU, pivots, b)``.
- ``torch.histogram`` and ``histogramdd``: every element of the input (and of its weights)
  read once into its bin (one MAC each, as ``histc``); the edges a free node read from the
  counts. ``torch.vander(x, N)``: each column the one before times ``x`` (one MAC per
  element of the ``(len(x), N)`` output).
- ``torch.fake_quantize_per_tensor_affine`` and the other fake quantizations of
  quantization-aware training: position-wise, 0 MACs, as an activation (a learnable scale,
  a parameter, counted there).
- ``F.ctc_loss(log_probs, targets, input_lengths, target_lengths)``: every element of the
  scores (time, batch, classes) and of the targets read once (one MAC each, as the losses of
  ``losses.OTHER_LOSSES``), one value per sample (axis 1 of the scores), then reduced.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from stridescope.frontends.pytorch.errors import NotHandled
from stridescope.frontends.pytorch.handlers.along import results
from stridescope.frontends.pytorch.handlers.elementwise import pointwise
from stridescope.frontends.pytorch.handlers.losses import read_once, reduced
from stridescope.frontends.pytorch.meta_calls import map_values, meta_call
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.tracer import Tracer
from stridescope.ir import OpKind

__all__ = ["BINDING_ROWS", "LOSS_BINDINGS", "ctc_loss", "frexp", "loss_binding"]

# per binding: the F function it stands for, and the binding's parameters in its order
LOSS_BINDINGS: dict[str, tuple[Callable[..., Any], str]] = {
    "torch.kl_div": (F.kl_div, "input target reduction log_target"),
    "torch.binary_cross_entropy_with_logits": (
        F.binary_cross_entropy_with_logits,
        "input target weight pos_weight reduction",
    ),
    "torch.cosine_embedding_loss": (
        F.cosine_embedding_loss,
        "input1 input2 target margin reduction",
    ),
    "torch.hinge_embedding_loss": (F.hinge_embedding_loss, "input target margin reduction"),
    "torch.margin_ranking_loss": (F.margin_ranking_loss, "input1 input2 target margin reduction"),
    "torch.poisson_nll_loss": (F.poisson_nll_loss, "input target log_input full eps reduction"),
    "torch.triplet_margin_loss": (
        F.triplet_margin_loss,
        "anchor positive negative margin p eps swap reduction",
    ),
    "torch._C._nn.mse_loss": (F.mse_loss, "input target reduction"),
    "torch._C._nn.l1_loss": (F.l1_loss, "input target reduction"),
    "torch._C._nn.smooth_l1_loss": (F.smooth_l1_loss, "input target reduction beta"),
    "torch._C._nn.huber_loss": (F.huber_loss, "input target reduction delta"),
    "torch._C._nn.soft_margin_loss": (F.soft_margin_loss, "input target reduction"),
    "torch._C._nn.binary_cross_entropy": (
        F.binary_cross_entropy,
        "input target weight reduction",
    ),
    "torch._C._nn.cross_entropy_loss": (
        F.cross_entropy,
        "input target weight reduction ignore_index label_smoothing",
    ),
    "torch._C._nn.nll_loss": (F.nll_loss, "input target weight reduction ignore_index"),
    "torch._C._nn.nll_loss2d": (F.nll_loss, "input target weight reduction ignore_index"),
    "torch._C._nn.nll_loss_nd": (F.nll_loss, "input target weight reduction ignore_index"),
    "torch._C._nn.multi_margin_loss": (
        F.multi_margin_loss,
        "input target p margin weight reduction",
    ),
    "torch._C._nn.multilabel_margin_loss": (F.multilabel_margin_loss, "input target reduction"),
}
_REDUCTION_NAMES = ("none", "mean", "sum")  # torch's enum, in order
# quantization-aware training's rounding to the quantized grid and back: position-wise
_FAKE_QUANTIZE = (
    "torch.fake_quantize_per_tensor_affine torch.fake_quantize_per_channel_affine "
    "torch._fake_quantize_learnable_per_tensor_affine "
    "torch._fake_quantize_learnable_per_channel_affine torch.fused_moving_avg_obs_fake_quant"
)


def loss_binding(spelled: str) -> Callable[..., Any]:
    """The handler of the loss binding ``spelled``: its arguments by name, then the ``F``
    function's own handler (see the module)."""
    function, parameters = LOSS_BINDINGS[spelled]
    names = parameters.split()

    def handler(t: Tracer, name: str, op: str, *args: Any, **kwargs: Any) -> Any:
        if len(args) > len(names) or not kwargs.keys().isdisjoint(names[: len(args)]):
            raise NotHandled  # torch's own error, from the meta run
        named = {**dict(zip(names, args, strict=False)), **kwargs}
        reduction = named.get("reduction", 1)
        if type(reduction) is int:
            if not 0 <= reduction < len(_REDUCTION_NAMES):
                raise NotHandled
            named["reduction"] = _REDUCTION_NAMES[reduction]
        return t.call_function(function, (), named)

    return handler


def frobenius_norm(
    t: Tracer, name: str, op: str, input: Any, dim: Any = (), keepdim: bool = False
) -> Any:
    """``torch.frobenius_norm(x, dim, keepdim)``: ``torch.norm(x, 'fro', dim, keepdim)``."""
    dims = [dim] if isinstance(dim, int) else list(dim)
    return t.call_function(torch.norm, (input, "fro", dims or None, keepdim), {})


def norm_except_dim(t: Tracer, name: str, op: str, v: Any, pow: Any = 2, dim: int = 0) -> Any:
    """``torch.norm_except_dim(v, pow, dim)``: see the module."""
    if not isinstance(v, ShapeProxy) or not isinstance(dim, int):
        raise NotHandled
    rank = len(v.dims)
    if dim == -1:
        return t.call_function(torch.norm, (v, pow), {})
    if not 0 <= dim < rank:
        raise NotHandled
    others = [axis for axis in range(rank) if axis != dim]
    return t.call_function(torch.norm, (v, pow, others, True), {})


def weight_norm(t: Tracer, name: str, op: str, v: Any, g: Any, dim: int = 0) -> Any:
    """``torch._weight_norm(v, g, dim)``: ``v * (g / norm_except_dim(v, 2, dim))``."""
    norm = t.call_function(torch.norm_except_dim, (v, 2, dim), {})
    return t.call_function(torch.mul, (v, t.call_function(torch.div, (g, norm), {})), {})


def gradient(t: Tracer, name: str, op: str, input: Any, **kwargs: Any) -> Any:
    """``torch.gradient``: see the module."""
    if not isinstance(input, ShapeProxy) or input.dtype.is_complex:
        raise NotHandled
    meta_call(torch.gradient, (input,), kwargs)  # torch's own error for what it refuses
    rank = len(input.dims)
    dim = kwargs.get("dim")
    axes = list(range(rank)) if dim is None else [dim] if isinstance(dim, int) else list(dim)
    spacing = kwargs.get("spacing", 1)
    steps = list(spacing) if isinstance(spacing, list | tuple) else [spacing] * len(axes)
    if len(steps) == 1:
        steps *= len(axes)
    if len(steps) != len(axes) or not all(type(s) in (int, float) for s in steps):
        raise NotHandled  # coordinates as tensors: the meta run
    order = kwargs.get("edge_order", 1)
    return tuple(
        _differences(t, input, axis % rank, float(step), order)
        for axis, step in zip(axes, steps, strict=True)
    )


def _differences(t: Tracer, x: ShapeProxy, axis: int, step: float, order: int) -> Any:
    """One axis of ``torch.gradient``: the centred differences inside, one-sided ones at the
    ends, joined along ``axis``."""
    n = x.dims[axis]
    call = t.call_function

    def part(start: int, length: int) -> Any:
        return call(torch.narrow, (x, axis, start, length), {})

    def combined(terms: list[tuple[int, int]], length: int, scale: float) -> Any:
        """``sum(weight * x[start:start + length])`` over ``terms`` (the first weight
        positive), divided by ``scale``: a negative weight subtracts."""
        total = None
        for weight, start in terms:
            piece = part(start, length)
            if abs(weight) != 1:
                piece = call(torch.mul, (piece, abs(weight)), {})
            if total is None:
                total = piece
            else:
                total = call(torch.add if weight > 0 else torch.sub, (total, piece), {})
        return call(torch.div, (total, scale), {})

    inner = combined([(1, 2), (-1, 0)], n - 2, 2 * step)
    if order == 1:
        first = combined([(1, 1), (-1, 0)], 1, step)
        last = combined([(1, n - 1), (-1, n - 2)], 1, step)
    else:
        first = combined([(4, 1), (-3, 0), (-1, 2)], 1, 2 * step)
        last = combined([(3, n - 1), (-4, n - 2), (1, n - 3)], 1, 2 * step)
    return call(torch.cat, ([first, inner, last], axis), {})


def covariance(
    t: Tracer,
    name: str,
    op: str,
    input: Any,
    *,
    correction: int = 1,
    fweights: Any = None,
    aweights: Any = None,
) -> Any:
    """``torch.cov``: see the module."""
    if not isinstance(input, ShapeProxy) or input.dtype.is_complex or len(input.dims) > 2:
        raise NotHandled
    if fweights is not None or aweights is not None or not isinstance(correction, int):
        raise NotHandled
    call = t.call_function
    x = input if len(input.dims) == 2 else call(torch.unsqueeze, (input, 0), {})
    centred = call(torch.sub, (x, call(torch.mean, (x, 1, True), {})), {})
    product = call(torch.matmul, (centred, call(torch.transpose, (centred, 0, 1), {})), {})
    out = call(torch.div, (product, max(x.dims[1] - correction, 0)), {})
    return call(torch.squeeze, (out,), {})  # (as torch does: one variable gives a scalar)


def correlation(t: Tracer, name: str, op: str, input: Any) -> Any:
    """``torch.corrcoef``: see the module."""
    call = t.call_function
    c = covariance(t, name, op, input)
    if len(c.dims) == 0:
        return call(torch.div, (c, c), {})
    deviations = call(torch.sqrt, (call(torch.diagonal, (c,), {}),), {})
    rows = call(torch.div, (c, call(torch.unsqueeze, (deviations, 1), {})), {})
    both = call(torch.div, (rows, call(torch.unsqueeze, (deviations, 0), {})), {})
    return call(torch.clamp, (both, -1, 1), {})


def frexp(t: Tracer, name: str, op: str, input: Any, **kwargs: Any) -> Any:
    """``torch.frexp(x)``: see the module."""
    if not isinstance(input, ShapeProxy) or kwargs:
        raise NotHandled
    result = meta_call(torch.frexp, (input,), {})
    made = {}
    for i, value in enumerate(result):
        label = name if i == 0 else t.unique(f"{name}.exponent")
        node = t.builder.pointwise(input.node, label, kind=OpKind.ACTIVATION, op=op)
        made[id(value)] = ShapeProxy(node, input.dims, value.dtype)
    return map_values(result, lambda r: made.get(id(r), r))


def ctc_loss(
    t: Tracer,
    name: str,
    op: str,
    log_probs: Any,
    targets: Any,
    input_lengths: Any,
    target_lengths: Any,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Any:
    """``F.ctc_loss``: see the module."""
    if not isinstance(log_probs, ShapeProxy) or reduction not in _REDUCTION_NAMES:
        raise NotHandled
    meta_call(F.ctc_loss, (log_probs, targets, input_lengths, target_lengths, blank), {})
    tensors = [
        a
        for a in (log_probs, targets, input_lengths, target_lengths)
        if isinstance(a, ShapeProxy | torch.Tensor)
    ]
    shape = log_probs.dims[1:2] if len(log_probs.dims) == 3 else ()
    each = read_once(t, name, op, tensors, shape, OpKind.REDUCE)
    return reduced(t, name, op, each, reduction)


def lu_solve(t: Tracer, name: str, op: str, b: Any, LU: Any, pivots: Any) -> Any:
    """``torch.lu_solve(b, LU, pivots)``: see the module."""
    return t.call_function(torch.linalg.lu_solve, (LU, pivots, b), {})


def histogram(func: Any) -> Callable[..., Any]:
    """The handler of ``torch.histogram`` or ``torch.histogramdd``: see the module."""

    def handler(t: Tracer, name: str, op: str, input: Any, *args: Any, **kwargs: Any) -> Any:
        if type(input) is not ShapeProxy or "out" in kwargs:
            raise NotHandled
        result = meta_call(func, (input, *args), kwargs)  # shapes; torch's errors
        weight = kwargs.get("weight")
        read = [input] + ([weight] if isinstance(weight, ShapeProxy) else [])
        counts = read_once(t, name, op, read, tuple(result[0].shape), OpKind.REDUCE)
        return results(t, name, op, counts.node, result)

    return handler


def vander(t: Tracer, name: str, op: str, x: Any, N: Any = None, increasing: bool = False) -> Any:
    """``torch.vander``: see the module."""
    if type(x) is not ShapeProxy:
        raise NotHandled
    shape = tuple(meta_call(torch.vander, (x, N, increasing), {}).shape)
    node = t.builder.other(
        x.node, name, kind=OpKind.MUL, output_shape=shape, macs=math.prod(shape), op=op
    )
    return ShapeProxy(node, shape, x.dtype)


BINDING_ROWS: list[tuple[Callable[..., Any], str]] = [
    *((loss_binding(spelled), spelled) for spelled in LOSS_BINDINGS),
    (frobenius_norm, "torch.frobenius_norm"),
    (norm_except_dim, "torch.norm_except_dim"),
    (weight_norm, "torch._weight_norm"),
    (gradient, "torch.gradient"),
    (covariance, "torch.cov Tensor.cov"),
    (correlation, "torch.corrcoef Tensor.corrcoef"),
    (frexp, "torch.frexp Tensor.frexp"),
    (ctc_loss, "F.ctc_loss"),
    (lu_solve, "torch.lu_solve Tensor.lu_solve"),
    (histogram(torch.histogram), "torch.histogram Tensor.histogram"),
    (histogram(torch.histogramdd), "torch.histogramdd"),
    (vander, "torch.vander"),
    (pointwise(OpKind.ACTIVATION), _FAKE_QUANTIZE),
]
"""The function table's rows of this module (handler, spellings)."""
