"""Torch's arguments → one call of :mod:`stridescope.frontends.layers`, shared by the function
handlers (``F.conv2d(x, w, ...)``) and the module handlers (``nn.Conv2d`` attributes): the input
checked as torch checks it (rank, channels), sizes made per-axis, padding spelled as geometry
spells it, and the node wrapped in a :class:`ShapeProxy`."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch

from stridescope.frontends import layers
from stridescope.frontends.pytorch.errors import LayerInputError, NotHandled
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.pytorch.tracer import Tracer, in_place
from stridescope.ir import OpKind, spatial_axes
from stridescope.ir.axes import signal_of

__all__ = [
    "adaptive_node",
    "batched",
    "conv_node",
    "conv_transpose_node",
    "dense_node",
    "expect",
    "ints",
    "joined",
    "pad_node",
    "pointwise_node",
    "pool_node",
    "reshape_node",
    "result",
    "standing_in",
    "torch_padding",
    "unbatched",
]

_LAYOUTS = {2: "(N, F)", 3: "(N, C, L)", 4: "(N, C, H, W)", 5: "(N, C, D, H, W)"}


def expect(x: Any, name: str, op: str, rank: int, channels: int | None = None) -> ShapeProxy:
    """``x`` as a proxy of this rank (and channel count), else a one-line layer error."""
    if not isinstance(x, ShapeProxy):
        raise NotHandled
    if x.ndim != rank or (channels is not None and x.dims[1] != channels):
        what = f"a {rank}-D input {_LAYOUTS.get(rank, '')}".rstrip()
        if channels is not None:
            what += f" with C={channels}"
        unbatched = x.node == 0 and x.ndim + 1 == rank  # (the model's input: see batch_of_one)
        raise LayerInputError(name, op, what, x.dims, unbatched)
    return x


def batched(
    t: Tracer, name: str, op: str, x: Any, rank: int, folds: bool = False
) -> tuple[Any, bool | tuple[int, ...]]:
    """Torch reads an input without a batch axis, ``(C, *spatial)``, as a batch of one: ``x``
    given that axis (a reshape node), and whether it was added (see :func:`unbatched`). The
    model's own input is batch first here (a shape without it may be the user's slip: the
    layer's error says what it expects, and the tracer reads the input as a batch of one
    where that traces: :mod:`~stridescope.frontends.pytorch.batch_of_one`). ``folds``: a
    layer that takes ``(*, C, *spatial)`` (pixel shuffles): several leading axes are one
    batch axis, and their sizes are what is put back."""
    if type(x) is not ShapeProxy:
        return x, False
    if folds and x.ndim > rank + 2:
        lead, rest = x.dims[: -rank - 1], x.dims[-rank - 1 :]
        shape = (math.prod(lead), *rest)
        node = t.builder.reshape(x.node, t.unique(f"{name}.batched"), output_shape=shape, op=op)
        return t.proxy(node, x), lead
    if x.ndim != rank + 1:
        return x, False
    if t.builder._nodes[x.node].kind is OpKind.INPUT:
        return x, False
    node = t.builder.reshape(x.node, t.unique(f"{name}.batched"), output_shape=(1, *x.dims), op=op)
    return t.proxy(node, x), True


def unbatched(
    t: Tracer, name: str, op: str, out: ShapeProxy, added: bool | tuple[int, ...]
) -> ShapeProxy:
    """The layer's output without the batch axis :func:`batched` added, or with the leading
    axes it folded, as torch returns it."""
    if added is False:
        return out
    shape = (*added, *out.dims[1:]) if isinstance(added, tuple) else out.dims[1:]
    return t.proxy(
        t.builder.reshape(out.node, t.unique(f"{name}.unbatched"), output_shape=shape, op=op), out
    )


def ints(value: Any, rank: int) -> tuple[int, ...]:
    """Torch's int-or-tuple sizes, one per axis (a 1-tuple is repeated, as torch does).

    >>> ints(2, 2), ints((3,), 2), ints((1, 2), 2)
    ((2, 2), (3, 3), (1, 2))
    """
    if isinstance(value, int):
        return (value,) * rank
    if type(value) is tuple:  # what nn.Conv2d and friends store
        known = _INTS.get((value, rank))
        if known is not None:
            return known
    values = tuple(int(v) for v in value)
    values = values * rank if len(values) == 1 else values
    if type(value) is tuple and len(_INTS) < 1024:
        _INTS[(value, rank)] = values
    return values


_INTS: dict[tuple[tuple[Any, ...], int], tuple[int, ...]] = {}


def torch_padding(padding: Any, rank: int) -> str | list[int]:
    """Torch padding (``'same'``, ``'valid'``, int, tuple) in geometry's spelling.

    >>> torch_padding("same", 2), torch_padding(1, 2)
    ('torch-same', [1, 1])
    """
    if isinstance(padding, str):
        return "torch-same" if padding == "same" else padding
    return list(ints(padding, rank))


def result(t: Tracer, node: int, x: ShapeProxy, inplace: bool = False) -> ShapeProxy:
    """A proxy for ``node``; with ``inplace`` the input proxy itself now stands for it."""
    out = t.proxy(node, x)
    return in_place(x, node, out.dims) if inplace else out


def conv_node(
    t: Tracer,
    name: str,
    op: str,
    x: Any,
    weight_shape: Sequence[int],
    *,
    groups: int,
    stride: Any,
    padding: Any,
    dilation: Any,
    bias: bool,
    params: int | None,
    pad_mode: str = "zeros",
) -> ShapeProxy:
    """A convolution with a weight of ``(C_out, C_in / groups, *kernel)``; ``pad_mode`` is
    ``nn.Conv*d``'s ``padding_mode``."""
    kernel = tuple(weight_shape[2:])
    rank = len(kernel)
    x, alone = batched(t, name, op, x, rank)
    x = expect(x, name, op, rank + 2, weight_shape[1] * groups)
    node = t.builder.conv(  # the builder's own call: layers.conv only adds Keras' activation
        x.node,
        name,
        op=op,
        out_channels=weight_shape[0],
        kernel=kernel,
        stride=ints(stride, rank),
        dilation=ints(dilation, rank),
        padding=torch_padding(padding, rank),
        groups=groups,
        bias=bias,
        pad_mode=pad_mode,
        params=params,
    )
    return unbatched(t, name, op, t.proxy(node, x), alone)


