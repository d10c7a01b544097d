"""Custom Keras layers read through their ``call``: a layer no table row knows, with no
sub-layers, is called on symbolic stand-ins of its inputs, so that Keras records the raw
operations its ``call`` makes (``x * self.gamma`` for a layer scale, ``a + b * scale`` for a
residual scale). When every one of them is one that
:func:`~stridescope.frontends.keras.operations.add_operation` counts and each of the layer's
weights is an operand of an element-wise one, the layer becomes those nodes (named
``layer/op``), its weights counted where they are first used. Anything else stays one
uncounted node, with the shape Keras computes: nothing here ever stops a summary.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from stridescope.frontends.keras.operations import ARITH, COUNTED, add_operation, uncounted
from stridescope.frontends.keras.shapes import call_arguments
from stridescope.ir import GraphBuilder

__all__ = ["add_custom_layer"]


def _trace(b: GraphBuilder, parents: Sequence[int], layer: Any, call: Any) -> Any:
    """The recorded operations of ``layer.call`` on stand-ins of ``parents``, or ``None``."""
    import keras

    if getattr(layer, "_layers", None) or not getattr(layer, "built", False):
        return None  # calling sub-layers would add graph nodes to the user's model
    args, kwargs = call_arguments(b, parents, call)
    stand_ins = [t for t in keras.tree.flatten((args, kwargs)) if isinstance(t, keras.KerasTensor)]
    try:
        with warnings.catch_warnings():  # a probe: Keras' warnings here are not the user's
            warnings.simplefilter("ignore")
            outputs = layer.call(*args, **kwargs)
        return keras.Function(stand_ins, outputs), stand_ins
    except Exception:  # any failure: the layer stays uncounted, with Keras' shape
        return None


def _countable(function: Any, layer: Any) -> bool:
    """Every recorded operation is counted and every weight is an element-wise operand."""
    import keras

    used: set[int] = set()
    for op in function.operations:
        cls = type(op).__name__
        if isinstance(op, keras.layers.Layer) or cls not in COUNTED:
            return False
        if not type(op).__module__.startswith("keras."):
            return False
        for value in op._inbound_nodes[0].arguments.args:
            if isinstance(value, keras.Variable):
                if cls not in ARITH:
                    return False
                used.add(id(value))
    return used == {id(w) for w in layer.weights}


def add_custom_layer(
    b: GraphBuilder, parents: Sequence[int], layer: Any, call: Any, name: str
) -> list[int]:
    """The node(s) of a layer without a handler: its ``call``'s operations when all are
    counted (see the module), else one uncounted node per output."""
    traced = _trace(b, parents, layer, call)
    if traced is None or not _countable(traced[0], layer):
        return uncounted(b, parents, layer, call, name)
    function, stand_ins = traced
    made = {id(t): p for t, p in zip(stand_ins, parents, strict=True)}
    seen: set[int] = set()
    for op in function.operations:
        node = op._inbound_nodes[0]
        inner = [made[id(t)] for t in node.arguments.keras_tensors]
        outs = add_operation(b, inner, op, node, f"{name}/{op.name}", seen)
        made.update({id(t): out for t, out in zip(node.outputs, outs, strict=True)})
    return [made[id(t)] for t in function.outputs]
