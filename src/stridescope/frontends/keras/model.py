"""Read a Keras 3 model (Sequential, Functional or subclassed) into an IR :class:`Graph`,
without running it (a subclassed model's ``call`` runs once on symbolic inputs, which records
the Functional graph it computes: see
:func:`~stridescope.frontends.keras.subclassed.as_functional`).

Connectivity comes from the Functional model's own graph (each call's input and output
tensors, so residual ``Add`` and ``Concatenate`` branches and raw ``keras.ops`` calls are
kept); each layer or operation goes through
:func:`~stridescope.frontends.keras.layer_table.add_keras_layer`. The layout follows the layers' ``data_format``
(``channels_last`` → ``nhwc``). Nested models are walked, their layers named
``outer.inner``. Works on any Keras backend (``KERAS_BACKEND=torch`` needs no TensorFlow).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

from stridescope.errors import StridescopeError
from stridescope.frontends.keras.expand import call_records, graph_calls
from stridescope.frontends.keras.layer_table import add_keras_layer
from stridescope.frontends.keras.shapes import resolve_input, tensors_of
from stridescope.frontends.keras.subclassed import as_functional, is_subclassed
from stridescope.frontends.keras.weights import (
    count_read,
    owners_named,
    values_read,
    weights_among,
    weights_read,
)
from stridescope.ir import Graph, GraphBuilder, Layout, Shape, shape_list

__all__ = ["input_names", "read_keras"]


def keras_layout(config: dict[str, Any]) -> Layout | None:
    """The IR layout a layer config asks for, or ``None`` if it has no ``data_format``.

    >>> keras_layout({"data_format": "channels_first"}), keras_layout({})
    ('nchw', None)
    """
    fmt = config.get("data_format")
    if fmt is None:
        return None
    return "nchw" if fmt == "channels_first" else "nhwc"


def read_keras(
    model: Any,
    input_shape: Shape | Sequence[Shape] | None = None,
    source: str = "",
    any_rank: bool = False,
) -> Graph:
    """The IR graph of a Keras model; ``input_shape`` (with batch) defaults to the model's
    own input with batch 1. A model with several inputs takes a list of shapes (or its own);
    coverage and the receptive field are measured on the first. For example (Keras takes
    seconds to import, so not a doctest)::

        m = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(8, 3)])
        read_keras(m).output.output_shape  # (1, 30, 30, 8)
    """
    given = None if input_shape is None else shape_list(input_shape)
    if not is_subclassed(model):
        return _read(model, given, source, model, any_rank=any_rank)
    calls = call_records(model)
    try:
        with values_read() as read:  # (a weight whose value the call reads is used)
            functional = as_functional(model, given)
        return _read(functional, given, source, model, read, any_rank)
    finally:  # the symbolic call's records on the model's layers are taken out again
        for records, kept in calls:
            del records[kept:]


# bytes per element of Keras' floating-point dtypes
_ITEM_BYTES = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}


def _bytes(model: Any) -> int:
    """Bytes per activation element: the model's compute dtype (``float16`` under the
    ``mixed_float16`` policy, whose weights stay ``float32``), 4 where it has none."""
    policy = getattr(model, "dtype_policy", None)
    return _ITEM_BYTES.get(str(getattr(policy, "compute_dtype", "float32")), 4)


def _read(
    model: Any,
    given: list[Shape] | None,
    source: str,
    owner: Any,
    read: set[int] | None = None,
    any_rank: bool = False,
) -> Graph:
    """The graph of ``model`` (the Functional or Sequential model that computes ``owner``,
    the user's model, or ``owner`` itself). Its output (its last node) is the model's first
    output: where nodes follow it (a second output computed after it), an ``output`` node of
    its shape does (0 MACs, positions kept). ``read``: the ids of the weights whose values
    ``owner``'s call read; those no node counts are counted at the first node after the
    inputs (their use is not in the graph)."""
    inputs = _model_inputs(model, given[0] if given and len(given) == 1 else None)
    if given is not None and len(given) != len(inputs):
        raise StridescopeError(
            f"the Keras model {model.name!r} has {len(inputs)} input(s); received "
            f"{len(given)} input shape(s)"
        )
    layout = _layout(model)
    shapes = [
        resolve_input(tuple(x.shape), given[i] if given else None, layout, any_rank)
        for i, x in enumerate(inputs)
    ]
    builder = GraphBuilder(
        shapes[0], layout, source=source or f"keras:{model.name}", dtype_bytes=_bytes(model)
    )
    nodes = [builder.input]
    for i, (x, shape) in enumerate(zip(inputs, shapes, strict=True)):
        if i:
            nodes.append(builder.add_input(shape, str(getattr(x, "name", "")) or f"input{i}"))
    if len(shapes) > 1:
        builder.note(
            f"{len(shapes)} inputs: input coverage and the receptive field are measured on the "
            f"first, {shapes[0]}"
        )
    used: set[int] = set()  # the ids of the weights the walk meets
    with weights_read(owner), owners_named():
        outputs = _walk(builder, model, nodes, "", used)
    first = outputs[0]
    builder.returns(outputs)
    if first != builder.size - 1:  # the output is the model's first, as in the PyTorch tracer
        taken = {n.name for n in builder._nodes}
        name = next(
            f"output{i or ''}" for i in range(len(taken) + 1) if f"output{i or ''}" not in taken
        )
        at = builder.reshape(first, name, output_shape=builder.shape(first), op="output")
        _size_node(builder, at, getattr(model.outputs[0], "dtype", None))
    for node, x in zip(nodes, inputs, strict=True):  # (float32 inputs of a float16 model)
        _size_node(builder, node, getattr(x, "dtype", None))
    count_read(builder, owner.weights, read or set(), used, len(nodes))
    _note_unused(builder, owner, used)
    return builder.build()


def _uses(op: Any, call: Any, used: set[int]) -> None:
    """Add the ids of the weights ``op`` (a layer, or a raw operation of ``call``) uses to
    ``used``: every weight of a layer, the weights among an operation's arguments
    (``x * self.gamma`` in a subclassed model's ``call``)."""
    import keras

    if isinstance(op, keras.layers.Layer):
        used.update(id(w) for w in op.weights)
    else:  # (also those a tensor computed from weights alone came from)
        args = keras.tree.flatten((call.arguments.args, call.arguments.kwargs))
        used.update(id(v) for v in weights_among(args))


def _note_unused(builder: GraphBuilder, model: Any, used: set[int]) -> None:
    """Weights of ``model`` that its graph never uses (a backbone's final norm left out of a
    feature extractor built on it, which ``count_params()`` still counts) are reported in a
    graph note, never dropped silently."""
    unused = {id(w): w for w in model.weights if id(w) not in used}
    if not unused:
        return
    total = sum(math.prod(int(d) for d in w.shape) for w in unused.values())
    names = ", ".join(str(w.path) for w in list(unused.values())[:5])
    more = f" and {len(unused) - 5} more" if len(unused) > 5 else ""
    builder.note(
        f"{total:,} parameters were not used by any layer of the model's graph and are not in "
        f"the node totals: {names}{more}"
    )


def input_names(model: Any) -> list[str]:
    """The names of a model's inputs, in order (``keras.Input(name=...)``); none where it has
    no defined input (a Sequential never built)."""
    return [str(getattr(t, "name", "")) for t in _inputs(model)]


def _inputs(model: Any) -> list[Any]:
    try:
        return list(model.inputs or [])
    except (AttributeError, ValueError):
        return []


def _model_inputs(model: Any, input_shape: Shape | None) -> list[Any]:
    inputs = _inputs(model)
    if not inputs and input_shape is not None and not model.built:
        try:  # a Sequential without keras.Input: build it for the given shape (no data)
            model.build((None, *tuple(input_shape)[1:]))
        except Exception as error:
            raise StridescopeError(
                f"cannot build the Keras model {model.name!r} for input {tuple(input_shape)!r}: "
                f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"
            ) from None
        inputs = _inputs(model)
    if not inputs:
        raise StridescopeError(
            f"the Keras model {model.name!r} has no defined input; start it with "
            "keras.Input(shape) or give an input shape"
        )
    return inputs


def _layers(model: Any) -> Iterator[Any]:
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _layers(layer)
        else:
            yield layer


def _layout(model: Any) -> Layout:
    found: set[str] = set()
    for layer in _layers(model):
        layout = keras_layout({"data_format": getattr(layer, "data_format", None)})
        if layout is not None:
            found.add(layout)
    if len(found) > 1:
        raise StridescopeError(
            f"the Keras model {model.name!r} mixes data formats (channels_first and "
            "channels_last); stridescope reads one layout per model"
        )
    return "nchw" if found == {"nchw"} else "nhwc"


def _is_model(layer: Any) -> bool:
    """A nested Functional or Sequential model, walked over its own graph; a subclassed one
    is read as a custom layer is, through its ``call`` (which may take its inputs as one
    list: ``a, b = inputs``), never as a chain of its layers."""
    import keras

    return isinstance(layer, keras.Model) and not is_subclassed(layer)


def _walk(
    b: GraphBuilder, model: Any, inputs: Sequence[int], prefix: str, used: set[int]
) -> list[int]:
    """Add the nodes of ``model`` on top of ``inputs``; return its output node ids (the ids of
    the weights it uses go into ``used``).

    A Functional model is walked over its own graph (each call in an order that makes
    tensors before their use, with its tensors: :func:`graph_calls`), which holds layers and
    raw ``keras.ops`` operations alike and costs nothing to read (``get_config()`` would
    serialise every layer)."""
    import keras

    if not isinstance(model, keras.src.models.functional.Functional):
        outputs = _walk_sequential(b, model, inputs, prefix, used)  # (each layer counts its
        used.update(id(w) for w in model.weights)  # weights where not counted before)
        return outputs
    made = {id(x): node for x, node in zip(model.inputs, inputs, strict=False)}
    for op, call, index in graph_calls(model):
        if isinstance(op, keras.layers.InputLayer):
            continue
        parents = [_made(made, x, model) for x in tensors_of(call.arguments)]
        name = prefix + op.name + (f"@{index}" if index else "")
        first = b.size
        nodes = _add(b, parents, op, name, call, used)  # (counts a raw op's weights once)
        if not _is_model(op):  # a nested model's own walk says what it uses
            _uses(op, call, used)
        made.update(zip(map(id, call.outputs), nodes, strict=False))
        if not _is_model(op):  # (a nested model's walk sized its own nodes)
            _sized(b, nodes, [getattr(x, "dtype", None) for x in call.outputs], first)
        if index:  # a layer called again: its weights were counted at its first call
            b.params_counted_before(first, prefix + op.name)
    return [_made(made, x, model) for x in model.outputs]


def _made(made: dict[int, int], tensor: Any, model: Any) -> int:
    if id(tensor) not in made:
        raise StridescopeError(
            f"the Keras model {model.name!r} uses tensor {tensor.name!r} before it is made; "
            "stridescope reads models whose layers are listed in call order"
        )
    return made[id(tensor)]


def _walk_sequential(
    b: GraphBuilder, model: Any, inputs: Sequence[int], prefix: str, used: set[int]
) -> list[int]:
    x = list(inputs)
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        first = b.size
        x = _add(b, x, layer, prefix + layer.name, None, used)
        if not _is_model(layer):
            _sized(b, x, [getattr(layer, "compute_dtype", None)] * len(x), first)
    return x


def _sized(b: GraphBuilder, nodes: Sequence[int], dtypes: Sequence[Any], first: int) -> None:
    """Count the nodes a layer call made (ids from ``first`` on) at the size of its output's
    dtype (a float32 layer under mixed precision, a comparison's bool, an argmax's int):
    :meth:`GraphBuilder.values_made`, every node it made where it has one output."""
    outputs = [(n, _item_bytes(d)) for n, d in zip(nodes, dtypes, strict=False)]
    b.values_made(first, outputs, every=len(nodes) == 1)


def _size_node(b: GraphBuilder, node: int, dtype: Any) -> None:
    b.values_made(node, [(node, _item_bytes(dtype))], every=False)


def _item_bytes(dtype: Any) -> int | None:
    """Bytes per value of a Keras dtype name (``None`` for one numpy does not know)."""
    import numpy as np

    name = str(dtype)
    if name in _ITEM_BYTES:
        return _ITEM_BYTES[name]
    try:
        return int(np.dtype(name).itemsize)
    except TypeError:
        return None


def _add(
    b: GraphBuilder, parents: Sequence[int], op: Any, name: str, call: Any, used: set[int]
) -> list[int]:
    if not parents:
        raise StridescopeError(f"layer {name!r} has no inputs in the model's graph")
    if _is_model(op):
        return _walk(b, op, _as_keras_flattens(parents, call), name + ".", used)
    return add_keras_layer(b, parents, op, name, call, used)


def _as_keras_flattens(parents: Sequence[int], call: Any) -> list[int]:
    """The parents of a nested model's call (in the order ``tensors_of`` gives them) in the
    order the model takes them: Keras flattens a dict of inputs by sorted key, as
    ``model.inputs`` lists them (a backbone called with its input dict)."""
    import keras

    if call is None:
        return list(parents)
    node = dict(zip(map(id, tensors_of(call.arguments)), parents, strict=True))
    flat = keras.tree.flatten((list(call.arguments.args), dict(call.arguments.kwargs)))
    return [node[id(t)] for t in flat if isinstance(t, keras.KerasTensor)]
