"""Raw Keras operations in a Functional graph, and layers no table row knows.

Calling ``keras.ops`` on symbolic tensors (``x + 3.0``, ``keras.ops.relu6(x)``, as in a
hard-swish written inline) puts ``keras.src.ops`` operations that are not layers into the
graph. Element-wise arithmetic becomes a broadcasting element-wise node (one MAC per output
element per operand beyond the first, constants included; ``x ** 2`` with a number exponent is
position-wise, as in the PyTorch tracer), activations and element-wise math a shape-preserving
activation node, ``mean`` / ``sum`` / ``max`` / ``min`` a reduction, ``reshape`` /
``expand_dims`` / ``squeeze`` a reshape, ``transpose`` / ``swapaxes`` a permute, ``matmul`` /
``einsum`` a product (output elements × contracted elements, as a dense layer),
``concatenate`` a concat, ``stack`` of other operands, indexing, ``split``, ``tile``, ``pad``,
``broadcast_to``, ``repeat``, ``flip``, ``roll`` data movement (0 MACs; positions may move),
comparisons, logical ops and ``where`` a broadcasting node without MACs, the normalisation
ops a norm node, ``max_pool`` / ``average_pool`` / ``conv`` / ``depthwise_conv`` a pool or
conv node as the layers make (in the model's layout), ``image.resize`` a resize as the
Resizing layer, ``image.extract_patches`` the windows of the convolution Keras computes it
as (square, non-overlapping patches: space-to-depth), ``take`` / ``one_hot`` data movement, and the operations along axes (``argmax``,
``logsumexp``, ``cumsum``, ``sort``, ``top_k``, ``fft``...) as :mod:`.axis_ops` reads them.
A weight (``keras.Variable``) among the operands is counted where it is first used. Any other
operation, and any layer without a handler, is one uncounted node per output with the output
shape Keras computes (:mod:`~stridescope.frontends.keras.shapes`) and the layer's own
parameter count.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from stridescope.errors import StridescopeError
from stridescope.frontends import layers
from stridescope.frontends.keras.axis_ops import (
    AXIS_OPS,
    add_axis_operation,
    moved_node,
    permuted_node,
    reduction_node,
    reshaped_size,
    swapped_node,
)
from stridescope.frontends.keras.backend_ops import backend_macs
from stridescope.frontends.keras.handlers import keras_params
from stridescope.frontends.keras.more_ops import (
    MORE_OPS,
    add_more_operation,
    constant_shape,
    each_output,
    operand_shapes,
)
from stridescope.frontends.keras.op_names import (
    ARITH,
    MOVES,
    NORMS,
    POINTWISE,
    PRODUCTS,
    REDUCE,
    RESHAPES,
    SELECTS,
    SLIDING,
)
from stridescope.frontends.keras.resizes import resize_node
from stridescope.frontends.keras.shapes import keras_shapes
from stridescope.frontends.keras.weights import count_weights
from stridescope.ir import GraphBuilder, OpKind, Shape, channel_axis
from stridescope.ir.einsum import einsum_macs

__all__ = [
    "ARITH",
    "COUNTED",
    "PRODUCTS",
    "add_operation",
    "by_backend",
    "concat",
    "count_weights",
    "uncounted",
]

#: The raw operations :func:`add_operation` counts (the others are uncounted).
COUNTED = frozenset(
    {*ARITH, *POINTWISE, *REDUCE, *PRODUCTS, *RESHAPES, *MOVES, *SELECTS, *NORMS}
    | {*SLIDING, *AXIS_OPS, *MORE_OPS, "Transpose", "Swapaxes", "Moveaxis", "Concatenate"}
    | {"Power", "Resize", "ExtractPatches"}
)


def _operands(call: Any) -> list[Any]:
    return [] if call is None else list(call.arguments.args)


def _product(
    b: GraphBuilder, parents: Sequence[int], op: Any, call: Any, name: str, seen: set[int]
) -> int:
    """``keras.ops.matmul`` / ``einsum``: output elements × contracted elements;
    ``dot_product_attention`` (``(B, T, N, H)`` query, key and value): every query row meets
    the ``S`` keys and ``S`` values (softmax, mask and bias add no MACs)."""
    (out,) = keras_shapes(b, parents, op, call)
    operands = [v for v in _operands(call) if not isinstance(v, str)]
    shapes = operand_shapes(b, parents, operands)
    cls = type(op).__name__
    if cls == "Matmul":
        macs = math.prod(d or 1 for d in out) * shapes[0][-1]
    elif cls == "DotProductAttention":
        query, key, value = shapes[:3]
        macs = math.prod(d or 1 for d in query[:-1]) * (key[-3] or 1) * (query[-1] + value[-1])
    else:
        macs = einsum_macs(str(op.subscripts), shapes)
    params = count_weights(operands, seen)
    return b.matmul(list(parents), name, output_shape=out, macs=macs, params=params, op=cls)


_STACKS = {"Hstack": 1, "Vstack": 0, "Dstack": 2}  # the axis each joins on


def concat(
    b: GraphBuilder,
    parents: Sequence[int],
    name: str,
    *,
    axis: int,
    output_shape: Callable[[], Shape],
    constants: bool = False,
    params: int = 0,
) -> int:
    """A concatenation (the Concatenate layer, ``keras.ops.concatenate``): of traced tensors
    alone (no ``constants`` among the operands) along the channel axis a channel concat (the
    builder checks the shapes), else a concat node of Keras's shape (``output_shape()``, asked
    only then) with ``params`` (a weight among the operands)."""
    rank = len(b.shape(parents[0]))
    if not constants and axis % rank == channel_axis(rank, b.layout):
        return b.merge(list(parents), name, kind=OpKind.CONCAT, op="Concatenate")
    return b.other(
        list(parents),
        name,
        kind=OpKind.CONCAT,
        output_shape=output_shape(),
        params=params,
        op="Concatenate",
    )


def _arith(
    b: GraphBuilder,
    parents: Sequence[int],
    op: Any,
    call: Any,
    name: str,
    seen: set[int],
) -> int:
    """Broadcasting arithmetic; a ``keras.Variable`` operand (a custom layer's weight) is
    counted as parameters of the first node that uses it."""
    import keras

    constants = [v for v in _operands(call) if not isinstance(v, keras.KerasTensor)]
    params = count_weights(constants, seen)
    return b.elementwise(
        list(parents),
        name,
        kind=ARITH.get(type(op).__name__, OpKind.MUL),  # (Power of two tensors: a multiply)
        operand_shapes=[constant_shape(v) for v in constants],
        params=params,
        op=type(op).__name__,
    )


def _sliding(
    b: GraphBuilder, parents: Sequence[int], op: Any, call: Any, name: str, seen: set[int]
) -> int | None:
    """``keras.ops.max_pool`` / ``average_pool`` / ``conv`` / ``depthwise_conv`` on one traced
    tensor of the model's layout: a pool or conv node as the layers make (a kernel that is a
    ``keras.Variable`` counts as parameters where first used; a constant array, as a fixed
    blur, counts none); ``None`` for another layout (read as uncounted)."""
    layout = "channels_first" if b.layout.startswith("nc") else "channels_last"
    if len(parents) != 1 or getattr(op, "data_format", layout) != layout:
        return None
    cls = type(op).__name__
    padding = str(op.padding).lower()
    if cls in ("MaxPool", "AveragePool"):
        strides = op.strides
        mode = "max" if cls == "MaxPool" else "avg"
        return layers.pool(
            b,
            parents[0],
            name,
            cls,
            mode=mode,
            kernel=op.pool_size,
            stride=strides,
            padding=padding,
        )
    kernel = _operands(call)[1]
    # (*window, inputs per group, outputs per input group), or per input channel (depthwise)
    shape = tuple(int(d) for d in getattr(kernel, "shape", ()))
    given = b.shape(parents[0])
    channels = given[channel_axis(len(given), b.layout)]
    if channels is None or len(shape) < 3:
        return None
    depthwise = cls != "Conv"  # (a separable conv: depthwise, then its 1x1 kernel)
    params = count_weights([kernel], seen)
    node = layers.conv(
        b,
        parents[0],
        f"{name}/depthwise" if cls == "SeparableConv" else name,
        cls,
        out_channels=channels * shape[-1] if depthwise else shape[-1],
        kernel=shape[:-2],
        stride=op.strides,
        dilation=op.dilation_rate,
        padding=padding,
        groups=channels if depthwise else channels // shape[-2],
        bias=False,
        params=params,
    )
    _shares(b, node, kernel, params)
    if cls == "SeparableConv":
        pointwise = _operands(call)[2]
        params = count_weights([pointwise], seen)
        width = int(pointwise.shape[-1])
        node = layers.conv(
            b,
            node,
            f"{name}/pointwise",
            cls,
            out_channels=width,
            kernel=1,
            bias=False,
            params=params,
        )
        _shares(b, node, pointwise, params)
    return node


def _shares(b: GraphBuilder, node: int, kernel: Any, params: int) -> None:
    """A kernel counted at an earlier call (a TimeDistributed step): the node names the
    layer whose weight it is."""
    if not params and hasattr(kernel, "path"):
        b.shared(node, str(kernel.path).rpartition("/")[0])


def _patches(b: GraphBuilder, parent: int, op: Any, name: str) -> int | None:
    """``keras.ops.image.extract_patches``, which Keras computes as a convolution with a
    one-hot kernel per value of a patch: its windows as a patches node with the conv's size,
    strides (the size where not given), dilation and padding (``'same'`` as TensorFlow pads),
    so coverage sees the positions each patch reads and those none reads (strides above the
    size, the rows and columns ``'valid'`` drops); non-overlapping square patches are
    space-to-depth (the keras.io ViT example's ``Patches`` layer). ``None`` where the
    patches are not over the input's spatial axes (an unbatched image)."""
    rank = len(b.shape(parent))
    size = (op.size,) * (rank - 2) if isinstance(op.size, int) else tuple(op.size)
    if len(size) != rank - 2 or not size:
        return None
    try:
        return b.patches(
            parent,
            name,
            kernel=size,
            stride=op.strides or size,
            dilation=op.dilation_rate,
            padding=str(op.padding).lower(),
            op="ExtractPatches",
        )
    except StridescopeError:  # (sizes the conv would refuse: Keras's own error stands)
        return None


def add_operation(
    b: GraphBuilder,
    parents: Sequence[int],
    op: Any,
    call: Any,
    name: str,
    seen: set[int] | None = None,
) -> list[int]:
    """The node(s) of one raw operation ``op`` called on ``parents`` (``call``: its node in
    the graph); returns one node id per output. ``seen`` holds the ids of the variables
    already counted (each weight counts once, where it is first used)."""
    import keras

    cls = type(op).__name__
    seen = set() if seen is None else seen
    if not type(op).__module__.startswith("keras."):
        return uncounted(b, parents, op, call, name)
    if cls == "Power" and len(parents) == 1 and not count_weights(_operands(call), set()):
        return [b.pointwise(parents[0], name, kind=OpKind.ACTIVATION, op=cls)]  # x ** 2
    if cls in ARITH or cls == "Power":
        return [_arith(b, parents, op, call, name, seen)]
    if cls in PRODUCTS:
        return [_product(b, parents, op, call, name, seen)]
    if cls == "Concatenate" or (
        cls in _STACKS and min(len(b.shape(p)) for p in parents) >= 3
    ):  # (hstack, vstack and dstack of operands of three axes or more: a concatenation)
        operands = keras.tree.flatten(_operands(call))
        return [
            concat(
                b,
                parents,
                name,
                axis=int(op.axis) if cls == "Concatenate" else _STACKS[cls],
                output_shape=lambda: keras_shapes(b, parents, op, call)[0],
                constants=len(operands) != len(parents),
                params=count_weights(operands, seen),
            )
        ]
    if cls in MORE_OPS:
        operands = [v for v in keras.tree.flatten(_operands(call)) if hasattr(v, "shape")]
        weights = partial(count_weights, operands, seen)  # counted where a node takes them
        if nodes := add_more_operation(b, parents, op, call, name, operands, weights):
            return nodes
    if cls in MOVES or cls in SELECTS or cls in NORMS:
        kind = OpKind.MOVE if cls in MOVES else OpKind.NORM if cls in NORMS else OpKind.ACTIVATION
        params = count_weights(keras.tree.flatten(_operands(call)), seen)
        return each_output(b, parents, op, call, name, kind=kind, params=params)
    if cls in SLIDING and (node := _sliding(b, parents, op, call, name, seen)) is not None:
        return [node]
    if cls in AXIS_OPS and (nodes := add_axis_operation(b, parents, op, call, name)):
        return nodes
    if cls == "ExtractPatches" and len(parents) == 1:
        if node := _patches(b, parents[0], op, name):
            return [node]  # else (an unbatched image): data movement
        return each_output(b, parents, op, call, name, kind=OpKind.MOVE, params=0)
    if cls == "Resize" and len(parents) == 1:
        (out,) = keras_shapes(b, parents, op, call)
        return [resize_node(b, parents[0], name, out, settings=vars(op), op=cls)]
    if len(parents) == 1 and (node := _one_operand(b, parents[0], op, call, name)) is not None:
        return [node]
    operands = keras.tree.flatten(_operands(call))
    return by_backend(b, parents, op, call, name, lambda: count_weights(operands, seen))


def _one_operand(b: GraphBuilder, parent: int, op: Any, call: Any, name: str) -> int | None:
    """The node of an operation on one tensor that keeps, reduces or moves its axes;
    ``None`` for another operation."""
    cls = type(op).__name__
    if cls in POINTWISE:
        return b.pointwise(parent, name, kind=OpKind.ACTIVATION, op=cls)
    if cls in REDUCE:
        return reduction_node(b, parent, op, name, REDUCE[cls])
    if cls == "Transpose":
        return permuted_node(b, parent, op, name)
    if cls == "Swapaxes":
        return swapped_node(b, parent, op, name)
    if cls == "Moveaxis":
        return moved_node(b, parent, op, name)
    if cls in RESHAPES:
        (out,) = keras_shapes(b, [parent], op, call)
        return b.reshape(parent, name, output_shape=reshaped_size(b.shape(parent), out), op=cls)
    return None


def by_backend(
    b: GraphBuilder,
    parents: Sequence[int],
    op: Any,
    call: Any,
    name: str,
    params: Callable[[], int],
) -> list[int]:
    """``op``, an operation or a layer no row reads, counted as the torch backend computes it
    (:func:`~stridescope.frontends.keras.backend_ops.backend_macs`): one node per output, of
    Keras's shape, read as data movement, ``params()`` on the first; else :func:`uncounted`."""
    if (macs := backend_macs(b, parents, op, call)) is None:
        return uncounted(b, parents, op, call, name)
    return each_output(b, parents, op, call, name, kind=OpKind.MOVE, params=params(), macs=macs)


def uncounted(b: GraphBuilder, parents: Sequence[int], op: Any, call: Any, name: str) -> list[int]:
    """One uncounted node per output of ``op``, with the shape Keras computes and (on the
    first) the parameters Keras counts; never fails for want of a shape function."""
    params = keras_params(op) if hasattr(op, "count_params") else 0
    note = f"{type(op).__name__}: shape and params from Keras, MACs not counted"
    return each_output(b, parents, op, call, name, kind=OpKind.UNCOUNTED, params=params, note=note)
