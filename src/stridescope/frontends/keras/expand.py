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

from stridescope.errors import StridescopeError
from stridescope.frontends.keras.assigns import assigns_dropped
from stridescope.frontends.keras.handlers import keras_params
from stridescope.frontends.keras.more_ops import each_output
from stridescope.frontends.keras.operations import (
    COUNTED,
    add_operation,
    by_backend,
    count_weights,
)
from stridescope.frontends.keras.shapes import call_stand_ins, tensors_of
from stridescope.frontends.keras.torch_calls import add_torch_call, countable, recorded
from stridescope.frontends.keras.weights import counted_once
from stridescope.ir import GraphBuilder, OpKind

__all__ = ["Read", "add_custom_layer", "call_records", "graph_calls", "names_kept"]


def _trace(b: GraphBuilder, parents: Sequence[int], layer: Any, call: Any) -> Any:
    """``layer.call`` on stand-ins of ``parents``: the stand-ins and the call's outputs
    flattened, or ``None`` where the call fails."""
    import keras

    if not getattr(layer, "built", False):
        return None
    args, kwargs, stand_ins = call_stand_ins(b, parents, call)  # (in the parents' order)
    if getattr(layer, "_call_has_training_arg", False):  # as predict() calls every layer
        kwargs["training"] = False  # (the graph records the signature's default, maybe True)
    else:  # a parent passed it (``self.mlp(x, training=training)``): Keras' __call__ drops it
        kwargs.pop("training", None)
    try:
        with (
            warnings.catch_warnings(),
            names_kept(),
            _nones_dropped(),
            _lenient_specs(),
            _weights_defer(),
            recorded(),
            assigns_dropped(),
        ):  # a probe
            warnings.simplefilter("ignore")  # not the user's warnings
            outputs = layer.call(*args, **kwargs)
    except Exception:  # any failure: the layer stays uncounted, with Keras' shape
        return None
    return stand_ins, [t for t in keras.tree.flatten(outputs) if t is not None]


