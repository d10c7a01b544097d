"""The tensors a traced forward is given: their shapes from what the user wrote, and the
positional arguments they make (a tensor each, or a list of tensors as one argument)."""

from __future__ import annotations

import inspect
from collections.abc import Collection, Sequence
from typing import Any, NamedTuple, cast

import torch

from stridescope.errors import StridescopeError
from stridescope.frontends.inputs import KeywordInput
from stridescope.frontends.pytorch.batch_of_one import note as batch_note
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.spec import TypedShape
from stridescope.ir import GraphBuilder, shape_list

__all__ = [
    "Arguments",
    "arguments",
    "as_list_hint",
    "check_shape",
    "dtype_of",
    "gradient_hint",
    "graph_inputs",
    "grouped",
    "keyword_hint",
    "listed",
    "read_input",
]


def check_shape(input_shape: Sequence[int], rank: int = 2) -> tuple[int, ...]:
    """A shape of ``rank`` or more sizes (a further input may be a batch of numbers)."""
    shape = tuple(input_shape)
    if len(shape) < rank or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        raise StridescopeError(
            f"input shape must be a batch size followed by sizes, e.g. (1, 3, 224, 224); "
            f"received {input_shape!r}"
        )
    if any(d < 1 for d in shape):
        raise StridescopeError(f"input shape sizes must be positive; received {shape}")
    return input_shape if isinstance(input_shape, TypedShape) else shape


def dtype_of(shape: tuple[int, ...], default: torch.dtype) -> torch.dtype:
    """The dtype of an input: the one its shape names (``1x16:int64``), else ``default``.

    >>> dtype_of(TypedShape((1, 16), "long"), torch.float32), dtype_of((1, 3), torch.half)
    (torch.int64, torch.float16)
    """
    if isinstance(shape, TypedShape):
        named = getattr(torch, shape.dtype)
        assert isinstance(named, torch.dtype)
        return named
    return default


def as_list_hint(error: Exception, lists: list[int]) -> str:
    """A hint where a forward given several tensors takes fewer arguments (one list), or
    one given a list of tensors where it takes a tensor (``--input 1x3x32x32+``)."""
    if len(lists) > 1 and isinstance(error, TypeError) and "positional argument" in str(error):
        return "; for a forward that takes one list of tensors, join their shapes with '+'"
    if any(lists) and "'list' object" in str(error):
        return (
            "; it was given a list of tensors (a shape ending in or joined by '+'): give a "
            "shape without '+' for a tensor"
        )
    return ""


# where torch differentiates: autograd.grad and backward; torch.func's grad, jacrev, jacfwd,
# hessian, vjp, jvp (its vmap is elsewhere, in vmap.py)
_DIFFERENTIATES = ("torch/autograd/__init__.py", "torch/_functorch/eager_transforms.py")


def gradient_hint(error: Exception) -> str:
    """A hint where the forward failed inside torch's differentiation (``torch.autograd.grad``,
    ``backward``, ``torch.func.jacrev``/``grad``/``hessian``), which a trace cannot follow: it
    computes no values, so there is no graph of them to differentiate."""
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.replace("\\", "/").endswith(_DIFFERENTIATES):
            return (
                "; the forward differentiates (torch.autograd.grad or torch.func), which a trace "
                "of shapes cannot follow: summarise the network it differentiates"
            )
        tb = tb.tb_next
    return ""


class Arguments(NamedTuple):
    """The tensors a forward is given (their shapes, in order) and per argument how many of
    them it takes as one list (0: a tensor of its own) and its keyword (None: positional)."""

    shapes: list[tuple[int, ...]]
    lists: list[int]
    names: list[str | None]
    batch_of_one: bool = False  # the first tensor has no batch axis (see ``batch_of_one``)

    def keywords(self) -> list[str | None]:
        """Each tensor's keyword (a list given by keyword: each of its tensors), else None."""
        given = zip(self.lists, self.names, strict=True)
        return [name for n, name in given for _ in range(max(n, 1))]

    def node_names(self, taken: Collection[str]) -> list[str]:
        """Each tensor's input node name: its keyword (a list's: ``name_0``, ``name_1``...)
        unless a module has that path (``taken``), else ``input{i}``."""
        names: list[str] = []
        for n, name in zip(self.lists, self.names, strict=True):
            for j in range(max(n, 1)):
                own = (f"{name}_{j}" if n else name) if name else None
                names.append(own if own and own not in taken else f"input{len(names)}")
        return names

    def labels(self) -> list[str]:
        """Each tensor's shape as a note names it: ``(1, 8)``, ``attention_mask=(1, 8)``."""
        named = zip(self.keywords(), self.shapes, strict=True)
        return [f"{name}={shape}" if name else str(shape) for name, shape in named]


def arguments(input_shape: Sequence[Any]) -> Arguments:
    """The shapes of the tensors the forward is given, in order, and per argument how many
    of them it takes as one list (0: a tensor of its own) and the keyword it is given by.

    >>> arguments((1, 3, 8, 8)), arguments([[(1, 3, 2, 8, 8), (1, 3, 8, 8, 8)], (1,)])[:2]
    (Arguments(shapes=[(1, 3, 8, 8)], lists=[0], names=[None], batch_of_one=False), ([(1, 3, 2, 8, 8), (1, 3, 8, 8, 8), (1,)], [2, 0]))
    >>> arguments([(1, 8), KeywordInput("mask", (1, 8))]).labels()
    ['(1, 8)', 'mask=(1, 8)']
    """
    shapes: list[tuple[int, ...]] = []
    lists: list[int] = []
    names: list[str | None] = []
    keyword = any(isinstance(a, KeywordInput) for a in input_shape)
    for item in list(input_shape) if keyword else shape_list(input_shape):
        name, argument = (
            (item.name, item.argument) if isinstance(item, KeywordInput) else (None, item)
        )
        parts = [p for p in argument if isinstance(p, Sequence) and not isinstance(p, str)]
        is_list = bool(argument) and len(parts) == len(argument)
        lists.append(len(parts) if is_list else 0)
        names.append(name)
        for part in parts if is_list else [argument]:
            shapes.append(check_shape(cast(Sequence[int], part), 1 if shapes else 2))
    return Arguments(shapes, lists, names)


