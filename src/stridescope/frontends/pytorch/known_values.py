"""What a trace knows about values: that they are finite, and what it assumes of ids and masks.

A trace follows shapes, not values, so a forward that branches on a traced tensor's values
is refused in one line. One kind of branch asks only whether values are finite: a numerical
guard, as Hugging Face's DETR, Conditional DETR, RT-DETR, D-FINE and Mask2Former encoder
layers run in training mode (``if torch.isinf(x).any() or torch.isnan(x).any(): x =
x.clamp(...)``). A trace assumes finite values, as a healthy network has: ``isinf``,
``isnan``, ``isposinf`` and ``isneginf`` are false everywhere and ``isfinite`` true; ``any``
and ``all`` of such a mask, its ``~`` / ``logical_not``, and ``|`` / ``&`` / ``logical_or`` /
``logical_and`` of known masks are known too, and ``bool()`` / ``.item()`` of a known
one-element result answer with it (``ShapeProxy.__bool__``), so the forward takes the finite branch (the ops stay in
the graph, with their 0 MACs). Likewise a ``torch.distributions`` object's check that its
parameters and samples are in its support (``torch._is_all_true(constraint.check(scale))``,
made as it is built: a VAE's ``Normal(mu, std).rsample()``) holds, as it does in a healthy
network. ``value in x`` of a traced tensor is taken as false (:func:`membership`: the
forward goes on as for data without that value, and a note says so), and so is a traced
integer tensor (token ids) equal to a number anywhere: ``ids.eq(pad).any()`` is false and
``(ids != pad).all()`` true, as for data without padding or that special id; where such an
answer is read, a note says so (:class:`KnownValues`). A mask given as an input is taken as
all ones where it is read (:mod:`.mask_inputs`). What the forward computes from a known value
before it reads it (``(ids != pad).sum(1).max()``) is known too (:mod:`.value_rules`). Any
other value read is still refused.

:func:`with_known_values` wraps those functions' handlers in the function table; the values
are kept per trace by node (``Tracer.known``), each set by :func:`remember`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import torch

from stridescope.frontends.pytorch.proxy import ShapeProxy, integral
from stridescope.frontends.pytorch.value_rules import Value, known_of, node_of, valued

if TYPE_CHECKING:
    from stridescope.frontends.pytorch.handler_specs import FunctionSpec

__all__ = ["KnownValues", "membership", "remember", "with_known_values"]

_NEVER = "isinf isnan isposinf isneginf"  # false at every finite value
_ALWAYS = "isfinite"  # true at every finite value


_ASSUMED = (
    "a traced integer tensor (token ids) compared with a number is taken as never equal to "
    "it, as for data without padding or that special id, where the forward reads the answer"
)


class KnownValues(dict[int, Value]):
    """Per node, every element's value where the trace knows it; ``assumed``: the nodes whose
    value rests on an assumption (ids unequal to a number, a mask given as an input that
    keeps every position), with the note the graph gets when one is read; ``reads``: the
    nodes whose value the forward read (its Python used them: not discarded work)."""

    def __init__(self, builder: Any) -> None:
        super().__init__()
        self.builder = builder
        self.assumed: dict[int, str] = {}
        self.reads: set[int] = set()
        self.measured: set[int] = set()  # the inputs of measured (floating) values: see ids

    def ids(self, node: int) -> bool:
        """Whether the integer tensor at ``node`` may be ids (given as an input, or made
        without one): not computed from an input of measured values (a box's pyramid level
        from its size, a class from an ``argmax``), whose equality with a number the trace
        does not assume (a selection by it is then taken at its largest)."""
        nodes, seen, stack = self.builder._nodes, set(), [node]
        while stack:
            at = stack.pop()
            if at in self.measured:
                return False
            if at not in seen:
                seen.add(at)
                stack.extend(nodes[at].parents)
        return True

    def read(self, node: int) -> Value | None:
        """The value the forward reads (``bool()``, ``.item()``), noting an assumed one."""
        value = self.get(node)
        if value is not None:
            self.reads.add(node)
        note = self.assumed.get(node) if value is not None else None
        if note is not None and note not in self.builder._notes:
            self.builder.note(note)
        return value

    def derive(self, out: int, value: Value, sources: Iterable[Any]) -> None:
        """``out``'s value, resting on the assumptions of the ``sources`` it came from."""
        self[out] = value
        for source in sources:
            node = node_of(source)
            if node is not None and (note := self.assumed.get(node)) is not None:
                self.assumed[out] = note
                return


