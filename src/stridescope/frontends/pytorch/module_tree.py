"""The model's module tree as a trace reads it, once per trace: modules in ``named_modules()``
order with their paths, the ids of its parameters, the classes that repeat; and what is read
from it before and after a trace (the model's device and dtype, quantized layers, parameters
no traced op used)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import torch
from torch import nn

from stridescope.frontends.pytorch.module_table import MODULES
from stridescope.ir import GraphBuilder

__all__ = [
    "ModuleTree",
    "first_names",
    "model_dtype",
    "module_tree",
    "note_outside",
    "note_unused",
    "quantized_note",
    "tensor_device",
]


@dataclass
class ModuleTree:
    """One walk of the model: ``named_modules()`` as a list (each module once, at its first
    path, in the same pre-order), the paths by module id, the ids of all its parameters."""

    modules: list[tuple[str, nn.Module]]
    paths: dict[int, str]
    params: set[int]
    repeated: frozenset[type]  # classes of more than one module
    # the parameters themselves, kept alive for the trace: a module loaded by torch.jit.load
    # makes a new Python object for a parameter when none is alive, so ids would not hold
    kept: list[Any]
    buffers: list[Any]  # every module's buffers (``None`` among them), in module order


def module_tree(root: nn.Module) -> ModuleTree:
    """The :class:`ModuleTree` of ``root``, without a generator per module."""
    tree: list[tuple[str, nn.Module]] = [("", root)]
    paths: dict[int, str] = {id(root): ""}
    # depth first, each module before its children, in their order (a loop over a stack of
    # children iterators: a nested function calling itself would be a reference cycle)
    stack = [("", iter(root._modules.items()))]
    while stack:
        dot, children = stack[-1]
        for name, child in children:
            if child is None or id(child) in paths:
                continue
            path = paths[id(child)] = dot + name
            tree.append((path, child))
            if child._modules:
                stack.append((f"{path}.", iter(child._modules.items())))
                break
        else:
            stack.pop()
    modules = [m for _, m in tree]
    # (a leaf whose forward is traced is a block too: every class counts)
    repeated = frozenset(c for c, n in Counter(map(type, modules)).items() if n > 1)
    params = list(chain.from_iterable(m._parameters.values() for m in modules))
    buffers = list(chain.from_iterable(m._buffers.values() for m in modules))
    ids = set(map(id, params))
    ids.discard(id(None))
    return ModuleTree(tree, paths, ids, repeated, params, buffers)


def tensor_device(tree: ModuleTree, default: torch.device) -> torch.device:
    """Where the model's tensors are: its first parameter's device, else its first buffer's
    (read from the module tree, without walking the model twice more)."""
    for slot in ("_parameters", "_buffers"):
        for _, m in tree.modules:
            for t in getattr(m, slot).values():
                if t is not None:
                    return t.device  # type: ignore[no-any-return]
    return default


def model_dtype(tree: ModuleTree) -> torch.dtype:
    """The model's first floating-point parameter's dtype, else float32."""
    for _, m in tree.modules:
        for p in m._parameters.values():
            if p is not None and p.is_floating_point():
                return p.dtype
    return torch.float32


# where torch keeps quantized layers (made by torch.ao.quantization's convert, quantize_dynamic)
_QUANTIZED = ("torch.ao.nn.quantized", "torch.ao.nn.intrinsic.quantized", "torch.nn.quantized")


def quantized_note(tree: ModuleTree) -> str:
    """What to say of a model holding quantized layers the module table has no handler for
    (their operators have no shape function for meta tensors), or ``""`` for a model without
    any."""
    found = [
        (p, type(m).__name__)
        for p, m in tree.modules
        if type(m).__module__.startswith(_QUANTIZED)
        and type(m).forward not in MODULES
        and not type(m).__name__.endswith("PackedParams")  # (a layer's weights, held apart)
        and not hasattr(m, "activation_post_process")  # QFunctional: its operations are read
    ]
    if not found:
        return ""
    named = ", ".join(f"{p or 'the model'} ({c})" for p, c in found[:3])
    return (
        f"it holds {len(found)} quantized layer{'s' if len(found) > 1 else ''} ({named}"
        f"{', ...' if len(found) > 3 else ''}), which stridescope does not read; summarise the "
        "float model, before torch.ao.quantization's convert or quantize_dynamic"
    )


def note_unused(builder: GraphBuilder, tree: ModuleTree, counted: dict[int, None]) -> None:
    """Parameters no traced op used are reported in a graph note, never dropped silently
    (named as ``named_parameters()`` names them: first path, each parameter once)."""
    left = tree.params - counted.keys()
    if not left:
        return
    unused: dict[int, tuple[str, int]] = {}
    for path, module in tree.modules:
        for name, p in module._parameters.items():
            if p is not None and id(p) in left and id(p) not in unused:
                unused[id(p)] = (f"{path}.{name}" if path else name, p.numel())
    if unused:
        total = sum(n for _, n in unused.values())
        builder.note(
            f"{total:,} parameters were not used by any traced op and are not in the node "
            f"totals: {first_names([name for name, _ in unused.values()])}"
        )


def note_outside(builder: GraphBuilder, outside: Mapping[int, tuple[str, Any]]) -> None:
    """Modules the forward called that are not sub-modules of the model (kept in a plain
    list, dict or other object, or made in the forward), whose parameters the trace counts,
    are named in a note: ``model.parameters()`` does not list them, so ``.to()``,
    ``state_dict()`` and an optimizer miss them (a slip, or a teacher hidden on purpose)."""
    found = [
        (path, n)
        for path, m in outside.values()
        if (n := sum(p.numel() for p in m._parameters.values() if p is not None))
    ]
    if not found:
        return
    names = first_names(list(dict.fromkeys(path for path, _ in found)))
    builder.note(
        f"{sum(n for _, n in found):,} parameters counted are of {len(found)} module"
        f"{'s' if len(found) > 1 else ''} that are not sub-modules of the model ({names}): "
        "kept in a plain list, dict or other object, or made in the forward, they are not in "
        "model.parameters(), so .to(), state_dict() and an optimizer miss them"
    )


def first_names(names: Sequence[str], shown: int = 5) -> str:
    """The first ``shown`` of ``names``, and how many more, as a note lists them.

    >>> first_names(["a", "b"]), first_names(list("abcdefg"))
    ('a, b', 'a, b, c, d, e and 2 more')
    """
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more
