"""Attention layers read whole: ``F.multi_head_attention_forward`` (what
``nn.MultiheadAttention`` calls), and the fast path a model compiled in eval under
``no_grad`` records instead (``torch._native_multi_head_attention``, batch first): the
three input projections, ``q @ kᵀ``, the product with ``v`` and the output projection as one
``matmul`` node, with the same MACs either way. Self-attention along a spatial axis (a
signal's time steps, tokens, moved to the sequence axis) mixes every position of it: the node
carries a window spanning the axis, as a bidirectional recurrent layer's, so the receptive
field and coverage see it (until 2026-12-06 the field was the projections', one position)."""

from __future__ import annotations

from typing import Any

import torch

from stridescope.frontends.pytorch.errors import LayerInputError, NotHandled
from stridescope.frontends.pytorch.handlers.products import tensor_dims
from stridescope.frontends.pytorch.handlers.recurrent import sequence_window
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.tracer import Tracer
from stridescope.ir import Window

__all__ = ["multi_head_attention", "native_multi_head_attention", "not_left_aligned"]


# F.multi_head_attention_forward's arguments after num_heads, in order
_MHA_ARGS = (
    "in_proj_weight",
    "in_proj_bias",
    "bias_k",
    "bias_v",
    "add_zero_attn",
    "dropout_p",
    "out_proj_weight",
    "out_proj_bias",
    "training",
    "key_padding_mask",
    "need_weights",
    "attn_mask",
    "use_separate_proj_weight",
    "q_proj_weight",
    "k_proj_weight",
    "v_proj_weight",
    "static_k",
    "static_v",
    "average_attn_weights",
    "is_causal",
)


def multi_head_attention(
    t: Tracer,
    name: str,
    op: str,
    query: Any,
    key: Any,
    value: Any,
    embed_dim: Any,
    num_heads: Any,
    *args: Any,
    **kw: Any,
) -> Any:
    """``F.multi_head_attention_forward`` (what ``nn.MultiheadAttention`` calls, on
    ``(L, N, E)`` inputs, or unbatched ``(L, E)`` ones): the three input projections,
    ``q @ kᵀ``, the product with ``v`` and the output projection, as one ``matmul`` node that
    also reads a traced mask and weights the forward computed; the attention weights are a
    second, free node when asked for."""
    q, k, v = tensor_dims(query), tensor_dims(key), tensor_dims(value)
    given = dict(zip(_MHA_ARGS, args, strict=False)) | kw
    alone = len(q) == len(k) == len(v) == 2  # unbatched, (L, E): as a batch of one
    if alone:
        q, k, v = ((d[0], 1, d[1]) for d in (q, k, v))
    if len(q) != 3 or len(k) != 3 or len(v) != 3 or not isinstance(num_heads, int):
        raise NotHandled  # inputs of other ranks: left to the meta run
    if given.get("static_k") is not None:
        raise NotHandled  # static keys: not modelled
    if q[-1] != embed_dim:  # torch refuses it too
        raise LayerInputError(name, op, f"queries of embed_dim={embed_dim} features", q)
    (length, batch, width), source = q, k[0]
    source += int(given.get("bias_k") is not None) + int(bool(given.get("add_zero_attn")))
    out_weight = given.get("out_proj_weight")  # (out, width): CLIP's attention pool projects
    out_width = tensor_dims(out_weight)[0] if out_weight is not None else width
    macs = _macs(length, batch, width, source, (q[-1], k[-1], v[-1]), out_width, k[0])
    tensors = [a for a in given.values() if isinstance(a, torch.Tensor)]
    traced = [a for a in (query, key, value, *given.values()) if isinstance(a, ShapeProxy)]
    parents = list(dict.fromkeys(a.node for a in traced))  # (masks, computed weights too)
    if not parents:
        raise NotHandled  # (nothing traced: computed on parameters alone)
    out = t.builder.matmul(
        parents,
        name,
        output_shape=(length, out_width) if alone else (length, batch, out_width),
        macs=macs,
        params=t.take_params(tensors),
        op=op,
        window=_mixed(t, query, key, 0, length),
    )
    heads = () if given.get("average_attn_weights", True) else (num_heads,)
    weights = (*(() if alone else (batch,)), *heads, length, source)
    asked = given.get("need_weights", True)
    return _returned(t, name, op, out, (query, key, value), weights if asked else None, None)


