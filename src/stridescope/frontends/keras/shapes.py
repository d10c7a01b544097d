"""Output shapes that Keras computes, for layers and operations the builder cannot size itself.

Three sources, tried in order, so that a layer without a shape function never stops a
summary: the layer's ``compute_output_shape``; ``compute_output_spec`` on symbolic stand-ins
of the inputs' shapes (it traces the call without data, so a custom layer with only a
``call`` works); and the shape the Functional graph already recorded for the call's output
(``call`` is the ``keras`` graph node of that call), with the batch axis set to ours.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from stridescope.errors import StridescopeError
from stridescope.ir import GraphBuilder, Layout, Shape, channel_axis

__all__ = [
    "call_arguments",
    "call_stand_ins",
    "keras_shapes",
    "recorded_shapes",
    "resolve_input",
    "tensors_of",
]


def _as_shape(value: Any) -> Shape:
    return tuple(None if d is None else int(d) for d in value)


def _is_symbolic(value: Any) -> bool:
    import keras

    return isinstance(value, keras.KerasTensor)


def _substitute(value: Any, stand_ins: list[Any]) -> Any:
    """``value`` with each symbolic tensor replaced by the next stand-in, in the order in
    which the model's config lists them (lists in order, dict values in order)."""
    if _is_symbolic(value):
        return stand_ins.pop(0) if stand_ins else value
    if isinstance(value, (list, tuple)):
        return type(value)(_substitute(v, stand_ins) for v in value)
    if isinstance(value, dict):
        return {k: _substitute(v, stand_ins) for k, v in value.items()}
    return value


def tensors_of(arguments: Any) -> list[Any]:
    """The symbolic tensors of a call: positional ones first, then those passed by keyword
    (``mha(query=x, value=y)``), each in the order written (the order :func:`call_stand_ins`
    fills them in; ``keras.tree.flatten`` would sort keywords by name)."""
    found: list[Any] = []

    def walk(value: Any) -> None:
        if _is_symbolic(value):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(list(arguments.args))
    walk(dict(arguments.kwargs))
    return found


def call_arguments(
    b: GraphBuilder, parents: Sequence[int], call: Any
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments of a recorded call with every symbolic tensor replaced by one of our
    shapes (the parents' shapes, in order); a plain positional call without a record."""

    args, kwargs, _ = call_stand_ins(b, parents, call)
    return args, kwargs


def call_stand_ins(
    b: GraphBuilder, parents: Sequence[int], call: Any
) -> tuple[tuple[Any, ...], dict[str, Any], list[Any]]:
    """:func:`call_arguments`, and the stand-ins in the parents' order (keyword arguments
    in the order written, which ``keras.tree.flatten`` would sort by name)."""
    import keras

    stand_ins = [keras.KerasTensor(b.shape(p)) for p in parents]
    if call is None:
        return tuple(stand_ins), {}, stand_ins
    left = list(stand_ins)
    args = _substitute(tuple(call.arguments.args), left)
    kwargs = _substitute(dict(call.arguments.kwargs), left)
    return args, kwargs, stand_ins[: len(stand_ins) - len(left)]


def _spec_shapes(b: GraphBuilder, parents: Sequence[int], op: Any, call: Any) -> list[Shape]:
    import keras

    args, kwargs = call_arguments(b, parents, call)
    spec = op.compute_output_spec(*args, **kwargs)
    return [_as_shape(s.shape) for s in keras.tree.flatten(spec)]


def recorded_shapes(b: GraphBuilder, call: Any) -> list[Shape]:
    """The shapes of the outputs Keras recorded for ``call``, at the model's batch size."""
    batch = b.shape(b.input)[0]
    return [(batch, *_as_shape(t.shape)[1:]) for t in call.outputs]


def _layer_shape(b: GraphBuilder, parents: Sequence[int], layer: Any) -> list[Shape]:
    shapes = [b.shape(p) for p in parents]
    try:
        out = layer.compute_output_shape(shapes[0] if len(shapes) == 1 else shapes)
    except Exception:  # layers that take their inputs as separate arguments (query, value)
        if len(shapes) == 1:
            raise
        out = layer.compute_output_shape(*shapes)
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)) and out and isinstance(out[0], (list, tuple)):
        return [_as_shape(s) for s in out]
    return [_as_shape(out)]


def keras_shapes(b: GraphBuilder, parents: Sequence[int], op: Any, call: Any = None) -> list[Shape]:
    """The shape of each output of ``op`` (a layer or a raw operation) called on
    ``parents``; ``call`` is its node in the Functional graph (``None`` in a Sequential)."""
    errors: list[str] = []
    attempts: list[Callable[[], list[Shape]]] = [
        lambda: _layer_shape(b, parents, op),
        lambda: _spec_shapes(b, parents, op, call),
    ]
    if call is not None and call.outputs:
        attempts.append(lambda: recorded_shapes(b, call))
    outputs = None if call is None else len(call.outputs)
    for attempt in attempts:
        try:
            shapes = attempt()
        except Exception as error:  # Keras raises many types; try the next source
            errors.append(f"{type(error).__name__}: {str(error).strip()[:200]}")
            continue
        if outputs is None or len(shapes) == outputs:
            return shapes
        # a layer whose call takes several tensors as arguments, given them as one list
        errors.append(f"{len(shapes)} output shapes for the {outputs} outputs Keras recorded")
    raise StridescopeError(
        f"{op.name}: Keras could not compute the output shape of {type(op).__name__} for "
        f"input {[b.shape(p) for p in parents]!r}: {errors[0]}"
    )


def resolve_input(
    keras_shape: Shape, given: Shape | None, layout: Layout, any_rank: bool = False
) -> Shape:
    """The input shape to read a Keras model at: ``given``, checked against the model's own
    (its rank and channels; ``any_rank``: not checked, for the image a model makes of its
    flat input, see :mod:`stridescope.frontends.input_view`), else the model's own with
    batch 1."""
    if given is None:
        if any(d is None for d in keras_shape[1:]):
            raise StridescopeError(
                f"the Keras model's input shape {keras_shape!r} has unknown sizes; "
                "give an input shape, e.g. --input 1x224x224x3"
            )
        return (1, *keras_shape[1:])
    given = tuple(given)
    if any_rank:
        return given
    if len(given) != len(keras_shape):
        raise StridescopeError(
            f"input shape {given!r} has rank {len(given)}, but the Keras model takes rank "
            f"{len(keras_shape)} inputs like {keras_shape!r} ({layout})"
        )
    axis = channel_axis(len(given), layout)
    if keras_shape[axis] is not None and given[axis] != keras_shape[axis]:
        raise StridescopeError(
            f"input shape {given!r} gives channels: {given[axis]} (axis {axis}), but the Keras "
            f"model takes channels: {keras_shape[axis]} ({layout}: {keras_shape!r})"
        )
    return given