def listed(given: Arguments) -> str:
    """Which arguments are lists and which are given by keyword, for the note on several
    inputs."""
    said = [f"argument {i + 1} a list of {n}" for i, n in enumerate(given.lists) if n]
    if keywords := [name for name in given.names if name]:
        said.append(f"{', '.join(keywords)} by keyword")
    return f" ({', '.join(said)})" if said else ""


def grouped(proxies: list[ShapeProxy], given: Arguments) -> tuple[list[Any], dict[str, Any]]:
    """The forward's positional and keyword arguments: a proxy, or a list of ``n`` of them."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for n, name in zip(given.lists, given.names, strict=True):
        value = proxies[:n] if n else proxies[0]
        if name:
            kwargs[name] = value
        else:
            args.append(value)
        proxies = proxies[max(n, 1) :]
    return args, kwargs


def keyword_hint(error: Exception, module: Any) -> str:
    """Where a forward was given a keyword it does not take, the parameters it takes (none
    where it takes any keyword, ``**kwargs``: the error came from a call inside it); where
    it was given a positional input and takes its inputs by keyword only, how to name them.

    >>> import torch
    >>> class Net(torch.nn.Module):
    ...     def forward(self, *, pixels, mask=None): return pixels
    >>> keyword_hint(TypeError("Net.forward() takes 1 positional argument but 2 were given"), Net())
    '; its forward takes pixels by keyword only: give its shape as pixels=SHAPE'
    """
    text = str(error)
    if not isinstance(error, TypeError) or "argument" not in text:
        return ""
    try:
        taken = inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return ""
    if "positional argument" in text and f"{type(module).__name__}.forward()" in text:
        named = [n for n, p in taken.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
        if not named:
            return ""
        needed = [n for n in named if taken[n].default is inspect.Parameter.empty] or named
        first = f"{needed[0]}=SHAPE"
        return f"; its forward takes {', '.join(needed)} by keyword only: give its shape as {first}"
    if "keyword argument" not in text:
        return ""
    if not taken or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in taken.values()):
        return ""
    return f"; its forward takes {', '.join(taken)}"


def read_input(nodes: Sequence[Any], node: int | None) -> str | None:
    """Where the values a forward read (node ``node``) come from further inputs only, not the
    first (an attention mask or lengths given as an input: ``mask.all()``), what to do
    instead; ``None`` otherwise.

    >>> from stridescope.ir import GraphBuilder, OpKind
    >>> b = GraphBuilder((1, 8), "nchw")
    >>> mask = b.add_input((1, 8), "input1")
    >>> read = b.other(mask, "all", kind=OpKind.REDUCE, output_shape=())
    >>> read_input(b._nodes, read)[:46]
    'the values read come from input 2 only, (1, 8)'
    """
    if node is None or node >= len(nodes):
        return None
    seen, stack, inputs = set(), [node], []
    while stack:
        at = stack.pop()
        if at in seen:
            continue
        seen.add(at)
        if not nodes[at].parents and nodes[at].kind.value == "input":
            inputs.append(at)
        stack.extend(nodes[at].parents)
    starts = [n.id for n in nodes if n.kind.value == "input"]
    if not inputs or 0 in inputs:
        return None
    which = ", ".join(f"input {starts.index(i) + 1}" for i in sorted(inputs))
    shapes = ", ".join(str(nodes[i].output_shape) for i in sorted(inputs))
    return (
        f"the values read come from {which} only, {shapes}: an attention mask or lengths given "
        "as an input are read so; summarise without it, as the model runs when it is not given"
    )


def graph_inputs(
    given: Arguments, paths: Collection[str], dtype_bytes: int
) -> tuple[GraphBuilder, list[int], list[str]]:
    """The graph and the nodes of the forward's tensors (module ``paths`` are not input
    names), and the names no op may take: the further inputs' own, and the node that drops a
    batch of one's axis (``input[0]``: see :mod:`.batch_of_one`)."""
    shapes = given.shapes
    first = (1, *shapes[0]) if given.batch_of_one else shapes[0]
    builder = GraphBuilder(first, "nchw", source="torch", dtype_bytes=dtype_bytes)
    names = given.node_names(paths)
    inputs = [builder.input] + [builder.add_input(s, names[i]) for i, s in enumerate(shapes) if i]
    taken = names[1:]
    if given.batch_of_one:
        inputs[0] = builder.reshape(builder.input, _DROPPED, output_shape=shapes[0], op="getitem")
        builder.note(batch_note(shapes[0]))
        taken.append(_DROPPED)
    if len(shapes) > 1:
        builder.note(
            f"{len(shapes)} inputs{listed(given)}: input coverage and the receptive field are "
            f"measured on the first, {given.labels()[0]}"
        )
    return builder, inputs, taken


_DROPPED = "input[0]"
