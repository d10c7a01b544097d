"""Turn whatever the user points at into an IR :class:`Graph`.

A target is one of:

- an IR :class:`Graph` (returned as is);
- a Keras 3 model (checked *before* ``nn.Module``: on the torch backend a Keras model is one);
- a PyTorch ``nn.Module`` (traced; needs an input shape);
- ``"path/to/file.py:factory"`` or ``"package.module:attr"``: the attribute is a model, or a
  callable that returns one when called without arguments;
- ``"model.keras"``: a saved Keras model, loaded with ``safe_mode=True`` (also Keras 2's
  ``"model.h5"``);
- ``"model.pt"`` (also ``.pth``, ``.ts``, ``.torchscript``): a TorchScript archive, as
  ``torch.jit.save`` writes it (a file of ``torch.save``, a pickle, is refused: loading one runs
  its code); ``"model.pt2"``: a ``torch.export.save`` archive, which knows its input shapes;
- ``"net.toml"``: a spec file (see :mod:`stridescope.frontends.spec`).

Heavy frameworks are imported only when a target needs them. Before Keras or a user module is
imported, ``KERAS_BACKEND`` defaults to ``torch`` (no TensorFlow needed).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stridescope.errors import StridescopeError
from stridescope.frameworks import is_keras_model
from stridescope.frontends.input_view import read_as_viewed
from stridescope.frontends.inputs import (
    Argument,
    Inputs,
    KeywordInput,
    in_order,
    parse_arguments,
    pytorch_only,
)
from stridescope.frontends.saved_files import (
    KERAS,
    TORCH,
    exported_module,
    guarded,
    is_exported,
    load_keras_file,
    load_torch_file,
    one_line,
)
from stridescope.frontends.spec import load_spec, parse_shape
from stridescope.ir import Graph, Shape

__all__ = [
    "TARGET_FORMS",
    "load_graph",
    "load_model",
    "model_of",
    "parse_shape",
    "resolve_attr",
    "resolve_factory",
    "resolve_target",
]

TARGET_FORMS = (
    "FILE.py:FACTORY, package.module:ATTR, FILE.keras, FILE.h5, FILE.pt, FILE.pt2, FILE.toml"
)


def _article(noun: str) -> str:
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _is_torch_module(obj: object) -> bool:
    if "torch" not in sys.modules:
        return False
    import torch

    return isinstance(obj, torch.nn.Module)


def _is_model(obj: object) -> bool:
    return isinstance(obj, Graph) or is_keras_model(obj) or _is_torch_module(obj)


def _import_file(path: Path) -> Any:
    if not path.is_file():
        raise StridescopeError(f"cannot import {str(path)!r}: no such file")
    name = f"_stridescope_target_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise StridescopeError(f"cannot import {str(path)!r}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)  # so the file can import its neighbours, as `python file.py` can
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        raise StridescopeError(f"cannot import {str(path)!r}: {one_line(error)}") from None
    finally:
        sys.path.remove(folder)
    return module


def _import_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except Exception as error:
        raise StridescopeError(f"cannot import module {name!r}: {one_line(error)}") from None


def resolve_attr(target: str) -> Any:
    """The object a ``FILE.py:NAME`` or ``package.module:NAME`` string names (not called).

    >>> resolve_attr("no_such_module_xyz:build")
    Traceback (most recent call last):
    ...
    stridescope.errors.StridescopeError: cannot import module 'no_such_module_xyz': ModuleNotFoundError: No module named 'no_such_module_xyz'
    """
    source, _, attr = target.rpartition(":")
    if not source or not attr:
        raise StridescopeError(f"cannot read target {target!r}; allowed: {TARGET_FORMS}")
    os.environ.setdefault("KERAS_BACKEND", "torch")
    is_file = source.endswith(".py") or "/" in source or os.sep in source
    module = _import_file(Path(source)) if is_file else _import_module(source)
    if not hasattr(module, attr):
        public = sorted(n for n in vars(module) if not n.startswith("_"))
        raise StridescopeError(
            f"{source!r} has no attribute {attr!r}; it has: {', '.join(public) or 'nothing'}"
        )
    return getattr(module, attr)


def resolve_factory(target: str) -> Any:
    """A user's operator: ``FILE.py:FACTORY`` naming a callable ``FACTORY(in_channels,
    out_channels)`` (what ``compare`` and ``study`` call to build it; not called here)."""
    factory = resolve_attr(target)
    if not callable(factory):
        raise StridescopeError(
            f"operator {target!r} is {type(factory).__name__}; expected a factory(in_channels, "
            "out_channels) that returns a torch.nn.Module"
        )
    return factory


def resolve_target(target: str) -> Any:
    """The model a ``FILE.py:FACTORY`` or ``package.module:ATTR`` string names: the object,
    or what a factory without arguments returns."""
    obj = resolve_attr(target)
    if not _is_model(obj) and callable(obj):
        try:
            obj = obj()
        except Exception as error:
            raise StridescopeError(f"factory {target!r} raised {one_line(error)}") from None
        except SystemExit as error:  # (a script's sys.exit: not the command's exit)
            raise StridescopeError(f"factory {target!r} called sys.exit({error.code})") from None
    if not _is_model(obj):
        raise StridescopeError(
            f"{target!r} gave {_article(type(obj).__name__)}; expected a torch.nn.Module, a Keras "
            "model, or a function without arguments that returns one"
        )
    return obj


def _takes_num_classes(factory: Any) -> bool:
    """Whether ``factory`` has a parameter named ``num_classes`` (read from its signature)."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # builtins and some extension types have none
        return False
    return "num_classes" in parameters


