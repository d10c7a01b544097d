"""Operations called as ATen overloads (``torch.ops.aten.conv2d.default``), as the graph of
``torch.export``'s ``ExportedProgram.module()`` and FX passes call them: each is read by the
handler of the torch function that binds the same operation, so an exported model is traced
as the model it came from.

The lookup goes by the operation's name: ``torch.<name>``, ``torch._C._nn.<name>`` and the
``Tensor`` method are bindings of the operation itself (same arguments, same order) and take
the call as it is; a ``torch.nn.functional`` function written in Python takes the arguments by
the names of the operation's schema (``aten.batch_norm`` puts ``weight`` and ``bias`` before
the running statistics, ``F.batch_norm`` after them), and is not used where the schema has an
argument the function lacks, other than a backend switch such as ``cudnn_enabled``. An
in-place operation (``hardswish_``) takes the function with ``inplace=True``, ``slice`` is
indexing, ``alias`` a ``detach``. A quantized model's ``quantized::`` operations are the float
functions :mod:`~stridescope.frontends.pytorch.quantized_ops` names. An operation with no such
function stays unknown: the tracer runs it on meta tensors (uncounted, exact shape).

>>> import torch
>>> found = aten_function({torch.relu: "spec"}, torch.ops.aten.relu.default)
>>> found is not None and found[0] is torch.relu
True
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F

from stridescope.frontends.pytorch.quantized_ops import QUANTIZED
from stridescope.frontends.pytorch.value_sizes import stored

__all__ = ["aten_function", "by_position", "operator_name"]

Arguments = tuple[tuple[Any, ...], dict[str, Any]]
Adapter = Callable[[tuple[Any, ...], dict[str, Any]], Arguments]

_BACKEND_SWITCHES = frozenset({"cudnn_enabled", "cudnn_enable"})
# schema argument names a ``torch.nn.functional`` function spells otherwise
_ARGUMENTS = {"train": "training"}
# operations that are another one, as far as shapes and costs go (and ``<view>_copy``, the
# view op's copying twin: ``permute_copy``, ``view_copy``, ``select_copy``)
_NAMES = {"alias": "detach", "lift_fresh_copy": "clone"}
# operations whose ``torch.nn.functional`` function has another name (``Tensor.unfold`` is
# another operation)
_FUNCTIONAL: dict[str, Callable[..., Any]] = {
    "im2col": F.unfold,
    "col2im": F.fold,
    # (ATen's adaptive max pools return the indices too, as these functions do)
    "adaptive_max_pool1d": F.adaptive_max_pool1d_with_indices,
    "adaptive_max_pool2d": F.adaptive_max_pool2d_with_indices,
    "adaptive_max_pool3d": F.adaptive_max_pool3d_with_indices,
    # (core ATen's adaptive average pools, as ``run_decompositions`` leaves them)
    "_adaptive_avg_pool2d": F.adaptive_avg_pool2d,
    "_adaptive_avg_pool3d": F.adaptive_avg_pool3d,
}
_BINDINGS = (torch, torch._C._nn, torch._C._VariableFunctions)
# per (callable, table id): (the torch function, how its arguments are passed), or None
_FOUND: dict[tuple[Any, int], tuple[Any, Adapter] | None] = {}


def _as_is(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Arguments:
    return args, kwargs


def _schema(func: Any) -> Any:
    """The schema of an ATen overload, or of a packet's default overload (a torch binding
    such as ``torch.batch_norm`` or ``torch.abs_``: its ATen operation's); ``None`` if none."""
    schema = getattr(func, "_schema", None)
    if schema is None and not hasattr(func, "_qualified_op_name"):
        func = _packet(func)
    if schema is None and func is not None and hasattr(func, "_qualified_op_name"):
        overloads = func.overloads()  # (the default, else the first: ``unflatten.int``)
        first = "default" if "default" in overloads else next(iter(overloads), "default")
        schema = getattr(getattr(func, first, None), "_schema", None)
    return schema


