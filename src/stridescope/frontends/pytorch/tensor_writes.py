"""Tensors of the model that a traced forward writes into in place get their values back.

A forward may write into its own buffers and parameters: a step counter
(``self.num_batches_tracked.add_(1)`` in timm's ``BatchNormAct2d`` in training mode,
``self.steps += 1``), a running average (``self.ema.mul_(0.9)``), a slot
(``self.table[0] = v``), a clipped weight (``self.conv.weight.data.clamp_(-c, c)``), a result
written ``out=self.u``. Those tensors are real, so the write really happens while the model
is traced; a summary must leave the model as it was.

:func:`in_place_targets` reads, once per class, which attributes its ``forward`` (and the
methods of ``self`` it calls; torch's own classes excepted) writes into that way: an attribute
path from ``self`` followed by a method whose name ends in ``_`` (torch's in-place
convention), or on the line of an item assignment, of an in-place operator stored back to that
attribute, or of a call with ``out=``. Before such a module's forward runs, :func:`keep_tensors` copies the
real tensors at those paths (once per trace); :func:`put_back_tensors` writes the copies back
when the trace ends. A module whose class writes nothing in place costs one dict lookup.

>>> import torch
>>> from torch import nn
>>> class Counts(nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.register_buffer("steps", torch.zeros((), dtype=torch.long))
...     def forward(self, x):
...         self.steps.add_(1)
...         return x
>>> in_place_targets(Counts)
(('steps',),)
>>> m, saved = Counts(), {}
>>> keep_tensors(saved, m, in_place_targets(Counts)); _ = m(1); int(m.steps)
1
>>> put_back_tensors(saved); int(m.steps)
0
"""

from __future__ import annotations

import dis
import types
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from stridescope.frontends.pytorch.state_writes import functions_of
from stridescope.frontends.pytorch.versions import version

__all__ = [
    "IN_PLACE",
    "Saved",
    "hook_writes",
    "in_place_targets",
    "keep_tensor",
    "keep_tensors",
    "put_back_tensors",
]

# per tensor id: the tensor, its version counter, a copy of its values before the trace (a
# number for a scalar on the CPU), and whether it is written through ``.data`` (which has a
# version counter of its own)
Saved = dict[int, tuple[Tensor, int, Tensor | float | int | bool, bool]]
Path = tuple[str, ...]

IN_PLACE: dict[type, tuple[Path, ...]] = {}  # per class: :func:`in_place_targets`
_LOADS_SELF = ("LOAD_FAST", "LOAD_DEREF", "LOAD_CLOSURE")  # (prefixes: LOAD_FAST_LOAD_FAST)
_ATTRIBUTE = frozenset({"LOAD_ATTR", "LOAD_METHOD"})
_COPIES = frozenset({"COPY", "DUP_TOP"})


def _in_place_name(name: str) -> bool:
    """Whether a method name is torch's in-place spelling (``add_``, ``copy_``), not a
    private or special name."""
    return len(name) > 1 and name[-1] == "_" and name[0] != "_"


def _out_keyword(ins: dis.Instruction, code: types.CodeType) -> bool:
    """Whether ``ins`` names the keyword ``out`` of a call (``torch.add(a, b, out=t)``):
    ``KW_NAMES`` before Python 3.13, a constant tuple of names from it."""
    if ins.opname == "KW_NAMES":
        return "out" in code.co_consts[ins.arg or 0]
    return ins.opname == "LOAD_CONST" and type(ins.argval) is tuple and "out" in ins.argval