def conv_transpose_node(
    t: Tracer,
    name: str,
    op: str,
    x: Any,
    weight_shape: Sequence[int],
    *,
    groups: int,
    stride: Any,
    padding: Any,
    output_padding: Any,
    dilation: Any,
    bias: bool,
    params: int | None,
) -> ShapeProxy:
    """A transposed convolution with a weight of ``(C_in, C_out / groups, *kernel)``."""
    kernel = tuple(weight_shape[2:])
    rank = len(kernel)
    if isinstance(padding, str):
        raise NotHandled
    x, alone = batched(t, name, op, x, rank)
    x = expect(x, name, op, rank + 2, weight_shape[0])
    node = layers.conv_transpose(
        t.builder,
        x.node,
        name,
        op,
        out_channels=weight_shape[1] * groups,
        kernel=kernel,
        stride=ints(stride, rank),
        dilation=ints(dilation, rank),
        padding=[(p, p) for p in ints(padding, rank)],
        output_padding=ints(output_padding, rank),
        groups=groups,
        bias=bias,
        params=params,
    )
    return unbatched(t, name, op, t.proxy(node, x), alone)


def dense_node(
    t: Tracer,
    name: str,
    op: str,
    x: ShapeProxy,
    in_features: int,
    out_features: int,
    bias: bool,
    params: int | None,
) -> ShapeProxy:
    """A dense layer on the last axis, which must have ``in_features`` elements."""
    if x.dims[-1] != in_features:
        raise LayerInputError(name, op, f"a last axis of {in_features}", x.dims)
    node = layers.dense(
        t.builder, x.node, name, op, out_features=out_features, bias=bias, params=params
    )
    return t.proxy(node, x)


def pool_node(
    t: Tracer,
    name: str,
    op: str,
    x: Any,
    *,
    mode: str,
    rank: int,
    kernel: Any,
    stride: Any,
    padding: Any,
    dilation: Any = 1,
    ceil_mode: bool = False,
) -> ShapeProxy:
    """Max or average pooling over ``rank`` spatial axes; stride ``None`` means the kernel."""
    x, alone = batched(t, name, op, x, rank)
    x = expect(x, name, op, rank + 2)
    node = layers.pool(
        t.builder,
        x.node,
        name,
        op,
        mode=mode,
        kernel=ints(kernel, rank),
        stride=None if stride is None or stride in ([], ()) else ints(stride, rank),
        dilation=ints(dilation, rank),
        padding=list(ints(padding, rank)),
        ceil_mode=bool(ceil_mode),
    )
    return unbatched(t, name, op, t.proxy(node, x), alone)


def adaptive_node(
    t: Tracer, name: str, op: str, x: Any, *, mode: str, rank: int, output_size: Any
) -> ShapeProxy:
    """Adaptive pooling; ``None`` in ``output_size`` keeps that input size."""
    x, alone = batched(t, name, op, x, rank)
    x = expect(x, name, op, rank + 2)
    sizes = output_size if isinstance(output_size, Sequence) else (output_size,) * rank
    node = layers.adaptive_pool(t.builder, x.node, name, op, mode=mode, output_size=sizes)
    return unbatched(t, name, op, t.proxy(node, x), alone)


def joined(
    t: Tracer, name: str, out: ShapeProxy, extras: Iterable[Any], what: str = "weights"
) -> ShapeProxy:
    """``out`` joined by a node to the traced tensors among ``extras``, read whole: ``what`` a
    forward computed (a dynamic conv's kernel, a norm's scale; ``bucketize``'s boundaries)."""
    traced = [v.node for v in extras if type(v) is ShapeProxy]
    if not traced:
        return out
    node = t.builder.other(
        [out.node, *traced],
        t.unique(f"{name}.{what}"),
        kind=OpKind.MOVE,
        output_shape=out.dims,
        op=f"traced {what}",
    )
    return t.proxy(node, out)


