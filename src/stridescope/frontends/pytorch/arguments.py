"""The tensors a traced forward is given: their shapes from what the user wrote, and the
positional arguments they make (a tensor each, or a list of tensors as one argument)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from stridescope.errors import StridescopeError
from stridescope.frontends.pytorch.proxy import ShapeProxy
from stridescope.frontends.spec import TypedShape
from stridescope.ir import shape_list

__all__ = [
    "arguments",
    "as_list_hint",
    "check_shape",
    "dtype_of",
    "grouped",
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
    """A hint where a forward given several tensors takes fewer arguments (one list)."""
    if len(lists) > 1 and isinstance(error, TypeError) and "positional argument" in str(error):
        return "; for a forward that takes one list of tensors, join their shapes with '+'"
    return ""


def arguments(input_shape: Sequence[Any]) -> tuple[list[tuple[int, ...]], list[int]]:
    """The shapes of the tensors the forward is given, in order, and per positional
    argument how many of them it takes as one list (0: a tensor of its own).

    >>> arguments((1, 3, 8, 8)), arguments([[(1, 3, 2, 8, 8), (1, 3, 8, 8, 8)], (1,)])
    (([(1, 3, 8, 8)], [0]), ([(1, 3, 2, 8, 8), (1, 3, 8, 8, 8), (1,)], [2, 0]))
    """
    shapes: list[tuple[int, ...]] = []
    lists = []
    for argument in shape_list(input_shape):
        parts = [p for p in argument if isinstance(p, Sequence) and not isinstance(p, str)]
        is_list = bool(argument) and len(parts) == len(argument)
        lists.append(len(parts) if is_list else 0)
        for part in parts if is_list else [argument]:
            shapes.append(check_shape(part, 1 if shapes else 2))
    return shapes, lists


def listed(lists: list[int]) -> str:
    """Which arguments are lists, for the note on several inputs."""
    said = [f"argument {i + 1} a list of {n}" for i, n in enumerate(lists) if n]
    return f" ({', '.join(said)})" if said else ""


def grouped(proxies: list[ShapeProxy], lists: list[int]) -> list[Any]:
    """The forward's positional arguments: a proxy, or a list of ``n`` of them."""
    args: list[Any] = []
    for n in lists:
        args.append(proxies[:n] if n else proxies[0])
        proxies = proxies[max(n, 1) :]
    return args


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