def _targets(code: types.CodeType, found: set[Path], read: set[str], me: str) -> None:
    """Add to ``found`` the attribute paths from ``self`` that ``code`` (and the functions
    nested in it) writes into in place, and to ``read`` the attributes of ``self`` it reads
    (the methods it calls among them); ``me`` is the name ``self`` has there.

    Within a line, the stack is followed (:func:`dis.stack_effect`) so that an item
    assignment's target is the path whose value (or a view, an item of it) is the container
    there: ``self.cache[key] = self.table[:, self.index]`` writes ``cache`` alone."""
    line: list[Path] = []  # the paths read on the current line
    stored: set[str] = set()  # attributes assigned on it
    inplace_op = False
    owner: dict[int, Path | None] = {}  # per stack slot: the path its value comes from
    depth = 0
    chain: list[str] | None = None
    slot = 0  # the stack slot of ``chain``
    for ins in dis.get_instructions(code):
        if ins.starts_line not in (None, False):  # (a line number; from Python 3.13 a flag)
            if inplace_op:  # ``self.a += b``: the path stored back to its attribute
                found.update(p for p in line if p[-1] in stored)
            line, stored, inplace_op, owner, depth = [], set(), False, {}, 0
        op = ins.opname
        if chain is not None and (op in _ATTRIBUTE or (not chain and op in _COPIES)):
            if op in _ATTRIBUTE:
                if _in_place_name(name := str(ins.argval)) and chain:
                    found.add(tuple(chain))
                chain.append(name)
            else:  # ``self.a += b`` reads ``self`` twice
                slot += 1
            depth += dis.stack_effect(ins.opcode, ins.arg, jump=False)
            continue
        if chain:
            owner[slot] = path = tuple(chain)
            line.append(path)
            read.add(chain[0])
        chain = None
        if op.startswith(_LOADS_SELF):  # (``LOAD_FAST_LOAD_FAST`` loads two: ``self`` on top)
            names = ins.argval if isinstance(ins.argval, tuple) else (ins.argval,)
            if names and names[-1] == me:
                chain, slot = [], depth + len(names) - 1
        if op == "STORE_SUBSCR":
            if (target := owner.get(depth - 2)) is not None:
                found.add(target)
        elif op == "BINARY_OP" and ins.argrepr.endswith("="):
            inplace_op = True
        elif op == "STORE_ATTR":
            stored.add(str(ins.argval))
        elif _out_keyword(ins, code):  # ``torch.add(a, b, out=self.total)``: a path on its line
            found.update(line)
        elif op == "SWAP" and ins.arg:
            top, other = owner.get(depth - 1), owner.get(depth - ins.arg)
            owner[depth - 1], owner[depth - ins.arg] = other, top
        elif op in _COPIES:
            owner[depth] = owner.get(depth - (ins.arg or 1))
        elif op.startswith("LOAD_"):  # a new value on top
            owner[depth] = None
        depth += dis.stack_effect(ins.opcode, ins.arg, jump=False)
    if inplace_op:
        found.update(p for p in line if p[-1] in stored)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _targets(const, found, read, me)


def _methods(cls: type, name: str, torch_too: bool) -> list[types.FunctionType]:
    """The plain functions behind the attribute ``name`` of ``cls``, unless ``object`` (or,
    without ``torch_too``, one of torch's own classes) defines it."""
    for c in cls.__mro__:
        if name in vars(c):
            if c is object or (not torch_too and c.__module__.startswith("torch.")):
                return []
            return functions_of(vars(c)[name])
    return []


def _walk(
    cls: type, first: str, torch_too: bool, read: Callable[[types.CodeType], set[str]]
) -> None:
    """``read`` each function reachable from the method ``first`` of ``cls`` through the
    methods of ``self`` it calls (``read`` gives the attribute names a function reads)."""
    seen = {first}
    todo = _methods(cls, first, torch_too)
    while todo:
        for name in read(todo.pop().__code__) - seen:
            seen.add(name)
            todo += _methods(cls, name, torch_too)


def in_place_targets(cls: type) -> tuple[Path, ...]:
    """The attribute paths from ``self`` that ``cls.forward``, and the methods it calls on
    ``self`` (torch's own classes excepted), may write into in place (remembered per class:
    a method the forward never calls, such as weight initialisation, does not count)."""
    targets = IN_PLACE.get(cls)
    if targets is None:
        found: set[Path] = set()

        def read(code: types.CodeType) -> set[str]:
            names: set[str] = set()
            _targets(code, found, names, code.co_varnames[0] if code.co_argcount else "self")
            return names

        _walk(cls, "forward", False, read)
        targets = IN_PLACE[cls] = tuple(sorted(found))
    return targets