def standing_in(t: Tracer, name: str, x: Any, extras: Iterable[Any]) -> Any:
    """``x``, or a node standing for it where it is a tensor the forward made without the
    traced input (a parameter, a constant: its parameters are counted there) while a traced
    tensor is among ``extras`` (a learned query normalised by a computed scale)."""
    if type(x) is ShapeProxy or not isinstance(x, torch.Tensor):
        return x
    if not any(type(v) is ShapeProxy for v in extras):
        return x
    return t.constant(x, f"{name}.input")


def pointwise_node(
    t: Tracer, name: str, op: str, x: Any, kind: OpKind, params: int, inplace: bool = False
) -> ShapeProxy:
    """A shape-preserving op (activation, normalisation, dropout)."""
    if not isinstance(x, ShapeProxy):
        raise NotHandled
    node = t.builder.pointwise(x.node, name, kind=kind, params=params, op=op)
    return result(t, node, x, inplace)


def reshape_node(t: Tracer, name: str, op: str, x: ShapeProxy, shape: Sequence[int]) -> ShapeProxy:
    node = t.builder.reshape(x.node, name, output_shape=tuple(shape), op=op)
    return t.proxy(node, x)


_PAD_MODES = {
    "constant": "zeros",
    "reflect": "reflect",
    "replicate": "replicate",
    "circular": "circular",
}


def pad_node(
    t: Tracer,
    name: str,
    op: str,
    x: Any,
    pad: Sequence[int],
    mode: str = "constant",
    value: float | None = None,
) -> ShapeProxy:
    """``F.pad``: pairs (before, after) from the last axis backwards. Padding or cropping
    (negative amounts) of spatial axes is an exact :meth:`GraphBuilder.pad` (any torch mode),
    and so is zero padding of the channel axis beside them; padding the batch axis keeps
    only the output shape."""
    if not isinstance(x, ShapeProxy):
        raise NotHandled
    amounts = [int(p) for p in pad]
    rank = x.ndim - 2
    pairs = [(amounts[2 * i], amounts[2 * i + 1]) for i in range(len(amounts) // 2)]
    at = t.builder._nodes[x.node].spatial_at
    if at == spatial_axes(x.ndim, t.builder.layout):  # recorded where the layout puts them
        at = None  # (a channel shuffle's reshape): padded as any such tensor, channels too
    if at == tuple(range(1, x.ndim)) and len(pairs) == x.ndim - 1 > 1:  # every position axis
        x, alone = batched(t, name, op, x, x.ndim - 1)  # of a batch of one's ``(C, H, W)``
        return unbatched(t, name, op, pad_node(t, name, op, x, pad, mode, value), alone)
    if at is not None and (len(at) == rank or signal_of(t.builder._nodes[x.node])):
        # axes a permute moved (channels last), a (batch, samples) signal's: theirs
        return (
            _moved_pad(t, name, op, x, at, pairs, mode)
            if len(amounts) % 2 == 0
            else _resized(t, name, op, x, pairs)
        )
    if len(amounts) % 2 == 0 and rank > 0 and len(pairs) <= rank and mode in _PAD_MODES:
        per_axis = [(0, 0)] * (rank - len(pairs)) + pairs[::-1]
        node = t.builder.pad(x.node, name, padding=per_axis, mode=_PAD_MODES[mode], op=op)
        return t.proxy(node, x)
    if len(amounts) == 2 * rank + 2 and rank > 0 and mode == "constant" and not value:
        channels = pairs[rank]  # (N, C, *spatial): the pair after the spatial ones is C's
        node = t.builder.pad(x.node, name, padding=pairs[:rank][::-1], channels=channels, op=op)
        return t.proxy(node, x)
    return _resized(t, name, op, x, pairs)


def _moved_pad(
    t: Tracer,
    name: str,
    op: str,
    x: ShapeProxy,
    at: tuple[int, ...],
    pairs: list[tuple[int, int]],
    mode: str,
) -> ShapeProxy:
    """``F.pad`` of a tensor whose spatial axes a permute moved (``at``: Swin's window
    attention pads ``(N, H, W, C)``): a :meth:`GraphBuilder.pad` of the axes there where
    only they are padded, else the shape alone."""
    per_axis = {x.ndim - 1 - i: pair for i, pair in enumerate(pairs)}
    if mode not in _PAD_MODES or any(a not in at and p != (0, 0) for a, p in per_axis.items()):
        return _resized(t, name, op, x, pairs)
    padding = [per_axis.get(a, (0, 0)) for a in at]
    node = t.builder.pad(x.node, name, padding=padding, mode=_PAD_MODES[mode], op=op)
    return t.proxy(node, x)


def _resized(
    t: Tracer, name: str, op: str, x: ShapeProxy, pairs: list[tuple[int, int]]
) -> ShapeProxy:
    """Padding stridescope does not place (the batch axis): the output shape only."""
    out = list(x.dims)
    for i, (before, after) in enumerate(pairs):
        out[-1 - i] += before + after
    node = t.builder.resize(x.node, name, kind=OpKind.PAD, output_shape=tuple(out), op=op)
    return t.proxy(node, x)
