"""TorchScript read op by op: a scripted or traced module's compiled graph, interpreted.

A module made by ``torch.jit.script`` or ``torch.jit.trace`` (one loaded by ``torch.jit.load``
has no Python forward at all) runs compiled code that takes real tensors only. Its graph, with
every method and function call inlined (``module.inlined_graph``), is a list of ATen
operations (``aten::conv2d``, ``aten::batch_norm``, ``aten::linear``...) and a few TorchScript
instructions (constants, attribute reads, branches, loops, lists and tuples). This module runs
that graph in Python: each ATen operation with a traced tensor among its arguments goes to the
tracer as an ATen overload (read by the handler of the torch function that binds it, as an
exported graph's are), so it is counted as the same model written in Python would be; the
operations on plain values (sizes, indices, flags) and on real tensors (a mask the forward
makes) run as they are. Nodes are named after the module they came from, which TorchScript
records on each inlined operation, as the Python model's are (``layer1.0.conv1``, ``layer1.0.add``:
:mod:`~stridescope.frontends.pytorch.compiled_names`).

Writes into the module's own tensors (a batch norm's ``num_batches_tracked += 1`` in training
mode) are not run: the model is left as it was. Parameters of a loaded module are plain
tensors, so they are marked as parameters while the graph runs and unmarked after.

A graph holding an instruction not listed here raises :class:`NotInterpretable`; the tracer
then reads the module as before, one node with its output shapes and parameters, cost unknown.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from stridescope.frontends.pytorch.compiled_names import ModuleRuns, find_module
from stridescope.frontends.pytorch.errors import TraceError
from stridescope.frontends.pytorch.meta_calls import walk_values
from stridescope.frontends.pytorch.proxy import ShapeProxy

if TYPE_CHECKING:
    from stridescope.frontends.pytorch.tracer import Tracer

__all__ = ["NotInterpretable", "interpret"]


class NotInterpretable(Exception):
    """The graph holds an instruction this interpreter does not run."""


def _append(items: list[Any], value: Any) -> list[Any]:
    items.append(value)
    return items


def _set_item(items: Any, key: Any, value: Any) -> Any:
    items[key] = value
    return items


def _min_max(pick: Callable[..., Any]) -> Callable[..., Any]:
    return lambda *a: pick(a[0]) if len(a) == 1 else pick(a)


# ATen operations on plain values (ints, floats, lists, strings), in Python
_PLAIN: dict[str, Callable[..., Any]] = {
    "len": len,
    "__getitem__": operator.getitem,
    "append": _append,
    "_set_item": _set_item,
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": operator.truediv,
    "floordiv": operator.floordiv,
    "remainder": operator.mod,
    "neg": operator.neg,
    "pow": operator.pow,
    "__and__": operator.and_,
    "__or__": operator.or_,
    "__xor__": operator.xor,
    "__not__": operator.not_,
    "__is__": operator.is_,
    "__isnot__": operator.is_not,
    "__contains__": operator.contains,
    "format": lambda text, *a: text.format(*a),
    "Int": int,
    "Float": float,
    "Bool": bool,
    "str": str,
    "list": list,
    "copy": lambda x: type(x)(x),
    "slice": lambda items, start=None, end=None, step=1: items[start:end:step],
    "abs": abs,
    "floor": math.floor,
    "ceil": math.ceil,
    "sqrt": math.sqrt,
    "min": _min_max(min),
    "max": _min_max(max),
    "warn": lambda *a: None,
    "__range_length": lambda lo, hi, step: len(range(lo, hi, step)),
    "__derive_index": lambda index, start, step: start + index * step,
    "tensor": lambda data, dtype=None, device=None, grad=False, *pinned: torch.tensor(
        data, dtype=_BY_CODE.get(dtype, dtype), device=device, requires_grad=grad
    ),
    "is_grad_enabled": torch.is_grad_enabled,
    "is_autocast_enabled": lambda *a: False,
}
_ANY = frozenset({"__is__", "__isnot__", "format", "warn"})  # in Python, on tensors too
# ATen operations that ask a tensor (a traced one too) about its layout, in Python
_ASK: dict[str, Callable[..., Any]] = {
    "size": lambda x, *d: x.size(*d) if d else list(x.shape),
    "dim": lambda x: x.dim(),
    "len": len,
    "numel": lambda x: x.numel(),
    "is_floating_point": lambda x: x.dtype.is_floating_point,
}
_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32]
_DTYPES += [torch.int16, torch.int8, torch.uint8, torch.bool, torch.complex64, torch.complex128]
_CODES: dict[torch.dtype, int] = {
    d: int(torch.ops.prim.dtype(torch.empty(0, dtype=d))) for d in _DTYPES
}
_BY_CODE: dict[int, torch.dtype] = {c: d for d, c in _CODES.items()}
_OVERLOADS: dict[str, Any] = {}


def _overload(node: Any) -> Any:
    """The ATen overload a graph node calls, from its schema."""
    schema = node.schema()
    found = _OVERLOADS.get(schema)
    if found is None:
        space, _, head = schema.split("(", 1)[0].rpartition("::")
        name, _, variant = head.partition(".")
        packet = getattr(getattr(torch.ops, space or "aten"), name, None)
        found = getattr(packet, variant or "default", None)
        if found is None:
            raise NotInterpretable(f"no ATen operation {head}")
        _OVERLOADS[schema] = found
    return found


class _Run:
    """One interpretation of a graph: its values by id, the module's own tensors."""

    def __init__(self, tracer: Tracer, base: str, root: torch.nn.Module) -> None:
        self.tracer = tracer
        self.base = base
        self.values: dict[int, Any] = {}
        self.own: set[int] = set()  # ids of tensors read from module attributes
        # a module's list or dict (a cache), as written in this run; the module keeps its own
        self.containers: dict[tuple[int, str], Any] = {}
        self.root = root
        self.paths: dict[str, tuple[str, torch.nn.Module]] = {}  # by TorchScript's record
        self.runs = ModuleRuns(tracer)

    def where(self, hierarchy: str) -> tuple[str, torch.nn.Module]:
        """The path an operation is named under, and the module it runs in."""
        found = self.paths.get(hierarchy)
        if found is None:
            path, module = find_module(hierarchy, self.root)
            found = self.paths[hierarchy] = (_join(self.base, path), module or self.root)
        return found

    def block(self, block: Any, inputs: list[Any]) -> list[Any]:
        values = self.values
        for value, given in zip(block.inputs(), inputs, strict=True):
            values[value.unique()] = given
        for node in block.nodes():
            outs = list(node.outputs())
            result = self.node(node, [values[v.unique()] for v in node.inputs()])
            if not outs:
                continue
            if len(outs) == 1:
                values[outs[0].unique()] = result
            else:
                for value, given in zip(outs, result, strict=True):
                    values[value.unique()] = given
        return [values[v.unique()] for v in block.outputs()]

    def node(self, node: Any, ins: list[Any]) -> Any:
        kind = node.kind()
        space, _, name = kind.partition("::")
        if space == "prim":
            return self.prim(node, name, ins)
        if space not in ("aten", "quantized"):  # (a quantized model's layers: quantized_ops)
            raise NotInterpretable(kind)
        tensor = (torch.Tensor, ShapeProxy)
        if name in _ASK and ins and isinstance(ins[0], tensor):
            return _ASK[name](*ins)
        if name in _PLAIN and (
            name in _ANY
            or (ins and isinstance(ins[0], (list, tuple, dict)))  # ``append``, ``__getitem__``
            or not any(isinstance(v, tensor) for v in ins)
        ):
            return _PLAIN[name](*ins)
        return self.aten(node, ins, [v for v in walk_values(ins) if isinstance(v, tensor)])

    def aten(self, node: Any, ins: list[Any], tensors: list[Any]) -> Any:
        overload = _overload(node)
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for spec, value in zip(overload._schema.arguments, ins, strict=False):
            if spec.name == "dtype" and type(value) is int:
                value = _BY_CODE.get(value, value)
            if spec.kwarg_only:
                kwargs[spec.name] = value
            else:
                args.append(value)
        if any(type(v) is ShapeProxy for v in tensors):
            tracer = self.tracer
            path, tracer.owners[-1] = self.where(node.getModuleHierarchy())
            self.runs.enter(path, path, tracer.owners[-1])
            return tracer.call_function(overload, tuple(args), kwargs)
        first = overload._schema.arguments[:1]
        written = first and first[0].alias_info is not None and first[0].alias_info.is_write
        if written and args and id(args[0]) in self.own:  # the module's state: left as it is
            return args[0]
        out = overload(*args, **kwargs)
        if isinstance(out, torch.Tensor) and out.grad_fn is None:  # computed on frozen
            # parameters alone (a position table): they count where it is used, as autograd
            # tells of trainable ones (and of the products made of them)
            derived = self.tracer.derived
            sources = [
                p
                for v in tensors
                for p in ([v] if isinstance(v, nn.Parameter) else derived.get(id(v), (0, []))[1])
            ]
            if sources:
                derived[id(out)] = (out, sources)
        return out

    def prim(self, node: Any, name: str, ins: list[Any]) -> Any:
        if name == "Constant":
            return node.output().toIValue()
        if name == "GetAttr":
            value = getattr(ins[0], node.s("name"))
            if isinstance(value, torch.Tensor):
                self.own.add(id(value))
            elif isinstance(value, (dict, list, torch.ScriptObject)):  # a copy (a new wrapper
                # of a layer's packed weights) per read: one per run, written, counted once
                value = self.containers.setdefault((id(ins[0]), node.s("name")), value)
            return value
        if name == "If":
            blocks = list(node.blocks())
            if not isinstance(ins[0], bool):
                raise TraceError("the TorchScript forward branches on tensor values")
            out = self.block(blocks[0] if ins[0] else blocks[1], [])
            return out[0] if len(out) == 1 else out
        if name == "Loop":
            return self.loop(node, ins)
        if name == "isinstance":
            return any(_is(ins[0], t.kind()) for t in node.tys("types"))
        if name in _PRIM:
            return _PRIM[name](*ins)
        if name == "RaiseException":
            raise TraceError(f"the TorchScript forward raised {ins[0] if ins else 'an error'}")
        if name in ("ListUnpack", "TupleUnpack"):
            items = list(ins[0])
            return items[0] if len(items) == 1 else items  # (one output: the item itself)
        raise NotInterpretable(f"prim::{name}")

    def loop(self, node: Any, ins: list[Any]) -> Any:
        trips, going, *carried = ins
        body = next(iter(node.blocks()))
        done = 0
        while going and done < trips:
            going, *carried = self.block(body, [done, *carried])
            done += 1
        return carried[0] if len(carried) == 1 else carried