_HOOKS: dict[Any, bool] = {}  # per hook function's code or hook class: :func:`hook_writes`


def _writes_somewhere(code: types.CodeType) -> bool:
    """Whether ``code`` (or a function nested in it) may write a tensor in place, whatever it
    writes into: a method named as torch's in-place ones, an item assignment, ``out=``."""
    for ins in dis.get_instructions(code):
        op = ins.opname
        if op == "STORE_SUBSCR" or (op in _ATTRIBUTE and _in_place_name(str(ins.argval))):
            return True
        if _out_keyword(ins, code):
            return True
    return any(isinstance(c, types.CodeType) and _writes_somewhere(c) for c in code.co_consts)


def hook_writes(hook: Any) -> bool:
    """Whether a forward pre-hook may write a tensor in place (remembered per function or
    class): old-style spectral norm's power iteration writes its ``u`` and ``v`` buffers
    ``out=``. A hook object is read through its ``__call__`` and the methods of ``self``
    it calls, torch's own too; anything else (a builtin) counts as writing."""
    key = getattr(hook, "__code__", None) or type(hook)
    found = _HOOKS.get(key)
    if found is None:
        if isinstance(hook, types.FunctionType | types.MethodType):
            found = _writes_somewhere(hook.__code__)
        elif not _methods(type(hook), "__call__", True):
            found = True
        else:
            writes: list[bool] = []

            def read(code: types.CodeType) -> set[str]:
                writes.append(_writes_somewhere(code))
                ins = dis.get_instructions(code)
                return {str(i.argval) for i in ins if i.opname in _ATTRIBUTE}

            _walk(type(hook), "__call__", True, read)
            found = any(writes)
        if len(_HOOKS) >= 4096:
            _HOOKS.clear()
        found = _HOOKS[key] = found
    return found


def _tensor_at(module: nn.Module, path: Path) -> Tensor | None:
    """The real tensor at an attribute path from ``module`` (the first tensor on it:
    ``conv.weight.data`` is ``conv.weight``), looked up in modules' ``_buffers``,
    ``_parameters``, ``_modules`` and ``__dict__`` only (no property runs), else ``None``."""
    value: Any = module
    for name in path:
        if not isinstance(value, nn.Module):
            return None
        own = value.__dict__
        found = own["_buffers"].get(name)
        if found is None:
            found = own["_parameters"].get(name)
            if found is None:
                found = own["_modules"].get(name, own.get(name))
                if found is None:
                    return None
        value = found
        if isinstance(value, Tensor):
            return None if value.is_meta else value
    return None


def keep_tensors(saved: Saved, module: nn.Module, targets: tuple[Path, ...]) -> None:
    """Copy the real tensors at ``targets`` from ``module``, each once per trace."""
    for path in targets:
        tensor = _tensor_at(module, path)
        if tensor is not None:
            keep_tensor(saved, tensor, "data" in path)


def keep_tensor(saved: Saved, tensor: Tensor, through_data: bool = False) -> None:
    """Copy the real ``tensor`` (about to be written in place), once per trace."""
    if id(tensor) not in saved:
        copy = (  # a counter's value as a number: 10x cheaper than a tensor's copy
            tensor.item() if tensor.dim() == 0 and tensor.is_cpu else tensor.detach().clone()
        )
        saved[id(tensor)] = (tensor, version(tensor), copy, through_data)


def put_back_tensors(saved: Saved) -> None:
    """Write the kept copies back into the tensors written since (through ``.data``: no
    autograd version is bumped), then forget them."""
    with torch.no_grad():
        for tensor, was, copy, through_data in saved.values():
            if through_data or version(tensor) != was:
                if isinstance(copy, Tensor):
                    tensor.data.copy_(copy)
                else:
                    tensor.data.fill_(copy)
    saved.clear()