def operator_name(func: Any) -> str:
    """``ns::name`` of the operation ``func`` is or binds (``torch.ops.torchvision.nms``:
    ``torchvision::nms``; ``torch.add``: ``aten::add``), else ``""``.

    >>> operator_name(torch.ops.aten.add.Tensor), operator_name(torch.add), operator_name(len)
    ('aten::add', 'aten::add', '')
    """
    schema = _schema(func)
    return "" if schema is None else str(schema.name)


def _packet(func: Any) -> Any:
    """The ATen operation a torch binding or ``Tensor`` method binds (``torch.batch_norm``:
    ``aten.batch_norm``; ``torch.t``, ``torch.abs_``, ``Tensor.prelu``), or ``None``."""
    name = getattr(func, "__name__", None)
    if not isinstance(name, str):
        return None
    if getattr(torch.Tensor, name, None) is not func and not any(
        getattr(n, name, None) is func for n in _BINDINGS
    ):
        return None
    return getattr(torch.ops.aten, name, None)


def by_position(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Arguments | None:
    """The keyword arguments of a call of the torch binding or ``Tensor`` method ``func``
    given by position in its ATen schema's order (``torch.permute(x, dims=...)``,
    ``torch.bmm(input=a, mat2=b)``, ``torch.swapaxes(x, axis0=1, axis1=3)``: names a handler
    may spell otherwise); keyword-only ones stay keywords. ``None`` where no schema of that
    name takes these keywords."""
    name = getattr(func, "__name__", None)
    if not isinstance(name, str) or not kwargs:
        return None
    for schema in torch._C._jit_get_schemas_for_operator(f"aten::{name}"):
        places = [a.name for a in schema.arguments if not a.kwarg_only]
        given = {("self" if k == "input" and "self" in places else k): v for k, v in kwargs.items()}
        keywords = {a.name for a in schema.arguments if a.kwarg_only}
        if not set(given) <= set(places) | keywords:
            continue
        rest = places[len(args) :]
        filled = [given.pop(n) for n in rest[: _run(rest, given)]]
        if not set(given) <= keywords:
            continue  # one given past a default left out: not by position
        return (*args, *filled), given
    return None


def _run(names: list[str], given: dict[str, Any]) -> int:
    """How many of ``names`` from the first are all in ``given``."""
    count = 0
    while count < len(names) and names[count] in given:
        count += 1
    return count


def _by_name(schema: Any, python: Callable[..., Any], in_place: bool) -> Adapter | None:
    """An adapter passing the operation's arguments to ``python`` by their schema names
    (``inplace=True`` for an in-place operation such as ``hardswish_``), or ``None`` if
    ``python`` lacks one of them (a backend switch aside) or cannot work in place."""
    try:
        params = list(inspect.signature(python).parameters)
    except (TypeError, ValueError):
        return None
    accepted = set(params)
    if in_place and "inplace" not in accepted:
        return None
    if any(a.name == "reduction" and str(a.type) == "int" for a in schema.arguments):
        return None  # (a loss's reduction by number, where the function takes its name)
    # ``self`` in a schema is the tensor a function takes first (``input``)
    names = [
        params[0] if a.name == "self" and params else _ARGUMENTS.get(a.name, a.name)
        for a in schema.arguments
    ]
    dropped = {n for n in names if n not in accepted}
    if not dropped <= _BACKEND_SWITCHES:
        return None
    extra = {"inplace": True} if in_place else {}

    def adapt(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Arguments:
        named = dict(zip(names, args, strict=False)) | kwargs | extra
        return (), {k: v for k, v in named.items() if k not in dropped}

    return adapt


Named = dict[str, Any]
"""An operation's arguments by their schema names."""


def _by_schema(schema: Any, body: Callable[[Named], Arguments]) -> Adapter:
    """An adapter handing ``body`` the operation's arguments by their schema names."""
    names = [a.name for a in schema.arguments]

    def adapt(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Arguments:
        return body(dict(zip(names, args, strict=False)) | kwargs)

    return adapt


def _slice(named: Named) -> Arguments:
    """``aten.slice(self, dim=0, start=None, end=None, step=1)`` as ``self[..., a:b:c]``."""
    dim = int(named.get("dim", 0))
    window = slice(named.get("start"), named.get("end"), named.get("step", 1))
    if dim < 0:
        return (named["self"], (Ellipsis, window, *(slice(None),) * (-dim - 1))), {}
    return (named["self"], (*(slice(None),) * dim, window)), {}


def _einsum(named: Named) -> Arguments:
    """``aten.einsum(equation, tensors, *, path=None)`` as ``torch.einsum(equation, *tensors)``."""
    return (named["equation"], *named["tensors"]), {}


# ``upsample_<mode><rank>d``, ``_upsample_nearest_exact<rank>d``: F.interpolate's modes
# (``_upsample_bilinear2d_aa``: with ``antialias=True``)
_UPSAMPLE = re.compile(
    r"_?upsample_(nearest_exact|nearest|linear|bilinear|bicubic|trilinear)\dd(_aa)?"
)


def _upsample(mode: str, antialias: bool = False) -> Callable[[Named], Arguments]:
    """An ATen resampling operation (``upsample_bilinear2d.vec(input, output_size,
    align_corners, scale_factors)``, or with ``scales_h``/``scales_w``) as ``F.interpolate``."""

    def body(named: Named) -> Arguments:
        size = named.get("output_size")
        scales = named.get("scale_factors")
        if scales is None:
            given = [v for k, v in named.items() if k.startswith("scales")]
            scales = given if given and None not in given else None
        options: dict[str, Any] = {"mode": mode.replace("_", "-")}
        if antialias:
            options["antialias"] = True
        if "align_corners" in named:
            options["align_corners"] = named["align_corners"]
        if size is not None:
            return (named.get("input", named.get("self")),), {"size": list(size), **options}
        return (named.get("input", named.get("self")),), {"scale_factor": scales, **options}

    return body


def _index(named: Named) -> Arguments:
    """``aten.index(self, indices)`` (``None`` for an axis taken whole) as ``self[...]``."""
    items = tuple(slice(None) if i is None else i for i in named["indices"])
    return (named["self"], items), {}


_SAMPLING = ("bilinear", "nearest", "bicubic")  # grid_sampler's modes, by number
_PADDING = ("zeros", "border", "reflection")


def _grid_sampler(named: Named) -> Arguments:
    """``aten.grid_sampler(input, grid, interpolation_mode, padding_mode, align_corners)``,
    its modes numbered, as ``F.grid_sample``."""
    return (named["input"], named["grid"]), {
        "mode": _SAMPLING[named["interpolation_mode"]],
        "padding_mode": _PADDING[named["padding_mode"]],
        "align_corners": named["align_corners"],
    }


def _reversed(named: Named) -> Arguments:
    """``aten.numpy_T(self)`` (``x.T``): every axis reversed, as ``x.permute(...)``."""
    return (named["self"], *reversed(range(named["self"].ndim))), {}


def _last_two(named: Named) -> Arguments:
    """``aten.mT(self)`` (``x.mT``): the last two axes swapped, as ``x.transpose(-2, -1)``."""
    return (named["self"], -2, -1), {}


# operations whose arguments no torch function takes as they are: the function, and how
_SPECIAL: dict[str, tuple[Any, Callable[[Named], Arguments]]] = {
    "slice": (torch.Tensor.__getitem__, _slice),
    # a quantized graph's input quantized: the element type only (as ``Quantize`` makes no
    # node), the dtype as proxies carry it
    "quantize_per_tensor": (
        torch.Tensor.detach,
        lambda named: ((named["self"], stored(named.get("dtype"))), {}),
    ),
    "index": (torch.Tensor.__getitem__, _index),
    "numpy_T": (torch.Tensor.permute, _reversed),
    "mT": (torch.Tensor.transpose, _last_two),
    "mH": (torch.Tensor.transpose, _last_two),
    "grid_sampler": (F.grid_sample, _grid_sampler),
    "grid_sampler_2d": (F.grid_sample, _grid_sampler),
    "grid_sampler_3d": (F.grid_sample, _grid_sampler),
    "einsum": (torch.einsum, _einsum),
}


def _special(functions: Mapping[Any, Any], name: str, schema: Any) -> tuple[Any, Adapter] | None:
    """Operations whose arguments no torch function takes as they are."""
    if (entry := _SPECIAL.get(name)) is not None and entry[0] in functions:
        return entry[0], _by_schema(schema, entry[1])
    if (python := _FUNCTIONAL.get(name)) is not None and python in functions:
        adapter = _by_name(schema, python, in_place=False)
        return None if adapter is None else (python, adapter)
    if (found := _UPSAMPLE.fullmatch(name)) and F.interpolate in functions:
        return F.interpolate, _by_schema(schema, _upsample(found.group(1), bool(found.group(2))))
    return None


def _quantized(functions: Mapping[Any, Any], name: str, schema: Any) -> tuple[Any, Adapter] | None:
    """A quantized operation's float function (:data:`QUANTIZED`); one with a fused ReLU
    (``add_relu``, ``conv2d_relu``) is that function's node, then a ReLU node."""
    fused = name.endswith("_relu")
    entry = QUANTIZED.get(name.removesuffix("_relu"))
    if entry is None or entry[0] not in functions or "out" in str(schema.overload_name):
        return None
    function, body = entry
    if not fused:
        return function, _by_schema(schema, body)
    if torch.relu not in functions:
        return None

    def then_relu(named: Named) -> Arguments:
        args, kwargs = body(named)
        return (function(*args, **kwargs),), {}

    return torch.relu, _by_schema(schema, then_relu)


def _resolve(functions: Mapping[Any, Any], func: Any) -> tuple[Any, Adapter] | None:
    schema = _schema(func)
    if schema is not None and str(schema.name).startswith("quantized::"):
        return _quantized(functions, str(schema.name).split("::", 1)[1], schema)
    if schema is None or not str(schema.name).startswith("aten::"):
        return None
    name = str(schema.name).split("::", 1)[1]
    if (special := _special(functions, name, schema)) is not None:
        return special
    name = _NAMES.get(name, name)
    if name.endswith("_copy") and len(name) > 5:  # ``permute_copy``: the view, copied
        name = name[:-5]
    in_place = name.endswith("_") and not name.endswith("__")
    if name.startswith("linalg_") and (bound := getattr(torch.linalg, name[7:], None)) in functions:
        return bound, _as_is  # ``linalg_vector_norm``: ``torch.linalg.vector_norm``
    for space in _BINDINGS:
        bound = getattr(space, name, None)
        if bound is not None and bound in functions:
            return bound, _as_is
    method = getattr(torch.Tensor, name, None)
    if method is not None and method in functions:
        return method, _as_is
    packet = getattr(torch.ops.aten, name, None)  # (read as the operation itself: no binding)
    if packet is not None and packet in functions:
        return packet, _as_is
    python = getattr(F, name.rstrip("_") if in_place else name, None)
    if python is not None and python in functions:
        adapter = _by_name(schema, python, in_place)
        if adapter is not None:
            return python, adapter
    return None


def aten_function(functions: Mapping[Any, Any], func: Any) -> tuple[Any, Adapter] | None:
    """The torch function among ``functions`` (the tracer's table) that binds the ATen
    operation ``func``, and the adapter of its arguments; ``None`` for anything else."""
    key = (func, id(functions))
    try:
        return _FOUND[key]
    except KeyError:
        pass
    except TypeError:  # not hashable: not an ATen callable
        return None
    found = _FOUND[key] = _resolve(functions, func)
    return found
