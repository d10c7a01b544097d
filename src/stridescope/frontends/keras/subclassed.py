"""Subclassed Keras models (a ``keras.Model`` with its own ``call``), read as the Functional
model their ``call`` records on symbolic inputs (:func:`as_functional`).

Their inputs are passed as the ``call`` takes them: a call with one input argument given
several inputs takes them as one list (``a, b = inputs``), as Keras passes a model's inputs;
a call with one argument per input takes them apart. A built model's input shapes are the
ones it was built or first called with, a list of them for a list of inputs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from stridescope.errors import StridescopeError
from stridescope.frontends.keras.assigns import assigns_dropped
from stridescope.frontends.keras.expand import names_kept
from stridescope.frontends.keras.torch_calls import recorded
from stridescope.frontends.keras.torch_modules import shaped
from stridescope.ir import Shape

__all__ = ["as_functional", "is_subclassed"]


def is_subclassed(model: Any) -> bool:
    """A ``keras.Model`` subclass with its own ``call`` (neither Sequential nor Functional)."""
    import keras

    functional = keras.src.models.functional.Functional
    return isinstance(model, keras.Model) and not isinstance(model, keras.Sequential | functional)


def as_functional(model: Any, given: list[Shape] | None) -> Any:
    """A subclassed model's ``call`` run once on symbolic inputs (``keras.Input``): each layer
    and ``keras.ops`` call in it is recorded, which makes the Functional model that computes
    the same (its layers the model's own, weights included). The input shape is the one given,
    else the one the model was built or called with."""
    import keras

    shapes = given or _built_shapes(model)
    if not shapes:
        raise StridescopeError(
            f"the Keras model {model.name!r} is a subclassed {type(model).__name__} that was "
            "never built or called; give an input shape, e.g. --input 1x224x224x3"
        )
    with names_kept(), shaped(), recorded():  # (ops named as on every read; torch calls)
        if not model.built:  # its weights made as a first call would make them
            built = _as_called(model, [(None, *s[1:]) for s in shapes])
            _symbolic(model, shapes, lambda: model.build(*built))
        inputs = [keras.Input(tuple(s)[1:]) for s in shapes]
        with assigns_dropped():  # (its call may write its variables: see assigns)
            return _symbolic(
                model,
                shapes,
                lambda: keras.Model(
                    inputs, model.call(*_as_called(model, inputs)), name=model.name
                ),
            )


def _as_called(model: Any, inputs: list[Any]) -> list[Any]:
    """``inputs`` as the positional arguments of ``model.call``: one list where the call
    takes one input argument (besides ``training`` and ``mask``) and there are several."""
    try:
        parameters = inspect.signature(model.call).parameters.values()
    except (TypeError, ValueError):
        return inputs
    positional = [
        p
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        and p.name not in ("training", "mask")
    ]
    takes_more = any(p.kind is p.VAR_POSITIONAL for p in parameters)
    if len(inputs) > 1 and len(positional) == 1 and not takes_more:
        return [list(inputs)]
    return inputs


def _symbolic(model: Any, shapes: list[Shape], run: Callable[[], Any]) -> Any:
    """``run()``, a Keras error as a one-line :class:`StridescopeError`."""
    try:
        return run()
    except Exception as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise StridescopeError(
            f"cannot read the subclassed Keras model {model.name!r} ({type(model).__name__}): "
            f"its call() on symbolic inputs {[tuple(s) for s in shapes]} raised "
            f"{type(error).__name__}: {first}"
        ) from None


def _is_shape(value: Any) -> bool:
    return isinstance(value, tuple | list) and all(d is None or isinstance(d, int) for d in value)


def _built_shapes(model: Any) -> list[Shape]:
    """The input shapes a built subclassed model was built or first called with: one per
    build argument, or the shapes of the list of inputs it was called with."""
    built = getattr(model, "_build_shapes_dict", None) or {}
    values = list(built.values())
    if len(values) == 1 and isinstance(values[0], tuple | list) and not _is_shape(values[0]):
        values = list(values[0])  # (called with a list of inputs)
    shapes = [tuple(s) for s in values if _is_shape(s)]
    if not shapes or len(shapes) != len(values) or any(None in s[1:] for s in shapes):
        return []
    return [(1, *s[1:]) for s in shapes]