def _mixed(t: Tracer, query: Any, key: Any, axis: int, steps: int) -> Window | None:
    """Self-attention (keys are the queries) whose sequence ``axis`` is a spatial axis: each
    output reads every position of it; else ``None`` (attention on tokens made from
    flattened positions reads the whole input already; cross-attention: as before)."""
    if type(query) is not ShapeProxy or type(key) is not ShapeProxy or key.node != query.node:
        return None
    return sequence_window(t, query, axis, steps, 2)


def _returned(
    t: Tracer, name: str, op: str, out: int, given: tuple[Any, ...], weights: Any, empty: Any
) -> tuple[Any, Any]:
    """The output's proxy, and the attention weights' (a free node of shape ``weights``),
    or ``empty`` where they are not asked for (``weights`` None)."""
    like = next(p for p in given if isinstance(p, ShapeProxy))
    if weights is None:
        return t.proxy(out, like), empty
    node = t.builder.matmul([out], t.unique(f"{name}.weights"), output_shape=weights, macs=0, op=op)
    return t.proxy(out, like), t.proxy(node, like)


def _macs(
    length: int,
    batch: int,
    width: int,
    source: int,
    dims: tuple[int, int, int],
    out: int,
    projected: int | None = None,
) -> int:
    """Projections of the queries (``dims[0]`` features each), the ``projected`` keys and
    values (``dims[1]``, ``dims[2]``; default ``source``: ``bias_k`` and a zero key join them
    after the projection), both products over ``source`` keys, and the output projection to
    ``out`` features."""
    query, key, value = dims
    keys = source if projected is None else projected
    macs = length * batch * width * query + keys * batch * width * (key + value)
    return macs + 2 * batch * length * source * width + length * batch * width * out


def native_multi_head_attention(
    t: Tracer,
    name: str,
    op: str,
    query: Any,
    key: Any,
    value: Any,
    embed_dim: int,
    num_head: int,
    qkv_weight: Any,
    qkv_bias: Any,
    proj_weight: Any,
    proj_bias: Any,
    mask: Any = None,
    need_weights: bool = True,
    average_attn_weights: bool = True,
    mask_type: Any = None,
) -> Any:
    """``torch._native_multi_head_attention``: ``nn.MultiheadAttention``'s fast path on
    ``(N, L, E)`` inputs, as :func:`multi_head_attention` reads it (a model traced by
    ``torch.jit.trace`` in eval under ``no_grad`` records it: it was uncounted)."""
    q, k, v = tensor_dims(query), tensor_dims(key), tensor_dims(value)
    inputs = [p.node for p in (query, key, value) if isinstance(p, ShapeProxy)]
    if len(q) != 3 or len(k) != 3 or len(v) != 3 or not inputs:
        raise NotHandled
    if q[-1] != embed_dim:
        raise LayerInputError(name, op, f"queries of embed_dim={embed_dim} features", q)
    (batch, length, width), source = q, k[1]
    out_width = proj_weight.shape[0] if isinstance(proj_weight, torch.Tensor) else width
    parents = list(dict.fromkeys(inputs + ([mask.node] if isinstance(mask, ShapeProxy) else [])))
    out = t.builder.matmul(
        parents,
        name,
        output_shape=(batch, length, out_width),
        macs=_macs(length, batch, width, source, (q[-1], k[-1], v[-1]), out_width),
        params=t.take_params([qkv_weight, qkv_bias, proj_weight, proj_bias]),
        op=op,
        window=_mixed(t, query, key, 1, length),
    )
    heads = () if average_attn_weights else (num_head,)
    weights = (batch, *heads, length, source) if need_weights else None
    # (torch returns an empty tensor in the weights' place)
    return _returned(t, name, op, out, (query, key, value), weights, torch.empty(0))


def not_left_aligned(t: Tracer, name: str, op: str, *args: Any, **kwargs: Any) -> bool:
    """``torch._nested_tensor_from_mask_left_aligned``: whether each row of a padding mask
    keeps its first positions, what ``nn.TransformerEncoder`` asks in eval mode (a padding
    mask, ``enable_nested_tensor``) before its nested-tensor fast path; torch has no meta
    kernel for it. A traced tensor never takes that path (it has a torch function), and the
    mask's values are unknown: ``False``, as for a mask that is not, no node."""
    return False
