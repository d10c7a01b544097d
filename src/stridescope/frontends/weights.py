"""Trained weights into a model, safely: a PyTorch ``state_dict`` read with
``torch.load(..., weights_only=True)`` (no pickled code runs), or the weights of a ``.keras``
file loaded with ``safe_mode=True``. Every mismatch is a one-line error that names it.

>>> import torch, tempfile, os
>>> from torch import nn
>>> path = os.path.join(tempfile.mkdtemp(), "w.pt")
>>> torch.save(nn.Linear(2, 3).state_dict(), path)
>>> model = load_weights(nn.Linear(2, 3), path)
>>> load_weights(nn.Linear(2, 4), path)
Traceback (most recent call last):
...
stridescope.errors.StridescopeError: the weights in ... do not fit the model: weight: (3, 2) in the file, (4, 2) in the model; bias: (3,) in the file, (4,) in the model
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stridescope.errors import StridescopeError
from stridescope.frameworks import is_keras_model

__all__ = ["load_weights"]

_SHOWN = 3  # mismatches named in an error before "and N more"


def _listed(items: list[str]) -> str:
    more = f"; and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return "; ".join(items[:_SHOWN]) + more


def _keras_weights(model: Any, path: Path) -> Any:
    from stridescope.frontends.load import load_model

    source = load_model(str(path))
    if not is_keras_model(source):
        raise StridescopeError(f"{str(path)!r} holds no Keras model")
    theirs, ours = list(source.weights), list(model.weights)
    if len(theirs) != len(ours):
        raise StridescopeError(
            f"the weights in {str(path)!r} do not fit the model: {len(theirs)} arrays in the "
            f"file, {len(ours)} in the model"
        )
    problems = [
        f"{mine.path}: {tuple(other.shape)} in the file, {tuple(mine.shape)} in the model"
        for other, mine in zip(theirs, ours, strict=True)
        if tuple(other.shape) != tuple(mine.shape)
    ]
    if problems:
        raise StridescopeError(
            f"the weights in {str(path)!r} do not fit the model: {_listed(problems)}"
        )
    model.set_weights(source.get_weights())
    return model


def _state_dict(path: Path) -> Mapping[str, Any]:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        first = (str(error).strip().splitlines() or [""])[0]
        raise StridescopeError(
            f"cannot read weights {str(path)!r} with torch.load(weights_only=True): "
            f"{type(error).__name__}: {first}"
        ) from None
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise StridescopeError(
            f"{str(path)!r} holds {type(state).__name__}, not a state_dict (a mapping of names "
            "to tensors, as torch.save(model.state_dict(), path) writes)"
        )
    return state


def _torch_weights(model: Any, path: Path) -> Any:
    state = _state_dict(path)
    ours = model.state_dict()
    problems = [f"{k}: missing in the file" for k in ours if k not in state]
    problems += [f"{k}: not in the model" for k in state if k not in ours]
    problems += [
        f"{k}: {tuple(state[k].shape)} in the file, {tuple(v.shape)} in the model"
        for k, v in ours.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if problems:
        raise StridescopeError(
            f"the weights in {str(path)!r} do not fit the model: {_listed(problems)}"
        )
    model.load_state_dict(state)
    return model


def load_weights(model: Any, path: str | Path) -> Any:
    """Load the weights in ``path`` into ``model`` (in place) and return it: a ``.keras``
    file into a Keras model, anything else as a PyTorch ``state_dict`` into an ``nn.Module``.
    """
    file = Path(path)
    if not file.is_file():
        raise StridescopeError(f"cannot read weights {str(file)!r}: no such file")
    keras_model, keras_file = is_keras_model(model), file.suffix == ".keras"
    if keras_file and not keras_model:
        raise StridescopeError(
            f"{str(file)!r} holds Keras weights; the model is {type(model).__name__} (give a "
            "PyTorch state_dict, e.g. saved with torch.save(model.state_dict(), 'model.pt'))"
        )
    if keras_model and not keras_file:
        raise StridescopeError(
            f"a Keras model takes its weights from a .keras file; received {str(file)!r}"
        )
    return _keras_weights(model, file) if keras_model else _torch_weights(model, file)