def load_model(target: str, *, num_classes: int | None = None) -> Any:
    """The model (with its weights, where the target has them) a string names:
    ``FILE.keras`` (loaded with ``safe_mode=True``), or ``FILE.py:FACTORY`` /
    ``package.module:ATTR`` — a model, or a factory called with ``num_classes=`` when it has
    that parameter and ``num_classes`` is given, else without arguments. Spec files have no
    weights and are refused.

    >>> load_model("net.toml")
    Traceback (most recent call last):
    ...
    stridescope.errors.StridescopeError: 'net.toml' is a spec file (shapes only, no weights); give FILE.py:FACTORY, package.module:ATTR or FILE.keras
    """
    forms = "FILE.py:FACTORY, package.module:ATTR or FILE.keras"
    if target.endswith(KERAS):
        return load_keras_file(Path(target))
    if target.endswith(".toml"):
        raise StridescopeError(f"{target!r} is a spec file (shapes only, no weights); give {forms}")
    if target.endswith(TORCH):
        raise StridescopeError(
            f"{target!r} is a saved PyTorch archive: summary, lint and coverage read it, but this "
            f"command changes or trains the model's Python modules; give {forms}"
        )
    if ":" not in target:
        raise StridescopeError(f"cannot read target {target!r}; give {forms}")
    obj = resolve_attr(target)
    if num_classes is None or _is_model(obj) or not _takes_num_classes(obj):
        return resolve_target(target)
    try:
        model = obj(num_classes=num_classes)
    except Exception as error:
        raise StridescopeError(
            f"factory {target!r} raised {one_line(error)} (called with num_classes={num_classes})"
        ) from None
    if not _is_model(model):
        raise StridescopeError(
            f"{target!r} gave {_article(type(model).__name__)}; expected a torch.nn.Module or a "
            "Keras model"
        )
    return model


def model_of(target: object) -> object:
    """The model a string target names, loaded (``FILE.keras``/``.h5``, ``FILE.py:FACTORY``,
    ``package.module:ATTR``), so that a caller that reads its graph (``load_graph(model)``)
    can also look at its modules; any other target as it is (a model, a spec file, a saved
    PyTorch archive, a graph).

    >>> model_of("examples/seed_cnn.toml")
    'examples/seed_cnn.toml'
    """
    if not isinstance(target, (str, Path)):
        return target
    text = str(target)
    if text.endswith(KERAS):
        return load_keras_file(Path(text))
    if text.endswith((".toml", *TORCH)) or ":" not in text:
        return target
    return resolve_target(text)