def remember(
    t: Any, node: int, value: Value, sources: Iterable[Any] = (), note: str | None = None
) -> None:
    """Record that every element of ``node`` holds ``value``, resting on the assumptions of
    the ``sources`` it came from, or on ``note``'s; the trace goes on with handlers that carry
    known values through the calls made of them (:func:`.value_rules.valued`)."""
    t.known.derive(node, value, sources)
    if note is not None:
        t.known.assumed[node] = note
    t.functions = valued(t.functions)


def _rule(name: str) -> Callable[[list[Value | None], Any], Value | None] | None:
    """How the known value of a function's result follows from its operands' (``None``:
    unknown), given its output; ``None`` for a function without a rule."""
    if name in _NEVER.split():
        return lambda known, out: False
    if name in _ALWAYS.split() or name == "_is_all_true":  # (and a distribution's own check)
        return lambda known, out: True
    if name in ("any", "all"):  # (of a known mask; an empty one is refused before)
        return lambda known, out: None if known[0] is None else bool(known[0])
    if name in ("logical_not", "__invert__", "bitwise_not"):  # (of a mask: ~ of an int is not)
        return lambda known, out: not known[0] if isinstance(known[0], bool) else None
    if name in ("logical_or", "__or__", "__ror__", "bitwise_or"):
        return lambda known, out: _either(known, True)
    if name in ("logical_and", "__and__", "__rand__", "bitwise_and"):
        return lambda known, out: _either(known, False)
    return None


def _either(known: list[Value | None], decides: bool) -> bool | None:
    """``|`` (``decides`` True) or ``&`` (False) of two known-or-not values."""
    found = [None if v is None else bool(v) for v in known]
    if decides in found:
        return decides
    return None if None in found else not decides


def _wrap(spec: FunctionSpec, rule: Callable[[list[Value | None], Any], Value | None]) -> Any:
    handler = spec.handler

    def known_handler(t: Any, name: str, op: str, *args: Any, **kwargs: Any) -> Any:
        out = handler(t, name, op, *args, **kwargs)
        if type(out) is ShapeProxy and out.dtype is torch.bool:
            value = rule([known_of(t, a) for a in args[:2]], out)
            if value is not None:  # (resting on its operands' assumptions: noted where read)
                remember(t, out.node, value, args[:2])
        return out

    return known_handler


def _compared(equal: bool, spec: FunctionSpec) -> Any:
    """``eq`` (``equal``) or ``ne``: of a traced integer tensor and a number (``ids == pad``),
    known unequal everywhere, an assumption (:class:`KnownValues`); of operands whose values
    are known, their comparison."""
    handler = spec.handler

    def known_handler(t: Any, name: str, op: str, *args: Any, **kwargs: Any) -> Any:
        out = handler(t, name, op, *args, **kwargs)
        if type(out) is not ShapeProxy or len(args) != 2:
            return out
        first, other = known_of(t, args[0]), known_of(t, args[1])
        if first is not None and other is not None:
            remember(t, out.node, (first == other) is equal, args)
        elif _ids_and_number(args) and t.known.ids(out.node):
            remember(t, out.node, not equal, note=_ASSUMED)
        return out

    return known_handler


def _ids_and_number(args: tuple[Any, ...]) -> bool:
    """Whether ``args`` (two) are a traced integer tensor and a Python int, in either order."""
    ids = [a for a in args if type(a) is ShapeProxy]
    number = [a for a in args if type(a) is int]
    return len(ids) == 1 and len(number) == 1 and integral(ids[0].dtype)


def with_known_values(table: dict[Any, FunctionSpec]) -> None:
    """Wrap the handlers of the functions with a rule above (every spelling the table
    holds: ``torch.isinf``, ``Tensor.isinf``...), in place."""
    for func, spec in list(table.items()):
        name = getattr(func, "__name__", "")
        rule = _rule(name)
        if rule is not None and not spec.inplace:
            table[func] = replace(spec, handler=_wrap(spec, rule))
        elif name.strip("_") in ("eq", "ne") and not spec.inplace:
            table[func] = replace(spec, handler=_compared(name.strip("_") == "eq", spec))


def membership(t: Any, name: str, op: str, x: Any, element: Any) -> bool:
    """``element in x`` on a traced tensor (torch reads ``(element == x).any()`` as a bool):
    its values are not known, so the value is taken as absent and the forward goes on as for
    data without it (Hugging Face checks for a padding id at the ends of the ids, to warn of a
    missing attention mask), and a note says so (no node: nothing reads the answer's values)."""
    what = "a tensor" if isinstance(element, torch.Tensor | ShapeProxy) else repr(element)
    note = (
        f"`{what} in` a traced tensor, whose values are not known, is taken as False: the "
        "forward went on as for data without that value"
    )
    if note not in t.builder._notes:
        t.builder.note(note)
    return False
