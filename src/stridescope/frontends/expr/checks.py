"""The kinds of value a layer-expression argument may take: :data:`CHECKS` maps each kind
named in :data:`~stridescope.frontends.expr.table.LAYERS` to a test and the words an error
uses for what is allowed.

>>> test, allowed = CHECKS["pos_ints"]
>>> test((2, 2)), test(0), allowed
(True, False, 'a positive int or a tuple of positive ints')
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

__all__ = ["CHECKS", "REQUIRED"]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Final = _Required()


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: object) -> bool:
    return _is_int(v) or isinstance(v, float)


def _is_pos_ints(v: object) -> bool:
    if _is_int(v):
        return v > 0  # type: ignore[operator]
    return isinstance(v, tuple) and len(v) > 0 and all(_is_int(x) and x > 0 for x in v)


def _is_output_size(v: object) -> bool:
    """PyTorch's adaptive-pool ``output_size``: an int, or per axis an int or ``None`` (that
    axis keeps its input size)."""
    if _is_int(v):
        return v > 0  # type: ignore[operator]
    return (
        isinstance(v, tuple) and len(v) > 0 and all(x is None or (_is_int(x) and x > 0) for x in v)
    )


def _is_torch_padding(v: object) -> bool:
    if isinstance(v, str):
        return v in ("same", "valid")
    if _is_int(v):
        return v >= 0  # type: ignore[operator]
    return isinstance(v, tuple) and len(v) > 0 and all(_is_int(x) and x >= 0 for x in v)


def _is_nonneg_ints(v: object) -> bool:
    if _is_int(v):
        return v >= 0  # type: ignore[operator]
    return isinstance(v, tuple) and len(v) > 0 and all(_is_int(x) and x >= 0 for x in v)


def _is_pad(v: object) -> bool:
    return _is_int(v) and v >= 0  # type: ignore[operator]


def _is_keras_pad2d(v: object) -> bool:
    if _is_pad(v):
        return True
    if not (isinstance(v, tuple) and len(v) == 2):
        return False
    if all(_is_pad(x) for x in v):
        return True
    return all(isinstance(x, tuple) and len(x) == 2 and all(_is_pad(y) for y in x) for x in v)


def _is_torch_pad2d(v: object) -> bool:
    return _is_pad(v) or (isinstance(v, tuple) and len(v) == 4 and all(_is_pad(x) for x in v))


# kind -> (test, what is allowed, for the error message)
CHECKS: Final[dict[str, tuple[Callable[[object], bool], str]]] = {
    "pos_int": (lambda v: _is_int(v) and v > 0, "a positive int"),  # type: ignore[operator]
    "int": (_is_int, "an int"),
    "pos_ints": (_is_pos_ints, "a positive int or a tuple of positive ints"),
    "opt_pos_ints": (lambda v: v is None or _is_pos_ints(v), "None or positive int(s)"),
    "keras_padding": (
        lambda v: isinstance(v, str) and v.lower() in ("valid", "same"),
        "'valid' or 'same'",
    ),
    "keras_causal_padding": (
        lambda v: isinstance(v, str) and v.lower() in ("valid", "same", "causal"),
        "'valid', 'same' or 'causal'",
    ),
    "output_size": (
        _is_output_size,
        "a positive int or a tuple of positive ints or None (None keeps that axis)",
    ),
    "nonneg_ints": (_is_nonneg_ints, "an int >= 0 or a tuple of ints >= 0"),
    "opt_nonneg_ints": (
        lambda v: v is None or _is_nonneg_ints(v),
        "None, an int >= 0 or a tuple of ints >= 0",
    ),
    "torch_padding": (_is_torch_padding, "'valid', 'same', an int >= 0 or a tuple of them"),
    "data_format": (
        lambda v: v in (None, "channels_last", "channels_first"),
        "None, 'channels_last' or 'channels_first'",
    ),
    "bool": (lambda v: isinstance(v, bool), "True or False"),
    "number": (_is_number, "a number"),
    "opt_number": (lambda v: v is None or _is_number(v), "None or a number"),
    "opt_str": (lambda v: v is None or isinstance(v, str), "None or a string"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "opt_int": (lambda v: v is None or _is_int(v), "None or an int"),
    "pad_mode": (
        lambda v: v in ("zeros", "reflect", "replicate", "circular"),
        "'zeros', 'reflect', 'replicate' or 'circular'",
    ),
    "keras_pad2d": (
        _is_keras_pad2d,
        "an int >= 0, (rows, cols) or ((top, bottom), (left, right)) of ints >= 0",
    ),
    "torch_pad2d": (_is_torch_pad2d, "an int >= 0 or (left, right, top, bottom) of ints >= 0"),
}