# TorchScript's type kinds, as Python classes (a traced tensor is a tensor)
_KINDS: dict[str, Any] = {
    "TensorType": (torch.Tensor, ShapeProxy),
    "ListType": list,
    "AnyListType": list,
    "TupleType": tuple,
    "AnyTupleType": tuple,
    "DictType": dict,
    "IntType": int,
    "FloatType": float,
    "BoolType": bool,
    "StringType": str,
    "NoneType": type(None),
}


def _is(value: Any, kind: str) -> bool:
    """``isinstance`` against a TorchScript type kind (its element types are not checked)."""
    if kind not in _KINDS:
        raise NotInterpretable(f"isinstance of {kind}")
    return isinstance(value, _KINDS[kind])


def _join(base: str, path: str) -> str:
    return f"{base}.{path}" if base and path else base or path


def _dtype_code(x: Any) -> int:
    return _CODES.get(x.dtype, 6)


_PRIM: dict[str, Callable[..., Any]] = {
    "ListConstruct": lambda *a: list(a),
    "TupleConstruct": lambda *a: tuple(a),
    "DictConstruct": lambda *a: dict(zip(a[::2], a[1::2], strict=True)),
    "TupleIndex": operator.getitem,
    "unchecked_cast": lambda x: x,
    "Uninitialized": lambda: None,
    "NumToTensor": lambda x: x if isinstance(x, ShapeProxy) else torch.tensor(x),
    "dtype": _dtype_code,
    "device": lambda x: x.device,
    "type": lambda device: device.type,
    "is_nested": lambda x: False if isinstance(x, ShapeProxy) else x.is_nested,
    "requires_grad": lambda x: False if isinstance(x, ShapeProxy) else x.requires_grad,
    "data": lambda x: x,
    "min": _min_max(min),
    "max": _min_max(max),
    "abs": abs,
}