def _graph_of_model(
    model: Any,
    input_shape: Shape | None,
    source: str,
    shapes: Sequence[Argument | KeywordInput] = (),
) -> Graph:
    if isinstance(model, Graph):
        return model
    try:
        if is_keras_model(model):
            from stridescope.frontends.keras.model import input_names, read_keras

            if names := input_names(model):  # (NAME=SHAPE: at the input of that name)
                shapes = in_order(shapes, names, f"the Keras model {model.name!r}")
            pytorch_only(shapes, "a Keras model")
            several = [s for s in shapes if isinstance(s, tuple)]
            one = several[0] if several else input_shape
            if len(several) > 1:
                return read_keras(model, several, source=source)
            graph = read_keras(model, one, source=source)
            return read_as_viewed(graph, lambda shape: read_keras(model, shape, source, True))
        if not shapes:
            raise StridescopeError(
                f"a PyTorch model needs an input shape; give one, e.g. --input 1x3x224x224 "
                f"(target {source or type(model).__name__})"
            )
        from stridescope.frontends.pytorch.trace import trace_torch

        graph = trace_torch(model, list(shapes))
        if len(shapes) == 1 and isinstance(shapes[0], tuple):  # (an image made of a flat input)
            graph = read_as_viewed(graph, lambda image: trace_torch(model, [image]))
        # name the graph after the target the user gave, as the Keras and spec readers do
        return dataclasses.replace(graph, source=source) if source else graph
    except StridescopeError:
        raise
    except Exception as error:
        shape = "x".join(str(d) for d in input_shape) if input_shape else "its own input"
        raise StridescopeError(
            f"reading {source or type(model).__name__} with input {shape} failed: {one_line(error)}"
        ) from None


def load_graph(target: object, input_shape: Inputs = None) -> Graph:
    """The IR graph of a target (see the module docstring for the forms). ``input_shape``
    may list several shapes for a PyTorch model whose forward takes several inputs.

    >>> load_graph("net.yaml")
    Traceback (most recent call last):
    ...
    stridescope.errors.StridescopeError: cannot read target 'net.yaml'; allowed: FILE.py:FACTORY, package.module:ATTR, FILE.keras, FILE.h5, FILE.pt, FILE.pt2, FILE.toml
    """
    shapes = parse_arguments(input_shape) if input_shape is not None else []
    shape = shapes[0] if shapes and isinstance(shapes[0], tuple) else None
    if isinstance(target, (str, Path)):
        text = str(target)
        if text.endswith(".toml"):
            pytorch_only(shapes, "a spec file")
            if len(shapes) > 1:
                raise StridescopeError(
                    f"a spec file takes one --input; received {len(shapes)} for {text!r}"
                )
            return load_spec(text, shape)
        if (model := model_of(target)) is not target:  # (FILE.keras, FILE.py:FACTORY...)
            return _graph_of_model(model, shape, text, shapes)
        if text.endswith(TORCH):
            model, own = load_torch_file(Path(text))
            given = shapes or own
            try:
                return _graph_of_model(model, shape, text, given)
            except StridescopeError as error:  # an exported program's guard on its inputs
                raise guarded(error, text, given) from None
        raise StridescopeError(f"cannot read target {text!r}; allowed: {TARGET_FORMS}")
    if _is_model(target):
        return _graph_of_model(target, shape, "", shapes)
    if is_exported(target):  # torch.export.export's result, as a .pt2 file holds one
        model, own = exported_module(target)
        try:
            return _graph_of_model(model, shape, "", shapes or own)
        except StridescopeError as error:
            raise guarded(error, "ExportedProgram", shapes or own) from None
    raise StridescopeError(
        f"cannot read a {type(target).__name__}; expected a torch.nn.Module, an exported "
        f"program (torch.export), a Keras model, an IR Graph or a string: {TARGET_FORMS}"
    )
