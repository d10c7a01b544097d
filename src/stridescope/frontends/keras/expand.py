"""Custom Keras layers read through their ``call``: a layer no table row knows is called on
symbolic stand-ins of its inputs, so that Keras records what its ``call`` makes: raw
operations (``x * self.gamma`` for a layer scale, ``a + b * scale`` for a residual scale) and
calls of its sub-layers (a block of a conv, a norm and a residual ``+``). When every raw
operation is one that :func:`~stridescope.frontends.keras.operations.add_operation` counts,
each sub-layer is called once, and each of the layer's own weights is an operand of an
element-wise operation, the layer becomes those nodes: sub-layers named ``layer.sub`` and read
as any layer is (through the table, or again through their ``call``), raw operations named
``layer/op``; weights are counted where they are first used. Anything else stays one
uncounted node, with the shape Keras computes: nothing here ever stops a summary. The calls
Keras records on the sub-layers are taken out again afterwards (:func:`call_records`).
"""

from __future__ import annotations

import collections
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from stridescope.frontends.keras.operations import COUNTED, add_operation, count_weights, uncounted
from stridescope.frontends.keras.shapes import call_arguments
from stridescope.ir import GraphBuilder

__all__ = ["add_custom_layer", "call_records", "names_kept"]


def _trace(b: GraphBuilder, parents: Sequence[int], layer: Any, call: Any) -> Any:
    """The recorded operations of ``layer.call`` on stand-ins of ``parents``, or ``None``."""
    import keras

    if not getattr(layer, "built", False):
        return None
    args, kwargs = call_arguments(b, parents, call)
    stand_ins = [t for t in keras.tree.flatten((args, kwargs)) if isinstance(t, keras.KerasTensor)]
    try:
        with warnings.catch_warnings(), names_kept():  # a probe: not the user's warnings
            warnings.simplefilter("ignore")
            outputs = layer.call(*args, **kwargs)
        return keras.Function(stand_ins, outputs), stand_ins
    except Exception:  # any failure: the layer stays uncounted, with Keras' shape
        return None


def _countable(function: Any) -> bool:
    """Every recorded raw operation is one that is counted, and every sub-layer is called
    once."""
    import keras

    for op in function.operations:
        if isinstance(op, keras.layers.Layer):
            if len(op._inbound_nodes) != 1:
                return False  # called twice in the block (or recorded elsewhere too)
        elif type(op).__name__ not in COUNTED or not type(op).__module__.startswith("keras."):
            return False
    return True


@contextmanager
def names_kept() -> Iterator[None]:
    """Keras's object-name counters as they were before the block: operations a probe makes
    are named the same on every read (``relu``, never ``relu_3``), and the user's next layer
    gets the name it would have got."""
    from keras.src.backend.common import global_state

    names = global_state.get_global_attribute("object_name_uids")
    saved = None if names is None else collections.defaultdict(int, names)
    try:
        yield
    finally:
        global_state.set_global_attribute("object_name_uids", saved)


def call_records(layer: Any) -> list[tuple[list[Any], int]]:
    """The lists where Keras records the calls of each of ``layer``'s sub-layers on symbolic
    tensors, with their lengths now: a symbolic call appends to them, and cutting them back
    to these lengths leaves the user's model as it was."""
    return [
        (records, len(records))
        for sub in layer._flatten_layers(include_self=False)
        for records in (getattr(sub, "_inbound_nodes", None), getattr(sub, "_outbound_nodes", None))
        if isinstance(records, list)
    ]


def add_custom_layer(
    b: GraphBuilder,
    parents: Sequence[int],
    layer: Any,
    call: Any,
    name: str,
    read: Callable[[GraphBuilder, Sequence[int], Any, str, Any], list[int]],
) -> list[int]:
    """The node(s) of a layer without a handler: its ``call``'s operations and sub-layers
    (each read by ``read``, the layer table's reader) when all can be read (see the module),
    else one uncounted node per output."""
    records = call_records(layer)
    try:
        traced = _trace(b, parents, layer, call)
        if traced is None or not _countable(traced[0]):
            return uncounted(b, parents, layer, call, name)
        return _expand(b, parents, layer, name, read, *traced)
    finally:
        for calls, kept in records:
            del calls[kept:]


def _expand(
    b: GraphBuilder,
    parents: Sequence[int],
    layer: Any,
    name: str,
    read: Callable[[GraphBuilder, Sequence[int], Any, str, Any], list[int]],
    function: Any,
    stand_ins: list[Any],
) -> list[int]:
    import keras

    made = {id(t): p for t, p in zip(stand_ins, parents, strict=True)}
    seen: set[int] = set()
    first = b.size
    for op in function.operations:
        node = op._inbound_nodes[0]
        inner = [made[id(t)] for t in node.arguments.keras_tensors]
        if isinstance(op, keras.layers.Layer):
            outs = read(b, inner, op, f"{name}.{op.name}", node)
        else:
            outs = add_operation(b, inner, op, node, f"{name}/{op.name}", seen)
        made.update({id(t): out for t, out in zip(node.outputs, outs, strict=True)})
    subs = [op for op in function.operations if isinstance(op, keras.layers.Layer)]
    theirs = {id(w) for sub in subs for w in sub.weights}
    left = [w for w in layer.weights if id(w) not in theirs and id(w) not in seen]
    if left and b.size > first:  # used outside the recorded operations (on weights alone)
        b.add_params(first, count_weights(left, seen))
    return [made[id(t)] for t in function.outputs]