def _with_defaults(module: torch.nn.Module, args: tuple[Any, ...], kwargs: Any) -> list[Any]:
    """Every argument of the compiled forward: those given, by position or name, and the
    defaults of the rest (``forward(x, attn_mask=None)``)."""
    given = list(args)
    for spec in module.forward.schema.arguments[1 + len(args) :]:  # type: ignore[attr-defined]
        if spec.name in kwargs:
            given.append(kwargs[spec.name])
        elif spec.has_default_value():
            given.append(spec.default_value)
        else:
            raise TraceError(f"the TorchScript forward takes {spec.name!r}, which was not given")
    return given


@contextmanager
def _marked(module: torch.nn.Module) -> Iterator[None]:
    """The module's parameters (plain tensors in a loaded module) pass for ``nn.Parameter``
    while the graph runs (``_is_param``, what ``isinstance`` reads on a plain tensor)."""
    plain = [p for p in module.parameters() if type(p) is torch.Tensor]
    for p in plain:
        p._is_param = True
    try:
        yield
    finally:
        for p in plain:
            del p._is_param


def interpret(
    tracer: Tracer, module: torch.nn.Module, path: str, args: tuple[Any, ...], kwargs: Any
) -> Any:
    """Run ``module``'s compiled forward graph on ``args`` (see the module docstring)."""
    graph = module.inlined_graph
    given = _with_defaults(module, args, kwargs)
    run = _Run(tracer, path, module)
    tracer.scope.append(path)
    tracer.owners.append(module)
    try:
        with _marked(module):
            out = run.block(graph, [module, *given])
        run.runs.close()
    finally:
        tracer.scope.pop()
        tracer.owners.pop()
    return out[0] if len(out) == 1 else tuple(out)
