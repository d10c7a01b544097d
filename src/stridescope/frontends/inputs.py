"""What a model is given, as the user wrote it: one input shape, several (a forward of several
inputs), a list of shapes as one argument (``forward([slow, fast])``), and inputs by keyword
(``attention_mask=1x16:int64``: the forward's parameter of that name takes it).

The forms, in the Python API and on the command line (``--input``, repeated):

- ``"1x3x32x32"`` or ``(1, 3, 32, 32)``: one tensor;
- a list of those: positional arguments in order (after the first, a batch of numbers such as
  diffusion timesteps, ``(1,)``, is a shape too);
- ``"1x3x8x8+1x3x32x32"``, or a list of shapes inside the list: one argument, a list of
  tensors;
- ``"name=SHAPE"`` as an item, or a mapping ``{"name": SHAPE}``: a keyword argument. Keyword
  arguments follow the positional ones, as in a Python call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stridescope.errors import StridescopeError
from stridescope.frontends.spec import TypedShape, parse_shape
from stridescope.ir import Shape

__all__ = ["Argument", "Inputs", "KeywordInput", "in_order", "parse_arguments", "pytorch_only"]

# what the forward is given: a tensor's shape, or a list of tensors' shapes (one argument)
Argument = tuple[int, ...] | list[tuple[int, ...]]
# what a user may write for a model's inputs (every form above; None: the model's own)
Inputs = Shape | str | Sequence[Shape | str] | Mapping[str, Shape | str] | None


@dataclass(frozen=True)
class KeywordInput:
    """An argument given to the forward by keyword: ``attention_mask=1x16:int64``.

    >>> parse_arguments(["1x16:int64", "attention_mask=1x16:int64"])[1]
    KeywordInput(name='attention_mask', argument=(1, 16):int64)
    """

    name: str
    argument: Argument

    def __str__(self) -> str:
        return f"{self.name}={_text(self.argument)}"


def parse_arguments(input_shape: object) -> list[Argument | KeywordInput]:
    """The forward's arguments, in order: one shape (``"1x3x32x32"``, ``(1, 3, 32, 32)``) or
    several (a list of those), a list of tensors as one argument (shapes joined by ``+``, a
    list of one ending in ``+``, or a list of shapes), and keyword arguments
    (``"name=SHAPE"``, or a mapping of names to shapes) after the positional ones.

    >>> parse_arguments("1x3x8x8"), parse_arguments(["1x3x8x8", (1, 1, 4, 4), (1,)])
    ([(1, 3, 8, 8)], [(1, 3, 8, 8), (1, 1, 4, 4), (1,)])
    >>> parse_arguments("1x3x2x8x8+1x3x8x8x8"), parse_arguments([[(1, 3, 8), (1, 3, 4)], "1"])
    ([[(1, 3, 2, 8, 8), (1, 3, 8, 8, 8)]], [[(1, 3, 8), (1, 3, 4)], (1,)])
    >>> parse_arguments("3x320x320+")  # (one image in a list: a detector's forward)
    [[(3, 320, 320)]]
    >>> parse_arguments({"pixels": (1, 3, 8, 8), "mask": "1x8x8:bool"})[1]
    KeywordInput(name='mask', argument=(1, 8, 8):bool)
    >>> parse_arguments(["mask=1x8", "1x8"])
    Traceback (most recent call last):
    ...
    stridescope.errors.StridescopeError: a positional input cannot follow one given by keyword, as in a Python call; received 1x8 after mask=1x8
    """
    if isinstance(input_shape, Mapping):
        if not input_shape:
            raise StridescopeError("inputs by keyword need at least one name; received {}")
        pairs: list[tuple[str | None, object]] = [(str(k), v) for k, v in input_shape.items()]
    elif _several(input_shape):
        assert isinstance(input_shape, Sequence)
        pairs = [_named(v) for v in input_shape]
    else:
        pairs = [_named(input_shape)]
    parsed = [_argument(v, 1 if i else 2, name) for i, (name, v) in enumerate(pairs)]
    _check(parsed)
    return parsed


def in_order(
    arguments: Sequence[Argument | KeywordInput], names: Sequence[str], what: str
) -> list[Argument | KeywordInput]:
    """The arguments in the order of a model's named inputs (a Keras model's): positional
    ones first, as given, each keyword one at the input of its name.

    >>> in_order([(1, 8), KeywordInput("mask", (1, 4))], ["ids", "extra", "mask"], "m")
    Traceback (most recent call last):
    ...
    stridescope.errors.StridescopeError: m takes its inputs ids, extra, mask; received none for extra
    >>> in_order([KeywordInput("mask", (1, 4)), KeywordInput("ids", (1, 8))], ["ids", "mask"], "m")
    [(1, 8), (1, 4)]
    """
    if not any(isinstance(a, KeywordInput) for a in arguments):
        return list(arguments)
    slots: dict[int, Argument | KeywordInput] = {}
    for at, given in enumerate(a for a in arguments if not isinstance(a, KeywordInput)):
        slots[at] = given
    for argument in arguments:
        if not isinstance(argument, KeywordInput):
            continue
        if argument.name not in names:
            raise StridescopeError(
                f"{what} has no input named {argument.name!r}; its inputs: {', '.join(names)}"
            )
        at = list(names).index(argument.name)
        if at in slots:
            raise StridescopeError(
                f"{what} got its input {argument.name!r} twice, by position and by keyword"
            )
        slots[at] = argument.argument
    if missing := [names[i] for i in range(max(slots)) if i not in slots]:
        raise StridescopeError(
            f"{what} takes its inputs {', '.join(names)}; received none for {', '.join(missing)}"
        )
    return [slots[i] for i in range(len(slots))]


def pytorch_only(arguments: Sequence[Argument | KeywordInput], what: str) -> None:
    """Refuse a list argument, a dtype or a keyword, where only a PyTorch forward takes one."""
    for argument in arguments:
        if isinstance(argument, KeywordInput):
            raise StridescopeError(
                f"{what} takes its inputs in order; received {argument} (an input by keyword "
                "is for PyTorch forwards)"
            )
        if isinstance(argument, list):
            raise StridescopeError(
                f"{what} takes one shape per input; received the list {_text(argument)} (a "
                "list of tensors as one argument is for PyTorch models)"
            )
        if isinstance(argument, TypedShape):
            raise StridescopeError(
                f"{what} takes its inputs' own dtypes; received {_text(argument)} (a dtype is "
                "for PyTorch models' inputs)"
            )


def _several(value: object) -> bool:
    """A list of arguments, not one shape: each item a shape (a string or a sequence)."""
    return (
        isinstance(value, list | tuple)
        and bool(value)
        and all(isinstance(s, str | list | tuple) for s in value)
    )


def _named(value: object) -> tuple[str | None, object]:
    """``"name=SHAPE"`` as its name and shape; anything else has no name."""
    if isinstance(value, str) and "=" in value:
        name, _, shape = value.partition("=")
        return name.strip(), shape.strip()
    return None, value


def _argument(value: object, rank: int, name: str | None) -> Argument | KeywordInput:
    """One argument: a shape, or a list of shapes (a list of tensors); given by keyword
    where it has a name."""
    what = f"input {name}'s shape" if name else "input shape"
    if isinstance(value, str) and "+" in value:  # (a list of one ends in ``+``)
        parts = value.split("+")
        argument: Argument = _listed(parts[:-1] if not parts[-1].strip() else parts, rank, what)
    elif _several(value):
        assert isinstance(value, Sequence)
        argument = _listed(value, rank, what)
    else:
        argument = parse_shape(value, what, rank)
    if name is None:
        return argument
    if not name.isidentifier():
        raise StridescopeError(
            f"an input by keyword is NAME=SHAPE, NAME a parameter of the forward; received "
            f"{name}={_text(argument)}, whose name is not a Python identifier"
        )
    return KeywordInput(name, argument)


def _listed(values: Sequence[object], rank: int, what: str) -> list[tuple[int, ...]]:
    return [parse_shape(v, what, rank if not i else 1) for i, v in enumerate(values)]


def _check(arguments: list[Argument | KeywordInput]) -> None:
    """Keyword arguments after the positional ones, each name once, as in a Python call."""
    names: list[str] = []
    for argument in arguments:
        if isinstance(argument, KeywordInput):
            if argument.name in names:
                raise StridescopeError(
                    f"an input is given by keyword once; received {argument.name!r} twice"
                )
            names.append(argument.name)
        elif names:
            before = next(a for a in arguments if isinstance(a, KeywordInput))
            raise StridescopeError(
                "a positional input cannot follow one given by keyword, as in a Python call; "
                f"received {_text(argument)} after {before}"
            )


def _text(argument: Argument) -> str:
    """A shape as written on the command line: ``1x16:int64``, ``1x3x8x8+1x3x4x4``."""
    if isinstance(argument, list):
        return "+".join(_text(s) for s in argument) + ("+" if len(argument) == 1 else "")
    dtype = f":{argument.dtype}" if isinstance(argument, TypedShape) else ""
    return "x".join(map(str, argument)) + dtype