@contextmanager
def _lenient_specs() -> Iterator[None]:
    """A sub-layer whose ``compute_output_spec`` refuses an argument its ``call`` takes (a
    ``MultiHeadAttention`` subclass given ``cache=``, a spec without ``training``) is sized
    by running its ``call`` on meta tensors, as Keras did when the model was built (on the
    symbolic stand-ins of a read, Keras asks the spec)."""
    from keras.src import backend
    from keras.src.layers import layer as layer_module

    original = layer_module.Layer.symbolic_call

    def symbolic_call(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(self, *args, **kwargs)
        except TypeError:
            return backend.compute_output_spec(self.call, *args, **kwargs)

    layer_module.Layer.symbolic_call = symbolic_call
    try:
        yield
    finally:
        layer_module.Layer.symbolic_call = original


_BINARY = ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor")


@contextmanager
def _weights_defer() -> Iterator[None]:
    """A weight on the left of an operator (``self.scale * x + self.bias``) with a symbolic
    tensor on the right: the variable's operator would compute on the backend's values (and
    fail), so it defers to the tensor's reflected operator, which records the operation."""
    import keras
    from keras.src.backend.common.variables import Variable

    originals = {
        n: Variable.__dict__[f"__{n}__"] for n in _BINARY if f"__{n}__" in Variable.__dict__
    }

    def deferring(original: Any) -> Any:
        def method(self: Any, other: Any) -> Any:
            if isinstance(other, keras.KerasTensor):
                return NotImplemented
            return original(self, other)

        return method

    for n, original in originals.items():
        setattr(Variable, f"__{n}__", deferring(original))
    try:
        yield
    finally:
        for n, original in originals.items():
            setattr(Variable, f"__{n}__", original)


@contextmanager
def _nones_dropped() -> Iterator[None]:
    """Keras records a sub-layer's call whose outputs hold ``None`` (a block returning
    ``(x, None)`` when attention scores are not asked for; Keras refuses to record it) with
    its tensors alone, as they are read here."""
    from keras.src.layers import layer as layer_module
    from keras.src.ops import node as node_module
    from keras.src.ops import operation as operation_module

    original = node_module.Node

    class Recorded(original):  # type: ignore[misc, valid-type]
        def __init__(
            self,
            operation: Any,
            call_args: Any = None,
            call_kwargs: Any = None,
            outputs: Any = None,
        ) -> None:
            import keras

            if outputs is not None:
                outputs = [t for t in keras.tree.flatten(outputs) if t is not None]
            super().__init__(operation, call_args, call_kwargs, outputs)

    modules = (layer_module, operation_module)
    for module in modules:
        module.Node = Recorded
    try:
        yield
    finally:
        for module in modules:
            module.Node = original


def _function(stand_ins: list[Any], outputs: list[Any]) -> Any:
    """The Keras graph from ``stand_ins`` to ``outputs``, or ``None`` where Keras cannot make
    one (an output that is not a tensor)."""
    import keras

    try:
        return keras.Function(stand_ins, outputs)
    except Exception:  # any failure: the layer stays uncounted, with Keras' shape
        pass
    used = _used(stand_ins, outputs)  # (Keras refuses stand-ins no output depends on)
    if len(used) == len(stand_ins):
        return None
    try:
        return keras.Function(used, outputs)
    except Exception:
        return None


def _used(stand_ins: list[Any], outputs: list[Any]) -> list[Any]:
    """The stand-ins some output depends on (a layer given a list of feature maps may read
    one: Depth Anything's head takes ``inputs[-1]``), through the calls Keras recorded."""
    wanted = {id(t) for t in stand_ins}
    found: set[int] = set()
    seen: set[int] = set()
    stack = list(outputs)
    while stack:
        t = stack.pop()
        if id(t) in wanted:
            found.add(id(t))
            continue
        history = getattr(t, "_keras_history", None)
        if history is None or id(t) in seen:
            continue
        seen.add(id(t))
        stack += history.operation._inbound_nodes[history.node_index].arguments.keras_tensors
    return [t for t in stand_ins if id(t) in found]


def _countable(function: Any) -> bool:
    """Every recorded raw operation is one that is counted."""
    import keras

    return all(
        isinstance(op, keras.layers.Layer)
        or (type(op).__name__ in COUNTED and type(op).__module__.startswith("keras."))
        or countable(op)  # a torch function the layer calls itself (torch_calls)
        for op in function.operations
    )


def graph_calls(function: Any) -> list[tuple[Any, Any, int]]:
    """Each call in the graph of ``function`` (a Functional model or a ``keras.Function``):
    its layer or operation, its graph node and its index among that one's calls here. In
    Keras's own order (``function.operations``, each one's calls in turn), except that a
    call waits until the tensors it takes are made: a layer called again further on, as a
    dropout shared by two branches, comes at each of its places. Calls on no symbolic
    tensor are left out; calls whose tensors are never made come last."""
    import keras

    rank = {id(op): i for i, op in enumerate(function.operations)}
    nodes = [
        node
        for depth in function._nodes_by_depth.values()
        for node in depth
        if node.operation is not None and not node.is_input and node.arguments.keras_tensors
    ]
    nodes.sort(key=lambda n: (rank[id(n.operation)], n.operation._inbound_nodes.index(n)))
    made = {id(t) for t in keras.tree.flatten(function.inputs)}
    index: dict[int, int] = {}
    calls: list[tuple[Any, Any, int]] = []
    waiting: list[Any] = []
    for node in nodes:
        waiting.append(node)
        while ready := next(
            (n for n in waiting if all(id(t) in made for t in n.arguments.keras_tensors)), None
        ):
            waiting.remove(ready)
            made.update(id(t) for t in ready.outputs)
            calls.append((ready.operation, ready, index.setdefault(id(ready.operation), 0)))
            index[id(ready.operation)] += 1
    for node in waiting:  # never ready (not made in this graph): the reader says so
        calls.append((node.operation, node, index.setdefault(id(node.operation), 0)))
        index[id(node.operation)] += 1
    return calls


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


# the layer table's reader: (builder, parents, layer or op, name, its call, weights counted)
Read = Callable[[GraphBuilder, Sequence[int], Any, str, Any, set[int]], list[int]]


def add_custom_layer(
    b: GraphBuilder,
    parents: Sequence[int],
    layer: Any,
    call: Any,
    name: str,
    read: Read,
    seen: set[int],
) -> list[int]:
    """The node(s) of a layer without a handler: its ``call``'s operations and sub-layers
    (each read by ``read``, the layer table's reader) when all can be read (see the module),
    else one uncounted node per output. ``seen``: the ids of the weights counted before in
    this read (each weight counts once, where first used; those counted here are added)."""
    records = call_records(layer)
    first = b.size
    try:
        made, whole = _custom(b, parents, layer, call, name, read, seen)
    finally:
        for calls, kept in records:
            del calls[kept:]
    if whole:  # the layer's own count on its nodes: less the weights counted before
        counted_once(b, first, layer.weights, seen, name)
    return made


def _custom(
    b: GraphBuilder,
    parents: Sequence[int],
    layer: Any,
    call: Any,
    name: str,
    read: Read,
    seen: set[int],
) -> tuple[list[int], bool]:
    """:func:`add_custom_layer`'s nodes, and whether they count the layer's weights whole
    (``count_params()``), not each where its parts use it."""
    import keras

    def whole() -> tuple[list[int], bool]:
        return by_backend(b, parents, layer, call, name, lambda: keras_params(layer)), True

    traced = _trace(b, parents, layer, call)
    if traced is None or not traced[1]:
        return whole()
    stand_ins, outputs = traced
    given = {id(t): p for t, p in zip(stand_ins, parents, strict=True)}
    if all(id(t) in given for t in outputs):  # DropPath at inference: no node, as Identity
        if not layer.weights:
            return [given[id(t)] for t in outputs], False
        params = keras_params(layer)  # weights it does not use now: a node to count them on
        kind = OpKind.MOVE
        return each_output(b, parents, layer, call, name, kind=kind, params=params), True
    symbolic = [t for t in outputs if isinstance(t, keras.KerasTensor)]
    made: Iterator[int] = iter(())
    if symbolic:
        function = _function(stand_ins, symbolic)
        if function is None or not _countable(function):
            return whole()
        first, kept = b.size, set(seen)
        try:
            made = iter(_expand(b, parents, layer, name, read, function, stand_ins, seen))
        except StridescopeError:  # a part whose shapes do not fit as read: the layer whole
            b.drop_from(first)
            seen.intersection_update(kept)  # (what the parts counted is not counted)
            return whole()
    params = 0 if symbolic else keras_params(layer)
    nodes = [
        next(made) if isinstance(t, keras.KerasTensor) else _constant(b, name, i, t, params)
        for i, t in enumerate(outputs)
    ]
    return nodes, not symbolic


def _constant(b: GraphBuilder, name: str, index: int, value: Any, params: int) -> int:
    """An output that the call made from its inputs' shapes alone (Keras computes it on the
    spot, as a real tensor: a rotary table from the image size, an empty tensor in place of
    hidden states not asked for): a node without parents or MACs (``name``, ``name:1``...),
    with the layer's weights (``params``) on the first."""
    return b.computed(
        name if index == 0 else f"{name}:{index}",
        output_shape=tuple(int(d) for d in getattr(value, "shape", ())),
        macs=0,
        params=params if index == 0 else 0,
        op="constant",
        kind=OpKind.MOVE,
    )


def _expand(
    b: GraphBuilder,
    parents: Sequence[int],
    layer: Any,
    name: str,
    read: Read,
    function: Any,
    stand_ins: list[Any],
    seen: set[int],
) -> list[int]:
    import keras

    made = {id(t): p for t, p in zip(stand_ins, parents, strict=True)}
    first = b.size
    for op, node, index in graph_calls(function):
        inner = [made[id(t)] for t in tensors_of(node.arguments)]  # (as call_stand_ins)
        if isinstance(op, keras.layers.Layer):
            start = b.size
            at = f"{name}.{op.name}" + (f"@{index}" if index else "")
            outs = read(b, inner, op, at, node, seen)
            if index:  # called again: its weights were counted at its first call
                b.params_counted_before(start, f"{name}.{op.name}")
        elif countable(op):
            outs = add_torch_call(b, inner, op, f"{name}/{op.name}")
        else:
            outs = add_operation(b, inner, op, node, f"{name}/{op.name}", seen)
        made.update({id(t): out for t, out in zip(node.outputs, outs, strict=True)})
    subs = [op for op in function.operations if isinstance(op, keras.layers.Layer)]
    theirs = {id(w) for sub in subs for w in sub.weights}
    left = [w for w in layer.weights if id(w) not in theirs and id(w) not in seen]
    if left and b.size > first:  # used outside the recorded operations (on weights alone)
        b.add_params(first, count_weights(left, seen))
    return [made[id(t)] for t in function.outputs]
